"""Large xlsx worksheets read by calamine a slice at a time, so memory stays flat.

calamine, the fastest reader here, loads a whole worksheet into memory (about twice the size of
its XML). For a large sheet we stream the sheet's XML out of the zip, cut it between rows into
slices of about SLICE_BYTES, wrap each slice in a minimal workbook (with the original styles,
so dates stay dates) and let calamine read that. Shared strings are resolved here: a `t="s"`
cell is rewritten as a string cell holding a private-use marker and the string's index, which
calamine hands back as text and we swap for the string.

This runs in a reading worker (exchange.read.sandbox), which sends the rows on in chunks while
the pipeline works on the last ones: the worker reads ahead, the pipeline's process never holds
more than a chunk. (Until issue 15 a helper process of its own did this over a pickled pipe.)

Every XML member has been through guard.sniff() (defusedxml, DTDs refused) before we get here,
so the small parts read below cannot declare entities.
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from xml.etree import ElementTree as ET

from exchange import codes as C
from exchange.errors import FileRejected

# Sheet XML per slice: ~1,250 rows of a wide template with its strings inline, ~2,300 with them
# shared as Excel saves them. With 2 MiB a worker held ~6 MB more and was no faster.
SLICE_BYTES = 1024 * 1024
READ_BYTES = 1 << 20
HEAD_LIMIT = 8 * 1024 * 1024           # sheet XML before <sheetData> we are willing to hold
SI_BYTES = 2 * 1024 * 1024             # of one shared string's XML (a cell holds 32,767 chars)
RICH_ALONE = 1000                      # rich <si> parsed one by one; a table mostly of them: whole

Row = tuple[int, tuple[Any, ...]]

# Tags are matched with [^<>]: no tag holds a "<" (XML escapes it in attribute values), so a
# pattern starting at "<" stops at the next one. One started at an attribute (t="s", t="e")
# looks at most TAG_REST characters on for the tag's end: a hostile tag of a million such
# attributes that never closes made each look run to its end, quadratic (a 1.7 MB file took the
# reading worker's whole minute). Real cells carry a few short attributes after the type.
TAG_REST = 512

_SHEET_DATA = re.compile(rb"<((?:[\w.-]+:)?)sheetData\b[^<>]*?(/?)>")
_ROOT = re.compile(rb"<([\w.-]+(?::[\w.-]+)?)[\s/>]")
_DIMENSION = re.compile(rb"<(?:[\w.-]+:)?dimension\b[^<>]*>")
_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row\b([^<>]*)>")
_HAS_R = re.compile(rb"\sr\s*=")
ROW_R = re.compile(rb"\sr\s*=\s*[\"']([0-9]{1,7})[\"']")     # a row tag's own number
# A shared-string cell up to its value, however quoted or spaced: ` t=` (group 1), the quote (2),
# the rest up to `<v>` (3). NOT_AN_INDEX, after it: a value that is not a whole number (-1, 1_0,
# a space, a full-width digit), which calamine would read as the table's first string and a
# slice as its last (guard.check_member_extent refuses it in a sheet read whole).
SHARED_CELL = rb"(\st\s*=\s*)([\"'])s\2([^<>]{0,%d}>\s*<(?:[\w.-]+:)?v>)" % TAG_REST
NOT_AN_INDEX = rb"(?![0-9]+<)"
_SHARED_CELL = re.compile(SHARED_CELL)
# How Excel, LibreOffice, WPS and XlsxWriter write a shared-string cell: one of _SHARED_CELL's
# matches, spelled out, so that most of them are rewritten by bytes.replace (C speed). A
# template with group references costs ~1.5 us a match in Python 3.11 (re's expand_template):
# 1.6 s of a 100,000-row Excel sheet's reading.
_SHARED_CELL_USUAL = b' t="s"><v>'
_ESCAPE = re.compile(r"_x00([0-9A-Fa-f]{2})_")
# The shared-string table's start: a UTF-8 BOM, the XML declaration (its encoding), the root
# <sst ...> without a prefix. Then each <si>: plain (group 1: text no parser would change:
# no markup, entity, carriage return, "]]>" or character XML forbids) or any other (group 2).
_SST_HEAD = re.compile(rb'(?:\xef\xbb\xbf)?(<\?xml\b[^<>]*\?>)?\s*(<sst\b[^<>]*>)')
_ENCODING = re.compile(rb'\sencoding\s*=\s*["\']([\w.-]+)')
_SI = re.compile(rb'\s*(?:<si><t(?: xml:space="preserve")?>([^<&\r\]\x00-\x08\x0b\x0c\x0e-\x1f]*)'
                 rb'</t></si>|(<si\b.*?</si>))', re.S)
_MARKS = [chr(c) for c in range(0xE000, 0xE100)]    # private use: rarely typed by clerks
# _MARKS written as character references (openpyxl writes every character past ASCII as one).
_MARK_REF = re.compile(rb"&#(?:[xX]0*([eE]0[0-9a-fA-F]{2})|0*(57[3-5][0-9]{2}));")
# A cell holding a formula's error value (`t="e"`): its type up to its value, however quoted or
# spaced, past its formula (`<f>`, whose text holds no markup). calamine reads such a cell as
# blank; a slice has it read as text instead, marked, and handed on as a CellError.
ERROR_CELL = rb"(\st\s*=\s*)([\"'])e\2"
_ERROR_CELL = re.compile(ERROR_CELL + rb"([^<>]{0,%d}>\s*(?:<(?:[\w.-]+:)?f\b[^<>]*?(?:/>|>[^<]*"
                         rb"</(?:[\w.-]+:)?f>)\s*)?<(?:[\w.-]+:)?v>)" % TAG_REST)


# A formula's error value as a CSV saves it (Excel, WPS: the value shown; LibreOffice: Err:502
# and the like for its own errors). Typing #N/A into Excel makes the error itself, so such a
# CSV cell is an error cell, as the xlsx cell it came from was (tables._csv_rows).
ERROR_TEXT = re.compile(r"#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A|GETTING_DATA|SPILL!|"
                        r"CALC!|FIELD!|BLOCKED!|CONNECT!|BUSY!|UNKNOWN!|PYTHON!)|Err:\d{3}")


class CellError(str):
    """A cell's formula error value as Excel shows it (#N/A, #VALUE!, #REF! …): a finding of
    its own in any column, quoting it (`cell.formula_error`, exchange.checks.columnar), and a
    row holding nothing else is a blank row (a lookup formula filled down past the staff shows
    #N/A on every row below them)."""
    __slots__ = ()


# A formula cell, as a cell holding a value would be: its start tag's attributes (group 2), its
# formula (group 3: its text; none for a shared formula's other cells) and its value (group 4),
# if any. A writer that never calculates (openpyxl, Apache POI and the like) writes no value or
# an empty one, where Excel writes "" as an empty value of type `str`; XlsxWriter writes the
# stand-in 0 and asks for every formula to be calculated when the book is opened
# (`fullCalcOnLoad`, Parts.recalculate; Excel and LibreOffice drop the request when they save).
FORMULA_CELL = (rb"<((?:[\w.-]+:)?)c\b([^<>]*)>\s*<\1f\b[^<>]*?(?:/>|>([^<]*)</\1f>)\s*"
                rb"(?:<\1v\s*/>|<\1v>([^<]*)</\1v>)?\s*</\1c>")
_FORMULA_CELL = re.compile(FORMULA_CELL)
_TYPE_ATTR = re.compile(rb"\st\s*=\s*([\"'])([^\"']*)\1")


class UnsavedFormula(str):
    """A formula cell whose file holds no value the formula made (see FORMULA_CELL): its
    formula's text, "=" first. calamine reads it as blank (or as XlsxWriter's stand-in 0), so
    its column would be imported empty, or 0, for a cell the clerk sees filled in Excel. A
    finding of its own in any column (`cell.formula_unsaved`); a row holding nothing else is a
    blank row, as one of error values is (a formula filled down past the staff)."""
    __slots__ = ()


def unsaved(cell: "re.Match[bytes]", recalculate: bool) -> bool:
    """Whether a FORMULA_CELL match holds no value its formula made: none at all, an empty one
    that is not Excel's empty text, or the number 0 where the book asks to be calculated when
    it is opened (XlsxWriter's stand-in). Other values of such a book are kept: a writer that
    calculated may ask for it too, and a real 0 is rare where a clerk's rows need a formula."""
    if cell[4] is None:
        return True
    kind = _TYPE_ATTR.search(cell[2])
    of_type = kind[2] if kind is not None else b"n"
    value = cell[4].strip()
    if not value:
        return of_type != b"str"
    return recalculate and of_type == b"n" and value == b"0"


def unsaved_formulas(data: bytes, recalculate: bool, formula_tag: bytes | None = None) -> bool:
    """Whether XML holds a formula cell without its value. A quick look for a formula's start
    tag first: `formula_tag` where the sheet's prefix is known (one scan, not two)."""
    found = formula_tag in data if formula_tag else b"<f" in data or b":f" in data
    return found and any(unsaved(m, recalculate) for m in _FORMULA_CELL.finditer(data))


def _marked_formula(cell: "re.Match[bytes]", mark: bytes) -> bytes:
    """A FORMULA_CELL rewritten as a text cell holding `mark` and its formula (still escaped)."""
    p, attrs = cell[1], _TYPE_ATTR.sub(b"", cell[2]).rstrip(b"/")
    return (b"<%sc%s t=\"str\"><%sv>%s=%s</%sv></%sc>"
            % (p, attrs, p, mark, cell[3] or b"", p, p))


def error_cell(text: str) -> str:
    """An error cell's value: a CellError where it is an error value a spreadsheet writes, else
    the text it holds (screened as any text is: a forged `t="e"` cell carries no control
    character past the rules into a receipt)."""
    return CellError(text) if ERROR_TEXT.fullmatch(text) else text


_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'</Types>')
_ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/officeDocument"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">{pr}'
    '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/worksheet"/>'
    b'<Relationship Id="rId2" Target="styles.xml" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/styles"/></Relationships>')


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _corrupt(exc: BaseException | None = None) -> FileRejected:
    err = FileRejected(C.FILE_UNREADABLE, reason="corrupt")
    err.__cause__ = exc
    return err


@dataclass(frozen=True)
class Parts:
    """Where a workbook keeps what slicing needs."""
    sheets: dict[str, str]              # sheet name -> zip member of its XML
    sizes: dict[str, int]               # member -> uncompressed bytes
    styles: str | None = None
    shared_strings: str | None = None
    date1904: bool = False
    recalculate: bool = False           # <calcPr fullCalcOnLoad="1">: no formula value holds


def _relations(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Id -> (type, member) of a part's relationships; targets resolved against the part."""
    rels = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    try:
        root = ET.fromstring(zf.read(rels))
    except KeyError:
        return {}
    out = {}
    for rel in root:
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External":
            continue
        member = target.lstrip("/") if target.startswith("/") else \
            posixpath.normpath(posixpath.join(posixpath.dirname(part), target))
        out[rel.get("Id") or ""] = (rel.get("Type") or "", member)
    return out


def workbook_parts(path: Path) -> Parts:
    """Sheet members, styles, shared strings and the 1904 flag, from the workbook's own XML."""
    try:
        with zipfile.ZipFile(path) as zf:
            main = next((m for t, m in _relations(zf, "").values() if t.endswith("/officeDocument")),
                        "xl/workbook.xml")
            rels = _relations(zf, main)
            root = ET.fromstring(zf.read(main))
            sheets = {}
            date1904 = recalculate = False
            for el in root.iter():
                name = _local(el.tag)
                if name == "sheet":
                    rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
                    if rid in rels:
                        sheets[el.get("name") or ""] = rels[rid][1]
                elif name == "workbookPr":
                    date1904 = (el.get("date1904") or "").lower() in ("1", "true")
                elif name == "calcPr":
                    recalculate = (el.get("fullCalcOnLoad") or "").lower() in ("1", "true")
            sizes = {i.filename: i.file_size for i in zf.infolist()}
            # calamine reads styles and shared strings from these fixed names; so do we.
            fixed = {n.lower(): n for n in sizes}
            return Parts(sheets, sizes, fixed.get("xl/styles.xml"), fixed.get("xl/sharedstrings.xml"),
                         date1904, recalculate)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError) as exc:
        raise _corrupt(exc) from exc


def _si_text(si: ET.Element) -> str:
    """One shared string as calamine reads it: the plain text, or the rich-text runs joined;
    phonetic runs left out; the `_x00HH_` escapes of control characters decoded."""
    parts: list[str] = []
    for child in si:
        name = _local(child.tag)
        if name == "t" and not parts:
            parts.append(child.text or "")
            break
        if name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return _unescape("".join(parts))


def shared_strings(zf: zipfile.ZipFile, member: str) -> list[str]:
    """The shared-string table, streamed: each plain `<si><t>text</t></si>` (what Excel,
    LibreOffice and WPS write for all but rich text) taken by a pattern, any other `<si>` (rich
    text, phonetic runs, entities, a carriage return) parsed by ElementTree; anything else
    between them (a comment, a prefixed tag, another encoding), or a table mostly of rich text
    (one parse each costs ~1.5x the whole table's), makes ElementTree read the whole table
    (`_tree_strings`, the reference the tests hold this to). The table of a 100,000-row sheet
    as LibreOffice saves it (15 MB, 280,000 strings): 0.29 s instead of 0.99 s."""
    out: list[str] = []
    with zf.open(member) as fh:
        buf = fh.read(READ_BYTES)
        root = _SST_HEAD.match(buf)
        if root is None:
            return _tree_strings(zf, member)
        opening, at, block, rich = root.group(2), root.end(), buf, 0
        closing = b"" if opening.endswith(b"/>") else b"</sst>"
        if not _plain_head(root.group(1) or b"", opening, closing):
            return _tree_strings(zf, member)
        while block:
            block = fh.read(READ_BYTES)          # an <si> cut by the block's end waits for it
            # Text a parser could change (an escape, U+FFFE/U+FFFF) is looked at string by string.
            odd = b"_x" in buf or b"\xef\xbf\xbe" in buf or b"\xef\xbf\xbf" in buf
            for m in _SI.finditer(buf, at):
                if m.start() != at:                      # something else between: odd
                    return _tree_strings(zf, member)
                at, plain = m.end(), m.group(1)
                if plain is None:
                    rich += 1
                    if rich > RICH_ALONE and rich * 4 > len(out):    # mostly rich: one parse
                        return _tree_strings(zf, member)
                try:
                    text = (plain.decode() if not odd else _plain_text(plain)) \
                        if plain is not None else _si_of(opening, m.group(2))
                except UnicodeDecodeError:
                    text = None
                if text is None:
                    return _tree_strings(zf, member)
                out.append(text)
            buf, at = buf[at:] + block, 0
            if len(buf) > SI_BYTES:                      # no cell holds that much: odd
                return _tree_strings(zf, member)
    return out if buf.strip() == closing else _tree_strings(zf, member)


def _plain_head(declaration: bytes, opening: bytes, closing: bytes) -> bool:
    """The table's declaration and root tag are well-formed, and say UTF-8."""
    encoding = _ENCODING.search(declaration)
    if encoding and encoding.group(1).lower() not in (b"utf-8", b"utf8"):
        return False
    try:
        ET.fromstring(declaration + opening + closing)
    except ET.ParseError:
        return False
    return True


def _plain_text(raw: bytes) -> str | None:
    """A plain <t>'s text as calamine gives it; None for what only a parser may judge."""
    text = raw.decode("utf-8")
    if "\ufffe" in text or "\uffff" in text:
        return None
    return _unescape(text)


def _unescape(text: str) -> str:
    """The `_x00HH_` escapes of control characters decoded, as calamine does."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _si_of(opening: bytes, si: bytes) -> str | None:
    """One `<si>` that is not plain, parsed inside the table's own root tag (its namespaces)."""
    try:
        root = ET.fromstring(opening + si + b"</sst>")
    except ET.ParseError:
        return None
    return _si_text(root[0]) if len(root) == 1 else None


def _tree_strings(zf: zipfile.ZipFile, member: str) -> list[str]:
    """The shared-string table read by ElementTree, streamed."""
    out: list[str] = []
    with zf.open(member) as fh:
        events = ET.iterparse(fh, events=("start", "end"))
        _, root = next(events)
        for event, el in events:
            if event == "end" and _local(el.tag) == "si":
                out.append(_si_text(el))
                root.clear()                      # keep memory to the list itself
    return out


def _free_mark(body: bytes, *taken: str | None) -> str:
    """A mark (of _MARKS) the XML holds nowhere, itself or as a character reference, and not
    one of `taken`: a cell whose text began with it would be read as a marked one."""
    used = set(taken)
    if b"&#" in body:
        used.update(chr(int(h, 16) if h else int(d)) for h, d in _MARK_REF.findall(body))
    return next(m for m in _MARKS if m not in used and m.encode() not in body)


def trim(values: list[Any]) -> list[Any]:
    """Drop the empty cells calamine pads a row with up to the sheet's width."""
    end = len(values)
    while end and values[end - 1] == "":
        end -= 1
    return values if end == len(values) else values[:end]


class SheetSlices:
    """The rows of one worksheet, read a slice at a time. Close it (or use `with`) when done.

    Rows without numbers (a few writers omit them; each row is then one past the row before)
    are numbered as they are sliced, so that every slice is placed. `numbered` is False only
    for a sheet whose start is too long to find its rows in: the caller reads it whole.
    """

    def __init__(self, path: Path, member: str, parts: Parts, slice_bytes: int = SLICE_BYTES,
                 check: Callable[[bytes], None] | None = None) -> None:
        self.path, self.member = path, member
        self.parts = parts
        self.slice_bytes = slice_bytes
        self.check = check             # sees each slice's XML before calamine does
        self.numbered = True
        self.unnumbered = False        # its rows carry no numbers: _number_rows gives them theirs
        self.last_row = 0
        try:
            self.zf = zipfile.ZipFile(path)
            self.fh = self.zf.open(member)
            self._start()
        except (zipfile.BadZipFile, KeyError, OSError, zlib.error, EOFError) as exc:
            self.close()
            raise _corrupt(exc) from exc

    def _start(self) -> None:
        buf = b""
        while True:
            block = self.fh.read(READ_BYTES)
            buf += block
            found = _SHEET_DATA.search(buf)
            if found or not block or len(buf) > HEAD_LIMIT:
                break
        if found is None:
            self.numbered = len(buf) <= HEAD_LIMIT     # no <sheetData>: no rows at all
            self.rest, self.empty = b"", True
            return
        prefix = found.group(1)
        root = _ROOT.search(buf)
        self.head = _DIMENSION.sub(b"", buf[:found.end()])
        self.tail = b"</" + prefix + b"sheetData></" + (root.group(1) if root else b"worksheet") + b">"
        self.row_open, self.data_end = b"<" + prefix + b"row", b"</" + prefix + b"sheetData"
        self.formula_tag = b"<" + prefix + b"f"
        self.rest, self.empty = buf[found.end():], found.group(2) == b"/"
        while not self.empty:
            first = _ROW_TAG.search(self.rest)
            if first is not None:
                self.unnumbered = _HAS_R.search(first.group(1)) is None
                break
            block = self.fh.read(READ_BYTES)
            if not block or self.data_end in self.rest:
                break
            self.rest += block

    def __enter__(self) -> "SheetSlices":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle in (getattr(self, "fh", None), getattr(self, "zf", None)):
            if handle is not None:
                handle.close()

    def __iter__(self) -> Iterator[Row]:
        if self.empty:
            return
        for rows in self._slices():
            yield from rows

    def _slices(self) -> Iterator[list[Row]]:
        """Each slice's rows; a damaged sheet (or calamine, zlib, a bad shared-string index
        failing on it) ends the reading with the file's FileRejected."""
        try:
            styles = self.zf.read(self.parts.styles) if self.parts.styles else None
            strings = shared_strings(self.zf, self.parts.shared_strings) \
                if self.parts.shared_strings else None
            pending, size = [self.rest], len(self.rest)
            done = False
            while not done:
                block = self.fh.read(READ_BYTES)
                pending.append(block)
                size += len(block)
                if block and size < self.slice_bytes:
                    continue
                data = b"".join(pending)
                end = data.find(self.data_end)
                if end >= 0:
                    body, rest, done = data[:end], b"", True
                elif not block:
                    raise _corrupt()                     # the sheet's XML stops mid-way
                else:
                    cut = data.rfind(self.row_open)
                    if cut <= 0:                         # one row larger than a slice: read on
                        pending, size = [data], len(data)
                        continue
                    body, rest = data[:cut], data[cut:]
                pending, size = [rest], len(rest)
                if body.strip():
                    if self.unnumbered:
                        body = _ROW_TAG.sub(self._number_row, body)
                    if self.check is not None:
                        self.check(body)
                    yield self._read(body, styles, strings)
        except FileRejected:
            raise
        except Exception as exc:  # calamine, zlib, zipfile, a bad shared-string index
            raise _corrupt(exc) from exc

    def _number_row(self, row: "re.Match[bytes]") -> bytes:
        """A row's start tag with its number: its own, or one past the row before."""
        given = ROW_R.search(row[1])
        if given is not None:
            self.last_row = int(given[1])
            return row[0]
        self.last_row += 1
        return b'<%srow r="%d"%s>' % (row[0][1:row[0].index(b"row")], self.last_row, row[1])

    def _read(self, body: bytes, styles: bytes | None, strings: list[str] | None) -> list[Row]:
        import python_calamine as pc

        mark = None
        if strings is not None:
            mark = _free_mark(body)
            marked = mark.encode()
            body = body.replace(_SHARED_CELL_USUAL, b' t="str"><v>' + marked)
            if b'"s"' in body or b"'s'" in body:         # any other spelling (rare)
                body = _SHARED_CELL.sub(lambda m: m[1] + b'"str"' + m[3] + marked, body)
            # An index that is not a whole number is a damaged file, as an index past the
            # table's end is. Looked for after the mark: ~25 ms a 100,000 rows.
            if re.search(re.escape(marked) + NOT_AN_INDEX, body):
                raise ValueError("a shared-string index that is not a whole number")
        formula = None
        if unsaved_formulas(body, self.parts.recalculate, self.formula_tag):
            formula = _free_mark(body, mark)
            body = _FORMULA_CELL.sub(lambda m: _marked_formula(m, formula.encode()) if unsaved(
                m, self.parts.recalculate) else m[0], body)
        error = None
        if (b'"e"' in body or b"'e'" in body) and _ERROR_CELL.search(body):
            error = _free_mark(body, mark)
            body = _ERROR_CELL.sub(lambda m: m[1] + b'"str"' + m[3] + error.encode(), body)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            z.writestr("[Content_Types].xml", _CONTENT_TYPES)
            z.writestr("_rels/.rels", _ROOT_RELS)
            pr = '<workbookPr date1904="1"/>' if self.parts.date1904 else ""
            z.writestr("xl/workbook.xml", _WORKBOOK.format(pr=pr))
            z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
            if styles is not None:
                z.writestr("xl/styles.xml", styles)
            z.writestr("xl/worksheets/sheet1.xml", b"".join((self.head, body, self.tail)))
        del body
        buf.seek(0)
        wb = pc.CalamineWorkbook.from_filelike(buf)
        try:
            sheet = wb.get_sheet_by_name("s")
            start = sheet.start
            data = sheet.to_python(skip_empty_area=True)
        finally:
            wb.close()
        if start is None:
            return []
        first, pad = start[0] + 1, ("",) * start[1]
        # The cells marked in the slice's own XML first, then the shared strings: a string of the
        # table is never taken for a marked cell (the marks are free in the XML, not the table).
        # error_cell: an error value no spreadsheet writes is read as text.
        unmark = [(m, f) for m, f in ((formula, UnsavedFormula), (error, error_cell)) if m is not None]
        out = []
        for index, values in enumerate(data):
            for m, f in unmark:
                values = [f(v[1:]) if type(v) is str and v[:1] == m else v for v in values]
            if mark is not None:
                values = [strings[int(v[1:])] if type(v) is str and v[:1] == mark else v  # type: ignore[index]
                          for v in values]
            values = trim(values)
            if values:
                out.append((first + index, pad + tuple(values)))
        return out
