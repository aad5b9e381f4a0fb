"""错误日志 export: failed rows and rejected declarations as a workbook or CSV."""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook
from sqlalchemy.orm import Session

from exchange.config import Instance
from exchange.messages import DIGEST_HEADERS as DH, REPORT_NAMES, ROSTER_WORDS as W
from exchange.outputs.atomic import atomic_open, atomic_path
from exchange.outputs.looks import csv_cell
from exchange.outputs.workbook import HEADER_FILL, HEADER_FONT, column_letter, text_cell

EXPORT_FIELDS = ("time", "unit", "kind", "file", "row", "id_number", "name", "column", "code",
                 "message")
WIDTHS = (19, 12, 20, 36, 8, 21, 10, 14, 24, 80)


def _headers(instance: Instance) -> list[str]:
    from exchange.review.reports import _header

    rules = instance.rules
    words = {"time": W["time"], "unit": DH["unit_code"],
             "kind": W["kind"], "file": W["file"], "row": W["row"],
             "id_number": _header(rules, "id_number"), "name": _header(rules, "name"),
             "column": W["column"], "code": W["code"], "message": W["message"]}
    return [words[f] for f in EXPORT_FIELDS]


def export_errors(instance: Instance, s: Session, target: Path, *, unit: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  person: str | None = None, code: str | None = None, kind: str | None = None) -> int:
    """Write the matching error-log entries (by unit, period, person, code and 业务标识 `kind`)
    to `target` (.xlsx or .csv); returns the count."""
    from exchange.review.reports import error_rows

    rules = instance.rules
    entries = error_rows(s, unit=unit, since=since, until=until, person=person, code=code,
                         kind=kind)
    lines = []
    for e, file_name in entries:
        spec = rules.kinds.get(e.kind or "")
        lines.append([f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.unit_code,
                      spec.label if spec else (e.kind or ""), file_name or "", e.row, e.id_number,
                      e.name, e.column, e.code, e.message])
    return write_table(target, REPORT_NAMES["errors"], _headers(instance), WIDTHS, lines,
                       text_columns=(1, 5))


def write_table(target: Path, sheet: str, headers: Sequence[str], widths: Sequence[float],
                lines: Sequence[Sequence[Any]], *, text_columns: Sequence[int] = ()) -> int:
    """A query's answer as the pages' 导出Excel gave it: `target` .csv (UTF-8 with BOM) or .xlsx
    (one sheet, frozen header, `text_columns` written as text); returns the count of lines."""
    if target.suffix.lower() == ".csv":
        with atomic_open(target, "w", encoding="utf-8-sig") as fh:
            out = csv.writer(fh)
            out.writerow(headers)
            for line in lines:
                out.writerow(["" if v is None else csv_cell(v) for v in line])
        return len(lines)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[column_letter(i)].width = width
    ws.freeze_panes = "A2"
    ws.append([text_cell(ws, h, font=HEADER_FONT, fill=HEADER_FILL) for h in headers])
    for line in lines:
        ws.append([text_cell(ws, v, force_text=i in text_columns) if v is not None else None
                   for i, v in enumerate(line)])
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return len(lines)


__all__ = ["export_errors", "write_table", "EXPORT_FIELDS"]
