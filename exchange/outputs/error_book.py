"""错误工作簿: the same template with only the failed rows, a 失败原因 column, bad cells marked.

Written straight as SpreadsheetML: each failed row becomes one string of XML in a temporary file
as it comes, and close() zips it with the few fixed parts (styles, cell notes, the hidden `_meta`
sheet), so a file with many failures needs little memory. openpyxl write-only, which makes an
object per cell, took about 7x as long; XlsxWriter in constant-memory mode about 3.5x
(bench/bench_error_book.py). The looks are workbook.py's styles, serialised by openpyxl; the
parts are those openpyxl and XlsxWriter write for the same features.
"""
from __future__ import annotations

import math
import re
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from openpyxl.cell.cell import TIME_FORMATS
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.styles.numbers import BUILTIN_FORMATS_REVERSE
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.writer.theme import theme_xml
from openpyxl.xml.functions import tostring

from exchange.kinds.spec import KindSpec
from exchange.messages import ERROR_BOOK_WORDS as W, PRODUCT_NAME
from exchange.outputs.workbook import (BAD_FILL, BAD_FONT, BOX, HEADER_FILL, HEADER_FONT,
                                       META_SHEET, REASON_FONT, REQUIRED_FONT, TEXT_FORMAT,
                                       TITLE_FONT, guard_value)
from exchange.results import RowOutcome

TEXT_TYPES = ("id", "text", "phone", "postcode", "class", "month")
# Cell notes (comments) on the marked cells of the first NOTE_ROWS failed rows only: Excel and
# WPS slow down on thousands of notes, and each adds about 1 KB of XML. Every failed row keeps
# its marked cells and its 失败原因 column.
NOTE_ROWS = 2000
HEADER_ROWS = 3                       # title, note, header; the failed rows start at row 4

# The looks of the cells (font, fill, border), each in every number format a value may bring:
# General, text, and the date formats openpyxl gives dates (as in the other workbooks).
LOOKS: dict[str, tuple[Any, Any, Any]] = {
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
NUMBER_FORMATS: tuple[str | None, ...] = (None, TEXT_FORMAT, *TIME_FORMATS.values())
Styles = dict[Any, int]                # number format -> cellXfs index, for one look

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006"
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
CONTENT = "application/vnd.openxmlformats-officedocument"
REL_NS = f"{OFFICE}/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
SHEET_OPEN = f'{XML_HEAD}<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'


class ErrorBookWriter:
    """Open with the kind and unit, `add()` failed rows, `close()` to save (or `discard()`)."""

    def __init__(self, path: Path, kind: KindSpec, unit_code: str, unit_name: str, source: str) -> None:
        self.path = path
        self.kind = kind
        self.rows = 0
        self.styles = _style_indexes()
        ncols = len(kind.columns)
        self.letters = [get_column_letter(i) for i in range(1, ncols + 3)]
        self.widths = [max(10, len(col.header) * 2 + 4) for col in kind.columns] + [60]
        self.fields = [col.field for col in kind.columns]
        self.as_text = [col.type in TEXT_TYPES for col in kind.columns]
        self.notes: list[tuple[int, int, str]] = []     # (row, column, text), 0-based
        self.meta = {"kind": kind.kind, "version": str(kind.version), "unit": unit_code,
                     "source": "error_book"}
        self._sheet: IO[bytes] | None = tempfile.TemporaryFile()   # the rows' XML, until close()
        title = W["title"].format(title=kind.title, unit=unit_code, unit_name=unit_name, source=source)
        st = self.styles
        header = [_cell(f"{letter}3", ("*" if col.required else "") + col.header,
                        st["required" if col.required else "header"], False)
                  for letter, col in zip(self.letters, kind.columns)]
        header.append(_cell(f"{self.letters[ncols]}3", W["reason_header"], st["required"], False))
        header.append(_cell(f"{self.letters[ncols + 1]}3", W["codes_header"], st["codes_header"], False))
        self._write(f'<row r="1">{_cell("A1", title, st["title"], False)}</row>'
                    f'<row r="2">{_cell("A2", W["note"], st["note"], False)}</row>'
                    f'<row r="3">{"".join(header)}</row>')

    def _write(self, xml: str) -> None:
        assert self._sheet is not None, "closed or discarded"
        self._sheet.write(xml.encode("utf-8"))

    def add(self, outcome: RowOutcome) -> None:
        index = HEADER_ROWS + self.rows                     # 0-based, as in the notes
        row = index + 1
        bad = {f.field: f for f in outcome.findings if f.field}
        cell, marked = self.styles["cell"], self.styles["bad"]
        cells = []
        for col, (letter, field, as_text, value) in enumerate(
                zip(self.letters, self.fields, self.as_text, outcome.raw)):
            finding = bad.get(field) if bad else None
            if finding is None:
                cells.append(_cell(f"{letter}{row}", value, cell, as_text))
            else:
                cells.append(_cell(f"{letter}{row}", value, marked, as_text))
                if self.rows < NOTE_ROWS:
                    self.notes.append((index, col, finding.message))
        ncols = len(self.fields)
        reasons = "；".join(f.message.rstrip("。") for f in outcome.findings if not f.is_duplicate) + "。"
        cells.append(_cell(f"{self.letters[ncols]}{row}", reasons, self.styles["reason"], False))
        cells.append(_cell(f"{self.letters[ncols + 1]}{row}", ",".join(f.code for f in outcome.findings),
                           self.styles["codes"], False))
        self._write(f'<row r="{row}">{"".join(cells)}</row>')
        self.rows += 1

    def close(self) -> None:
        assert self._sheet is not None, "closed or discarded"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, text in _package(bool(self.notes)).items():
                    zf.writestr(name, text)
                zf.writestr("xl/styles.xml", _stylesheet())
                with zf.open("xl/worksheets/sheet1.xml", "w") as out:
                    out.write(self._sheet_head().encode("utf-8"))
                    self._sheet.seek(0)
                    while chunk := self._sheet.read(1 << 20):
                        out.write(chunk)
                    out.write(self._sheet_tail().encode("utf-8"))
                zf.writestr("xl/worksheets/sheet2.xml", _meta_sheet(self.meta))
                if self.notes:
                    zf.writestr("xl/comments1.xml", _comments(self.notes, self.letters))
                    zf.writestr("xl/drawings/vmlDrawing1.vml", _note_shapes(self.notes, self.widths))
        finally:
            self.discard()

    def discard(self) -> None:
        if self._sheet is not None:
            self._sheet.close()
            self._sheet = None

    def _sheet_head(self) -> str:
        last = f"{self.letters[-1]}{HEADER_ROWS + self.rows}"
        cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                       for i, w in enumerate(self.widths, start=1))
        hidden = len(self.widths) + 1
        return (f'{SHEET_OPEN}<dimension ref="A1:{last}"/>'
                f'<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
                f'<pane ySplit="{HEADER_ROWS}" topLeftCell="A{HEADER_ROWS + 1}" activePane="bottomLeft" '
                f'state="frozen"/><selection pane="bottomLeft" activeCell="A{HEADER_ROWS + 1}" '
                f'sqref="A{HEADER_ROWS + 1}"/></sheetView></sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/>'
                f'<cols>{cols}<col min="{hidden}" max="{hidden}" width="0" hidden="1" customWidth="1"/></cols>'
                f'<sheetData>')

    def _sheet_tail(self) -> str:
        drawing = '<legacyDrawing r:id="rId1"/>' if self.notes else ""
        return ('</sheetData><pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" '
                f'footer="0.5"/>{drawing}</worksheet>')


# Cells -------------------------------------------------------------------------------------------
_ESCAPED = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_LITERAL_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")


def _escape(text: str) -> str:
    """XML text, with characters XML cannot hold written as Excel's _xHHHH_ (which Excel and
    calamine read back; a literal _xHHHH_ keeps its underscore as _x005F_)."""
    if not _ESCAPED.search(text):
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _LITERAL_ESCAPE.sub(lambda m: "_x005F" + m.group(0), text)
    return _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)


def _attribute(text: str) -> str:
    return _escape(text).replace('"', "&quot;")


def _t(text: str) -> str:
    """A <t> element; leading or trailing white space is kept only when it says so."""
    if text[:1] in (" ", "\t", "\n") or text[-1:] in (" ", "\t", "\n"):
        return f'<t xml:space="preserve">{_escape(text)}</t>'
    return f"<t>{_escape(text)}</t>"


def _text(ref: str, style: int, text: str) -> str:
    if not text:
        return f'<c r="{ref}" s="{style}"/>'
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is>{_t(text)}</is></c>'


def _cell(ref: str, value: Any, styles: Styles, force_text: bool) -> str:
    """One cell. Strings are always text, never formulas; formula-looking ones and forced text
    also get the text format; dates the format their type brings."""
    if value is None:
        return f'<c r="{ref}" s="{styles[None]}"/>'
    if isinstance(value, str):
        value, formula_like = guard_value(value)
        return _text(ref, styles[TEXT_FORMAT if force_text or formula_like else None], value)
    if force_text:
        return _text(ref, styles[TEXT_FORMAT], str(value))
    if isinstance(value, bool):
        return f'<c r="{ref}" s="{styles[None]}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f'<c r="{ref}" s="{styles[None]}"><v>{value!r}</v></c>'
    date_format = TIME_FORMATS.get(type(value))
    if date_format is not None:
        return f'<c r="{ref}" s="{styles[date_format]}"><v>{to_excel(value)!r}</v></c>'
    return _text(ref, styles[None], str(value))


# Styles ------------------------------------------------------------------------------------------
def _number_format_ids() -> dict[str | None, int]:
    ids: dict[str | None, int] = {}
    custom = 164                                         # the first id after the built-in ones
    for fmt in NUMBER_FORMATS:
        builtin = 0 if fmt is None else BUILTIN_FORMATS_REVERSE.get(fmt)
        if builtin is None:
            builtin, custom = custom, custom + 1
        ids[fmt] = builtin
    return ids


def _unique(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _style_parts() -> tuple[list[Any], list[Any], list[Any]]:
    fonts = _unique([DEFAULT_FONT] + [f for f, _, _ in LOOKS.values() if f is not None])
    fills = _unique([fill for _, fill, _ in LOOKS.values() if fill is not None])
    borders = _unique([b for _, _, b in LOOKS.values() if b is not None])
    return fonts, fills, borders


def _style_indexes() -> dict[str, Styles]:
    """Each look's cellXfs index in each number format (index 0 is the default look)."""
    return {look: {fmt: 1 + i * len(NUMBER_FORMATS) + j for j, fmt in enumerate(NUMBER_FORMATS)}
            for i, look in enumerate(LOOKS)}


def _stylesheet() -> str:
    fonts, fills, borders = _style_parts()
    format_ids = _number_format_ids()
    xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>']
    for font, fill, border in LOOKS.values():
        font_id = 0 if font is None else fonts.index(font)
        fill_id = 0 if fill is None else 2 + fills.index(fill)           # after none and gray125
        border_id = 0 if border is None else 1 + borders.index(border)   # after the empty border
        for fmt in NUMBER_FORMATS:
            xfs.append(f'<xf numFmtId="{format_ids[fmt]}" fontId="{font_id}" fillId="{fill_id}" '
                       f'borderId="{border_id}" xfId="0" applyNumberFormat="{int(fmt is not None)}" '
                       f'applyFont="{int(font is not None)}" applyFill="{int(fill is not None)}" '
                       f'applyBorder="{int(border is not None)}"/>')
    custom = [(fmt, i) for fmt, i in format_ids.items() if fmt is not None and i >= 164]

    def xml(items: list[Any]) -> str:
        return "".join(tostring(item.to_tree()).decode("utf-8") for item in items)

    return (f'{XML_HEAD}<styleSheet xmlns="{MAIN_NS}">'
            f'<numFmts count="{len(custom)}">'
            + "".join(f'<numFmt numFmtId="{i}" formatCode="{_attribute(fmt)}"/>' for fmt, i in custom)
            + f'</numFmts><fonts count="{len(fonts)}">{xml(fonts)}</fonts>'
            f'<fills count="{len(fills) + 2}"><fill><patternFill patternType="none"/></fill>'
            f'<fill><patternFill patternType="gray125"/></fill>{xml(fills)}</fills>'
            f'<borders count="{len(borders) + 1}"><border><left/><right/><top/><bottom/><diagonal/>'
            f'</border>{xml(borders)}</borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
            'defaultPivotStyle="PivotStyleLight16"/></styleSheet>')


# The package's fixed parts -----------------------------------------------------------------------
def _relationships(rels: list[tuple[str, str]]) -> str:
    """A .rels part; a relationship type without a scheme is one of OFFICE's."""
    items = "".join(f'<Relationship Id="rId{i}" Type="{kind if "://" in kind else f"{REL_NS}/{kind}"}" '
                    f'Target="{target}"/>' for i, (kind, target) in enumerate(rels, start=1))
    return f'{XML_HEAD}<Relationships xmlns="{PACKAGE}/relationships">{items}</Relationships>'


def _package(notes: bool) -> dict[str, str]:
    overrides = [("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
                 ("/docProps/app.xml", f"{CONTENT}.extended-properties+xml"),
                 ("/xl/workbook.xml", f"{CONTENT}.spreadsheetml.sheet.main+xml"),
                 ("/xl/worksheets/sheet1.xml", f"{CONTENT}.spreadsheetml.worksheet+xml"),
                 ("/xl/worksheets/sheet2.xml", f"{CONTENT}.spreadsheetml.worksheet+xml"),
                 ("/xl/styles.xml", f"{CONTENT}.spreadsheetml.styles+xml"),
                 ("/xl/theme/theme1.xml", f"{CONTENT}.theme+xml")]
    if notes:
        overrides.append(("/xl/comments1.xml", f"{CONTENT}.spreadsheetml.comments+xml"))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = {
        "[Content_Types].xml": (
            f'{XML_HEAD}<Types xmlns="{PACKAGE}/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Default Extension="vml" ContentType="{CONTENT}.vmlDrawing"/>'
            + "".join(f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides)
            + "</Types>"),
        "_rels/.rels": _relationships([
            ("officeDocument", "xl/workbook.xml"),
            (f"{PACKAGE}/relationships/metadata/core-properties", "docProps/core.xml"),
            ("extended-properties", "docProps/app.xml")]),
        "docProps/core.xml": (
            f'{XML_HEAD}<cp:coreProperties xmlns:cp="{PACKAGE}/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<dc:creator>{_escape(PRODUCT_NAME)}</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{now}</dcterms:modified></cp:coreProperties>'),
        "docProps/app.xml": (         # the application openpyxl and XlsxWriter name: some readers look
            f'{XML_HEAD}<Properties xmlns="{OFFICE}/extended-properties">'
            "<Application>Microsoft Excel</Application></Properties>"),
        "xl/workbook.xml": (
            f'{XML_HEAD}<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><workbookPr/>'
            '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
            f'<sheet name="{_attribute(W["sheet"])}" sheetId="1" r:id="rId1"/>'
            f'<sheet name="{META_SHEET}" sheetId="2" state="hidden" r:id="rId2"/>'
            '</sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": _relationships([
            ("worksheet", "worksheets/sheet1.xml"), ("worksheet", "worksheets/sheet2.xml"),
            ("styles", "styles.xml"), ("theme", "theme/theme1.xml")]),
        "xl/theme/theme1.xml": theme_xml,
    }
    if notes:
        parts["xl/worksheets/_rels/sheet1.xml.rels"] = _relationships([
            ("vmlDrawing", "../drawings/vmlDrawing1.vml"), ("comments", "../comments1.xml")])
    return parts


def _meta_sheet(meta: dict[str, str]) -> str:
    """The hidden `_meta` sheet (workbook.add_meta_sheet writes the same for openpyxl books)."""
    rows = "".join(f'<row r="{r}">{_text(f"A{r}", 0, key)}{_text(f"B{r}", 0, value)}</row>'
                   for r, (key, value) in enumerate(meta.items(), start=1))
    return f'{SHEET_OPEN}<dimension ref="A1:B{len(meta)}"/><sheetData>{rows}</sheetData></worksheet>'


# Cell notes: the comments part and the VML shapes Excel draws them with --------------------------
NOTE_FONT = '<rPr><sz val="8"/><color indexed="81"/><rFont val="Tahoma"/><family val="2"/></rPr>'


def _comments(notes: list[tuple[int, int, str]], letters: list[str]) -> str:
    items = []
    for row, col, text in notes:
        items.append(f'<comment ref="{letters[col]}{row + 1}" authorId="0"><text><r>{NOTE_FONT}'
                     f'{_t(text)}</r></text></comment>')
    return (f'{XML_HEAD}<comments xmlns="{MAIN_NS}"><authors><author>{_escape(PRODUCT_NAME)}</author>'
            f'</authors><commentList>{"".join(items)}</commentList></comments>')


def _note_shapes(notes: list[tuple[int, int, str]], widths: list[int]) -> str:
    """Hidden note boxes, each two columns right of and a row above its cell, as Excel places
    new notes. Shape ids run in blocks of 1024 named by the idmap."""
    pixels = [int(w * 7 + 5) for w in widths] + [64, 64, 64]   # column widths in pixels
    left = [0]
    for px in pixels:
        left.append(left[-1] + px)
    blocks = ",".join(str(b) for b in range(1, 2 + len(notes) // 1024))
    shapes = []
    for n, (row, col, _) in enumerate(notes, start=1):
        top_row = max(row - 1, 0)
        shapes.append(
            f'<v:shape id="_x0000_s{1024 + n}" type="#_x0000_t202" style="position:absolute;'
            f'margin-left:{(left[col + 1] + 15) * 0.75}pt;margin-top:{top_row * 15 + 7.5}pt;'
            f'width:96pt;height:55.5pt;z-index:{n};visibility:hidden" fillcolor="#ffffe1" '
            'o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
            '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"></div></v:textbox><x:ClientData ObjectType="Note">'
            f'<x:MoveWithCells/><x:SizeWithCells/><x:Anchor>{col + 1}, 15, {top_row}, 10, {col + 3}, 15, '
            f'{top_row + 4}, 4</x:Anchor><x:AutoFill>False</x:AutoFill><x:Row>{row}</x:Row>'
            f'<x:Column>{col}</x:Column></x:ClientData></v:shape>')
    return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:x="urn:schemas-microsoft-com:office:excel">'
            f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{blocks}"/></o:shapelayout>'
            '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" '
            'path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
            '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
            f'{"".join(shapes)}</xml>')
