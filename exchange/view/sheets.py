"""Writing the view's workbooks: a sheet per table with a frozen header, an autofilter, ID and
code columns as text, set widths; the whole book under a temp name, renamed when complete
(exchange.outputs.atomic).

The sheets are written as SpreadsheetML directly, row by row into a spool file, then zipped:
a unit's 100,000 declarations are ~1.7 million cells, and a general writer's cost per cell
(XlsxWriter's ~3 µs in constant-memory mode, openpyxl's more) alone would pass the 5 s a unit's
refresh may take; a cell here is one f-string (bench/bench_view.py). Every string is an inline
string, never a formula; a formula-looking one also gets the text format (looks.guard_value).
The looks (fonts, fill, border) are those of exchange.outputs.looks.
"""
from __future__ import annotations

import datetime as dt
import re
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

from exchange.messages import PRODUCT_NAME
from exchange.outputs import looks
from exchange.outputs.atomic import atomic_path
from exchange.outputs.looks import guard_value
from exchange.text import travel_safe

TIME_FORMAT = "yyyy-mm-dd hh:mm"
MONEY_FORMAT = "#,##0.00"
# cellXfs of styles.xml, by name: see _styles().
STYLE = {"plain": 0, "title": 1, "header": 2, "note": 3, "text": 4, "time": 5, "money": 6}
EPOCH = dt.datetime(1899, 12, 30)
_UNSAFE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
NS = ('xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


@dataclass(frozen=True)
class Column:
    """A table column: its key (the header's key in VIEW_HEADERS), width and kind of value."""
    key: str
    width: float = 12
    text: bool = False           # IDs, codes, months: text cells, the column formatted as text
    money: bool = False


def letters(n: int) -> str:
    """1 -> "A", 27 -> "AA"."""
    from openpyxl.utils.cell import get_column_letter

    return get_column_letter(n)


def escape(text: str) -> str:
    """XML text of a cell: markup escaped, what XML cannot hold replaced (exchange.text)."""
    if _UNSAFE.search(text) is None:
        return text
    text = travel_safe(text)
    return _UNSAFE.sub(lambda m: _ESCAPES.get(m.group(), "\ufffd"), text)


def _string(ref: str, text: str, style: int) -> str:
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{escape(text)}</t></is></c>'


def _cell(ref: str, value: Any, style: int) -> str:
    """One cell of any value; "" for an empty one."""
    if value is None or value == "":
        return ""
    cls = value.__class__
    if cls is str:
        value, formula_like = guard_value(value, clean=False)
        return _string(ref, value, STYLE["text"] if formula_like else style)
    if cls is bool:
        return _string(ref, str(value), style)
    if cls is int or cls is float or cls is Decimal:
        s = f' s="{STYLE["money"] if cls is Decimal else style}"' if (cls is Decimal or style) else ""
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if cls is dt.datetime or cls is dt.date:
        moment = value if cls is dt.datetime else dt.datetime(value.year, value.month, value.day)
        return f'<c r="{ref}" s="{STYLE["time"]}"><v>{(moment - EPOCH).total_seconds() / 86400:.8f}</v></c>'
    return _string(ref, str(value), style)


class Sheet:
    """One worksheet, written top to bottom: free lines first, then (at most) one table."""

    def __init__(self, name: str, spool: IO[str]) -> None:
        self.name = name
        self.spool = spool
        self.row = 0                         # rows written (1-based numbers in the XML)
        self.widths_: list[float] = []
        self.col_styles: list[int] = []
        self.freeze_at: int | None = None    # rows above the frozen pane
        self.filter: str | None = None

    def line(self, *values: Any, look: str | None = None) -> None:
        """A row of plain values (the 汇总 sheet's lines); `look` one of STYLE."""
        self.row += 1
        style = STYLE[look] if look else 0
        r = self.row
        self.spool.write(f'<row r="{r}">' + "".join(_cell(f"{letters(c)}{r}", v, style)
                                                    for c, v in enumerate(values, 1)) + "</row>")

    def skip(self, rows: int = 1) -> None:
        self.row += rows

    def widths(self, widths: Sequence[float]) -> None:
        self.widths_ = list(widths)

    def table(self, columns: Sequence[Column], headers: dict[str, str],
              rows: Iterable[Sequence[Any]], *, freeze: bool = True) -> int:
        """The header row at the current row, then `rows`; frozen header (when this is the
        sheet's main table), autofilter over the rows. Returns the number of rows written."""
        styles = [STYLE["text"] if c.text else STYLE["money"] if c.money else 0 for c in columns]
        if not self.widths_:
            self.widths_ = [c.width for c in columns]
            self.col_styles = styles
        self.line(*(headers[c.key] for c in columns), look="header")
        first = self.row
        if freeze:
            self.freeze_at = first
        refs = [letters(i) for i in range(1, len(columns) + 1)]
        attrs = [f' s="{s}"' if s else "" for s in styles]
        text_attr, time_attr = f' s="{STYLE["text"]}"', f' s="{STYLE["time"]}"'
        moments: dict[dt.datetime, str] = {}
        write, cell, unsafe, starts = self.spool.write, _cell, _UNSAFE.search, looks.FORMULA_STARTS
        r = first
        for values in rows:
            r += 1
            parts = [f'<row r="{r}">']
            for i, v in enumerate(values):
                if v.__class__ is str:        # most cells: inline, no call (see the docstring)
                    if not v:
                        continue
                    if unsafe(v) is not None:
                        v = escape(v)
                    parts.append(f'<c r="{refs[i]}{r}" t="inlineStr"'
                                 f'{text_attr if v.startswith(starts) else attrs[i]}>'
                                 f'<is><t xml:space="preserve">{v}</t></is></c>')
                elif v.__class__ is int:
                    parts.append(f'<c r="{refs[i]}{r}"{attrs[i]}><v>{v}</v></c>')
                elif v.__class__ is dt.datetime:   # many share a time (a batch's): once each
                    serial = moments.get(v)
                    if serial is None:
                        serial = moments[v] = f"{(v - EPOCH).total_seconds() / 86400:.8f}"
                    parts.append(f'<c r="{refs[i]}{r}"{time_attr}><v>{serial}</v></c>')
                elif v is not None:
                    parts.append(cell(f"{refs[i]}{r}", v, styles[i]))
            parts.append("</row>")
            write("".join(parts))
        self.row = r
        self.filter = f"A{first}:{refs[-1]}{r}"
        return r - first

    def head(self, selected: bool) -> str:
        view = '<sheetView workbookViewId="0"' + (' tabSelected="1"' if selected else "")
        if self.freeze_at:
            view += (f'><pane ySplit="{self.freeze_at}" topLeftCell="A{self.freeze_at + 1}" '
                     'activePane="bottomLeft" state="frozen"/></sheetView>')
        else:
            view += "/>"
        styles = self.col_styles + [0] * len(self.widths_)
        cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"'
                       + (f' style="{s}"' if s else "") + "/>"
                       for i, (w, s) in enumerate(zip(self.widths_, styles), 1))
        return (f"{XML_HEAD}<worksheet {NS}><sheetViews>{view}</sheetViews>"
                f'<sheetFormatPr defaultRowHeight="15"/>' + (f"<cols>{cols}</cols>" if cols else "")
                + "<sheetData>")

    def tail(self) -> str:
        return "</sheetData>" + (f'<autoFilter ref="{self.filter}"/>' if self.filter else "") + \
            "</worksheet>"


class Book:
    def __init__(self) -> None:
        self.sheets: list[Sheet] = []

    def sheet(self, name: str) -> Sheet:
        spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        sheet = Sheet(name, spool)
        self.sheets.append(sheet)
        return sheet

    def close(self) -> None:
        for sheet in self.sheets:
            sheet.spool.close()

    def save(self, path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            z.writestr("[Content_Types].xml", self._content_types())
            z.writestr("_rels/.rels", RELS)
            z.writestr("docProps/core.xml", CORE.format(author=escape(PRODUCT_NAME)))
            z.writestr("xl/workbook.xml", self._workbook())
            z.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels())
            z.writestr("xl/styles.xml", _styles())
            for i, sheet in enumerate(self.sheets, 1):
                with z.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=True) as out:
                    out.write(sheet.head(i == 1).encode("utf-8"))
                    sheet.spool.seek(0)
                    while chunk := sheet.spool.read(1 << 20):
                        out.write(chunk.encode("utf-8"))
                    out.write(sheet.tail().encode("utf-8"))

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(self.sheets) + 1))
        return CONTENT_TYPES.format(sheets=sheets)

    def _workbook(self) -> str:
        sheets = "".join(f'<sheet name="{escape(s.name)}" sheetId="{i}" r:id="rId{i}"/>'
                         for i, s in enumerate(self.sheets, 1))
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"'{escape(s.name)}'!{_absolute(s.filter)}</definedName>"
            for i, s in enumerate(self.sheets) if s.filter)
        return (f"{XML_HEAD}<workbook {NS}><bookViews><workbookView/></bookViews>"
                f"<sheets>{sheets}</sheets>" + (f"<definedNames>{names}</definedNames>" if names else "")
                + "</workbook>")

    def _workbook_rels(self) -> str:
        n = len(self.sheets)
        rels = "".join(f'<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, n + 1))
        rels += f'<Relationship Id="rId{n + 1}" Type="{REL}/styles" Target="styles.xml"/>'
        return f'{XML_HEAD}<Relationships xmlns="{PKG_REL}">{rels}</Relationships>'


def _absolute(ref: str | None) -> str:
    first, last = (ref or "A1:A1").split(":")
    split = [re.match(r"([A-Z]+)(\d+)", x) for x in (first, last)]
    return ":".join(f"${m.group(1)}${m.group(2)}" for m in split if m)


def _font(look: looks.FontLook) -> str:
    parts = ("<b/>" if look.bold else "") + (f'<sz val="{look.size}"/>' if look.size else '<sz val="11"/>')
    parts += f'<color rgb="FF{look.color}"/>' if look.color else ""
    return f'<font>{parts}<name val="{escape(look.name or looks.WORKBOOK_FONT)}"/></font>'


def _styles() -> str:
    fonts = [looks.FontLook(looks.WORKBOOK_FONT, 11), looks.TITLE_FONT, looks.HEADER_FONT,
             looks.REASON_FONT]
    box = f'<left style="thin"><color rgb="FF{looks.BOX}"/></left>'
    box += box.replace("left", "right") + box.replace("left", "top") + box.replace("left", "bottom")
    xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>',
           '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>',
           '<xf numFmtId="0" fontId="2" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"/>',
           '<xf numFmtId="0" fontId="3" fillId="0" borderId="0" xfId="0" applyFont="1"/>',
           '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>',
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>',
           '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>']
    return (f"{XML_HEAD}<styleSheet {NS.split(' ')[0]}>"
            f'<numFmts count="2"><numFmt numFmtId="164" formatCode="{TIME_FORMAT}"/>'
            f'<numFmt numFmtId="165" formatCode="{MONEY_FORMAT}"/></numFmts>'
            f'<fonts count="{len(fonts)}">{"".join(_font(f) for f in fonts)}</fonts>'
            '<fills count="3"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill>'
            f'<fill><patternFill patternType="solid"><fgColor rgb="FF{looks.HEADER_FILL}"/>'
            '<bgColor indexed="64"/></patternFill></fill></fills>'
            f'<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
            f"<border>{box}<diagonal/></border></borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>")


REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
RELS = (f'{XML_HEAD}<Relationships xmlns="{PKG_REL}">'
        f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/'
        'metadata/core-properties" Target="docProps/core.xml"/></Relationships>')
CORE = (XML_HEAD + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:creator>{author}</dc:creator></cp:coreProperties>")
CONTENT_TYPES = (
    XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/'
    'vnd.openxmlformats-package.core-properties+xml"/>{sheets}</Types>')


@contextmanager
def book(target: Path) -> Iterator[Book]:
    """A workbook written under a temp name beside `target` (exchange.outputs.atomic) and renamed
    over it when the block ends without error: a reader sees the old book or the new one."""
    b = Book()
    try:
        with atomic_path(target) as tmp:
            yield b
            b.save(tmp)
    finally:
        b.close()


__all__ = ["Book", "Column", "Sheet", "book", "TIME_FORMAT", "MONEY_FORMAT", "escape", "letters"]
