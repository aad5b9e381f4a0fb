"""Writing the view's workbooks: a sheet per table with a frozen header, an autofilter, ID and
code columns as text, set widths; the whole book under a temp name, renamed when complete.

XlsxWriter in constant-memory mode (as the error workbook, exchange.outputs.error_book, whose
format translation is reused): rows go to a temporary file as they come, so a unit of 100,000
declarations needs little memory; data cells carry no border or fill, which keeps a cell to a
couple of microseconds.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from exchange.messages import PRODUCT_NAME
from exchange.outputs.atomic import atomic_path
from exchange.outputs.error_book import LOOKS, format_properties
from exchange.outputs.looks import TEXT_FORMAT, guard_value

TIME_FORMAT = "yyyy-mm-dd hh:mm"
MONEY_FORMAT = "#,##0.00"
OPTIONS = {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
           "strings_to_urls": False, "nan_inf_to_errors": False, "remove_timezone": True}


@dataclass(frozen=True)
class Column:
    """A table column: its key (the header's key in VIEW_HEADERS), width and kind of value."""
    key: str
    width: float = 12
    text: bool = False           # IDs, codes, months: text cells, the column formatted as text
    money: bool = False


class Sheet:
    """One worksheet, written top to bottom: free lines first, then (at most) one table."""

    def __init__(self, book: "Book", ws: Any) -> None:
        self.book = book
        self.ws = ws
        self.row = 0

    def line(self, *values: Any, look: str | None = None) -> None:
        """A row of plain values (the 汇总 sheet's lines); `look` one of error_book.LOOKS."""
        fmt = self.book.format(look) if look else None
        for col, value in enumerate(values):
            self._put(col, value, fmt)
        self.row += 1

    def skip(self, rows: int = 1) -> None:
        self.row += rows

    def widths(self, widths: Sequence[float]) -> None:
        for col, width in enumerate(widths):
            self.ws.set_column(col, col, width)

    def table(self, columns: Sequence[Column], headers: dict[str, str],
              rows: Iterable[Sequence[Any]], *, freeze: bool = True) -> int:
        """The header row at the current row, then `rows`; frozen header (when this is the
        sheet's main table), autofilter over the rows. Returns the number of rows written."""
        ws, book = self.ws, self.book
        text, money, time = book.format(None, TEXT_FORMAT), book.format(None, MONEY_FORMAT), \
            book.format(None, TIME_FORMAT)
        formats = [text if c.text else money if c.money else None for c in columns]
        for col, c in enumerate(columns):
            ws.set_column(col, col, c.width, formats[col])
        first = self.row
        header = book.format("header")
        for col, c in enumerate(columns):
            ws.write_string(first, col, headers[c.key], header)
        if freeze:
            ws.freeze_panes(first + 1, 0)
        r = first
        write_string, write_number, write_datetime = ws.write_string, ws.write_number, ws.write_datetime
        for values in rows:
            r += 1
            for col, value in enumerate(values):
                if value is None or value == "":
                    continue
                cls = value.__class__
                if cls is str:
                    value, formula_like = guard_value(value, clean=False)
                    write_string(r, col, value, text if formula_like else formats[col])
                elif cls is int or cls is float:
                    write_number(r, col, value, formats[col])
                elif cls is Decimal:
                    write_number(r, col, float(value), money)
                elif cls is dt.datetime or cls is dt.date:
                    write_datetime(r, col, value, time)
                else:
                    write_string(r, col, str(value), formats[col])
        ws.autofilter(first, 0, r, len(columns) - 1)
        self.row = r + 1
        return r - first

    def _put(self, col: int, value: Any, fmt: Any) -> None:
        if value is None or value == "":
            return
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.ws.write_number(self.row, col, value, fmt)
        elif isinstance(value, (dt.datetime, dt.date)):
            self.ws.write_datetime(self.row, col, value, self.book.format(None, TIME_FORMAT))
        else:
            value, _ = guard_value(str(value), clean=False)
            self.ws.write_string(self.row, col, value, fmt)


class Book:
    def __init__(self, wb: Any) -> None:
        self.wb = wb
        self._formats: dict[tuple[str | None, str | None], Any] = {}

    def format(self, look: str | None, number_format: str | None = None) -> Any:
        fmt = self._formats.get((look, number_format))
        if fmt is None:
            font, fill, border = LOOKS[look] if look else (None, None, None)
            fmt = self.wb.add_format(format_properties(font, fill, border, number_format))
            self._formats[(look, number_format)] = fmt
        return fmt

    def sheet(self, name: str) -> Sheet:
        return Sheet(self, self.wb.add_worksheet(name))


@contextmanager
def book(target: Path) -> Iterator[Book]:
    """A workbook written under a temp name beside `target` (exchange.outputs.atomic) and renamed
    over it when the block ends without error: a reader sees the old book or the new one."""
    import xlsxwriter

    with atomic_path(target) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), OPTIONS)
        wb.set_properties({"author": PRODUCT_NAME})
        try:
            yield Book(wb)
        except BaseException:
            wb.fileclosed = True          # nothing to save; atomic_path removes the temp file
            raise
        wb.close()


__all__ = ["Book", "Column", "Sheet", "book", "TIME_FORMAT", "MONEY_FORMAT"]
