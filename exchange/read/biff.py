"""What calamine does not tell of a legacy .xls (BIFF) sheet: its hidden rows and its farthest
cells, found before calamine reads it.

A clerk filters the staff down to the leavers (or hides rows by hand) in Excel or WPS and saves
as .xls: the hidden rows are not declarations, as in an xlsx (exchange.read.guard). BIFF keeps a
ROW record per row with a height; a hidden row's has fDyZero set (MS-XLS 2.4.221).

calamine reserves a cell (40 bytes) for every place in the rectangle a sheet's DIMENSIONS record
declares, before reading any: one space typed at IV65536, or one cell formatted there, asks for
16.7 million (640 MB), and a sheet with a value past max_columns would be read. The rectangle is
read here; when it reaches past the limits, the sheets are walked again for their cells (every
cell record starts with its row and column, MS-XLS 2.5.13 Cell), so that read.tables refuses
the sheet naming the cell, as an xlsx's (guard.check_extent). The first walk stays as cheap as
the one for hidden rows alone (a 20 MB .xls: 0.24 s; tracking every cell too, 0.62 s).

Only record headers are walked, and the ROW and cell records' first bytes read: no cell is
decoded. The compound file is opened by xlrd's reader (xlrd.compdoc), which refuses a damaged one.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

BOUNDSHEET, EOF, ROW, DIMENSIONS = 0x0085, 0x000A, 0x0208, 0x0200
MULRK, MULBLANK = 0x00BD, 0x00BE       # several cells in a row: the last column is the last 2 bytes
ROW_HIDDEN = 0x20                      # fDyZero, in the flags at offset 12 of a ROW record
# The cell records that hold a value: FORMULA, NUMBER, RK, LABELSST, LABEL, RSTRING, BOOLERR,
# MULRK; and those of cells formatted but empty: BLANK, MULBLANK.
VALUE_CELLS = frozenset({0x0006, 0x0203, 0x027E, 0x00FD, 0x0204, 0x00D6, 0x0205, MULRK})
BLANK_CELLS = frozenset({0x0201, MULBLANK})
CELL_BYTES = 40                        # what calamine reserves per place in the rectangle

Cell = tuple[int, int]                 # 1-based (row, column)


@dataclass
class BiffSheet:
    name: str | None                   # None when it cannot be decoded
    hidden: set[int] = field(default_factory=set)
    lowest: Cell | None = None         # a cell holding a value on the sheet's last such row
    rightmost: Cell | None = None      # …and one in its last such column
    # The rectangle the DIMENSIONS record declares: its size (rows, columns) and its far corner;
    # and the cells of any kind, formatted blanks too, farthest down and right (the ones that
    # make it so large). The cells are known only when the sheets were walked with `cells`.
    extent: Cell = (0, 0)
    corner: Cell = (0, 0)
    lowest_any: Cell | None = None
    rightmost_any: Cell | None = None

    def far_cell(self) -> Cell:
        """The cell to name when the rectangle is too large: of the farthest down and the
        farthest right, the one whose own rectangle (row × column) is larger; the rectangle's
        corner when the cells do not reach it (a DIMENSIONS record no clerk's program writes)."""
        low, right = self.lowest_any, self.rightmost_any
        if low is None or right is None or 2 * low[0] * right[1] < self.extent[0] * self.extent[1]:
            return self.corner
        return low if low[0] * low[1] >= right[0] * right[1] else right


def sheets(path: Path, cells: bool = False) -> list[BiffSheet]:
    """The workbook's sheets, in its order, with their farthest cells if `cells`; [] when the
    file is no BIFF workbook that can be walked."""
    from xlrd.compdoc import CompDoc, CompDocError

    try:
        doc = CompDoc(path.read_bytes(), logfile=_Quiet(), ignore_workbook_corruption=True)
        stream = doc.get_named_stream("Workbook") or doc.get_named_stream("Book")
    except (CompDocError, struct.error, IndexError, ValueError, MemoryError):
        return []
    if not stream:
        return []
    return [_walk(stream, name, at, cells) for name, at in _sheets(stream)]


def _records(stream: bytes, at: int):  # type: ignore[no-untyped-def]
    """(record id, its data's offset, its length) from `at` to the end of the stream."""
    end = len(stream)
    while at + 4 <= end:
        kind, size = struct.unpack_from("<HH", stream, at)
        yield kind, at + 4, size
        at += 4 + size


def _sheets(stream: bytes) -> list[tuple[str | None, int]]:
    """The globals' BOUNDSHEET records: each sheet's name and where its substream starts."""
    found = []
    for kind, at, size in _records(stream, 0):
        if kind == EOF:
            break
        if kind == BOUNDSHEET and size >= 8:
            (start,) = struct.unpack_from("<I", stream, at)
            found.append((_name(stream[at + 6:at + size]), start))
    return found


def _name(raw: bytes) -> str | None:
    """A BIFF8 ShortXLUnicodeString (BIFF5's is a byte string: left undecoded, None)."""
    if len(raw) < 2:
        return None
    count, flags = raw[0], raw[1]
    try:
        if flags & 1:
            return raw[2:2 + 2 * count].decode("utf-16-le")
        return raw[2:2 + count].decode("latin-1")
    except UnicodeDecodeError:
        return None


def _walk(stream: bytes, name: str | None, start: int, cells: bool) -> BiffSheet:
    sheet = BiffSheet(name)
    wanted = VALUE_CELLS | BLANK_CELLS if cells else frozenset()
    for kind, at, size in _records(stream, start):
        if kind == EOF:
            break
        if kind == ROW and size >= 14:
            number, flags = struct.unpack_from("<H", stream, at)[0], stream[at + 12]
            if flags & ROW_HIDDEN:
                sheet.hidden.add(number + 1)
        elif kind == DIMENSIONS and size >= 10:
            sheet.extent, sheet.corner = _extent(stream, at, size)
        elif kind in wanted and size >= 6:
            row, column = struct.unpack_from("<HH", stream, at)
            if kind in (MULRK, MULBLANK):
                (column,) = struct.unpack_from("<H", stream, at + size - 2)
            cell = (row + 1, column + 1)
            sheet.lowest_any = _farther(sheet.lowest_any, cell, 0)
            sheet.rightmost_any = _farther(sheet.rightmost_any, cell, 1)
            if kind in VALUE_CELLS:
                sheet.lowest = _farther(sheet.lowest, cell, 0)
                sheet.rightmost = _farther(sheet.rightmost, cell, 1)
    return sheet


def _extent(stream: bytes, at: int, size: int) -> tuple[Cell, Cell]:
    """A DIMENSIONS record's rows and columns, and its last cell (BIFF8: 32-bit rows; BIFF5:
    16-bit; the last row and column are given past the end)."""
    if size >= 14:
        first_row, last_row, first_col, last_col = struct.unpack_from("<IIHH", stream, at)
    else:
        first_row, last_row, first_col, last_col = struct.unpack_from("<HHHH", stream, at)
    return (max(0, last_row - first_row), max(0, last_col - first_col)), (last_row, last_col)


def _farther(known: Cell | None, cell: Cell, axis: int) -> Cell:
    return cell if known is None or cell[axis] > known[axis] else known


class _Quiet:
    """xlrd's compound-file reader writes its complaints to a log file: none here."""

    def write(self, text: str) -> int:
        return len(text)


__all__ = ["BiffSheet", "sheets"]
