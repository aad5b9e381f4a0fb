"""审核结果工作簿: every declaration of a batch with the centre's conclusion, for the unit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook
from openpyxl.styles import PatternFill

from exchange.messages import REVIEW_HEADERS as H, REVIEW_WORDS as RW
from exchange.outputs.atomic import atomic_path
from exchange.outputs.review_book import persons_suffix
from exchange.outputs.workbook import (BAD_FILL, REASON_FONT, TITLE_FONT, Table, add_meta_sheet,
                                       set_text, write_header, write_row)

RESULT_COLUMNS = ("seq", "serial", "kind", "id_number", "name", "content", "submitted_at",
                  "conclusion", "reason", "reviewer", "decided_at")
WIDTHS = {"seq": 6, "serial": 12, "kind": 18, "id_number": 21, "name": 10, "content": 60,
          "submitted_at": 19, "conclusion": 12, "reason": 40, "reviewer": 10, "decided_at": 19}
OK_FILL = PatternFill("solid", fgColor="E2EFDA")
TABLE = Table(RESULT_COLUMNS, H, WIDTHS, text=("id_number",), wrap=("content",))


@dataclass(frozen=True)
class ResultLine:
    serial: int
    kind_label: str
    id_number: str | None
    name: str | None
    content: str
    submitted_at: datetime | None
    status: str                    # approved | rejected | submitted
    conclusion: str                # 通过 / 不通过 / 未处理
    reason: str = ""
    reviewer: str = ""
    decided_at: datetime | None = None
    member_of: int | None = None     # a pupil of the 班级停保 with this serial


def _stamp(value: datetime | None) -> str | None:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else None


def mark_conclusion(cells: dict[str, Any], status: str, reason: str) -> None:
    """Green for approved, red for rejected; the reason in the reason font."""
    if status in ("approved", "rejected"):
        cells["conclusion"].fill = OK_FILL if status == "approved" else BAD_FILL
    if reason:
        cells["reason"].font = REASON_FONT


def write_result_book(target: Path, *, batch_no: str, unit_code: str, unit_name: str,
                      lines: Sequence[ResultLine]) -> Path:
    """Write the unit's result workbook for one batch atomically to `target`."""
    wb = Workbook()
    ws = wb.active
    ws.title = RW["result_sheet"]
    decided = [x for x in lines if x.member_of is None]
    counts = {s: sum(1 for x in decided if x.status == s) for s in ("approved", "rejected")}
    undecided = len(decided) - counts["approved"] - counts["rejected"]
    set_text(ws.cell(1, 1), RW["result_title"].format(
        batch=batch_no, unit=unit_code, unit_name=unit_name, approved=counts["approved"],
        rejected=counts["rejected"], undecided=undecided) + persons_suffix(lines))
    ws.cell(1, 1).font = TITLE_FONT
    if counts["rejected"]:
        set_text(ws.cell(2, 1), RW["result_note"])
        ws.cell(2, 1).font = REASON_FONT
    write_header(ws, 3, TABLE)
    seq = 0
    for i, line in enumerate(lines, start=1):
        member = line.member_of is not None
        seq += 0 if member else 1
        cells = write_row(ws, i + 3, TABLE, {
            "seq": None if member else seq, "serial": None if member else line.serial, "kind": line.kind_label, "id_number": line.id_number,
            "name": line.name, "content": line.content, "submitted_at": _stamp(line.submitted_at),
            "conclusion": line.conclusion, "reason": line.reason, "reviewer": line.reviewer,
            "decided_at": _stamp(line.decided_at)})
        mark_conclusion(cells, line.status, line.reason)
    ws.freeze_panes = "A4"
    add_meta_sheet(wb, {"kind": "result", "version": "1", "batch": batch_no, "unit": unit_code,
                        "source": "result_book"})
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


__all__ = ["ResultLine", "write_result_book", "RESULT_COLUMNS"]
