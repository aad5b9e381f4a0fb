"""Row streams from xlsx, xls and CSV: (sheet row number, cell values), nothing held whole.

Library failures are mapped to file codes here, at one boundary.
"""
from __future__ import annotations

import codecs
import csv
import io
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from exchange import codes as C
from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.read.guard import Sniffed

META_SHEET = "_meta"
# Above this declared worksheet size, stream with openpyxl instead of loading with calamine.
STREAM_SHEET_BYTES = 64 * 1024 * 1024

Row = tuple[int, tuple[Any, ...]]


@dataclass
class Sheet:
    name: str
    rows: Iterator[Row]


@dataclass
class Book:
    format: str
    sheets: Iterator[Sheet]
    meta: dict[str, str] = field(default_factory=dict)


@contextmanager
def open_book(path: Path, sniffed: Sniffed, limits: Limits) -> Iterator[Book]:
    """Open a sniffed file as sheets of rows. Raises FileRejected for what cannot be read."""
    if sniffed.format == "csv":
        yield Book("csv", iter([Sheet("csv", _csv_rows(path, limits))]))
    elif sniffed.format == "xlsx" and sniffed.largest_sheet > STREAM_SHEET_BYTES:
        with _openpyxl_book(path, limits) as book:
            yield book
    elif sniffed.format in ("xlsx", "xls"):
        with _calamine_book(path, sniffed.format, limits) as book:
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
@contextmanager
def _calamine_book(path: Path, fmt: str, limits: Limits) -> Iterator[Book]:
    import python_calamine as pc

    errors = (pc.CalamineError, pc.ZipError, pc.XmlError, pc.WorksheetNotFound, ValueError,
              OSError, RuntimeError)
    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
    except pc.PasswordError as exc:
        raise FileRejected(C.FILE_ENCRYPTED) from exc
    except errors as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    try:
        meta = {}
        visible = []
        for sm in wb.sheets_metadata:
            if sm.name == META_SHEET:
                meta = _read_meta(_calamine_rows(wb, sm.name, limits))
            elif str(sm.visible).lower().endswith("visible") and "hidden" not in str(sm.visible).lower() \
                    and "work" in str(sm.typ).lower():
                visible.append(sm.name)
        if not visible:
            raise FileRejected(C.FILE_UNREADABLE, reason="no_sheet")
        yield Book(fmt, (Sheet(n, _calamine_rows(wb, n, limits)) for n in visible), meta)
    except pc.PasswordError as exc:
        raise FileRejected(C.FILE_ENCRYPTED) from exc
    except errors as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    finally:
        wb.close()


def _calamine_rows(wb: Any, name: str, limits: Limits) -> Iterator[Row]:
    import python_calamine as pc

    try:
        sheet = wb.get_sheet_by_name(name)
    except (pc.CalamineError, pc.XmlError, pc.ZipError) as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    # iter_rows() starts at the sheet's first row but at the first used column: pad the columns
    # back so positions match the sheet (tests/unit/test_read_tables.py pins this down).
    _start_row, start_col = sheet.start or (0, 0)
    pad = ("",) * start_col
    for index, values in enumerate(sheet.iter_rows()):
        if any(v != "" for v in values):
            yield index + 1, _clip(pad + tuple(values), limits)


# openpyxl read-only (very large sheets) -------------------------------------------------------
@contextmanager
def _openpyxl_book(path: Path, limits: Limits) -> Iterator[Book]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    try:
        meta = _read_meta(_openpyxl_rows(wb[META_SHEET], limits)) if META_SHEET in wb.sheetnames else {}
        sheets = [ws for ws in wb.worksheets if ws.title != META_SHEET and ws.sheet_state == "visible"]
        if not sheets:
            raise FileRejected(C.FILE_UNREADABLE, reason="no_sheet")
        yield Book("xlsx", (Sheet(ws.title, _openpyxl_rows(ws, limits)) for ws in sheets), meta)
    finally:
        wb.close()


def _openpyxl_rows(ws: Any, limits: Limits) -> Iterator[Row]:
    try:
        for cells in ws.iter_rows():
            values = [c.value for c in cells]
            if not any(v not in (None, "") for v in values):
                continue
            row = next((c.row for c in cells if getattr(c, "row", None)), None)
            if row is not None:
                yield row, _clip(values, limits)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
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
    if any(ord(ch) < 9 for ch in sample[:4096]):
        raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
    try:
        dialect: Any = csv.Sniffer().sniff(sample[:8192], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, dialect)
            for values in reader:
                yield reader.line_num, _clip(values, limits)
    except UnicodeDecodeError as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="bad_encoding") from exc
    except csv.Error as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc


def sheet_rows_of(data: bytes, name: str = "upload.csv") -> Iterator[Row]:
    """Test helper-free path: rows of in-memory CSV bytes (used by master-data loads)."""
    text = data.decode(detect_encoding(data[:1 << 16]))
    yield from ((i + 1, tuple(r)) for i, r in enumerate(csv.reader(io.StringIO(text))))
