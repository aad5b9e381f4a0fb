"""Row streams from xlsx, xls and CSV: (sheet row number, cell values), nothing held whole.

Library failures are mapped to file codes here, at one boundary.
"""
from __future__ import annotations

import codecs
import csv
import functools
import re
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from exchange import codes as C
from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.read.biff import CELL_BYTES, BiffSheet
from exchange.read.guard import (TITLE_ROOM, Merge, Sniffed, cell_name, check_cell, check_extent,
                                 check_member_extent, check_member_rows)
from exchange.read.slices import Parts, SheetSlices, error_cell, trim, workbook_parts

META_SHEET = "_meta"
# Worksheets with more XML than this are read a slice at a time (read/slices.py): calamine
# loads a whole sheet, about twice its XML in memory. Measured in bench/README.md.
STREAM_SHEET_BYTES = 4 * 1024 * 1024
# The part of the reading worker's memory (reader_memory_mb) an xls sheet's rectangle may take
# before the sheet is refused by its farthest cell: past it, calamine cannot read it.
RANGE_SHARE = 0.75
# The workbook formats calamine reads (guard.sniff's names) and the extensions calamine's
# from_path takes them by; a file named otherwise is handed over by content. An OpenDocument
# sheet is read whole, as a legacy xls is.
WORKBOOKS = {"xlsx": (".xlsx", ".xlsm"), "xls": (".xls",), "ods": (".ods",)}
# What can hold a kind's rows.
TABLE_FORMATS = ("csv", *WORKBOOKS)

Row = tuple[int, tuple[Any, ...]]
T = TypeVar("T")


@dataclass
class Sheet:
    name: str
    rows: Iterator[Row]
    # Rows hidden in the sheet (filtered out, or hidden by hand; xlsx): known once its XML has
    # been checked, which is before its first row is read.
    hidden: set[int] = field(default_factory=set)


@dataclass
class Book:
    format: str
    sheets: Iterator[Sheet]
    meta: dict[str, str] = field(default_factory=dict)


@contextmanager
def open_book(path: Path, sniffed: Sniffed, limits: Limits,
              stream_above: int = STREAM_SHEET_BYTES) -> Iterator[Book]:
    """Open a sniffed file as sheets of rows. Raises FileRejected for what cannot be read.

    xlsx worksheets with more than `stream_above` bytes of XML are read a slice at a time.
    """
    if sniffed.format == "csv":
        yield Book("csv", iter([Sheet("csv", _csv_rows(path, limits))]))
    elif sniffed.format in WORKBOOKS:
        sliced = sniffed.format == "xlsx" and sniffed.largest_sheet > stream_above
        with _calamine_book(path, sniffed.format, limits, stream_above if sliced else None) as book:
            yield book
    else:
        raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")


def _clip(values: list[Any] | tuple[Any, ...], limits: Limits) -> tuple[Any, ...]:
    if len(values) > limits.max_columns:
        tail = values[limits.max_columns:]
        if any(v not in (None, "") for v in tail):
            raise FileRejected(C.FILE_TOO_LARGE, what="column_count", limit=limits.max_columns)
        values = values[:limits.max_columns]
    return tuple(values)


# calamine ----------------------------------------------------------------------------------
def _calamine_open(path: Path, fmt: str) -> Any:
    """The workbook read as what its bytes are (guard.sniff said `fmt`): calamine's from_path
    goes by the extension, so a workbook renamed instead of saved as (.xlsx named .xls, or the
    reverse) is handed over as a file object, which calamine reads by content."""
    import python_calamine as pc

    if path.suffix.lower() in WORKBOOKS[fmt]:
        return pc.CalamineWorkbook.from_path(str(path))
    with path.open("rb") as fh:
        return pc.CalamineWorkbook.from_filelike(fh)


def _panic(exc: BaseException) -> bool:
    """A Rust panic inside calamine (pyo3's PanicException, a BaseException): a damaged file."""
    return type(exc).__name__ == "PanicException"


@contextmanager
def _calamine_book(path: Path, fmt: str, limits: Limits, stream_above: int | None) -> Iterator[Book]:
    import python_calamine as pc

    errors = (pc.CalamineError, pc.ZipError, pc.XmlError, pc.WorksheetNotFound, ValueError,
              OSError, RuntimeError)
    walked = _xls_walk(path, limits) if fmt == "xls" else []
    try:
        wb = _calamine_open(path, fmt)
    except pc.PasswordError as exc:
        raise FileRejected(C.FILE_ENCRYPTED) from exc
    except errors as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    except BaseException as exc:
        if _panic(exc):
            raise FileRejected(C.FILE_UNREADABLE, reason="reader_crashed") from exc
        raise
    opened: list[SheetSlices] = []
    try:
        meta = {}
        visible = []
        parts = workbook_parts(path) if fmt == "xlsx" else None
        biff = _by_name(walked, [sm.name for sm in wb.sheets_metadata])
        for sm in wb.sheets_metadata:
            if sm.name == META_SHEET:
                meta = _read_meta(_sheet_rows(path, wb, sm.name, parts, limits, None, opened))
            elif str(sm.visible).lower().endswith("visible") and "hidden" not in str(sm.visible).lower() \
                    and "work" in str(sm.typ).lower():
                visible.append(sm.name)
        if not visible:
            raise FileRejected(C.FILE_UNREADABLE, reason="no_sheet")
        yield Book(fmt, (_sheet(path, wb, n, parts, limits, stream_above, opened, biff.get(n))
                         for n in visible), meta)
    except pc.PasswordError as exc:
        raise FileRejected(C.FILE_ENCRYPTED) from exc
    except errors as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    except BaseException as exc:
        if _panic(exc):
            raise FileRejected(C.FILE_UNREADABLE, reason="reader_crashed") from exc
        raise
    finally:
        for slices in opened:
            slices.close()
        wb.close()


def _calamine_rows(wb: Any, name: str, limits: Limits) -> Iterator[Row]:
    import python_calamine as pc

    try:
        sheet = wb.get_sheet_by_name(name)
    except (pc.CalamineError, pc.XmlError, pc.ZipError) as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    # iter_rows() starts at the sheet's first row but at the first used column: pad the columns
    # back so positions match the sheet (tests/flows/test_reading.py pins this down).
    _start_row, start_col = sheet.start or (0, 0)
    pad = ("",) * start_col

    def rows() -> Iterator[Row]:
        for index, values in enumerate(sheet.iter_rows()):
            values = trim(values)
            if values:
                yield index + 1, pad + tuple(values)
    for number, values in fill_merged(rows(), sheet.merged_cell_ranges or ()):
        yield number, _clip(values, limits)


def fill_merged(rows: Iterator[Row], merges: Iterable[Merge]) -> Iterator[Row]:
    """The rows with the value of each cell merged down a column copied into the rows below it
    that the merge covers: a clerk merges 变更日期 or 缴费工资 over the staff it is the same for
    and sees it on every row, while the file holds it in the first cell only. Only rows that
    hold something else get it (the reader never yields a blank row), so a merge longer than
    the list adds no row; merges across columns (a title over the table) are left alone."""
    spans = sorted((r0 + 1, r1 + 1, c0) for (r0, c0), (r1, c1) in merges if c0 == c1 and r1 > r0)
    if not spans:
        yield from rows
        return
    at = 0
    open_: list[tuple[int, int, Any]] = []           # (last row, column, value)
    for number, values in rows:
        while at < len(spans) and spans[at][0] <= number:
            first, last, col = spans[at]
            at += 1
            if first == number and col < len(values) and values[col] not in ("", None):
                open_.append((last, col, values[col]))
        open_ = [span for span in open_ if span[0] >= number]
        if open_:
            cells = list(values)
            for _last, col, value in open_:
                if col >= len(cells):
                    cells += [""] * (col + 1 - len(cells))
                if cells[col] in ("", None):
                    cells[col] = value
            values = tuple(cells)
        yield number, values


def _sheet(path: Path, wb: Any, name: str, parts: Parts | None, limits: Limits,
           stream_above: int | None, opened: list[SheetSlices],
           biff: BiffSheet | None = None) -> Sheet:
    """A sheet and its hidden rows: an xls sheet's known before (`biff`), an xlsx sheet's
    found as its XML is checked."""
    hidden = set() if biff is None else biff.hidden
    return Sheet(name, _sheet_rows(path, wb, name, parts, limits, stream_above, opened, hidden),
                 hidden)


def _xls_walk(path: Path, limits: Limits) -> list[BiffSheet]:
    """An xls workbook's sheets as read.biff walks them, checked before calamine opens the
    workbook (which reads every sheet, hidden ones too): when a sheet's rectangle reaches past
    the limits, they are walked again for their cells (_check_biff)."""
    from exchange.read.biff import sheets

    found = sheets(path)
    if any(_reaches_far(sheet, limits) for sheet in found):
        found = sheets(path, cells=True)
        for sheet in found:
            _check_biff(sheet, limits)
    return found


def _reaches_far(sheet: BiffSheet, limits: Limits) -> bool:
    rows, columns = sheet.corner
    return (columns > limits.max_columns or rows > limits.max_rows + TITLE_ROOM
            or _too_wide(sheet, limits))


def _too_wide(sheet: BiffSheet, limits: Limits) -> bool:
    """Whether calamine could not hold the sheet's rectangle in the reading worker's memory."""
    rows, columns = sheet.extent
    return rows * columns * CELL_BYTES > (limits.reader_memory_mb << 20) * RANGE_SHARE


def _by_name(walked: list[BiffSheet], names: list[str]) -> dict[str, BiffSheet]:
    """The walked sheets by calamine's names, which are the workbook's sheets in its order (a
    name BIFF5 spells in a code page is matched by place)."""
    if len(walked) != len(names):
        return {sheet.name: sheet for sheet in walked if sheet.name in names}
    return dict(zip(names, walked))


def _check_biff(sheet: BiffSheet, limits: Limits) -> None:
    """Refuse an xls sheet whose farthest cells holding a value are past the limits, or whose
    rectangle calamine could not hold in the reading worker's memory, naming the cell."""
    for cell in (sheet.rightmost, sheet.lowest):
        if cell is not None:
            check_cell(*cell, limits)
    if _too_wide(sheet, limits):
        row, column = sheet.far_cell()
        raise FileRejected(C.FILE_TOO_LARGE, what="read_memory",
                           limit=f"{limits.reader_memory_mb} MB", cell=cell_name(row, column))


def _sheet_rows(path: Path, wb: Any, name: str, parts: Parts | None, limits: Limits,
                stream_above: int | None, opened: list[SheetSlices],
                hidden: set[int] | None = None) -> Iterator[Row]:
    """A sheet's rows. An xlsx sheet's cell references are checked first (guard.check_extent):
    calamine never meets a sheet reaching past the limits. A sheet over `stream_above` bytes of
    XML is read a slice at a time, each slice checked, and so is one holding a formula's error
    value or a formula without its value (a slice has them read as a CellError or an
    UnsavedFormula, where calamine reads them as blank); other sheets whole (and a sheet whose
    start is too long to find its rows in: SheetSlices.numbered)."""
    member = parts.sheets.get(name) if parts is not None else None
    if member is not None and parts is not None:
        large = stream_above is not None and parts.sizes.get(member, 0) > stream_above
        extent = functools.partial(check_member_extent, hidden=hidden,
                                   recalculate=parts.recalculate)
        errors = not large and _check_member(path, member, limits, extent)
        if large or errors:
            merges = _check_member(path, member, limits,
                                   functools.partial(check_member_rows, hidden=hidden))
            slices = SheetSlices(path, member, parts, check=lambda body: check_extent(body, limits))
            opened.append(slices)
            if slices.numbered:
                for number, values in fill_merged(iter(slices), merges):
                    yield number, _clip(values, limits)
                slices.close()
                return
            slices.close()
        if large:
            _check_member(path, member, limits, extent)
    yield from _calamine_rows(wb, name, limits)


def _check_member(path: Path, member: str, limits: Limits,
                  check: Callable[[zipfile.ZipFile, str, Limits], T]) -> T:
    try:
        with zipfile.ZipFile(path) as zf:
            return check(zf, member, limits)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error) as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc


def _read_meta(rows: Iterator[Row]) -> dict[str, str]:
    meta = {}
    for _, values in rows:
        if len(values) >= 2 and values[0] not in (None, ""):
            meta[str(values[0]).strip()] = "" if values[1] is None else str(values[1]).strip()
    return meta


# CSV ----------------------------------------------------------------------------------------
def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK/GB2312)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:        # a character cut at the end of the sample
            return "utf-8"
    try:
        head.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:
            return "gb18030"
        raise FileRejected(C.FILE_UNREADABLE, reason="bad_encoding") from exc


def _csv_rows(path: Path, limits: Limits) -> Iterator[Row]:
    with path.open("rb") as raw:
        head = raw.read(1 << 16)
    encoding = detect_encoding(head)
    sample = head.decode(encoding, errors="ignore")
    if _binary(sample[:4096]):
        raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
    try:
        dialect: Any = csv.Sniffer().sniff(sample[:8192], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            reader = csv.reader(_bounded_lines(fh, limits.max_line_kb * 1024), dialect)
            for values in reader:
                joined = "".join(values)
                if not joined:            # a line break alone (an empty sheet saved) is no row
                    continue
                # A formula's error value: a quick look first (12 ms a 100,000 rows).
                if "#" in joined or "Err:" in joined:
                    values = list(map(error_cell, values))
                if '="' in joined:
                    values = [_excel_text(v) for v in values]
                yield reader.line_num, _clip(values, limits)
    except UnicodeDecodeError as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="bad_encoding") from exc
    except csv.Error as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc


def _excel_text(value: str) -> str:
    """A CSV field written ="…" (how other systems export an ID or a code for Excel to show
    as text, leading zeros and all) is the text inside."""
    if len(value) >= 3 and value.startswith('="') and value.endswith('"'):
        return value[2:-1].replace('""', '"')
    return value


def _binary(sample: str) -> bool:
    """Bytes, not text: a control below tab in more than 1% of the characters (about 3.5% of
    random bytes are). A clerk's CSV with a stray BEL or ESC pasted into a cell is text: its
    rows are read and that cell is refused (text.control), not the whole file."""
    controls = sum(1 for ch in sample if ch < "\t")
    return controls >= 4 and controls * 100 > len(sample)


def _bounded_lines(fh: Any, limit: int) -> Iterator[str]:
    """The lines of a text file, none longer than `limit` characters besides its line break: a
    CSV of one 99 MB line would otherwise be split into millions of fields before its width is
    seen."""
    while line := fh.readline(limit + 2):
        if len(line) - len(_LINE_BREAK.search(line).group()) > limit:  # type: ignore[union-attr]
            raise FileRejected(C.FILE_TOO_LARGE, what="line_length", limit=f"{limit // 1024} KB")
        yield line


_LINE_BREAK = re.compile(r"\r?\n?\Z")
