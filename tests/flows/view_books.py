"""Reading the unit's view back as a clerk would: open outbox/<unit>/status/*.xlsx and take each
sheet's table (the row whose cells are the sheet's headers, then the rows under it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl

from exchange.view.refresh import flush


def status_dir(instance: Any, unit: str, login: str | None = None) -> Path:
    out = instance.unit_outbox(unit)
    return (out / f"@{login}" if login else out) / "status"


def table(path: Path, sheet: str, first_header: str) -> list[dict[str, Any]]:
    """The rows of `sheet`'s table whose first column is headed `first_header`, by header."""
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb[sheet].iter_rows(values_only=True))
    wb.close()
    start = next(i for i, r in enumerate(rows) if r and r[0] == first_header)
    headers = rows[start]
    out = []
    for r in rows[start + 1:]:
        if not any(v not in (None, "") for v in r):
            break
        out.append({h: v for h, v in zip(headers, r) if h})
    return out


def lines(path: Path, sheet: str) -> list[str]:
    """Every non-empty cell of `sheet`, row by row, as text."""
    wb = openpyxl.load_workbook(path, read_only=True)
    found = [str(v) for r in wb[sheet].iter_rows(values_only=True) for v in r if v not in (None, "")]
    wb.close()
    return found


def states(instance: Any, db: Any, unit: str, login: str | None = None) -> dict[str, list[str]]:
    """Refresh the marked units, then 业务流水号 per state sheet of the unit's 申报状态.xlsx."""
    flush(instance, db)
    book = status_dir(instance, unit, login) / "申报状态.xlsx"
    return {sheet: [r["业务流水号"] for r in table(book, sheet, "业务流水号")]
            for sheet in ("待提交", "已提交待审核", "审核结果", "已回退")}
