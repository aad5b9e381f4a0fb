"""Findings: facts about a row or a cell, with a stable code. Text is rendered later."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

from exchange import codes as C
from exchange.messages import row_message


@dataclass(frozen=True)
class Finding:
    row: int
    code: str
    column: str | None = None          # the header the clerk sees
    field: str | None = None           # the column's field name, to mark the cell
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @cached_property          # rendered for the log, the receipt and the error workbook
    def message(self) -> str:
        return row_message(self.code, {"column": self.column or "", **self.params})

    @property
    def is_duplicate(self) -> bool:
        return self.code == C.DUPLICATE_IMPORTED

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "code": self.code, "message": self.message}
