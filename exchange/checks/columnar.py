"""Cell rules over whole columns (issue 19): each column type is one function returning polars
expressions, judged for a chunk of rows at once; findings are made only for failing cells.

Rows cross the boundary as columns that keep the type facts the rules need (`columns_of`): for
each field the text of cells typed as text (`s`), the kind of cell (`k`: an ID stored by Excel
as a number is told apart from one typed as text), its number (`n` float, `i` integer), its date
(`d`), the clerk's view of a cell that is not text (`o`) and the character that refuses a cell
(`r`, exchange.text). A rule (`RULES[type]`) reads those and returns the parsed value, the
finding code and the finding's "value" parameter as expressions; `judge_cells` evaluates every
column's rule in one `select` and turns the failing cells into Findings with the codes, columns
and parameters the receipt, the error workbook and `validate --json` render.

The product's only cell engine: exchange.checks.engine (the pipeline) and exchange.master call
`judge_cells`.
"""
from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

import polars as pl

from exchange import codes as C
from exchange.checks import ids, names, values as V
from exchange.checks.finding import Finding
from exchange.errors import contained
from exchange.kinds.spec import CODE_RUN, CODE_WITH_LABEL, CodeTable, ColumnSpec
from exchange.read.slices import CellError, UnsavedFormula
from exchange.text import INVISIBLE_CLASS, TEXT_PREFIX, code_point, screen, suspect

# Kinds of cell (the `k` column); ERROR: a formula's error value (read.slices.CellError);
# UNSAVED: a formula whose file holds no value it made (read.slices.UnsavedFormula).
BLANK, TEXT, INT, FLOAT, BOOL, DATE, ERROR, UNSAVED = 0, 1, 2, 3, 4, 5, 6, 7
_SPLIT_CODES = r"[,，、;；/\s]+"  # input grammar


def _kind_of(raw: Any) -> int:
    cls = raw.__class__
    if raw is None:
        return BLANK
    if cls is str:
        return TEXT
    if cls is CellError:
        return ERROR
    if cls is UnsavedFormula:
        return UNSAVED
    if cls is bool:
        return BOOL
    if isinstance(raw, int):
        return INT
    if isinstance(raw, float):
        return FLOAT
    if isinstance(raw, (date, datetime)):
        return DATE
    return TEXT


_SCHEMA = {"s": pl.Utf8, "k": pl.UInt8, "n": pl.Float64, "i": pl.Int64, "d": pl.Date,
           "o": pl.Utf8, "r": pl.Utf8}


_PLAIN = frozenset({str, type(None)})      # cells that are their own key
# A blank cell's key: itself, or (type, cell) in a column that holds other cells (column_of).
_BLANK_KEYS = (None, (type(None), None))


def column_of(cells: list[Any]) -> tuple[list[Any], list[int]]:
    """The boundary for one column: its distinct cells (their keys, in order of appearance) and,
    per row, the index of its cell among them. Text and blank cells are their own key; in a
    column that holds other cells every key is (type, cell): 1, 1.0 and True are equal keys in
    a dict. A column's cells repeat (codes, months, dates, wages): rules judge each distinct
    cell once (and once per file or process for the types of MEMO_TYPES, `_Compiled.memo`)."""
    keys = cells if _PLAIN.issuperset(map(type, cells)) else list(zip(map(type, cells), cells))
    distinct = list(dict.fromkeys(keys))
    position = dict(zip(distinct, range(len(distinct))))
    return distinct, list(map(position.__getitem__, keys))


_NOTHING = (None,) * 7
Typed = tuple[Any, int, Any, Any, Any, Any, Any]         # s, k, n, i, d, o, r of one cell


def _typed_cell(c: Any) -> Typed:
    """Any cell, as the typed columns hold it (the general case of `_typed`)."""
    k = _kind_of(c)
    text = (c if c.__class__ is str else str(c)) if k == TEXT else None
    bad = None
    if text is not None and suspect(text):
        text, bad = screen(text)
        if bad is not None:
            text, k = None, BLANK
    return (text, k, float(c) if k in (INT, FLOAT) and abs(c) < 1e300 else None,
            c if k == INT and -2**63 < c < 2**63 else None,
            (c.date() if isinstance(c, datetime) else c) if k == DATE else None,
            None if k in (BLANK, TEXT) else str(c) if k in (ERROR, UNSAVED) else V.as_text(c),
            code_point(bad) if bad is not None else None)


# NaN, infinity or a number past 1e300 (1e99999 reads as infinity): no spreadsheet program
# writes one, a script may. Judged as Excel's invalid-number error value, #NUM!: a NaN typed as
# a 户主姓名 was imported as the name "nan", and one with a date format as the month 189912.
_NOT_A_NUMBER: Typed = (None, ERROR, None, None, None, "#NUM!", None)

# The usual cells by their exact type (a subclass takes the general case); text cells only
# where no text of the column needs screening.
_TYPED: dict[type, Callable[[Any], Typed]] = {
    str: lambda c: (c, TEXT, None, None, None, None, None),
    type(None): lambda c: _NOTHING[:1] + (BLANK,) + _NOTHING[:5],
    int: lambda c: (None, INT, float(c) if abs(c) < 1e300 else None,
                    c if -2**63 < c < 2**63 else None, None, str(c), None),
    float: lambda c: (None, FLOAT, c, None, None, V.as_text(c), None) if abs(c) < 1e300 else
    _NOT_A_NUMBER,
    datetime: lambda c: (None, DATE, None, None, c.date(), V.as_text(c), None),
    date: lambda c: (None, DATE, None, None, c, V.as_text(c), None),
}


def _typed(keys: list[Any]) -> dict[str, list[Any]]:
    """Distinct cells (column_of's keys) as typed columns: `s` text, `k` kind, `n` number, `i`
    integer, `d` date, `o` the clerk's view of a cell that is not text, `r` the character that
    refuses a text cell."""
    if _PLAIN.issuperset(map(type, keys)):        # text and blank cells only: the usual column
        strings = [c for c in keys if c is not None]
        if not suspect("".join(strings)):
            nothing = [None] * len(keys)
            return {"s": keys, "k": [TEXT if c is not None else BLANK for c in keys],
                    "n": nothing, "i": nothing, "d": nothing, "o": nothing, "r": nothing}
    cells = [key[1] if key.__class__ is tuple else key for key in keys]
    typers = _TYPED
    if suspect("".join(c for c in cells if c.__class__ is str)):
        typers = {**_TYPED, str: _typed_cell}
    typed = [typers.get(c.__class__, _typed_cell)(c) for c in cells]
    columns = list(zip(*typed)) if typed else [()] * 7
    return {x: list(column) for x, column in zip(_SCHEMA, columns)}


@dataclass(frozen=True)
class Cell:
    """The expressions of one column's cells, as a rule sees them."""
    s: pl.Expr          # text cells (after the column's default filled blanks)
    k: pl.Expr          # kind of cell
    n: pl.Expr          # number (int or float cells)
    i: pl.Expr          # integer cells
    d: pl.Expr          # date cells
    t: pl.Expr          # the cell as the clerk sees it (values.as_text)
    col: ColumnSpec
    tables: dict[str, CodeTable]
    today: date

    @property
    def number(self) -> pl.Expr:
        return self.k.is_in([INT, FLOAT])


@dataclass(frozen=True)
class Judged:
    """A rule's answer: the parsed value (null where the cell fails), the finding code (null
    where it passes) and the finding's "value" parameter; `params` are the code's constant
    parameters."""
    value: pl.Expr
    code: pl.Expr
    shown: pl.Expr
    params: dict[str, Any]
    steps: tuple[dict[str, pl.Expr], ...] = ()     # columns made first, in order


def text_of(s: pl.Expr) -> pl.Expr:
    """values.as_text of text cells: NFKC, invisible characters and a leading apostrophe
    (exchange.text) dropped, stripped."""
    return (s.str.normalize("NFKC").str.replace_all(INVISIBLE_CLASS, "").str.strip_chars()
            .str.replace(TEXT_PREFIX, ""))


def _fails(ok: pl.Expr, value: pl.Expr, code: str, shown: pl.Expr,
           steps: list[dict[str, pl.Expr]] | None = None, **params: Any) -> Judged:
    return Judged(pl.when(ok).then(value), pl.when(ok).then(None).otherwise(pl.lit(code)),
                  shown, params, tuple(steps or ()))


def _iso(y: pl.Expr, m: pl.Expr, d: pl.Expr) -> pl.Expr:
    """A date from year, month and day digits; null when no such date (year 0 included)."""
    text = pl.format("{}-{}-{}", y.cast(pl.Int64).cast(pl.Utf8).str.zfill(4),
                     m.cast(pl.Int64).cast(pl.Utf8).str.zfill(2),
                     d.cast(pl.Int64).cast(pl.Utf8).str.zfill(2))
    parsed = text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return pl.when(y.cast(pl.Int64) >= 1).then(parsed)


def _serial_date(x: pl.Expr) -> pl.Expr:
    """values.excel_serial: whole numbers 1 … 2958465 counted from 1899-12-30."""
    ok = (x >= 1) & (x < 2958466) & (x.floor() == x)
    return pl.when(ok).then(pl.lit(V.EXCEL_EPOCH) + pl.duration(days=x.cast(pl.Int64)))


_DATE_LONG, _DATE_SHORT = (p.pattern for p in V._DATE_PATTERNS)


def _spaceless(text: pl.Expr) -> pl.Expr:
    """values._spaceless: a date's or month's text without its time of day and its spaces."""
    return text.str.replace(V.TIME_OF_DAY, "").str.replace_all(" ", "", literal=True)


def _date_of_text(text: pl.Expr, serials: bool = True) -> pl.Expr:
    """values.parse_date of a text (its time of day and spaces removed): an Excel serial (not
    for a month: `serials`), or the first pattern."""
    text = _spaceless(text)
    serial = text.str.contains(r"^\d{5}(\.0)?$") if serials else pl.lit(False)
    long = text.str.contains(_DATE_LONG)
    short = text.str.contains(_DATE_SHORT)

    def parts(pattern: str) -> pl.Expr:
        return _iso(*(text.str.extract(pattern, g) for g in (1, 2, 3)))

    serial_number = text.str.replace(r"\.0$", "").cast(pl.Float64, strict=False)
    return (pl.when(serial).then(_serial_date(serial_number))
            .when(long).then(parts(_DATE_LONG))
            .when(short).then(parts(_DATE_SHORT)))


def _date_of(c: Cell) -> pl.Expr:
    """values.parse_date of any cell."""
    whole = c.n.cast(pl.Int64, strict=False).cast(pl.Utf8)
    number = (pl.when((c.n >= 19000101) & (c.n <= 21001231)).then(_date_of_text(whole))
              .when(c.n < 100000).then(_serial_date(c.n)))
    return (pl.when(c.k == DATE).then(c.d).when(c.number).then(number)
            .otherwise(_date_of_text(c.t)))


def _yyyymm(d: pl.Expr) -> pl.Expr:
    return d.dt.strftime("%Y%m")


def _month_steps(c: Cell) -> list[dict[str, pl.Expr]]:
    """values.parse_month of any cell, in steps (each sub-result a column: a tree that repeats
    its parts costs more to plan than the cells of a small file to judge): `_month`. A number
    is a month as YYYYMM or a whole date YYYYMMDD, never an Excel serial (20261, a digit left
    out of 202601, was the serial of 1955-06)."""
    whole_month = c.number & (c.n.floor() == c.n) & (c.n >= 190001) & (c.n <= 210012)
    text = _spaceless(pl.when(whole_month).then(c.n.cast(pl.Int64).cast(pl.Utf8)).otherwise(c.t))
    first = {"_mt": pl.when(text.str.contains(r"^\d{6}\.0+$")).then(text.str.slice(0, 6))
             .otherwise(text), "_whole": whole_month}
    text = pl.col("_mt")
    patterns = tuple(p.pattern for p in V._MONTH_PATTERNS)

    def month(pattern: str) -> pl.Expr:
        year = text.str.extract(pattern, 1).cast(pl.Int64)
        number = text.str.extract(pattern, 2).cast(pl.Int64)
        ok = (year >= 1900) & (year <= 2100) & (number >= 1) & (number <= 12)
        return pl.when(ok).then(pl.format("{}{}", year.cast(pl.Utf8).str.zfill(4),
                                          number.cast(pl.Utf8).str.zfill(2)))

    second = {"_from_text": pl.when(text.str.contains(V.AMBIGUOUS_MONTH)).then(None)
              .when(text.str.contains(patterns[0])).then(month(patterns[0]))
              .when(text.str.contains(patterns[1])).then(month(patterns[1]))
              .otherwise(_yyyymm(_date_of_text(text, serials=False))),
              "_date": pl.when(c.number & ~pl.col("_whole") & (c.n >= 19000101)
                               & (c.n <= 21001231)).then(_yyyymm(_date_of(c)))}
    year = c.d.dt.year()
    third = {"_month": pl.when(c.k == DATE).then(pl.when((year >= 1900) & (year <= 2100))
                                                 .then(_yyyymm(c.d)))
             .when(c.number & ~pl.col("_whole")).then(pl.col("_date"))
             .otherwise(pl.col("_from_text"))}
    return [first, second, third]


_DECIMAL = r"^[+-]?(\d(_?\d)*(\.(\d(_?\d)*)?)?|\.\d(_?\d)*)([eE][+-]?\d(_?\d)*)?$"


def _whole_text(plain: pl.Expr) -> pl.Expr:
    """Whether a decimal's text is a whole number, judged on its digits as Decimal does (a
    float would take 5000.0000000000000001 for 5000): its digits D and exponent e say D×10^(e-f),
    f the digits after the point; whole when D's trailing zeros cover f - e, or D is zero."""
    grammar = r"^[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$"
    fraction = plain.str.extract(grammar, 2).fill_null("")
    exponent = plain.str.extract(grammar, 3).cast(pl.Int64, strict=False).fill_null(0)
    d = (plain.str.extract(grammar, 1).fill_null("") + fraction).str.strip_chars_start("0")
    zeros = d.str.len_chars() - d.str.strip_chars_end("0").str.len_chars()
    return (d == "") | (fraction.str.len_chars().cast(pl.Int64) - exponent
                        <= zeros.cast(pl.Int64))


def _integer_of(c: Cell) -> pl.Expr:
    """values.parse_integer of any cell (whole numbers; null for decimals and words)."""
    text = (c.t.str.replace_all(",", "", literal=True)
            .str.replace_all("，", "", literal=True)  # input grammar
            .str.replace(r"元$", "").str.strip_chars().str.replace(V.CURRENCY, ""))  # input grammar
    plain = text.str.replace_all("_", "", literal=True)
    number = pl.when(text.str.contains(_DECIMAL)).then(plain.cast(pl.Float64, strict=False))
    whole = number.is_finite() & _whole_text(plain)
    digits = plain.str.extract(r"^([+-]?\d+)(\.0*)?$", 1)
    exact = pl.coalesce(digits.cast(pl.Int64, strict=False),          # exact below 2**63
                        pl.when(whole).then(number.cast(pl.Int64, strict=False)))
    return (pl.when(c.k == INT).then(c.i)
            .when(c.k == FLOAT).then(pl.when(c.n.floor() == c.n)
                                     .then(c.n.cast(pl.Int64, strict=False)))
            .when(c.k == BOOL).then(None)
            .otherwise(exact))


# ---- the rules: one function per column type ------------------------------------------------
def _lookup_key(text: pl.Expr) -> pl.Expr:
    """normalise_label as an expression (of a cell's text: invisible characters are gone)."""
    return (text.str.normalize("NFKC").str.replace_all(r"[\s*＊\u3000]+", "")  # input grammar
            .str.strip_chars().str.to_lowercase())


def _lookup(table: CodeTable, text: pl.Expr) -> pl.Expr:
    """CodeTable.lookup as an expression: the key in the table's index, else a code followed by
    its label ("21-本科", "[21]本科")."""
    index, labels = _indexes(table)
    key = _lookup_key(text)
    head, tail = key.str.extract(CODE_WITH_LABEL, 1), key.str.extract(CODE_WITH_LABEL, 2)
    head = pl.when(head == key.str.extract(CODE_RUN, 1)).then(head)     # "99" is no 9 labelled 9
    code = head.replace_strict(*index, default=None, return_dtype=pl.Utf8)
    agrees = code.is_not_null() & \
        (tail.replace_strict(*index, default=None, return_dtype=pl.Utf8) == code)
    label = code.replace_strict(*labels, default=None, return_dtype=pl.Utf8)
    starts = code.is_not_null() & (code == head) & label.is_not_null() & label.str.starts_with(tail)
    direct = key.replace_strict(*index, default=None, return_dtype=pl.Utf8)
    composite = agrees.fill_null(False) | starts.fill_null(False)
    return pl.coalesce(direct, pl.when(composite).then(code))


_INDEXES: dict[int, tuple[CodeTable, Any, Any]] = {}


def _indexes(table: CodeTable) -> tuple[Any, Any]:
    """The table's index (normalised key -> code) and its codes' normalised labels, as
    (old, new) Series for replace_strict: made once per table."""
    from exchange.kinds.spec import normalise_label

    made = _INDEXES.get(id(table))
    if made is None or made[0] is not table:
        labels = {e.code: normalise_label(e.label) for e in table.entries if e.label}
        made = _INDEXES[id(table)] = (table, _pairs(table._index), _pairs(labels))
    return made[1], made[2]


def _pairs(mapping: dict[str, str]) -> tuple[pl.Series, pl.Series]:
    return pl.Series(list(mapping), dtype=pl.Utf8), pl.Series(list(mapping.values()), dtype=pl.Utf8)


def _id(c: Cell) -> Judged:
    usual = (c.k == TEXT) & (c.s.str.len_chars() == 18) & c.s.str.contains(r"^[0-9A-Za-z]{18}$")
    numeric = c.number | (~usual & c.t.str.contains(r"(?i)^\d(\.\d+)?e\+?\d+$"))
    plain = c.t.str.contains(r"^[0-9A-Za-z]+$")
    first = {"_id": pl.when(usual).then(c.s.str.to_uppercase())
             .when(plain).then(c.t.str.to_uppercase())
             .otherwise(c.t.str.normalize("NFKC").str.replace_all(r"\s+", "").str.to_uppercase()),
             "_numeric": numeric}
    number = pl.col("_id")
    form = number.str.contains(r"^[0-9]{17}[0-9X]$")
    # Read only where the form holds (17 digits, then a digit or X). YYYYMMDD as a date:
    # null where no such day.
    born = number.str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    born_bad = born.is_null() | (born > pl.lit(c.today)) | (born.dt.year() < 1890)
    # MOD 11-2 in five operations, not fifty: the weights are 2^17 … 2^1 mod 11, and 13 is 2
    # mod 11, so the 17 digits read as a base-13 number (< 13^17 < 2^63) times 2 give the
    # weighted sum mod 11 (ids.check_char; tests/unit/test_columnar.py pins the two together).
    total = number.str.slice(0, 17).str.to_integer(base=13, strict=False) % 11 * 2
    check = pl.lit(ids.CHECK_CHARS).str.slice(total % 11, 1)
    zeros = number.str.ends_with(ids.ZEROED).fill_null(False)
    code = (pl.when(pl.col("_numeric")).then(pl.lit(C.ID_NUMERIC))
            .when(~form.fill_null(False)).then(pl.lit(C.ID_FORMAT))
            .when(born_bad.fill_null(True)).then(pl.lit(C.ID_BIRTHDATE))
            .when(check != number.str.slice(17, 1)).then(
                # Ending in 000 with a wrong check: Excel's 15 digits of a number, typed back as
                # text or saved as a CSV (220106201806020239 became 220106201806020000).
                pl.when(zeros).then(pl.lit(C.ID_NUMERIC)).otherwise(pl.lit(C.ID_CHECKSUM))))
    # Where the column is Excel's truncation (most of its IDs end in 000, one of them failing
    # its check: a CSV saved from a column formatted as a number), an ID ending in 000 whose
    # check happens to hold (one in eleven) lost its digits too: it is no other person's. A
    # real ID ends in 000 about once in 1,100: a column of them is no chance.
    truncated = ((pl.col("_code") == C.ID_NUMERIC) & zeros).any() & (zeros.sum() >= 2) \
        & (zeros.sum() * 2 > number.is_not_null().sum())
    zeroed = pl.when(pl.col("_code").is_null() & zeros & truncated) \
        .then(pl.lit(C.ID_NUMERIC)).otherwise(pl.col("_code"))
    return Judged(pl.when(pl.col("_zeroed").is_null()).then(number), pl.col("_zeroed"), c.t, {},
                  (first, {"_code": code}, {"_zeroed": zeroed}))


def _name(c: Cell) -> Judged:
    dots = "[" + "".join(names._DOTS) + "]"
    text = (c.t.str.strip_chars().str.strip_chars("\u3000").str.replace_all(dots, "·")
            .str.normalize("NFKC").str.replace_all("\u00b7", "·", literal=True).str.strip_chars())
    ok = text.str.contains(names._NAME.pattern) & (text.str.len_chars() <= 50)
    return _fails(ok, text, C.NAME_INVALID, text)


def _code(c: Cell) -> Judged:
    table = c.tables[c.col.table or ""]
    code = _lookup(table, c.t)
    return _fails(code.is_not_null(), code, C.CODE_UNKNOWN, c.t, examples=table.examples())


def _codes(c: Cell) -> Judged:
    table = c.tables[c.col.table or ""]
    parts = c.t.str.replace_all(_SPLIT_CODES, "\x00").str.split("\x00").list.eval(
        pl.element().filter(pl.element() != ""))
    found = parts.list.eval(_lookup(table, pl.element()))
    first_missing = found.list.eval(pl.element().is_null().arg_max()).list.first()
    unknown = parts.list.get(first_missing, null_on_oob=True)
    value = found.list.unique(maintain_order=True)
    ok = found.list.eval(pl.element().is_null().any()).list.first().not_()
    return _fails(ok.fill_null(True), value, C.CODE_UNKNOWN, unknown,
                  examples=table.examples())


def _month(c: Cell) -> Judged:
    month = pl.col("_month")
    return _fails(month.is_not_null(), month, C.MONTH_INVALID, c.t, steps=_month_steps(c))


def _date(c: Cell) -> Judged:
    d = pl.col("_date")
    ok = d.is_not_null() & (d.dt.year() >= 1890) & (d.dt.year() <= c.today.year + 1)
    return _fails(ok, d.dt.strftime("%Y-%m-%d"), C.DATE_INVALID, c.t,
                  steps=[{"_date": _date_of(c)}])


def _wage(c: Cell) -> Judged:
    wage = _integer_of(c)
    return _fails(wage > 0, wage, C.WAGE_NOT_INTEGER, c.t)


def _serial(c: Cell) -> Judged:
    serial = _integer_of(c)
    return _fails(serial > 0, serial, C.FORMAT_INVALID, c.t, expected="positive_integer")


def _phone(c: Cell) -> Judged:
    text = (c.t.str.replace_all(" ", "", literal=True).str.replace_all("—", "-", literal=True)
            .str.replace_all("－", "-", literal=True))  # input grammar
    text = pl.when(text.str.len_chars() > 11).then(text.str.replace(r"^(\+?86-?)", "")) \
        .otherwise(text).str.replace(V.AREA_CODE, "${1}-") \
        .str.replace(V.EXTENSION, "-${1}")
    usual = (c.k == TEXT) & c.s.str.contains(r"^1[3-9][0-9]{9}$")
    mobile = text.str.replace_all("-", "", literal=True)            # 138-0013-8000
    mobile = pl.when(mobile.str.contains(r"^1[3-9]\d{9}$")).then(mobile)
    ok = mobile.is_not_null() | text.str.contains(r"^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$")
    return _fails(usual | ok, pl.when(usual).then(c.s).otherwise(pl.coalesce(mobile, text)),
                  C.PHONE_INVALID, c.t)


def _postcode(c: Cell) -> Judged:
    return _fails(c.t.str.contains(r"^\d{6}$"), c.t, C.FORMAT_INVALID, c.t, expected="postcode")


def _year(c: Cell) -> Judged:
    text = c.t.str.replace(r"年$", "").str.replace(r"\.0$", "")  # input grammar
    ok = text.str.contains(r"^(19|2\d)\d\d$")
    return _fails(ok, text.cast(pl.Int64, strict=False), C.FORMAT_INVALID, c.t, expected="year")


def _class(c: Cell) -> Judged:
    """A class code as typed: text or a whole number (2024). What Excel made of one is no code:
    a date (2024-01 typed into a General cell; saved to CSV as Jan-24), a number it kept to 15
    digits (1E+20) or TRUE; such a class was added by the 班级信息表 and could never go."""
    from exchange.classes import CLASS_CODE

    excel_date = (c.k == DATE) | ((c.k == TEXT) & c.t.str.contains(r"^[A-Z][a-z]{2}-\d{2}$"))
    lost = (c.k == BOOL) | ((c.k == FLOAT) & ~((c.n.floor() == c.n) & (c.n.abs() < 1e15)))
    ok = c.t.str.contains(CLASS_CODE.pattern) & ~excel_date & ~lost.fill_null(True)
    return _fails(ok, c.t, C.FORMAT_INVALID, c.t, expected="class_code")


def _email(c: Cell) -> Judged:
    from email_validator import EmailNotValidError, validate_email

    def normalised(text: str) -> str | None:
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            return None

    found = c.t.map_elements(normalised, return_dtype=pl.Utf8)   # the library judges addresses
    return _fails(found.is_not_null(), found, C.FORMAT_INVALID, c.t, expected="email")


# Amounts and rates are exact decimals (issue 17): a number's text is taken apart into its sign,
# its digits (leading zeros dropped: Decimal's coefficient) and its exponent, and rounded on those
# digits as the decimal module rounds, so no float ever holds a clerk's money.
_NUMBER = r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$"
_PRECISION = 28                    # decimal's default context: products and quantize round here
_ETINY = -999999 - _PRECISION + 1  # and its smallest exponent
# What Decimal(text) holds at all (mpdecimal's MAX_EMAX and MIN_ETINY): past them it refuses.
_MAX_EMAX, _MIN_ETINY = 999999999999999999, -1999999999999999997


def _decimal_steps(text: pl.Expr) -> list[dict[str, pl.Expr]]:
    """Decimal(text) as columns: `_ok` (it reads as a finite number), `_neg`, `_dd` (its digits,
    no leading zeros, "" for zero) and `_dx` (its exponent: the value is ±_dd × 10**_dx).
    Decimal strips surrounding whitespace and ignores underscores wherever they stand."""
    first = {"_dt": text.str.strip_chars().str.replace_all("_", "", literal=True)}
    t = pl.col("_dt")
    whole = t.str.extract(_NUMBER, 2).fill_null("")
    frac = t.str.extract(_NUMBER, 3).fill_null("")
    power = t.str.extract(_NUMBER, 4)
    exponent = pl.when(power.is_null()).then(pl.lit(0, pl.Int64)) \
        .otherwise(power.cast(pl.Int64, strict=False))
    digits = pl.concat_str(whole, frac).str.strip_chars_start("0")
    power = exponent - frac.str.len_chars().cast(pl.Int64)
    width = pl.max_horizontal(digits.str.len_chars().cast(pl.Int64), pl.lit(1, pl.Int64))
    second = {"_ok": t.str.contains(_NUMBER) & (whole.str.len_chars() + frac.str.len_chars() > 0)
              & (power >= _MIN_ETINY) & (power <= _MAX_EMAX - (width - 1)),
              "_neg": t.str.extract(_NUMBER, 1) == "-", "_dd": digits, "_dx": power}
    return [first, second]


def _zeros(n: pl.Expr) -> pl.Expr:
    return pl.lit("0" * (_PRECISION + 2)).str.slice(0, n)


def _amount(c: Cell) -> Judged:
    """Decimal(text) quantized to cents, half up; null where negative or not a number.

    The row engine's quantize raises past 28 digits (10**26 yuan): such an amount is
    format.invalid here (README, deviations)."""
    text = (c.t.str.replace_all(",", "", literal=True).str.replace("元$", "")  # input grammar
            .str.replace(V.CURRENCY, ""))
    digits, shift = pl.col("_dd"), pl.col("_dx") + 2            # cents = _dd × 10**shift
    width = digits.str.len_chars().cast(pl.Int64)
    places = width + shift                                     # digits before the cents' point
    kept = pl.max_horizontal(places, pl.lit(0, pl.Int64))
    rounded = (digits.str.slice(0, kept).cast(pl.Int128, strict=False).fill_null(0)
               + ((places >= 0) & (digits.str.slice(kept, 1) >= "5")).cast(pl.Int128))
    cents = (pl.when(digits == "").then(pl.lit(0, pl.Int128))
             .when(places > _PRECISION).then(None)
             .when(shift >= 0).then(pl.concat_str(digits, _zeros(shift)).cast(pl.Int128))
             .otherwise(rounded))
    third = {"_cents": pl.when(pl.col("_ok") & ~(pl.col("_neg") & (digits != ""))).then(cents)}
    cents = pl.col("_cents")
    ok = cents.is_not_null() & (cents < pl.lit(10 ** _PRECISION, pl.Int128))
    shown = cents.cast(pl.Utf8).str.pad_start(3, "0")
    value = pl.concat_str(shown.str.slice(0, shown.str.len_chars() - 2), pl.lit("."),
                          shown.str.slice(-2)).cast(pl.Decimal(38, 2))
    return _fails(ok, value, C.FORMAT_INVALID, c.t, steps=[*_decimal_steps(text), third],
                  expected="amount")


def _rate(c: Cell) -> Judged:
    """A contribution rate: 0.08, 8% or 8‰; below 1, at most six decimals. Decimal(text) times
    the suffix's scale is rounded to 28 digits (half even) before it is judged, as the row
    engine's product is. A product past decimal's largest exponent raises there (Overflow):
    format.invalid here (README, deviations)."""
    text = c.t.str.replace_all(" ", "", literal=True)
    percent = text.str.ends_with("%") | text.str.ends_with("％")
    permille = text.str.ends_with("‰")
    scale = pl.when(percent).then(pl.lit(2, pl.Int64)).when(permille).then(pl.lit(3, pl.Int64)) \
        .otherwise(pl.lit(0, pl.Int64))
    number = pl.when(percent | permille).then(text.str.slice(0, text.str.len_chars() - 1)) \
        .otherwise(text)
    digits = pl.col("_dd")
    width = digits.str.len_chars().cast(pl.Int64)
    head, after = digits.str.slice(0, _PRECISION), digits.str.slice(_PRECISION, 1)
    up = (after > "5") | ((after == "5") & (
        digits.str.slice(_PRECISION + 1).str.contains("[1-9]")
        | (head.str.slice(-1).cast(pl.Int64, strict=False) % 2 == 1)))
    coefficient = pl.when(width > _PRECISION).then(
        (head.cast(pl.Int128) + up.cast(pl.Int128)).cast(pl.Utf8)).otherwise(digits)
    third = {"_scale": scale,
             "_co": coefficient.str.strip_chars_end("0"),
             "_ex": pl.col("_dx") - scale + pl.max_horizontal(width - _PRECISION, pl.lit(0))
             + (coefficient.str.len_chars() - coefficient.str.strip_chars_end("0").str.len_chars())
             .cast(pl.Int64)}
    co, ex = pl.col("_co"), pl.col("_ex")
    # A product below decimal's smallest subnormal (10**-1000026) is rounded to zero (half even).
    below = co.str.len_chars().cast(pl.Int64) + ex - _ETINY
    zero = (co == "") | (below < 0) | ((below == 0) & ((co.str.slice(0, 1) < "5") | (co == "5")))
    fits = (ex >= -6) & (co.str.len_chars().cast(pl.Int64) + ex <= 0) & ~pl.col("_neg")
    ok = pl.col("_ok") & (zero | fits)
    micro = pl.concat_str(co, _zeros(pl.max_horizontal(ex + 6, pl.lit(0)))).str.pad_start(6, "0")
    value = pl.when(zero).then(pl.lit("0")).otherwise(pl.concat_str(pl.lit("0."), micro)) \
        .cast(pl.Decimal(38, 6))
    return _fails(ok, value, C.FORMAT_INVALID, c.t, steps=[*_decimal_steps(number), third],
                  expected="rate")


def _text(c: Cell) -> Judged:
    """Free text (addresses, remarks) as written: only invisible characters, the surrounding
    spaces and a leading apostrophe go. Not folded (NFKC) as codes, IDs and numbers are read:
    监护人：插父 stayed 监护人:插父, ①号楼 became 1号楼 on the centre's review workbook."""
    limit = c.col.max_length or 200
    written = pl.when(c.k == TEXT).then(
        c.s.str.replace_all(INVISIBLE_CLASS, "").str.strip_chars().str.replace(TEXT_PREFIX, "")
    ).otherwise(c.t)
    return Judged(pl.when(written.str.len_chars() <= limit).then(written),
                  pl.when(written.str.len_chars() > limit).then(pl.lit(C.TEXT_TOO_LONG)),
                  pl.lit(None, pl.Utf8), {"limit": limit})


RULES: dict[str, Callable[[Cell], Judged]] = {
    "id": _id, "name": _name, "code": _code, "codes": _codes, "month": _month, "date": _date,
    "wage": _wage, "serial": _serial, "phone": _phone, "postcode": _postcode, "text": _text,
    "class": _class, "id_type": _code, "email": _email, "year": _year, "amount": _amount,
    "rate": _rate,
}


# ---- the machinery: rules compiled once, a chunk's cells judged in one query ------------------
# What a polars query costs is its expression nodes more than its rows (tens of microseconds
# each to plan and run, more the deeper they sit), and a rule's tree repeats its parts (a code's
# lookup sits in its value and in its finding code, a text's parse in each branch). So each
# column's rule is compiled once per (columns, code tables, today) (`_compiled`): its repeated
# subexpressions become columns of their own, computed once and first (`_shared`), and its
# columns are named apart (`3:s`, `3:_date`), so every column of a chunk is judged by one query
# (`_judge`). Cells already judged for the same plan are not judged again (`MEMO_TYPES`).

# Column types whose cells repeat down a sheet and across files (codes, months, dates, wages):
# their judged cells are remembered per plan, up to MEMO_LIMIT distinct cells per column.
MEMO_TYPES = frozenset({"code", "codes", "month", "date", "wage", "id_type", "amount", "postcode",
                        "rate", "year", "class"})
MEMO_LIMIT = 16384
SMALL_CHUNK = 1000               # rows: a chunk this small spreads known cells in Python
_PLANS_KEPT = 32                 # plans (kinds × days × rule sets) kept by one process
_COLUMN = re.compile(r'\{"Column":("(?:[^"\\]|\\.)*")\}')
Judgement = tuple[Any, str | None, Any]             # value, code, the finding's "value"


def _json(e: pl.Expr) -> str:
    return e.meta.serialize(format="json")


def _expr(text: str) -> pl.Expr:
    return pl.Expr.deserialize(io.StringIO(text), format="json")


def _column_ref(name: str) -> str:
    return '{"Column":' + json.dumps(name, ensure_ascii=False) + "}"


def _shareable(e: pl.Expr) -> bool:
    """A subtree that reads a column and keeps the frame's length. polars 2.1 panics when asked
    about some (a struct's field, `str.extract_groups(...).struct[0]`): those are not shared."""
    try:
        return bool(e.meta.pop() and e.meta.root_names() and e.meta.is_length_preserving())
    except pl.exceptions.PanicException:
        return False


def _shared(stage: dict[str, pl.Expr], tag: str) -> list[dict[str, str]]:
    """One stage of a rule (columns computed together) as stages of expressions in polars' JSON:
    first the subexpressions the stage repeats, each once as a column of its own (`{tag}N`,
    innermost first), then the stage itself reading them. Greedy, largest first: a subtree
    that still occurs twice once the larger ones are columns becomes one. Only subtrees that
    read a column, keep the frame's length and sit outside list.eval (no `pl.element()`)."""
    texts = {name: _json(e) for name, e in stage.items()}
    subtrees: dict[str, pl.Expr] = {}
    for e in stage.values():
        _walk(e, subtrees)
    candidates = sorted((t for t, e in subtrees.items()
                         if '"Element"' not in t and not t.startswith('{"Alias"') and
                         _shareable(e)),
                        key=len, reverse=True)
    made: dict[str, str] = {}
    for text in candidates:
        if sum(t.count(text) for t in texts.values()) + \
                sum(t.count(text) for t in made.values()) < 2:
            continue
        name = f"{tag}{len(made)}"
        ref = _column_ref(name)
        texts = {k: t.replace(text, ref) for k, t in texts.items()}
        made = {k: t.replace(text, ref) for k, t in made.items()}
        made[name] = text
    level: dict[str, int] = {}
    for name in made:
        _depth(name, made, level)
    stages: list[dict[str, str]] = [{} for _ in range(max(level.values(), default=0))]
    for name in made:
        stages[level[name] - 1][name] = made[name]
    return [*stages, texts]


# _shared's helpers are module functions, not closures: a closure calling itself is a reference
# cycle, and the serialised subtrees it held (~12 MB for employee_add) stayed until the
# collector, run seldom (exchange.cli's thresholds), came by.
def _walk(e: pl.Expr, subtrees: dict[str, pl.Expr]) -> None:
    """Every subexpression below `e` by its JSON, depth first, each first seen kept once."""
    for child in e.meta.pop():
        text = _json(child)
        if text not in subtrees:
            subtrees[text] = child
            _walk(child, subtrees)


def _depth(name: str, made: dict[str, str], level: dict[str, int]) -> int:
    """1 + the deepest of the shared columns `made[name]` reads (those not shared: 0)."""
    if name not in level:
        level[name] = 1 + max((_depth(json.loads(m), made, level)
                               for m in _COLUMN.findall(made[name]) if json.loads(m) in made),
                              default=0)
    return level[name]


@dataclass
class _Compiled:
    """One column's rule ready to run: stages of columns (`with_columns`, in order) and its
    outputs `v` (value), `c` (code), `p` (the finding's "value"), named `{prefix}v` …; `prefix`
    is None for a rule polars cannot serialise (a Python function: email), judged alone under
    plain names. `memo`: its judged cells (column_of's keys): every cell for MEMO_TYPES
    (`keeps`), else only a blank one (a column the header lacks is all blank in every file)."""
    stages: list[list[pl.Expr]]
    outputs: list[pl.Expr]
    prefix: str | None
    params: dict[str, Any]
    schema: dict[str, pl.DataType]
    memo: dict[Any, Judgement]
    keeps: bool


def _rule_stages(col: ColumnSpec, tables: dict[str, CodeTable], today: date
                 ) -> tuple[list[dict[str, pl.Expr]], dict[str, Any]]:
    """A column's rule as stages of named expressions over its typed cells (`_typed`): the
    column's default and blanks, the clerk's text `t`, the rule's steps, then `v`, `c`, `p`."""
    s, k = pl.col("s"), pl.col("k")
    blank = (k == BLANK) | ((k == TEXT) & (s.str.strip_chars(V.BLANK_CHARS) == ""))
    first = {"blank": blank}
    if col.default is not None:
        first["s"] = pl.when(blank).then(pl.lit(col.default)).otherwise(s)
        first["k"] = pl.when(blank).then(pl.lit(TEXT, pl.UInt8)).otherwise(k)
    second = {"t": pl.when(pl.col("k") == TEXT).then(text_of(pl.col("s"))).otherwise(pl.col("o"))}
    c = Cell(*(pl.col(x) for x in "sknidt"), col, tables, today)
    judged = RULES[col.type](c)
    refused, blank = pl.col("r").is_not_null(), pl.col("blank")
    error = pl.col("k") == ERROR              # shown as the clerk sees it (`t`), never read
    unsaved = pl.col("k") == UNSAVED          # nothing to show: the file holds no value
    refusal = (pl.when(refused).then(pl.lit(C.TEXT_CONTROL))
               .when(error).then(pl.lit(C.FORMULA_ERROR))
               .when(unsaved).then(pl.lit(C.FORMULA_UNSAVED)))
    if col.default is None:
        code = (refusal.when(blank).then(pl.lit(C.REQUIRED) if col.required else pl.lit(None, pl.Utf8))
                .otherwise(judged.code))
        value = pl.when(blank | error | unsaved).then(None).otherwise(judged.value)
    else:
        code = refusal.otherwise(judged.code)
        value = pl.when(error | unsaved).then(None).otherwise(judged.value)
    last = {"v": value, "c": code,
            "p": pl.when(refused).then(pl.col("r")).when(error).then(pl.col("t"))
            .otherwise(judged.shown)}
    return [first, second, *judged.steps, last], judged.params


def _compile(j: int, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> _Compiled:
    stages, params = _rule_stages(col, tables, today)
    prefix: str | None = f"{j}:"
    try:
        shared = [_shared(stage, f"_{n}.") for n, stage in enumerate(stages)]
    except pl.exceptions.ComputeError:                 # a Python function: not serialisable
        prefix = None
    if prefix is None:
        run = [[e.alias(name) for name, e in stage.items()] for stage in stages]
    else:
        def named(text: str) -> str:
            return _COLUMN.sub(lambda m: _column_ref(prefix + json.loads(m.group(1))), text)

        run = [[_expr(named(text)).alias(prefix + name) for name, text in part.items()]
               for parts in shared for part in parts if part]
    outputs = run.pop()
    empty = pl.DataFrame(schema={(prefix or "") + x: t for x, t in _SCHEMA.items()}).lazy()
    for part in run:
        empty = empty.with_columns(part)
    schema = dict(empty.select(outputs).collect_schema())
    return _Compiled(run, outputs, prefix, params, schema, {}, col.type in MEMO_TYPES)


_PLANS: dict[tuple[Any, ...], tuple[dict[str, CodeTable], list[_Compiled]]] = {}
_PLANS_LOCK = threading.Lock()


def _compiled(columns: tuple[ColumnSpec, ...], tables: dict[str, CodeTable], today: date
              ) -> list[_Compiled]:
    """The columns' rules compiled, once per (columns, code tables, today) in this process."""
    key = (columns, id(tables), today)
    made = _PLANS.get(key)
    if made is None or made[0] is not tables:
        with _PLANS_LOCK:                 # intake threads: one compiles, the others wait
            made = _PLANS.get(key)
            if made is None or made[0] is not tables:
                if len(_PLANS) >= _PLANS_KEPT:
                    del _PLANS[next(iter(_PLANS))]
                made = _PLANS[key] = (tables, [_compile(j, col, tables, today)
                                               for j, col in enumerate(columns)])
    return made[1]


_FLAGS = pl.QueryOptFlags.none()     # a chunk's query is planned as written (see _shared)


def _typed_frame(prefix: str, typed: dict[str, list[Any]], height: int) -> dict[str, pl.Series]:
    pad = height - len(typed["s"])
    return {prefix + x: pl.Series(prefix + x, typed[x] if not pad else [*typed[x], *[None] * pad],
                                  dtype=dtype) for x, dtype in _SCHEMA.items()}


def _alone(plan: _Compiled, typed: dict[str, list[Any]]) -> list[Judgement]:
    """The cells of a rule polars cannot serialise, judged by a query of its own."""
    query = pl.DataFrame(_typed_frame("", typed, len(typed["s"]))).lazy()
    for stage in plan.stages:
        query = query.with_columns(stage)
    judged = query.select(plan.outputs).collect(optimizations=_FLAGS, engine="in-memory")
    return list(judged.iter_rows())


def _blank_places(keys: list[Any]) -> list[int]:
    """Where the blank keys stand among a column's distinct keys (at most two), in order."""
    return sorted(keys.index(blank) for blank in _BLANK_KEYS if blank in keys)


def _blanks(memo: dict[Any, Judgement], keys: list[Any]) -> list[Judgement | None] | None:
    """The memo's judgements of a column's blank cells, by their place among `keys` (None at
    the others); None when it has none of them."""
    found = None
    for at in _blank_places(keys):
        judged = memo.get(keys[at])
        if judged is not None:
            found = found or [None] * len(keys)
            found[at] = judged
    return found


class _Column:
    """One column of a chunk on its way through the query: its distinct cells, those to judge
    (`new`, first) and those judged before (`known`, from the memo), and per row the index of
    its cell in that order."""

    def __init__(self, j: int, plan: _Compiled, cells: list[Any]) -> None:
        keys, index = column_of(cells)
        self.plan, self.prefix = plan, plan.prefix or f"{j}:"
        memo = plan.memo
        # One look at the memo (other threads add to it; nothing is ever taken out): at every
        # cell for a type that repeats, else at the blank ones only.
        found = ([memo.get(k) for k in keys] if memo else None) if plan.keeps else \
            _blanks(memo, keys)
        if found is None:
            self.new, self.known, self.index = keys, [], index
        else:
            self.new = [k for k, j in zip(keys, found) if j is None]
            self.known = [j for j in found if j is not None]
            if self.new and self.known:          # new cells first, then the known ones
                order = self.new + [k for k, j in zip(keys, found) if j is not None]
                at = dict(zip(order, range(len(order))))
                remap = [at[k] for k in keys]
                index = [remap[i] for i in index]
            self.index = index
        if self.new and plan.prefix is None:
            self.known, self.new = _alone(plan, _typed(self.new)) + self.known, []
        # The new cells to remember (their places among `new`): all of a type that repeats,
        # else a blank one.
        self.kept = list(range(len(self.new))) if plan.keeps else _blank_places(self.new)

    def name(self, x: str) -> str:
        return self.prefix + x

    def dtype(self, x: str) -> pl.DataType:
        """The dtype of the rule's output `v`, `c` or `p`."""
        return self.plan.schema[(self.plan.prefix or "") + x]

    def data(self, height: int) -> dict[str, pl.Series]:
        """The query's input columns for this column: typed new cells, known judgements."""
        out = _typed_frame(self.prefix, _typed(self.new), height) if self.new else {}
        if self.known:
            before, after = [None] * len(self.new), [None] * (height - len(self.new) -
                                                               len(self.known))
            for x, values in zip("vcp", zip(*self.known)):
                name = self.name("g" + x)
                out[name] = pl.Series(name, [*before, *values, *after],
                                      dtype=self.dtype(x))
        out[self.name("x")] = pl.Series(self.name("x"), self.index, dtype=pl.UInt32)
        return out

    def spread(self, height: int) -> bool:
        """Whether this column's rows take their judgements from the memo here, in Python: a
        small chunk's column whose every cell was judged before (in the query, the known
        judgements and their gather would cost more than the lookups)."""
        return not self.new and height <= SMALL_CHUNK

    def rows(self, field_name: str) -> dict[str, pl.Series]:
        """The output columns of a column `spread` here: its row values, whether each failed,
        its finding codes and "value" parameters."""
        judged = [self.known[i] for i in self.index]
        values, codes, shown = ([x[n] for x in judged] for n in range(3))
        failed = [c is not None and c != C.REQUIRED for c in codes]
        return {field_name: pl.Series(field_name, values,
                                      dtype=self.dtype("v")),
                f"{field_name}?": pl.Series(f"{field_name}?", failed, dtype=pl.Boolean),
                self.name("rc"): pl.Series(self.name("rc"), codes, dtype=pl.Utf8),
                self.name("rp"): pl.Series(self.name("rp"), shown, dtype=self.dtype("p"))}

    def judged(self, x: str, height: int) -> pl.Expr:
        """The distinct cells' `v`, `c` or `p`: judged now, known, or both (new ones first)."""
        now, given = pl.col(self.name(x)), pl.col(self.name("g" + x))
        if not self.known:
            return now
        if not self.new:
            return given
        return pl.when(pl.int_range(height) < len(self.new)).then(now).otherwise(given)

    def remember(self, out: pl.DataFrame) -> None:
        memo = self.plan.memo
        if not self.kept or len(memo) >= MEMO_LIMIT:
            return
        kept = self.kept[:MEMO_LIMIT - len(memo)]
        judged = out.select(self.name(x) for x in "vcp").head(kept[-1] + 1).rows()
        memo.update((self.new[i], judged[i]) for i in kept)


def _where(column: pl.Series) -> list[int]:
    """The indexes of a column's true or (not boolean) non-null values. A small chunk's column
    is looked at in Python: polars' eager operations cost tens of microseconds each, whatever
    the rows, and a small file's chunk would make dozens."""
    if len(column) > SMALL_CHUNK:
        return column.arg_true().to_list()
    if column.dtype == pl.Boolean:
        return [i for i, v in enumerate(column.to_list()) if v]
    return [i for i, v in enumerate(column.to_list()) if v is not None]


def _picked(column: pl.Series, at: list[int]) -> list[Any]:
    """The column's values at these indexes (a small chunk's in Python, as `_where`)."""
    if len(column) > SMALL_CHUNK:
        return column.gather(at).to_list()
    values = column.to_list()
    return [values[i] for i in at]


class CellJudgement:
    """A chunk's cells judged: parsed values by field (null where absent or failing) and the
    findings of the failing cells, row by row in column order.

    One query per chunk: each column's distinct cells not judged before are judged by its
    compiled rule (`_compiled`), those judged before come from the memo, and every column's
    judgements are spread over the rows (`gather`) in the same query."""

    def __init__(self, rows: list[tuple[int, tuple[Any, ...]]], columns: tuple[ColumnSpec, ...],
                 tables: dict[str, CodeTable], today: date) -> None:
        self.columns = columns
        self.rows = [n for n, _ in rows]
        width, height = len(columns), len(rows)
        given = [c for _, c in rows]
        if set(map(len, given)) != {width}:
            given = [c[:width] if len(c) >= width else c + (None,) * (width - len(c))
                     for c in given]
        cells_by_column = list(zip(*given)) if rows else [()] * width
        parts = [_Column(j, plan, list(cells)) for j, (plan, cells) in
                 enumerate(zip(_compiled(columns, tables, today), cells_by_column))]
        self.params = [part.plan.params for part in parts]
        data = {"row": pl.Series("row", self.rows, dtype=pl.Int64)}
        spread: list[pl.Series] = []        # columns judged here: joined to the query's output
        for part, col in zip(parts, columns):
            if part.spread(height):
                spread += part.rows(col.field).values()
            else:
                data.update(part.data(height))
        query = pl.DataFrame(data).lazy()
        judging = [part for part in parts if part.new]
        for level in range(max((len(p.plan.stages) for p in judging), default=0)):
            query = query.with_columns(e for p in judging if level < len(p.plan.stages)
                                       for e in p.plan.stages[level])
        if judging:
            query = query.with_columns(e for p in judging for e in p.plan.outputs)
        outputs: list[pl.Expr] = [pl.col("row")]
        for part, col in zip(parts, columns):
            if part.spread(height):
                continue
            index = pl.col(part.name("x"))
            code = part.judged("c", height).gather(index)
            outputs += [part.judged("v", height).gather(index).alias(col.field),
                        (code.is_not_null() & (code != C.REQUIRED)).alias(f"{col.field}?"),
                        code.alias(part.name("rc")),
                        part.judged("p", height).gather(index).alias(part.name("rp"))]
            if part.kept:
                outputs += [pl.col(part.name(x)) for x in "vcp"]
        out = query.select(outputs).collect(optimizations=_FLAGS, engine="in-memory")
        if spread:
            out = out.hstack(spread)
        for part in parts:
            part.remember(out)
        self._out = out
        self._names = [part.prefix for part in parts]

    def values(self, j: int) -> pl.Series:
        """The parsed values of column j, row by row (null where blank or failing)."""
        return self._out[self.columns[j].field]

    def failing(self, j: int) -> pl.Series:
        """Whether each row's cell of column j has a finding (`required` included)."""
        return self._out[self._names[j] + "rc"].is_not_null()

    def findings(self) -> list[list[Finding]]:
        out: list[list[Finding]] = [[] for _ in self.rows]
        for col, prefix, params in zip(self.columns, self._names, self.params):
            codes = self._out[prefix + "rc"]
            if codes.null_count() == len(codes):
                continue
            made: dict[tuple[str, Any], dict[str, Any]] = {}
            at = _where(codes.is_not_null() if len(codes) > SMALL_CHUNK else codes)
            shown_at = _picked(self._out[prefix + "rp"], at)
            for i, code, shown in zip(at, _picked(codes, at), shown_at):   # the failing cells
                found = made.get((code, shown))
                if found is None:
                    found = made[code, shown] = self._params(params, code, shown)
                out[i].append(Finding(self.rows[i], code, col.header, col.field, dict(found)))
        return out

    @staticmethod
    def _params(params: dict[str, Any], code: str, shown: Any) -> dict[str, Any]:
        if code == C.REQUIRED:
            return {}
        if code == C.TEXT_CONTROL:
            return {"char": shown}
        if code == C.FORMULA_ERROR:
            return {"value": shown}
        if code == C.FORMULA_UNSAVED:
            return {}
        if code == C.TEXT_TOO_LONG:
            return dict(params)
        return {"value": shown, **params}

    def frame(self) -> pl.DataFrame:
        """The parsed values, a column per field (null where blank or failing), `row`, and per
        field `{field}?`: whether the cell failed (given but unreadable; `required` is not)."""
        return self._out[["row", *(n for c in self.columns for n in (c.field, f"{c.field}?"))]]

    def as_rows(self) -> list[tuple[dict[str, Any], list[Finding]]]:
        """Each row's values and findings: what exchange.checks.cells.parse_rows returned for
        the same chunk."""
        return list(zip(self.row_values(), self.findings()))

    @property
    def fields(self) -> list[str]:
        return [col.field for col in self.columns]

    def column(self, field_name: str) -> list[Any]:
        """The parsed values of a field, row by row (None where blank or failing; a list made a
        tuple): what each row's values dict holds, or None where it holds nothing."""
        column = self._out[field_name].to_list()
        if self._out[field_name].dtype.is_nested():
            column = [tuple(v) if isinstance(v, list) else v for v in column]
        for i in self._failed(field_name):      # a default may stand where a cell failed
            column[i] = None
        return column

    def _failed(self, field_name: str) -> list[int]:
        return _where(self._out[f"{field_name}?"])

    def row_values(self) -> list[dict[str, Any]]:
        """Each row's values by field (a failing cell's field left out)."""
        fields = self.fields
        values = [dict(zip(fields, row)) for row in zip(*map(self.column, fields))] if fields \
            else [{} for _ in self.rows]
        for name in fields:                           # a failing cell's field is left out
            for i in self._failed(name):
                del values[i][name]
        return values


    def split(self, sizes: list[int]) -> list[CellJudgement]:
        """This judgement as that of consecutive chunks of these sizes (`judge_chunks`)."""
        out, at = [], 0
        for size in sizes:
            part = object.__new__(CellJudgement)
            part.columns, part.params, part._names = self.columns, self.params, self._names
            part.rows, part._out = self.rows[at:at + size], self._out.slice(at, size)
            out.append(part)
            at += size
        return out


@contained
def judge_cells(rows: list[tuple[int, tuple[Any, ...]]], columns: tuple[ColumnSpec, ...],
                tables: dict[str, CodeTable], today: date) -> CellJudgement:
    return CellJudgement(rows, columns, tables, today)


@contained
def judge_chunks(chunks: list[list[tuple[int, tuple[Any, ...]]]], columns: tuple[ColumnSpec, ...],
                 tables: dict[str, CodeTable], today: date) -> list[CellJudgement]:
    """Several chunks of one kind (small files waiting together) judged by one query: what a
    query costs is mostly its expressions, whatever its rows. Each chunk's judgement is what
    judge_cells gives for it alone."""
    together = CellJudgement([row for chunk in chunks for row in chunk], columns, tables, today)
    return together.split([len(chunk) for chunk in chunks])
