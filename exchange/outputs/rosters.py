"""PDF rosters (花名册) for stamping: A4, an embedded CJK TrueType font, per-page subtotals.

A roster is plain data (`Roster` of `Section`s of rows); `render_roster()` lays it out by hand on
a reportlab canvas so that pagination is exact: the header row repeats on every page, every page
ends with 本页小计, the last page of a section with 合计, and the last page of the document with
the signature lines. Row heights follow the wrapped text, so long reasons are never cut short.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Sequence

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfgen.canvas import Canvas

from exchange.errors import ConfigError
from exchange.messages import ROSTER_WORDS as W
from exchange.outputs.atomic import atomic_path
from exchange.text import travel_safe

FONT_NAME = "ExchangeCJK"
# TrueType outlines only: reportlab cannot embed CFF/OpenType-PS fonts such as Noto CJK.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",       # Debian/Ubuntu fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",     # fonts-wqy-microhei
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",         # Fedora/RHEL
    "/usr/share/fonts/truetype/arphic/uming.ttc",         # fonts-arphic-uming
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
)
FONT_ENV = "EXCHANGE_PDF_FONT"
# For the characters the font lacks: names in CJK extension B and beyond (王𠮷), which WenQuanYi
# does not draw and a roster to be stamped must not show as blanks. Registered when a roster
# first needs one of their characters (HanaMin B is 30 MB), tried in this order.
FALLBACK_CANDIDATES = (
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",    # Debian/Ubuntu fonts-hanazono
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
)
FALLBACK_ENV = "EXCHANGE_PDF_FALLBACK_FONTS"           # paths, separated by os.pathsep

FONT_SIZE = 9.0
LEADING = 11.0
PAD = 2.5
MAX_LINES = 8                    # a cell never grows beyond this many lines (then "…")
MARGIN = 14 * mm
TITLE_SIZE = 15.0
FOOTER_H = 10 * mm
SEQ_WIDTH = 16.0                 # mm: wide enough for 本页小计


def find_font() -> Path:
    """The CJK TrueType font to embed: $EXCHANGE_PDF_FONT, else the first installed candidate."""
    wanted = os.environ.get(FONT_ENV)
    for candidate in ([wanted] if wanted else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError(
        f"no CJK TrueType font for PDF rosters: install fonts-wqy-zenhei (apt-get install "
        f"fonts-wqy-zenhei) or set {FONT_ENV} to a .ttf/.ttc with TrueType outlines")


def cjk_font() -> str:
    """Register the CJK font with reportlab once per process and return its name."""
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        from reportlab.pdfbase.ttfonts import TTFont

        path = find_font()
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
        except Exception as exc:  # reportlab raises bare TTFError/ValueError for CFF fonts
            raise ConfigError(f"{path}: cannot embed this font in PDFs ({exc}); use a TrueType font "
                              f"such as WenQuanYi Zen Hei") from exc
    return FONT_NAME


def _to_unicode_cmap(fontname: str, subset: Sequence[int]) -> str:
    """reportlab's ToUnicode CMap with characters beyond the BMP written as UTF-16 (a surrogate
    pair), as the PDF reference wants: reportlab writes U+20BB7 as <20BB7>, which no reader
    takes, so 王𠮷 read back, searched or copied from the roster as 王."""
    def utf16(code: int) -> str:
        return chr(code).encode("utf-16-be", "surrogatepass").hex().upper()
    lines = _REPORTLAB_CMAP(fontname, subset).splitlines()
    start = lines.index(f"{len(subset)} beginbfchar") + 1
    lines[start:start + len(subset)] = [f"<{i:02X}> <{utf16(v)}>" for i, v in enumerate(subset)]
    return "\n".join(lines)


_REPORTLAB_CMAP = ttfonts.makeToUnicodeCMap
ttfonts.makeToUnicodeCMap = _to_unicode_cmap


def _glyphs(name: str) -> dict[int, int]:
    return pdfmetrics.getFont(name).face.charToGlyph


class Fonts:
    """The CJK font, and fallback fonts for the characters it has no glyph for: a text is drawn
    and measured as runs, each in the first font that has its characters."""

    def __init__(self, main: str) -> None:
        self.main = main
        self._has = _glyphs(main)
        self._fallbacks: list[tuple[str, dict[int, int]]] | None = None    # loaded when needed
        self._font_of: dict[str, str] = {}

    def _fallback_fonts(self) -> list[tuple[str, dict[int, int]]]:
        if self._fallbacks is None:
            from reportlab.pdfbase.ttfonts import TTFont

            self._fallbacks = []
            wanted = os.environ.get(FALLBACK_ENV)
            paths = wanted.split(os.pathsep) if wanted else FALLBACK_CANDIDATES
            for i, path in enumerate(p for p in paths if p and Path(p).is_file()):
                name = f"{FONT_NAME}Fallback{i}"
                if name not in pdfmetrics.getRegisteredFontNames():
                    try:
                        pdfmetrics.registerFont(TTFont(name, path))
                    except Exception:  # noqa: BLE001 - a font that cannot be embedded is skipped
                        continue
                self._fallbacks.append((name, _glyphs(name)))
        return self._fallbacks

    def font_of(self, ch: str) -> str:
        """The font that draws `ch`: the main one when it has it (or no font does)."""
        font = self._font_of.get(ch)
        if font is None:
            code = ord(ch)
            font = self.main
            if code not in self._has and code >= 0x2000:
                font = next((n for n, has in self._fallback_fonts() if code in has), self.main)
            self._font_of[ch] = font
        return font

    def runs(self, text: str) -> list[tuple[str, str]]:
        """(font, text) pieces of `text`, in order."""
        if text.isascii():
            return [(self.main, text)]
        pieces: list[tuple[str, str]] = []
        for ch in text:
            font = self.font_of(ch)
            if pieces and pieces[-1][0] == font:
                pieces[-1] = (font, pieces[-1][1] + ch)
            else:
                pieces.append((font, ch))
        return pieces

    def width(self, text: str, size: float) -> float:
        return sum(pdfmetrics.stringWidth(piece, font, size) for font, piece in self.runs(text))


# The data ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    header: str
    width: float                 # natural width in mm; scaled to the page
    align: str = "left"          # left | center | right
    total: bool = False          # summed in 本页小计 / 合计
    money: bool = False          # two decimals
    fixed: bool = False          # keeps its natural width when the page is too narrow (IDs)


@dataclass
class Section:
    title: str
    info: Sequence[str]                      # "单位编号：1001", "批次号：..." under the title
    columns: Sequence[Column]                # without 序号 (added in front)
    rows: Sequence[Sequence[Any]]
    count_word: str = W["persons"]           # "共 {count} 人"


@dataclass
class Roster:
    sections: list[Section]
    made_on: date = field(default_factory=date.today)
    signatures: bool = True
    title: str = ""                           # PDF metadata title


@dataclass(frozen=True)
class RosterStats:
    pages: int
    rows: int
    path: Path


# Layout ------------------------------------------------------------------------------------------
def _fmt(value: Any, col: Column) -> str:
    if value is None or value == "":
        return ""
    if col.money and isinstance(value, (int, float, Decimal)):
        return f"{_money(value):,.2f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return travel_safe(str(value))


def _number(value: Any) -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    try:
        return Decimal(str(value).replace(",", ""))
    except ArithmeticError:
        return Decimal(0)


def _money(value: Any) -> Decimal:
    """An amount as printed: exact decimal, two places, half up (never through float)."""
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _sum_text(total: Decimal, col: Column) -> str:
    if col.money:
        return f"{_money(total):,.2f}"
    return str(int(total)) if total == total.to_integral_value() else str(total)


class _Measure:
    def __init__(self, fonts: Fonts, size: float) -> None:
        self.fonts, self.size = fonts, size
        self.cache: dict[str, float] = {}

    def width(self, text: str) -> float:
        return self.fonts.width(text, self.size)

    def char(self, ch: str) -> float:
        w = self.cache.get(ch)
        if w is None:
            w = self.cache[ch] = pdfmetrics.stringWidth(ch, self.fonts.font_of(ch), self.size)
        return w

    def wrap(self, text: str, limit: float) -> list[str]:
        """Break at any character (Chinese has no spaces), honouring newlines."""
        lines: list[str] = []
        for para in text.split("\n"):
            if self.width(para) <= limit:
                lines.append(para)
                continue
            line, used = "", 0.0
            for ch in para:
                w = self.char(ch)
                if line and used + w > limit:
                    lines.append(line)
                    line, used = "", 0.0
                line += ch
                used += w
            lines.append(line)
        if len(lines) > MAX_LINES:
            lines = lines[:MAX_LINES]
            lines[-1] = lines[-1][:-1] + "…"
        return lines or [""]


@dataclass
class _Row:
    cells: list[list[str]]           # wrapped lines per cell
    height: float
    kind: str = "data"               # data | subtotal | total


@dataclass
class _Page:
    section: int
    start: int                       # index in section.rows of this page's first row
    rows: list[_Row]
    last_of_section: bool = False


class _Layout:
    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        self.font = cjk_font()
        self.fonts = Fonts(self.font)
        self.m = _Measure(self.fonts, FONT_SIZE)
        widest = max((sum(c.width for c in s.columns) + SEQ_WIDTH for s in roster.sections), default=0)
        portrait_width = A4[0] - 2 * MARGIN
        self.pagesize = A4 if widest * mm <= portrait_width else landscape(A4)
        self.page_w, self.page_h = self.pagesize
        self.table_w = self.page_w - 2 * MARGIN

    def widths(self, section: Section) -> list[float]:
        """Column widths in points: natural widths scaled to the table; when the page is too
        narrow, 序号 and fixed columns keep theirs and the others shrink."""
        natural = [SEQ_WIDTH] + [c.width for c in section.columns]
        fixed = [True] + [c.fixed for c in section.columns]
        available = self.table_w / mm
        if sum(natural) <= available:
            return [w * mm * available / sum(natural) for w in natural]
        rigid = sum(w for w, f in zip(natural, fixed) if f)
        flexible = sum(w for w, f in zip(natural, fixed) if not f)
        scale = max(available - rigid, flexible * 0.3) / flexible if flexible else 1.0
        out = [w if f else w * scale for w, f in zip(natural, fixed)]
        squeeze = available / sum(out)          # only < 1 if even the rigid ones do not fit
        return [w * mm * min(1.0, squeeze) for w in out]

    def make_row(self, values: Sequence[str], widths: list[float], kind: str = "data") -> _Row:
        cells = [self.m.wrap(v, w - 2 * PAD) for v, w in zip(values, widths)]
        lines = max(len(c) for c in cells)
        return _Row(cells, max(lines * LEADING + 2 * PAD, LEADING + 2 * PAD + 2), kind)

    def info_lines(self, section: Section) -> list[str]:
        """Info items side by side, wrapped onto as many lines as the page width needs."""
        lines: list[str] = []
        gap = "    "
        line = ""
        for item in section.info:
            candidate = item if not line else line + gap + item
            if line and self.m.width(candidate) > self.table_w:
                lines.append(line)
                line = item
            else:
                line = candidate
        if line:
            lines.append(line)
        return lines

    def head_height(self, section: Section) -> float:
        return TITLE_SIZE + 8 + len(self.info_lines(section)) * (LEADING + 2) + 4

    def signature_height(self) -> float:
        return (3 * (LEADING + 10)) + 6 if self.roster.signatures else 0

    def paginate(self) -> list[_Page]:
        pages: list[_Page] = []
        sections = self.roster.sections
        for index, section in enumerate(sections):
            widths = self.widths(section)
            header = self.make_row([W["seq"], *[c.header for c in section.columns]], widths, "header")
            capacity = (self.page_h - 2 * MARGIN - FOOTER_H - self.head_height(section)
                        - header.height)
            rows = [self.make_row([str(i), *[_fmt(v, c) for v, c in zip(values, section.columns)]],
                                  widths) for i, values in enumerate(section.rows, start=1)]
            sub_h = self.make_row([W["page_subtotal"], W["persons"].format(count=len(rows))]
                                  + [""] * (len(widths) - 2), widths).height
            # Every page keeps room for its 本页小计; the last one also for 合计 and signatures.
            mine: list[_Page] = []
            current: list[_Row] = []
            used, start = 0.0, 0
            for i, row in enumerate(rows):
                if current and used + row.height + sub_h > capacity:
                    mine.append(_Page(index, start, current))
                    current, used, start = [], 0.0, i
                current.append(row)
                used += row.height
            mine.append(_Page(index, start, current))
            extra = sub_h + (self.signature_height() if index == len(sections) - 1 else 0)
            last = mine[-1]
            moved: list[_Row] = []
            while last.rows and sum(r.height for r in last.rows) + sub_h + extra > capacity:
                moved.insert(0, last.rows.pop())
            if moved:
                mine.append(_Page(index, last.start + len(last.rows), moved))
            mine[-1].last_of_section = True
            pages.extend(mine)
        return pages


# Drawing -----------------------------------------------------------------------------------------
class _Painter:
    def __init__(self, layout: _Layout, canvas: Canvas) -> None:
        self.l = layout
        self.c = canvas

    def text(self, x: float, y: float, s: str, size: float = FONT_SIZE, align: str = "left") -> None:
        runs = self.l.fonts.runs(travel_safe(s))
        widths = [pdfmetrics.stringWidth(piece, font, size) for font, piece in runs]
        x -= {"center": sum(widths) / 2, "right": sum(widths)}.get(align, 0.0)
        for (font, piece), width in zip(runs, widths):
            self.c.setFont(font, size)
            self.c.drawString(x, y, piece)
            x += width

    def row(self, y: float, row: _Row, widths: list[float], aligns: list[str], shade: bool = False) -> float:
        c = self.c
        x0 = MARGIN
        if shade:
            c.setFillGray(0.90)
            c.rect(x0, y - row.height, sum(widths), row.height, stroke=0, fill=1)
            c.setFillGray(0)
        x = x0
        for lines, w, align in zip(row.cells, widths, aligns):
            ty = y - PAD - FONT_SIZE
            for line in lines:
                if align == "right":
                    self.text(x + w - PAD, ty, line, align="right")
                elif align == "center":
                    self.text(x + w / 2, ty, line, align="center")
                else:
                    self.text(x + PAD, ty, line)
                ty -= LEADING
            x += w
        c.setLineWidth(0.5)
        c.line(x0, y - row.height, x0 + sum(widths), y - row.height)
        x = x0
        for w in [0.0, *widths]:
            x += w
            c.line(x, y, x, y - row.height)
        return y - row.height

    def page(self, page: _Page, number: int, pages: int, totals: dict[int, list[Decimal]]) -> None:
        layout, c = self.l, self.c
        section = layout.roster.sections[page.section]
        widths = layout.widths(section)
        aligns = ["center", *[col.align for col in section.columns]]
        y = layout.page_h - MARGIN - TITLE_SIZE
        self.text(layout.page_w / 2, y, section.title, TITLE_SIZE, "center")
        y -= 8
        for line in layout.info_lines(section):
            y -= LEADING + 2
            self.text(MARGIN, y, line)
        y -= 4
        header = layout.make_row([W["seq"], *[col.header for col in section.columns]], widths, "header")
        c.setLineWidth(0.5)
        c.line(MARGIN, y, MARGIN + sum(widths), y)
        y = self.row(y, header, widths, ["center"] * len(widths), shade=True)
        for r in page.rows:
            y = self.row(y, r, widths, aligns)
        # 本页小计: count of rows on this page, sums of the summed columns.
        sums = [Decimal(0)] * len(section.columns)
        for i in range(page.start, page.start + len(page.rows)):
            values = section.rows[i]
            for j, col in enumerate(section.columns):
                if col.total:      # the printed figure, so a page adds up to what it shows
                    sums[j] += _money(_number(values[j])) if col.money else _number(values[j])
        running = totals.setdefault(page.section, [Decimal(0)] * (len(section.columns) + 1))
        running[0] += len(page.rows)
        for j in range(len(section.columns)):
            running[j + 1] += sums[j]
        y = self.row(y, self.summary(W["page_subtotal"], len(page.rows), sums, section, widths),
                     widths, aligns, shade=True)
        if page.last_of_section:
            y = self.row(y, self.summary(W["total"], int(running[0]), running[1:], section, widths),
                         widths, aligns, shade=True)
            if page.section == len(layout.roster.sections) - 1 and layout.roster.signatures:
                self.signatures(y)
        self.text(layout.page_w / 2, MARGIN - 2, W["page"].format(page=number, pages=pages),
                  FONT_SIZE, "center")
        if not layout.roster.signatures:
            self.text(MARGIN, MARGIN - 2, W["made_on"].format(value=layout.roster.made_on.isoformat()))

    def summary(self, label: str, count: int, sums: Sequence[Decimal], section: Section,
                widths: list[float]) -> _Row:
        values = [label]
        for j, col in enumerate(section.columns):
            if j == 0:
                values.append(section.count_word.format(count=count))
            elif col.total:
                values.append(_sum_text(sums[j], col))
            else:
                values.append(W["filler"])
        return self.l.make_row(values, widths, "subtotal")

    def signatures(self, y: float) -> None:
        layout = self.l
        y -= LEADING + 12
        third = layout.table_w / 3
        self.text(MARGIN, y, W["stamp"])
        y -= LEADING + 10
        for i, key in enumerate(("head", "maker", "checker")):
            self.text(MARGIN + i * third, y, W[key] + "_" * 14)
        y -= LEADING + 10
        self.text(MARGIN, y, W["made_on"].format(value=layout.roster.made_on.isoformat()))


def render_roster(roster: Roster, target: Path) -> RosterStats:
    """Lay the roster out and write it to `target` atomically; returns page and row counts."""
    if not roster.sections:
        raise ValueError("a roster needs at least one section")
    layout = _Layout(roster)
    pages = layout.paginate()
    with atomic_path(target) as tmp:
        canvas = Canvas(str(tmp), pagesize=layout.pagesize, pageCompression=1,
                        initialFontName=layout.font, initialFontSize=FONT_SIZE)
        canvas.setTitle(travel_safe(roster.title or roster.sections[0].title))
        canvas.setCreator("declaration-exchange")
        totals: dict[int, list[Decimal]] = {}
        painter = _Painter(layout, canvas)
        for number, page in enumerate(pages, start=1):
            painter.page(page, number, len(pages), totals)
            canvas.showPage()
        canvas.save()
    return RosterStats(len(pages), sum(len(s.rows) for s in roster.sections), target)


__all__ = ["Column", "Section", "Roster", "RosterStats", "render_roster", "cjk_font", "find_font",
           "Fonts"]
