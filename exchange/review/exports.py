"""`exchange declarations --export`: the answer to a declarations query as a workbook or CSV,
as the query pages' 导出Excel / 下载报表 gave it."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Sequence

from exchange.kinds.spec import KindSpec
from exchange.messages import DECLARATION_EXPORT as X
from exchange.review.display import enrolment_label, kind_label, status_label
from exchange.review.errorlog import write_table
from exchange.review.queries import DeclarationRow

FIELDS = ("serial", "unit", "kind", "id_number", "name", "status", "enrolment", "batch_no",
          "created_at", "submitted_at", "decided_at", "reason", "reviewer", "file", "row")
WIDTHS = (12, 12, 22, 21, 10, 12, 10, 22, 19, 19, 19, 36, 10, 36, 8)
TEXT_COLUMNS = tuple(FIELDS.index(f) for f in ("unit", "id_number", "batch_no"))


def _stamp(value: datetime | None) -> str | None:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else None


def export_declarations(kinds: dict[str, KindSpec], rows: Sequence[DeclarationRow], target: Path) -> int:
    """Write `rows` to `target` (.xlsx or .csv) with Chinese headers and labels; the count."""
    lines = [[r.serial, r.unit, kind_label(kinds, r.kind), r.id_number, r.name,
              status_label(r.status), enrolment_label({"enrolment": r.enrolment}), r.batch_no,
              _stamp(r.created_at), _stamp(r.submitted_at), _stamp(r.decided_at), r.reason,
              r.reviewer, r.file, r.row] for r in rows]
    return write_table(target, X["sheet"], [X["headers"][f] for f in FIELDS], WIDTHS, lines,
                       text_columns=TEXT_COLUMNS)


__all__ = ["export_declarations", "FIELDS"]
