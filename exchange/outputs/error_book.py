"""错误工作簿: the same template with only the failed rows, a 失败原因 column, bad cells marked.

Written with XlsxWriter in constant-memory mode: each row goes to a temporary file as it comes,
so a file with many failures needs little memory; about twice as fast as openpyxl's write-only
mode, which makes an object per cell (bench/bench_error_book.py). The looks are workbook.py's
styles, translated once per look and number format.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

from exchange.kinds.spec import KindSpec
from exchange.messages import ERROR_BOOK_WORDS as W, PRODUCT_NAME
from exchange.outputs.looks import (BAD_FILL, BAD_FONT, BOX, HEADER_FILL, HEADER_FONT, META_SHEET,
                                    REASON_FONT, REQUIRED_FONT, TEXT_FORMAT, TITLE_FONT, FontLook,
                                    guard_value)
from exchange.results import RowOutcome

TEXT_TYPES = ("id", "text", "phone", "postcode", "class", "month")
# Cell notes (comments) on the marked cells of the first NOTE_ROWS failed rows only: Excel and
# WPS slow down on thousands of notes. Every failed row keeps its marked cells and its 失败原因.
NOTE_ROWS = 2000
HEADER_ROWS = 3                       # title, note, header; the failed rows start at row 4
CELL_LIMIT = 32767                    # UTF-16 units Excel holds in a cell (or a note)
CUT_MARK = "\u2026"                   # "…" ends a value cut to CELL_LIMIT: seen, never silent
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")       # what XML cannot hold: Excel's _xHHHH_
_ESCAPE = re.compile(r"(?=_x[0-9A-Fa-f]{4}_)")         # where such an escape, or its text, starts

# The number formats openpyxl gives cells of these types (openpyxl.cell.cell.TIME_FORMATS).
TIME_FORMATS = {dt.datetime: "yyyy-mm-dd h:mm:ss", dt.date: "yyyy-mm-dd", dt.time: "h:mm:ss",
                dt.timedelta: "[hh]:mm:ss"}

# The looks of the cells: (font, fill, border colour) from looks.py.
LOOKS: dict[str, tuple[FontLook | None, str | None, str | None]] = {
    "title": (TITLE_FONT, None, None),
    "note": (REASON_FONT, None, None),
    "header": (HEADER_FONT, HEADER_FILL, BOX),
    "required": (REQUIRED_FONT, HEADER_FILL, BOX),
    "codes_header": (HEADER_FONT, None, None),
    "cell": (None, None, BOX),
    "bad": (BAD_FONT, BAD_FILL, BOX),
    "reason": (REASON_FONT, None, BOX),
    "codes": (None, None, None),
}


def format_properties(font: FontLook | None, fill: str | None, border: str | None,
                      number_format: str | None) -> dict[str, Any]:
    """A look (any part may be None) as XlsxWriter format properties."""
    props: dict[str, Any] = {}
    if font is not None:
        props.update({k: v for k, v in (("font_name", font.name), ("font_size", font.size),
                                         ("bold", font.bold),
                                         ("font_color", font.color and f"#{font.color}")) if v})
    if fill is not None:
        props.update(pattern=1, bg_color=f"#{fill}")
    if border is not None:
        props.update(border=1, border_color=f"#{border}")
    if number_format is not None:
        props["num_format"] = number_format
    return props


class ErrorBookWriter:
    """Open with the kind and unit, `add()` failed rows, `close()` to save (or `discard()`)."""

    def __init__(self, path: Path, kind: KindSpec, unit_code: str, unit_name: str, source: str) -> None:
        import xlsxwriter

        self.path = path
        self.kind = kind
        self.rows = 0
        self.fields = [col.field for col in kind.columns]
        self.as_text = [col.type in TEXT_TYPES for col in kind.columns]
        self.meta = {"kind": kind.kind, "version": str(kind.version), "unit": unit_code,
                     "source": "error_book"}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.wb: Any = xlsxwriter.Workbook(str(path), {
            "constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
            "strings_to_urls": False, "nan_inf_to_errors": False, "remove_timezone": True,
            "tmpdir": str(path.parent)})           # rows kept beside the book: staged with it
        self.wb.set_properties({"author": PRODUCT_NAME})
        self._formats: dict[tuple[str, str | None], Any] = {}
        ws = self.ws = self.wb.add_worksheet(W["sheet"])
        ws.set_comments_author(PRODUCT_NAME)
        ncols = len(kind.columns)
        for i, col in enumerate(kind.columns):
            ws.set_column(i, i, max(10, len(col.header) * 2 + 4))
        ws.set_column(ncols, ncols, 60)
        ws.set_column(ncols + 1, ncols + 1, None, None, {"hidden": True})
        ws.freeze_panes(HEADER_ROWS, 0)
        title = W["title"].format(title=kind.title, unit=unit_code, unit_name=unit_name, source=source)
        self._put(0, 0, title, "title")
        self._put(1, 0, W["note"], "note")
        for i, col in enumerate(kind.columns):
            self._put(2, i, ("*" if col.required else "") + col.header,
                      "required" if col.required else "header")
        self._put(2, ncols, W["reason_header"], "required")
        self._put(2, ncols + 1, W["codes_header"], "codes_header")

    def _format(self, look: str, number_format: str | None) -> Any:
        fmt = self._formats.get((look, number_format))
        if fmt is None:
            fmt = self.wb.add_format(format_properties(*LOOKS[look], number_format))
            self._formats[(look, number_format)] = fmt
        return fmt

    def _put(self, row: int, col: int, value: Any, look: str, force_text: bool = False) -> None:
        """One cell. Strings are always text, never formulas; formula-looking ones and forced text
        also get the text format; dates the format their type brings."""
        ws = self.ws
        if value is None or value == "":
            ws.write_blank(row, col, None, self._format(look, None))
            return
        if not isinstance(value, str):
            if force_text or isinstance(value, float) and not math.isfinite(value):
                value = str(value)
            elif isinstance(value, bool):
                ws.write_boolean(row, col, value, self._format(look, None))
                return
            elif isinstance(value, (int, float)):
                ws.write_number(row, col, value, self._format(look, None))
                return
            elif type(value) in TIME_FORMATS:
                ws.write_datetime(row, col, value, self._format(look, TIME_FORMATS[type(value)]))
                return
            else:
                value = str(value)
        value, formula_like = guard_value(value)
        fmt = self._format(look, TEXT_FORMAT if force_text or formula_like else None)
        _write_text(ws, row, col, value, fmt)

    def add(self, outcome: RowOutcome) -> None:
        row = HEADER_ROWS + self.rows                       # 0-based
        bad = {f.field: f for f in outcome.findings if f.field}
        for col, (field, as_text, value) in enumerate(zip(self.fields, self.as_text, outcome.raw)):
            finding = bad.get(field) if bad else None
            self._put(row, col, value, "cell" if finding is None else "bad", as_text)
            if finding is not None and self.rows < NOTE_ROWS:
                self.ws.write_comment(row, col, _storable(finding.message))
        ncols = len(self.fields)
        reasons = "；".join(f.message.rstrip("。") for f in outcome.findings if not f.is_duplicate) + "。"
        self._put(row, ncols, reasons, "reason")
        self._put(row, ncols + 1, ",".join(f.code for f in outcome.findings), "codes")
        self.rows += 1

    def close(self) -> None:
        meta = self.wb.add_worksheet(META_SHEET)   # workbook.add_meta_sheet, for openpyxl books
        plain = self._format("codes", None)
        for r, (key, value) in enumerate(self.meta.items()):
            _write_text(meta, r, 0, key, plain)
            _write_text(meta, r, 1, value, plain)
        meta.hide()
        self.ws.activate()
        self.wb.close()

    def discard(self) -> None:
        """Give up the book: no file is written, and the rows' temporary files go."""
        for ws in self.wb.worksheets():
            handle, name = getattr(ws, "row_data_fh", None), getattr(ws, "row_data_filename", None)
            if handle is not None and not handle.closed:
                handle.close()
            if name:
                Path(name).unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def _write_text(ws: Any, row: int, col: int, text: str, fmt: Any) -> None:
    """A string cell that reads back as the text given: never a formula, number or URL (the
    workbook's options turn those off), never markup, cut with a mark when too long."""
    if text.startswith("<r>") and text.endswith("</r>"):
        # In constant-memory mode XlsxWriter passes a string of this shape through as rich-text
        # XML; given as a rich string (runs in the cell's own font) it is escaped as text. Runs
        # are escaped twice, though: a literal _xHHHH_ is split between runs, where it escapes
        # nothing, and a control character is written as the text of its escape.
        text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = _storable(text)
    if text.startswith("<r>") and text.endswith("</r>"):
        cuts = [0, 1, *(m.start() + 3 for m in _ESCAPE.finditer(text)), len(text)]
        runs: list[Any] = [text[0]]
        for start, end in zip(cuts[1:], cuts[2:]):
            runs += [fmt, text[start:end]]
        ws.write_rich_string(row, col, *runs, fmt)
    else:
        ws.write_string(row, col, text, fmt)


def _storable(text: str) -> str:
    """What a cell or a note can hold: no XML-forbidden U+FFFE/U+FFFF (written as Excel's
    escape, the same text in every XlsxWriter version), at most CELL_LIMIT UTF-16 units (a
    character past U+FFFF takes two), a longer text cut and ended with CUT_MARK."""
    if "\ufffe" in text or "\uffff" in text:
        text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    if len(text) <= CELL_LIMIT // 2:                  # short enough whatever the characters
        return text
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) <= 2 * CELL_LIMIT:
        return text
    # "ignore" drops the first half of a pair the cut would split
    return units[:2 * (CELL_LIMIT - len(CUT_MARK))].decode("utf-16-le", "ignore") + CUT_MARK
