"""The rows hidden in a legacy .xls (BIFF) sheet, which calamine does not tell.

A clerk filters the staff down to the leavers (or hides rows by hand) in Excel or WPS and saves
as .xls: the hidden rows are not declarations, as in an xlsx (exchange.read.guard). BIFF keeps a
ROW record per row with a height; a hidden row's has fDyZero set (MS-XLS 2.4.221). Only record
headers are walked, and the ROW records read: no cell is decoded. The compound file is opened by
xlrd's reader (xlrd.compdoc), which refuses a damaged one.
"""
from __future__ import annotations

import struct
from pathlib import Path

BOUNDSHEET, EOF, ROW = 0x0085, 0x000A, 0x0208
ROW_HIDDEN = 0x20                      # fDyZero, in the flags at offset 12 of a ROW record


def hidden_rows(path: Path) -> list[tuple[str | None, set[int]]]:
    """Each sheet's name (None when it cannot be decoded) and the 1-based numbers of its hidden
    rows, in the workbook's order; [] when the file is no BIFF workbook that can be walked."""
    from xlrd.compdoc import CompDoc, CompDocError

    try:
        doc = CompDoc(path.read_bytes(), logfile=_Quiet(), ignore_workbook_corruption=True)
        stream = doc.get_named_stream("Workbook") or doc.get_named_stream("Book")
    except (CompDocError, struct.error, IndexError, ValueError, MemoryError):
        return []
    if not stream:
        return []
    return [(name, _hidden_in(stream, at)) for name, at in _sheets(stream)]


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


def _hidden_in(stream: bytes, start: int) -> set[int]:
    hidden: set[int] = set()
    for kind, at, size in _records(stream, start):
        if kind == EOF:
            break
        if kind == ROW and size >= 14:
            number, flags = struct.unpack_from("<H", stream, at)[0], stream[at + 12]
            if flags & ROW_HIDDEN:
                hidden.add(number + 1)
    return hidden


class _Quiet:
    """xlrd's compound-file reader writes its complaints to a log file: none here."""

    def write(self, text: str) -> int:
        return len(text)


__all__ = ["hidden_rows"]
