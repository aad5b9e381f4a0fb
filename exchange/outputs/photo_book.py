"""照片审核单 (for the centre) and 照片审核结果 (for the unit): the photos of one review, each
shown in its row beside the person it is of.

The review workbook is read back like the batches' review workbook: a hidden `_meta` sheet
(kind=photo_review, review) marks it, and the header alone is enough for a CSV with the same
columns (照片编号, 审核结论, 不通过原因, 审核人, 审核单号).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.styles import Alignment
from openpyxl.worksheet.worksheet import Worksheet

from exchange.messages import CONCLUSIONS, PHOTO_REVIEW_HEADERS as H, PHOTO_REVIEW_WORDS as PW
from exchange.outputs.atomic import atomic_path
from exchange.outputs.result_book import mark_conclusion
from exchange.outputs.workbook import (REASON_FONT, TITLE_FONT, WRAP, Table, add_choice_list,
                                       add_meta_sheet, set_text, write_header, write_row)

PHOTO_REVIEW_KIND = "photo_review"
VERSION = "1"
THUMB = (79, 98)              # pixels shown in the sheet: a third of the 236×295 card
ROW_POINTS = 78               # row height that holds the picture (98 px at 96 dpi is 73.5 pt)
WIDTHS = {"seq": 6, "review_no": 24, "photo_id": 10, "id_number": 21, "name": 10,
          "class_code": 10, "source_name": 26, "uploaded_at": 19, "photo": 12, "conclusion": 12,
          "reason": 36, "reviewer": 10, "decided_at": 19}
REVIEW_TABLE = Table(("seq", "review_no", "photo_id", "id_number", "name", "class_code",
                      "source_name", "uploaded_at", "photo", "conclusion", "reason", "reviewer"),
                     H, WIDTHS, filled=("conclusion", "reason", "reviewer"),
                     text=("review_no", "id_number"), wrap=("source_name",))
RESULT_TABLE = Table(("seq", "photo_id", "id_number", "name", "class_code", "source_name",
                      "uploaded_at", "photo", "conclusion", "reason", "decided_at"),
                     H, WIDTHS, text=("id_number",), wrap=("source_name", "reason"))


@dataclass(frozen=True)
class PhotoLine:
    """One photo as the back office and the unit see it."""
    photo_id: int
    id_number: str
    name: str
    class_code: str | None
    source_name: str
    uploaded_at: datetime
    image: Path | None                 # the card JPEG; None when its file is gone
    status: str = "pending"            # pending | approved | rejected | superseded
    conclusion: str = ""               # 通过 / 不通过 / 未处理 (result workbook)
    reason: str = ""
    reviewer: str = ""
    decided_at: datetime | None = None

    def values(self, seq: int, review_no: str) -> dict[str, Any]:
        return {"seq": seq, "review_no": review_no, "photo_id": self.photo_id,
                "id_number": self.id_number, "name": self.name, "class_code": self.class_code,
                "source_name": self.source_name, "uploaded_at": _stamp(self.uploaded_at),
                "conclusion": self.conclusion, "reason": self.reason, "reviewer": self.reviewer,
                "decided_at": _stamp(self.decided_at)}


def _stamp(value: datetime | None) -> str | None:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else None


def _book(sheet: str, title: str, note: str, table: Table, review_no: str,
          lines: Sequence[PhotoLine]) -> tuple[Workbook, Worksheet, list[dict[str, Any]]]:
    """Title, note, header and one row per photo with its picture in the 照片 column."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    set_text(ws.cell(1, 1), title)
    ws.cell(1, 1).font = TITLE_FONT
    set_text(ws.cell(2, 1), note)
    ws.cell(2, 1).font = REASON_FONT
    ws.cell(2, 1).alignment = WRAP
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(table.columns))
    ws.row_dimensions[2].height = 30
    write_header(ws, 3, table)
    rows = []
    for i, line in enumerate(lines, start=1):
        r = i + 3
        cells = write_row(ws, r, table, line.values(i, review_no))
        ws.row_dimensions[r].height = ROW_POINTS
        for name, cell in cells.items():        # beside the picture, not under it
            cell.alignment = Alignment(vertical="center", wrap_text=name in table.wrap)
        if line.image is not None and line.image.is_file():
            picture = SheetImage(str(line.image))
            picture.width, picture.height = THUMB
            ws.add_image(picture, f"{table.letter('photo')}{r}")
        else:
            cells["photo"].value = PW["missing_photo"]
        rows.append(cells)
    ws.freeze_panes = f"{table.letter('name')}4"
    # Printed: landscape, one page wide, the header on every page.
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "3:3"
    return wb, ws, rows


def write_photo_review_book(target: Path, *, centre: str, review_no: str, unit_code: str,
                            unit_name: str, lines: Sequence[PhotoLine]) -> Path:
    """The centre's review workbook for one review, written atomically to `target`."""
    wb, ws, _ = _book(PW["review_sheet"], PW["review_title"].format(
        centre=centre, review=review_no, unit=unit_code, unit_name=unit_name, count=len(lines)),
        PW["review_note"], REVIEW_TABLE, review_no, lines)
    add_choice_list(ws, REVIEW_TABLE, "conclusion", 4, len(lines) + 3,
                    [CONCLUSIONS["approved"][0], CONCLUSIONS["rejected"][0]], PW["review_note"])
    add_meta_sheet(wb, {"kind": PHOTO_REVIEW_KIND, "version": VERSION, "review": review_no,
                        "unit": unit_code, "source": "photo_review_book"})
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


def write_photo_result_book(target: Path, *, review_no: str, unit_code: str, unit_name: str,
                            lines: Sequence[PhotoLine]) -> Path:
    """The unit's result workbook for one review, written atomically to `target`."""
    approved = sum(1 for x in lines if x.status == "approved")
    rejected = sum(1 for x in lines if x.status == "rejected")
    wb, ws, rows = _book(PW["result_sheet"], PW["result_title"].format(
        review=review_no, unit=unit_code, unit_name=unit_name, approved=approved,
        rejected=rejected, undecided=len(lines) - approved - rejected),
        PW["result_note"] if rejected else "", RESULT_TABLE, review_no, lines)
    for cells, line in zip(rows, lines):
        mark_conclusion(cells, line.status, line.reason)
    add_meta_sheet(wb, {"kind": "photo_result", "version": VERSION, "review": review_no,
                        "unit": unit_code, "source": "photo_result_book"})
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


__all__ = ["PhotoLine", "write_photo_review_book", "write_photo_result_book", "PHOTO_REVIEW_KIND",
           "REVIEW_TABLE"]
