"""Find the header row below title and instruction rows, and map its cells to fields."""
from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Container, Iterable, Iterator, Sequence

from exchange.checks.values import BLANK_CHARS, as_text
from exchange.kinds.spec import ColumnSpec, KindSpec, normalise_label
from exchange.read.tables import Row

SCAN_ROWS = 30

# A row of the form itself, not a person: a total (合计, 小计 by department), the lines a printed
# form is signed and stamped on (制表人：, 单位（盖章）：), a note (注：). Its first filled cell, in any
# column (合计 often stands in 序号), says so.
# The grammar is NFKC's (： is :).
# 汇总: the total row of an Excel or WPS table (插入 → 表格, 汇总行), as Chinese Excel labels it.
# A total's characters may be spaced out to fill a wide cell (合　计).
FOOTER = re.compile(r"^(?:[合小总共]\s*计|汇\s*总|\(?单位\(?盖章\)?|盖章|(?:制表人?|填表人?|填报人|审核人?"  # input grammar
                    r"|(?:单位)?负责人|经办人|联系人|联系电话|(?:填报|制表|填表)?日期|注意?|备注"
                    r"|(?:填表|填报)?说明|附注)\s*:)")
_FOOTER_START = frozenset("合小总共汇(（单盖制填审负经联日注备说附")  # input grammar: FOOTER's first characters


@dataclass
class Located:
    header_row: int
    header: tuple[str, ...]              # header cells as written
    title_lines: list[str]               # text of the rows above the header
    rows: Iterator[Row]                  # data rows after the header


# Every file asks for the names of the same few lists of kinds (the rules' kinds as a unit type
# fills them: Rules.for_unit_type hands back the same objects): each list's are folded once.
# The lists are kept with their names, so their ids cannot be reused while cached.
_KNOWN: dict[tuple[int, ...], tuple[tuple[KindSpec, ...], frozenset[str]]] = {}
_KNOWN_LISTS = 64


# A header with a hint in parentheses after its name: 缴费工资（元）, 性别(男/女), 变更日期（YYYYMM）,
# 联系电话（手机）. The name is what counts, unless the hint says the column is not to be read
# (备注(不导入), 缴费工资(旧), 姓名(仅供参考)). Labels are folded first: （ is (.
_HINTED = re.compile(r"^(.+?)\((.*)\)$")
_NOT_READ = ("不", "勿", "无需", "作废", "旧", "原", "参考")  # input grammar


def header_label(cell: str, known: Container[str]) -> str:
    """The folded label a header cell is matched by: its own, or its name before a hint."""
    label = normalise_label(cell)
    if label in known or not label.endswith(")"):
        return label
    hinted = _HINTED.match(label)
    if hinted and hinted[1] in known and not any(w in hinted[2] for w in _NOT_READ):
        return hinted[1]
    return label


def known_names(kinds: Iterable[KindSpec]) -> frozenset[str]:
    listed = tuple(kinds)
    key = tuple(map(id, listed))
    found = _KNOWN.get(key)
    if found is None:
        if len(_KNOWN) >= _KNOWN_LISTS:         # rules loaded again and again (tests)
            _KNOWN.clear()
        names = frozenset(normalise_label(n) for k in listed for c in k.columns for n in c.names)
        found = _KNOWN[key] = (listed, names)
    return found[1]


def locate_header(rows: Iterator[Row], kinds: Iterable[KindSpec]) -> Located | None:
    """The row among the first SCAN_ROWS with the most known header names (at least two)."""
    names = known_names(kinds)
    seen: list[Row] = []
    best: tuple[int, int] | None = None          # (score, index in seen)
    for row in itertools.islice(rows, SCAN_ROWS):
        seen.append(row)
        score = sum(1 for v in row[1] if header_label(as_text(v), names) in names)
        if score >= 2 and (best is None or score > best[0]):
            best = (score, len(seen) - 1)
    if best is None:
        return None
    index = best[1]
    number, header = seen[index]
    titles = [" ".join(as_text(v) for v in values if as_text(v)) for _, values in seen[:index]]
    rest = itertools.chain(seen[index + 1:], rows)
    return Located(number, tuple(as_text(v) for v in header), [t for t in titles if t], rest)


def footer_row(values: tuple[Any, ...]) -> bool:
    """Whether a row below the header is the form's total, signature, stamp or note (FOOTER)."""
    for v in values:
        if v is None or (v.__class__ is str and not v.strip(BLANK_CHARS)):
            continue
        if v.__class__ is not str:
            return False
        text = v.lstrip(BLANK_CHARS)
        return text[:1] in _FOOTER_START and \
            FOOTER.match(unicodedata.normalize("NFKC", text)) is not None
    return False


def map_columns(header: tuple[str, ...], kind: KindSpec) -> dict[int, str]:
    """Position -> field for the kind's columns found in the header; the first of twins wins
    (twin_columns finds them)."""
    mapping: dict[int, str] = {}
    for pos, field_name in _fields(header, kind):
        if field_name not in mapping.values():
            mapping[pos] = field_name
    return mapping


def twin_columns(header: tuple[str, ...], kind: KindSpec) -> dict[str, list[int]]:
    """The fields the header has more than one column for, and their positions."""
    found: dict[str, list[int]] = {}
    for pos, field_name in _fields(header, kind):
        found.setdefault(field_name, []).append(pos)
    return {f: positions for f, positions in found.items() if len(positions) > 1}


def _fields(header: tuple[str, ...], kind: KindSpec) -> Iterator[tuple[int, str]]:
    lookup = {normalise_label(n): c.field for c in kind.columns for n in c.names}
    for pos, cell in enumerate(header):
        field_name = lookup.get(header_label(cell, lookup))
        if field_name:
            yield pos, field_name


def column_taker(mapping: dict[int, str], columns: Sequence[ColumnSpec]
                 ) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A row's cells in `columns` order, by the header's mapping; None for a column the header
    lacks or the row stops short of."""
    where = {f: pos for pos, f in mapping.items()}
    width = max(mapping, default=0) + 1           # every row is cut or padded to width + 1:
    pad = (None,) * (width + 1)                   # position `width` is None, for the columns
    positions = [where.get(c.field, width) for c in columns]             # not in the header
    get: Callable[[tuple[Any, ...]], tuple[Any, ...]] = (
        itemgetter(*positions) if len(positions) > 1 else lambda row: (row[positions[0]],))

    def take(values: tuple[Any, ...]) -> tuple[Any, ...]:
        row = values[:width]
        return get(row + pad[len(row):])
    return take


def row_cells(values: tuple[Any, ...], mapping: dict[int, str]) -> dict[str, Any]:
    return {f: values[pos] if pos < len(values) else None for pos, f in mapping.items()}
