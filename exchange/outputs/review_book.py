"""审核工作簿: one per batch, for the centre's back office to fill 审核结论 and drop back.

Every row is one declaration (业务流水号). The columns the back office fills have a drop-down;
a hidden `_meta` sheet (kind=review, batch) lets the decision import recognise the file, and
the header alone is enough for a CSV with the same columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook

from exchange.messages import CONCLUSIONS, REVIEW_HEADERS as H, REVIEW_WORDS as RW
from exchange.outputs.atomic import atomic_path
from exchange.outputs.workbook import (REASON_FONT, TITLE_FONT, WRAP, Table, add_choice_list,
                                       add_meta_sheet, column_letter, set_text, write_header,
                                       write_row)

REVIEW_KIND = "review"
REVIEW_VERSION = "1"
# Field order of the review workbook; the decision import maps headers back to these fields.
REVIEW_COLUMNS = ("seq", "batch_no", "serial", "kind", "id_number", "name", "content", "file_row",
                  "submitted_at", "conclusion", "reason", "reviewer")
FILLED_BY_CENTRE = ("conclusion", "reason", "reviewer")
WIDTHS = {"seq": 6, "batch_no": 22, "serial": 12, "kind": 18, "id_number": 21, "name": 10,
          "content": 60, "file_row": 30, "submitted_at": 19, "conclusion": 12, "reason": 36,
          "reviewer": 10, "decided_at": 19}
TEXT_FIELDS = ("batch_no", "id_number")
TABLE = Table(REVIEW_COLUMNS, H, WIDTHS, filled=FILLED_BY_CENTRE, text=TEXT_FIELDS, wrap=("content",))


@dataclass(frozen=True)
class ReviewLine:
    """What the back office sees of one declaration."""
    serial: int
    kind_label: str
    id_number: str | None
    name: str | None
    content: str
    file_row: str
    submitted_at: datetime | None
    conclusion: str = ""
    reason: str = ""
    reviewer: str = ""
    member_of: int | None = None     # a pupil of the 班级停保 with this serial: no decision of its own


def persons_suffix(lines: Sequence[Any]) -> str:
    """"  涉及 n 人" after a title whose lines hold 班级停保 pupils (member_of set): the persons
    the declarations concern, a class row counting as its pupils; "" without such pupils."""
    if not any(x.member_of is not None for x in lines):
        return ""
    return RW["persons_title"].format(
        persons=sum(1 for x in lines if x.member_of is not None or x.id_number))


def write_review_book(target: Path, *, centre: str, batch_no: str, unit_code: str, unit_name: str,
                      submitted_at: datetime, lines: Sequence[ReviewLine]) -> Path:
    """Write the batch's review workbook atomically to `target`."""
    wb = Workbook()
    ws = wb.active
    ws.title = RW["review_sheet"]
    ncols = len(REVIEW_COLUMNS)
    decided = [x for x in lines if x.member_of is None]
    set_text(ws.cell(1, 1), RW["review_title"].format(
        centre=centre, batch=batch_no, unit=unit_code, unit_name=unit_name,
        submitted=f"{submitted_at:%Y-%m-%d %H:%M}", count=len(decided)) + persons_suffix(lines))
    ws.cell(1, 1).font = TITLE_FONT
    set_text(ws.cell(2, 1), RW["review_note"])
    ws.cell(2, 1).font = REASON_FONT
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=ncols)
    ws.row_dimensions[2].height = 30
    ws.cell(2, 1).alignment = WRAP
    write_header(ws, 3, TABLE)
    seq = 0
    for i, line in enumerate(lines, start=1):
        member = line.member_of is not None
        seq += 0 if member else 1
        write_row(ws, i + 3, TABLE, {
            "seq": None if member else seq, "batch_no": None if member else batch_no,
            "serial": None if member else line.serial, "kind": line.kind_label,
            "id_number": line.id_number, "name": line.name, "content": line.content,
            "file_row": line.file_row,
            "submitted_at": f"{line.submitted_at:%Y-%m-%d %H:%M:%S}" if line.submitted_at else "",
            "conclusion": line.conclusion, "reason": line.reason, "reviewer": line.reviewer})
    add_choice_list(ws, TABLE, "conclusion", 4, len(lines) + 3,
                    [CONCLUSIONS["approved"][0], CONCLUSIONS["rejected"][0]], RW["review_note"])
    ws.freeze_panes = "D4"
    ws.auto_filter.ref = f"A3:{column_letter(ncols)}{len(lines) + 3}"
    add_meta_sheet(wb, {"kind": REVIEW_KIND, "version": REVIEW_VERSION, "batch": batch_no,
                        "unit": unit_code, "source": "review_book"})
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


__all__ = ["ReviewLine", "write_review_book", "REVIEW_COLUMNS", "REVIEW_KIND"]
