"""错误工作簿: the same template with only the failed rows, a 失败原因 column, bad cells marked.

Written row by row in write-only mode, so a file with many failures needs little memory.
"""
from __future__ import annotations

from copy import copy
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment

from exchange.kinds.spec import KindSpec
from exchange.messages import ERROR_BOOK_WORDS as W, PRODUCT_NAME
from exchange.outputs.workbook import (BAD_FILL, BAD_FONT, BOX, HEADER_FILL, HEADER_FONT,
                                       REASON_FONT, REQUIRED_FONT, TITLE_FONT, add_meta_sheet,
                                       TEXT_FORMAT, column_letter, guard_value, text_cell)
from exchange.results import RowOutcome

TEXT_TYPES = ("id", "text", "phone", "postcode", "class", "month")
# Cell notes (comments) on the marked cells of the first NOTE_ROWS failed rows only: openpyxl
# builds every note in memory when it saves (about 8 KB each), so 25,000 failed rows took
# 200 MB. Every failed row keeps its marked cells and its 失败原因 column.
NOTE_ROWS = 2000


class ErrorBookWriter:
    """Open with the kind and unit, `add()` failed rows, `close()` to save (or `discard()`)."""

    def __init__(self, path: Path, kind: KindSpec, unit_code: str, unit_name: str, source: str) -> None:
        self.path = path
        self.kind = kind
        self.rows = 0
        self.wb = Workbook(write_only=True)
        self.ws = self.wb.create_sheet(W["sheet"])
        ncols = len(kind.columns)
        for i, col in enumerate(kind.columns, start=1):
            self.ws.column_dimensions[column_letter(i)].width = max(10, len(col.header) * 2 + 4)
        self.ws.column_dimensions[column_letter(ncols + 1)].width = 60
        self.ws.column_dimensions[column_letter(ncols + 2)].hidden = True
        self.ws.freeze_panes = "A4"
        title = W["title"].format(title=kind.title, unit=unit_code, unit_name=unit_name, source=source)
        self.ws.append([text_cell(self.ws, title, font=TITLE_FONT)])
        self.ws.append([text_cell(self.ws, W["note"], font=REASON_FONT)])
        header = [text_cell(self.ws, ("*" if c.required else "") + c.header,
                            font=REQUIRED_FONT if c.required else HEADER_FONT,
                            fill=HEADER_FILL, border=BOX) for c in kind.columns]
        header.append(text_cell(self.ws, W["reason_header"], font=REQUIRED_FONT, fill=HEADER_FILL,
                                border=BOX))
        header.append(text_cell(self.ws, W["codes_header"], font=HEADER_FONT))
        self.ws.append(header)
        self.meta = {"kind": kind.kind, "version": str(kind.version), "unit": unit_code,
                     "source": "error_book"}
        self.as_text = [col.type in TEXT_TYPES for col in kind.columns]
        self._looks: dict[tuple[Any, ...], Any] = {}

    def _cell(self, value: Any, force_text: bool = False, **style: Any) -> WriteOnlyCell:
        """text_cell(), with each look's style array worked out once: assigning a font, fill or
        border hashes it into the workbook's style tables, the costliest part of a row."""
        value, formula_like = guard_value(value)
        if force_text and value is not None and not isinstance(value, str):
            value = str(value)
        as_text = formula_like or (force_text and value is not None)
        cell = WriteOnlyCell(self.ws, value=value)        # a date value brings a date format
        if as_text:
            cell.data_type = "s"
        number_format = cell._style.numFmtId if cell._style is not None else 0
        key = (as_text, number_format, *((k, id(v)) for k, v in style.items()))
        look = self._looks.get(key)
        if look is None:                                   # as text_cell() does it
            if as_text:
                cell.number_format = TEXT_FORMAT
            for k, v in style.items():
                setattr(cell, k, v)
            self._looks[key] = copy(cell._style)
        else:
            cell._style = copy(look)
        return cell

    def add(self, outcome: RowOutcome) -> None:
        bad = {f.field: f for f in outcome.findings if f.field}
        cells = []
        for col, as_text, value in zip(self.kind.columns, self.as_text, outcome.raw):
            finding = bad.get(col.field)
            if finding is None:
                cells.append(self._cell(value, as_text, border=BOX))
            else:
                cell = self._cell(value, as_text, border=BOX, fill=BAD_FILL, font=BAD_FONT)
                if self.rows < NOTE_ROWS:
                    cell.comment = Comment(finding.message, PRODUCT_NAME)
                cells.append(cell)
        reasons = "；".join(f.message.rstrip("。") for f in outcome.findings if not f.is_duplicate) + "。"
        cells.append(self._cell(reasons, font=REASON_FONT, border=BOX))
        cells.append(self._cell(",".join(f.code for f in outcome.findings)))
        self.ws.append(cells)
        self.rows += 1

    def close(self) -> None:
        add_meta_sheet(self.wb, self.meta)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.wb.save(self.path)

    def discard(self) -> None:
        self.wb = None  # type: ignore[assignment]
