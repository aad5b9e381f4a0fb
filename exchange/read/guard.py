"""One door for untrusted containers: format by content, zip sizes, XML DTDs, encryption.

Readers never bound decompression themselves: every check that protects memory and time happens
here, before any workbook library opens the file.
"""
from __future__ import annotations

import functools
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from exchange import codes as C
from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.read.slices import (ERROR_CELL, NOT_AN_INDEX, ROW_R, SHARED_CELL,
                                  unsaved_formulas)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
IMAGE_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
BMP_HEADERS = {12, 40, 52, 56, 64, 108, 124}     # BITMAPINFOHEADER and its kin, by size
MARKUP_HEAD = 512            # bytes sniffed: any magic number, and a web page's first tag

# Small members may compress extremely well (empty styles); the ratio only counts above this.
RATIO_FLOOR = 1 << 20
PROLOGUE_BYTES = 1024                  # read at a time while looking for an XML member's root
# Title and instruction rows a sheet may have above max_rows data rows (read.header.SCAN_ROWS).
TITLE_ROOM = 30
# A cell's reference, in whatever attribute order and namespace prefix a writer uses.
_ROW_NUMBER = re.compile(rb"<(?:[\w.-]+:)?row\s[^<>]*?\br\s*=\s*[\"']([0-9]{1,7})[\"'][^<>]*>\s*<(?:[\w.-]+:)?c[\s>/]")
_BAD_SHARED_INDEX = re.compile(SHARED_CELL + NOT_AN_INDEX)      # see exchange.read.slices
_DIGITS_TO_END = re.compile(rb"[0-9]*\Z")
_ERROR_TYPE = re.compile(ERROR_CELL)
_CELL_REF = re.compile(rb"<(?:[\w.-]+:)?c\s[^<>]*?\br\s*=\s*[\"']([A-Za-z]{1,3})([0-9]{1,7})[\"']")
# The rest of a cell from inside its start tag when it holds no value: a self-closing tag, or an
# end tag after nothing but white space or an empty <v>. calamine leaves such a cell (formatted,
# never filled, or emptied) out of a sheet's rectangle; `_CELL_END`: where a cell ends.
_NO_VALUE = re.compile(rb"[^<>]*?(?:/>|>\s*(?:<(?:[\w.-]+:)?v\s*/>|<(?:[\w.-]+:)?v>\s*</(?:[\w.-]+:)?v>)?"
                       rb"\s*</(?:[\w.-]+:)?c>)")
_CELL_START = re.compile(rb"<(?:[\w.-]+:)?c[\s>/]")
_ROW_END = re.compile(rb"</(?:[\w.-]+:)?row>")
_CELL_END = re.compile(rb"/>|</(?:[\w.-]+:)?c>")
CUT_ROOM = 512                  # bytes of a block carried into the next (check_member_extent)
# A merged range of a worksheet (after its rows, in <mergeCells>).
_MERGE = re.compile(rb"<(?:[\w.-]+:)?mergeCell\s[^<>]*?\bref\s*=\s*[\"']([A-Za-z]{1,3})([0-9]{1,7}):"
                    rb"([A-Za-z]{1,3})([0-9]{1,7})[\"']")
# (first row, column), (last row, column), 0-based: as calamine's merged_cell_ranges
Merge = tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class Sniffed:
    format: str                    # xlsx | xls | ods | csv | zip | jpeg | png | heif | webp | bmp
    largest_sheet: int = 0         # declared uncompressed bytes of the largest worksheet (xlsx;
                                   # an ods's content.xml)


def sniff(path: Path, limits: Limits) -> Sniffed:
    """Decide the format from the bytes, refusing what is too large, encrypted or hostile."""
    size = path.stat().st_size
    if size == 0:
        raise FileRejected(C.FILE_EMPTY)
    if size > limits.max_file_mb * 1024 * 1024:
        raise FileRejected(C.FILE_TOO_LARGE, what="file_size", limit=f"{limits.max_file_mb} MB")
    with path.open("rb") as fh:
        head = fh.read(MARKUP_HEAD)
    if head.startswith(ZIP_MAGIC):
        return _check_zip(path, limits)
    if head.startswith(OLE_MAGIC):
        _check_ole(path)
        return Sniffed("xls")
    image = _image_format(head)
    if image is not None:
        return Sniffed(image)
    if _markup(head):
        # LibreOffice's flat XML (.fods) is no web page, and Excel does not open it.
        flat = b"<office:document" in head
        raise FileRejected(C.FILE_UNREADABLE, reason="fods" if flat else "web_table")
    if path.suffix.lower() == ".xlsb":
        # An Excel binary workbook is a zip: text under that name is a damaged file, not a
        # table whose headers are wrong (file.unknown_kind said to keep the template's headers).
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt")
    return Sniffed("csv")


def _image_format(head: bytes) -> str | None:
    """The photo format a file's first bytes declare (exchange.read.images.IMAGE_FORMATS)."""
    for magic, fmt in IMAGE_MAGIC.items():
        if head.startswith(magic):
            return fmt
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    # "BM" alone could begin a text: the reserved zeros and the info header's size too.
    if head[:2] == b"BM" and len(head) >= 18 and head[6:10] == bytes(4) \
            and int.from_bytes(head[14:18], "little") in BMP_HEADERS:
        return "bmp"
    return None


# What old web systems' 导出Excel writes under a .xls name: an HTML table, or Excel 2003's XML
# Spreadsheet. Read as a CSV, its first line is a tag, and the clerk, who sees a proper table
# in Excel, was told the kind was unknown and the headers changed.
_MARKUP = re.compile(r"^\s*<(?:!doctype\s+html|html|\?xml|table|meta|head|body|workbook|\?mso-application)\b",
                     re.IGNORECASE)


def _markup(head: bytes) -> bool:
    """Whether a text file's `head` begins a web page or an XML document (UTF-8, UTF-16 or
    GB18030)."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return bool(_MARKUP.match(head[len(bom):].decode(encoding, "ignore")))
    return bool(_MARKUP.match(head.decode("latin-1")))


_ENCRYPTED_MEMBER = 0x1          # a zip entry's general-purpose flag: its data is encrypted


def check_zip_members(zf: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """Declared sizes, ratios, member count and names of a zip, before anything is extracted;
    then whether any entry is encrypted."""
    infos = zf.infolist()
    if len(infos) > limits.max_zip_members:
        raise FileRejected(C.FILE_TOO_LARGE, what="zip_members", limit=limits.max_zip_members)
    total = 0
    names: set[str] = set()
    encrypted = False
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or ":" in name.split("/")[0]:
            raise FileRejected(C.FILE_HOSTILE, what="zip_path")
        # Two entries of one name: readers differ on which is the file (Python's zipfile takes
        # the last, others the first), so what was checked need not be what is read.
        if name in names:
            raise FileRejected(C.FILE_HOSTILE, what="zip_duplicate")
        names.add(name)
        if (info.external_attr >> 16) & 0o170000 == 0o120000:   # a symbolic link
            raise FileRejected(C.FILE_HOSTILE, what="zip_path")
        encrypted = encrypted or bool(info.flag_bits & _ENCRYPTED_MEMBER)
        total += info.file_size
        if info.file_size > RATIO_FLOOR and \
                info.file_size > limits.max_compression_ratio * max(info.compress_size, 1):
            raise FileRejected(C.FILE_HOSTILE, what="zip_ratio")
    if total > limits.max_uncompressed_mb * 1024 * 1024:
        raise FileRejected(C.FILE_TOO_LARGE, what="zip_size", limit=f"{limits.max_uncompressed_mb} MB")
    # A zip tool's password (ZipCrypto or AES) on the workbook or on photos: no member can be
    # read. Told as a password, not as a reader that crashed on the first.
    if encrypted:
        raise FileRejected(C.FILE_ENCRYPTED)
    return infos


def _check_zip(path: Path, limits: Limits) -> Sniffed:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = check_zip_members(zf, limits)
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                return _other_zip(zf, infos, names)
            if any(n.startswith("EncryptedPackage") for n in names):
                raise FileRejected(C.FILE_ENCRYPTED)
            _refuse_dtds(zf, infos)
            strings = [i.file_size for i in infos if i.filename.lower() == "xl/sharedstrings.xml"]
            if strings and strings[0] > limits.max_shared_strings_mb * 1024 * 1024:
                # calamine holds the whole table, several times its XML: refused before it
                # reads a byte of it, however well (or badly) the table compressed.
                raise FileRejected(C.FILE_TOO_LARGE, what="shared_strings",
                                   limit=f"{limits.max_shared_strings_mb} MB")
            sheets = [i.file_size for i in infos if i.filename.startswith("xl/worksheets/")]
            return Sniffed("xlsx", max(sheets, default=0))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc


def _greater(most: str, first: str, chars: str, longest: int) -> str:
    """A pattern matching every string of `chars` (1 to `longest` of them) whose value is above
    `most` (a row number, or A1-style column letters), and a few more: a longer string, or one as
    long whose first character is in `first` (those not below `most`'s first)."""
    longer = f"|[{chars}]{{{len(most) + 1},{longest}}}" if len(most) < longest else ""
    return f"(?:[{first}][{chars}]{{{len(most) - 1}}}{longer})"


@functools.cache
def _beyond(limits: Limits) -> re.Pattern[bytes]:
    """A quick look for a reference that may pass the limits (check_extent, check_member_rows):
    any `r="…"` whose column letters or row number might be too large. Its matches are a
    superset of what the exact patterns refuse, so a sheet where it finds none is within them;
    where it finds one, the exact patterns decide."""
    letters, digits = column_letters(limits.max_columns), str(limits.max_rows + TITLE_ROOM)
    column = _greater(letters, f"{letters[0]}-Z{letters[0].lower()}-z", "A-Za-z", 3)
    row = _greater(digits, f"{digits[0]}-9", "0-9", 7)
    return re.compile(rf"r\s*=\s*[\"'](?:{column}[0-9]{{1,7}}|(?:[A-Za-z]{{1,3}})?{row})[\"']"
                      .encode())


@functools.cache
def _rows_beyond(limits: Limits) -> re.Pattern[bytes]:
    """_beyond for row tags only, in the spelling every writer uses (`<row `, no namespace
    prefix): its literal start makes it three times faster over a large sheet. A block holding
    `:row` anywhere is looked at with _beyond instead, so the superset still holds."""
    digits = str(limits.max_rows + TITLE_ROOM)
    row = _greater(digits, f"{digits[0]}-9", "0-9", 7)
    return re.compile(rf"<row\s[^<>]*?\br\s*=\s*[\"']{row}[\"']".encode())


def column_letters(number: int) -> str:
    """1-based column number to A1-style letters: 1 -> A, 200 -> GR."""
    out = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out or "A"


def column_number(letters: bytes) -> int:
    """A1-style column letters to 1-based: b"A" -> 1, b"XFD" -> 16384."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def check_extent(xml: bytes, limits: Limits) -> None:
    """Refuse worksheet XML with a cell holding a value beyond column max_columns or row
    max_rows (plus the title rows). calamine allocates the whole rectangle up to a sheet's
    farthest cell with a value: two cells at A1 and XFD1048576 ask it for 17 billion cells, and
    it aborts the process. A cell holding nothing is not in its rectangle, and is let be: a
    clerk who formatted a column down to the sheet's last row (Ctrl+Shift+↓) sends a cell
    there. The refusal names the cell, for the clerk to find it.
    `xml` may be any part of a sheet cut between elements (a slice, a block)."""
    if _beyond(limits).search(xml) is None:
        return
    refs = _CELL_REF.findall(xml)
    wide = {c for c in {c for c, _ in refs} if column_number(c) > limits.max_columns}
    deepest = max(refs, key=lambda ref: (len(ref[1]), ref[1]))[1] if refs else "0"
    if wide or int(deepest) > limits.max_rows + TITLE_ROOM:
        for m in _CELL_REF.finditer(xml):
            letters, digits = m[1], m[2]
            if letters in wide and _holds_value(xml, m.start(), m.end()):
                raise _too_large("column_count", limits.max_columns, letters + digits)
            if int(digits) > limits.max_rows + TITLE_ROOM and _holds_value(xml, m.start(), m.end()):
                raise _too_large("row_count", limits.max_rows, letters + digits)
    _check_rows(xml, limits)


def check_cell(row: int, column: int, limits: Limits) -> None:
    """Refuse a cell holding a value past the limits, as check_extent does one in XML, naming
    it (1-based row and column: a legacy .xls's farthest cells, read.biff)."""
    cell = cell_name(row, column).encode()
    if column > limits.max_columns:
        raise _too_large("column_count", limits.max_columns, cell)
    if row > limits.max_rows + TITLE_ROOM:
        raise _too_large("row_count", limits.max_rows, cell)


def cell_name(row: int, column: int) -> str:
    """1-based row and column to an A1-style name: (65536, 256) -> IV65536."""
    return f"{column_letters(column)}{row}"


def _too_large(what: str, limit: int, cell: bytes | None = None) -> FileRejected:
    if cell is None:
        return FileRejected(C.FILE_TOO_LARGE, what=what, limit=limit)
    return FileRejected(C.FILE_TOO_LARGE, what=what, limit=limit, cell=cell.decode().upper())


def _holds_value(xml: bytes, start: int, at: int) -> bool:
    """Whether the cell starting at `start` holds a value (`at`: a place inside its start tag).
    A cell starting in the last CUT_ROOM bytes of `xml` and cut off by its end is let be here:
    the next block begins with it whole (check_member_extent); any other is taken to hold one."""
    if _NO_VALUE.match(xml, at):
        return False
    return len(xml) - start > CUT_ROOM or _CELL_END.search(xml, at) is not None


def _row_holds_value(xml: bytes, at: int) -> bool:
    """Whether the row whose start tag is at `at` holds a cell with a value."""
    end = _ROW_END.search(xml, at)
    stop = end.start() if end else len(xml)
    return any(_holds_value(xml, m.start(), m.end() - 1)
               for m in _CELL_START.finditer(xml, at, stop))


def _check_rows(xml: bytes, limits: Limits) -> None:
    """Refuse rows past max_rows (plus the title rows) holding a value, whether or not their
    cells name themselves (`r` is optional on a cell: calamine counts it from the row's)."""
    quick = _beyond(limits) if b":row" in xml else _rows_beyond(limits)
    if quick.search(xml) is None:
        return
    for m in _ROW_NUMBER.finditer(xml):
        if int(m[1]) > limits.max_rows + TITLE_ROOM and _row_holds_value(xml, m.start()):
            raise _too_large("row_count", limits.max_rows)


def check_member_extent(zf: zipfile.ZipFile, member: str, limits: Limits,
                        block: int = 1 << 20, hidden: set[int] | None = None,
                        recalculate: bool = False) -> bool:
    """check_extent over a worksheet member, read a block at a time (a reference cut between
    two blocks is seen whole in the overlap carried over); and no shared-string index that is
    not a whole number (a sheet read a slice at a time checks those as it marks them). The
    numbers of hidden rows go to `hidden`. Whether a cell holds a formula's error value, or a
    formula without the value it made (`recalculate`: Parts.recalculate): calamine would read
    either as blank, so read.tables reads such a sheet a slice at a time."""
    carry = b""
    errors = False
    with zf.open(member) as fh:
        while data := fh.read(block):
            data = carry + data
            check_extent(data, limits)
            _hidden_rows(data, hidden)
            if _bad_shared_index(data):
                raise FileRejected(C.FILE_UNREADABLE, reason="corrupt")
            errors = errors or ((b'"e"' in data or b"'e'" in data)     # a quick look first
                                and _ERROR_TYPE.search(data) is not None
                                or unsaved_formulas(data, recalculate))
            carry = data[-CUT_ROOM:]
    return errors


def _bad_shared_index(data: bytes) -> bool:
    """Whether a block holds a shared-string cell whose index is not a whole number. A cell cut
    by the block's end after its `<v>` is not one: the next block begins with it whole."""
    return any(_DIGITS_TO_END.match(data, m.end()) is None
               for m in _BAD_SHARED_INDEX.finditer(data))


def check_member_rows(zf: zipfile.ZipFile, member: str, limits: Limits,
                      block: int = 1 << 20, hidden: set[int] | None = None) -> list[Merge]:
    """Refuse a large worksheet whose rows (those holding cells) go past max_rows plus the title
    rows, before any of it is read: a sheet of a million rows is refused in a second or two, not
    after half a million rows were judged. Only the row numbers are read here; every slice's
    cells are checked whole (check_extent) when it is read. Returns the sheet's merged ranges,
    which come after its rows (read here, in the same pass, for the slices that come first)."""
    carry = b""
    merges: set[tuple[bytes, ...]] = set()
    with zf.open(member) as fh:
        while data := fh.read(block):
            data = carry + data
            _check_rows(data, limits)
            if b"mergeCell" in data:
                merges.update(_MERGE.findall(data))
            _hidden_rows(data, hidden)
            carry = data[-CUT_ROOM:]
    return [((int(r0) - 1, column_number(c0) - 1), (int(r1) - 1, column_number(c1) - 1))
            for c0, r0, c1, r1 in merges]


# A row's start tag; a hidden one (a filter hides rows so, as does hiding them by hand) says
# hidden="1" (Excel) or hidden="true" (LibreOffice).
_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row\s[^<>]*>")
_HIDDEN = re.compile(rb"\shidden\s*=\s*[\"'](?:1|true)[\"']")


def _hidden_rows(xml: bytes, hidden: set[int] | None) -> None:
    """Add the numbers of the hidden rows in `xml` (a block of a worksheet) to `hidden`."""
    if hidden is None or b"hidden" not in xml:
        return
    for tag in _ROW_TAG.findall(xml):
        if _HIDDEN.search(tag) and (number := ROW_R.search(tag)):
            hidden.add(int(number[1]))


class _Trickle:
    """A member read PROLOGUE_BYTES at a time: iterparse asks for 16 KB at once and parses all
    of it before it yields the root's start, nine members of every workbook over."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def read(self, size: int = -1) -> bytes:
        return bytes(self.fh.read(PROLOGUE_BYTES))


ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def _other_zip(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], names: set[str]) -> Sniffed:
    """A zip that is no xlsx: an OpenDocument spreadsheet (LibreOffice's own format, and one
    WPS saves), read by calamine as xls is; an Excel binary workbook (.xlsb), refused by name;
    any other office document (docx, pptx, odt ...), no workbook, whatever images it holds;
    else a zip of photos."""
    odf = _head(zf, "mimetype", 100).strip() if "mimetype" in names else None
    if odf == ODS_MIMETYPE:
        if b"encryption-data" in _head(zf, "META-INF/manifest.xml", 1 << 20):   # a password
            raise FileRejected(C.FILE_ENCRYPTED)
        _refuse_dtds(zf, infos)
        return Sniffed("ods", max((i.file_size for i in infos if i.filename == "content.xml"),
                                  default=0))
    if "xl/workbook.bin" in names:
        raise FileRejected(C.FILE_UNREADABLE, reason="xlsb")
    if odf is not None or "[Content_Types].xml" in names:
        raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
    return Sniffed("zip")


def _head(zf: zipfile.ZipFile, member: str, size: int) -> bytes:
    """The first `size` bytes of a member (b"" when there is none)."""
    try:
        with zf.open(member) as fh:
            return bytes(fh.read(size))
    except KeyError:
        return b""


def _refuse_dtds(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    for info in infos:
        if info.filename.endswith((".xml", ".rels", ".vml")):
            _refuse_dtd(zf, info)


# What may stand before the root element of a member with no DTD, as every spreadsheet program
# writes it: a UTF-8 byte-order mark, an XML declaration in UTF-8 or ASCII, processing
# instructions, white space. Anything else (a comment, another encoding, `<!` of any kind) is
# left to the parser.
_DECLARATION = re.compile(rb"<\?xml\s[^?<>]*\?>")
_DECLARED_ENCODING = re.compile(rb"""\sencoding\s*=\s*["']([A-Za-z0-9._-]*)["']""")
_PLAIN_ENCODINGS = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_PI = re.compile(rb"<\?[A-Za-z_][^?]*\?>")
_ROOT = re.compile(rb"<[A-Za-z_]")
_XML_SPACE = b" \t\r\n"


def _plain_prologue(head: bytes) -> bool:
    """Whether `head`, a member's first bytes, shows the root element's start after a prologue
    that can hold no DTD (see _DECLARATION). The DTD check of nearly every member of every
    workbook is this look, not a parser made for it (~0.1 ms each, ten members a file)."""
    at = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    declaration = _DECLARATION.match(head, at)
    if declaration is not None:
        encoding = _DECLARED_ENCODING.search(declaration[0])
        if encoding is not None and encoding[1].lower() not in _PLAIN_ENCODINGS:
            return False
        at = declaration.end()
    while True:
        while at < len(head) and head[at] in _XML_SPACE:
            at += 1
        if _ROOT.match(head, at):
            return True
        pi = _PI.match(head, at)
        if pi is None or pi[0][2:5].lower() == b"xml":     # a second declaration is no PI
            return False
        at = pi.end()


def _refuse_dtd(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """A DTD or entity before the root element is refused (defusedxml parses up to the root,
    unless the first bytes show a plain prologue: _plain_prologue).

    A DOCTYPE can only come before the root element, so the prologue is all we need to read;
    the readers that follow never meet an entity declaration.
    """
    try:
        with zf.open(info) as fh:
            if _plain_prologue(bytes(fh.read(PROLOGUE_BYTES))):
                return
        with zf.open(info) as fh:
            for _event, _elem in SafeET.iterparse(_Trickle(fh), events=("start",), forbid_dtd=True):
                break
    except DefusedXmlException as exc:
        raise FileRejected(C.FILE_HOSTILE, what="xml_entities") from exc
    except SafeET.ParseError as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc


def _check_ole(path: Path) -> None:
    import msoffcrypto
    from msoffcrypto.exceptions import FileFormatError

    try:
        with path.open("rb") as fh:
            office = msoffcrypto.OfficeFile(fh)
            if office.is_encrypted():
                raise FileRejected(C.FILE_ENCRYPTED)
    except FileRejected:
        raise
    except (FileFormatError, OSError, ValueError, AssertionError, KeyError, IndexError) as exc:
        # An OLE container that is not an Office document, or is damaged.
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
    except Exception as exc:  # msoffcrypto raises bare Exceptions for unknown layouts
        raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook") from exc
