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

import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

import polars as pl

from exchange import codes as C
from exchange.checks import ids, names, values as V
from exchange.checks.finding import Finding
from exchange.kinds.spec import CodeTable, ColumnSpec
from exchange.text import code_point, screen, suspect

# Kinds of cell (the `k` column).
BLANK, TEXT, INT, FLOAT, BOOL, DATE = 0, 1, 2, 3, 4, 5
_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff]"
_SPLIT_CODES = r"[,，、;；/\s]+"  # input grammar


def _kind_of(raw: Any) -> int:
    cls = raw.__class__
    if raw is None:
        return BLANK
    if cls is str:
        return TEXT
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


def _number_key(c: Any) -> Any:
    return (c.__class__, c)       # 1, 1.0 and True are equal keys in a dict: keep them apart


def column_of(cells: list[Any]) -> tuple[pl.DataFrame, pl.Series]:
    """The boundary for one column: its distinct cells as typed columns (`s` text, `k` kind,
    `n` number, `i` integer, `d` date, `o` the clerk's view of a cell that is not text, `r` the
    character that refuses a text cell) and, per row, the index of its cell among them.

    A column's cells repeat (codes, months, dates, wages): rules judge each distinct cell once.
    """
    keys, index = _distinct(cells)
    return _cells_frame(keys), pl.Series("index", index, dtype=pl.UInt32)


def _distinct(cells: list[Any]) -> tuple[list[Any], list[int]]:
    """A column's distinct cells (as keys: the text, None, or (class, value) for the others)
    and, per row, the index of its cell among them."""
    distinct: dict[Any, int] = {}
    index = [distinct.setdefault(c if c.__class__ is str or c is None else _number_key(c),
                                 len(distinct)) for c in cells]
    return list(distinct), index


def _cells_frame(keys: list[Any]) -> pl.DataFrame:
    """Distinct cells (`_distinct`'s keys) as the typed columns the rules read."""
    kinds, texts, refused = [], [], []
    numbers, integers, dates, others = [], [], [], []
    for key in keys:
        c = key[1] if key.__class__ is tuple else key
        k = _kind_of(c)
        text = (c if c.__class__ is str else str(c)) if k == TEXT else None
        bad = None
        if text is not None and suspect(text):
            text, bad = screen(text)
            if bad is not None:
                text, k = None, BLANK
        kinds.append(k)
        texts.append(text)
        refused.append(code_point(bad) if bad is not None else None)
        numbers.append(float(c) if k in (INT, FLOAT) and abs(c) < 1e300 else None)
        integers.append(c if k == INT and -2**63 < c < 2**63 else None)
        dates.append((c.date() if isinstance(c, datetime) else c) if k == DATE else None)
        others.append(None if k in (BLANK, TEXT) else V.as_text(c))
    return pl.DataFrame({"s": texts, "k": kinds, "n": numbers, "i": integers, "d": dates,
                         "o": others, "r": refused}, schema=_SCHEMA)


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
    """values.as_text of text cells: NFKC, zero-width characters dropped, stripped."""
    return s.str.normalize("NFKC").str.replace_all(_INVISIBLE, "").str.strip_chars()


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


def _date_of_text(text: pl.Expr) -> pl.Expr:
    """values.parse_date of a text (spaces removed): an Excel serial, or the first pattern."""
    text = text.str.replace_all(" ", "", literal=True)
    serial = text.str.contains(r"^\d{5}(\.0)?$")
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
    its parts costs more to plan than the cells of a small file to judge): `_month`."""
    whole_month = c.number & (c.n.floor() == c.n) & (c.n >= 190001) & (c.n <= 210012)
    text = pl.when(whole_month).then(c.n.cast(pl.Int64).cast(pl.Utf8)).otherwise(c.t)
    text = text.str.replace_all(" ", "", literal=True)
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

    second = {"_from_text": pl.when(text.str.contains(patterns[0])).then(month(patterns[0]))
              .when(text.str.contains(patterns[1])).then(month(patterns[1]))
              .otherwise(_yyyymm(_date_of_text(text))),
              "_date": pl.when(c.number & ~pl.col("_whole")).then(_yyyymm(_date_of(c)))}
    third = {"_month": pl.when(c.k == DATE).then(_yyyymm(c.d))
             .when(c.number & ~pl.col("_whole")).then(pl.col("_date"))
             .otherwise(pl.col("_from_text"))}
    return [first, second, third]


_DECIMAL = r"^[+-]?(\d(_?\d)*(\.(\d(_?\d)*)?)?|\.\d(_?\d)*)([eE][+-]?\d(_?\d)*)?$"


def _integer_of(c: Cell) -> pl.Expr:
    """values.parse_integer of any cell (whole numbers; null for decimals and words)."""
    text = (c.t.str.replace_all(",", "", literal=True)
            .str.replace_all("，", "", literal=True)  # input grammar
            .str.replace(r"元$", "").str.strip_chars())  # input grammar
    number = (pl.when(text.str.contains(_DECIMAL))
              .then(text.str.replace_all("_", "", literal=True).cast(pl.Float64, strict=False)))
    whole = number.is_finite() & (number.floor() == number)
    digits = text.str.replace_all("_", "", literal=True).str.extract(r"^([+-]?\d+)(\.0*)?$", 1)
    exact = pl.coalesce(digits.cast(pl.Int64, strict=False),          # exact below 2**63
                        pl.when(whole).then(number.cast(pl.Int64, strict=False)))
    return (pl.when(c.k == INT).then(c.i)
            .when(c.k == FLOAT).then(pl.when(c.n.floor() == c.n)
                                     .then(c.n.cast(pl.Int64, strict=False)))
            .when(c.k == BOOL).then(None)
            .otherwise(exact))


# ---- the rules: one function per column type ------------------------------------------------
def _lookup_key(text: pl.Expr) -> pl.Expr:
    """normalise_label as an expression."""
    return (text.str.normalize("NFKC").str.replace_all(r"[\s*＊\u3000]+", "")  # input grammar
            .str.strip_chars().str.to_lowercase())


def _lookup(table: CodeTable, text: pl.Expr) -> pl.Expr:
    """CodeTable.lookup as an expression: the key in the table's index, else a code followed by
    its label ("21-本科", "[21]本科")."""
    index, labels = _indexes(table)
    key = _lookup_key(text)
    pattern = r"^[\[【(（]?([0-9a-z_]+)[\]】)）]?[\-—–_:：.、/|]*(.+)$"  # input grammar
    head, tail = key.str.extract(pattern, 1), key.str.extract(pattern, 2)
    code = _mapped(index, head)
    agrees = code.is_not_null() & (_mapped(index, tail) == code)
    label = _mapped(labels, code)
    starts = code.is_not_null() & (code == head) & label.is_not_null() & label.str.starts_with(tail)
    direct = _mapped(index, key)
    composite = agrees.fill_null(False) | starts.fill_null(False)
    return pl.coalesce(direct, pl.when(composite).then(code))


def _mapped(mapping: dict[str, str], text: pl.Expr) -> pl.Expr:
    """replace_strict(mapping, default=None) for a code table's few distinct cells: a dict's
    lookup per cell costs microseconds, replace_strict's hash table ~0.4 ms a column."""
    get = mapping.get

    def look(cells: pl.Series) -> pl.Series:
        return pl.Series(cells.name, [get(c) for c in cells.to_list()], dtype=pl.Utf8)

    return text.map_batches(look, return_dtype=pl.Utf8, is_elementwise=True)


_INDEXES: dict[int, tuple[CodeTable, dict[str, str], dict[str, str]]] = {}


def _indexes(table: CodeTable) -> tuple[dict[str, str], dict[str, str]]:
    """The table's index (normalised key -> code) and its codes' normalised labels: made once
    per table."""
    from exchange.kinds.spec import normalise_label

    made = _INDEXES.get(id(table))
    if made is None or made[0] is not table:
        labels = {e.code: normalise_label(e.label) for e in table.entries if e.label}
        made = _INDEXES[id(table)] = (table, dict(table._index), labels)
    return made[1], made[2]


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
    born = _iso(number.str.slice(6, 4).cast(pl.Int64, strict=False),
                number.str.slice(10, 2).cast(pl.Int64, strict=False),
                number.str.slice(12, 2).cast(pl.Int64, strict=False))
    born_bad = born.is_null() | (born > pl.lit(c.today)) | (born.dt.year() < 1890)
    total = pl.sum_horizontal([number.str.slice(p, 1).cast(pl.Int64, strict=False) * w
                               for p, w in enumerate(ids.WEIGHTS)])
    check = pl.lit(ids.CHECK_CHARS).str.slice(total % 11, 1)
    code = (pl.when(pl.col("_numeric")).then(pl.lit(C.ID_NUMERIC))
            .when(~form.fill_null(False)).then(pl.lit(C.ID_FORMAT))
            .when(born_bad.fill_null(True)).then(pl.lit(C.ID_BIRTHDATE))
            .when(check != number.str.slice(17, 1)).then(pl.lit(C.ID_CHECKSUM)))
    return Judged(pl.when(pl.col("_code").is_null()).then(number), pl.col("_code"), c.t, {},
                  (first, {"_code": code}))


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
        .otherwise(text)
    usual = (c.k == TEXT) & c.s.str.contains(r"^1[3-9][0-9]{9}$")
    ok = text.str.contains(r"^1[3-9]\d{9}$") | \
        text.str.contains(r"^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$")
    return _fails(usual | ok, pl.when(usual).then(c.s).otherwise(text), C.PHONE_INVALID, c.t)


def _postcode(c: Cell) -> Judged:
    return _fails(c.t.str.contains(r"^\d{6}$"), c.t, C.FORMAT_INVALID, c.t, expected="postcode")


def _year(c: Cell) -> Judged:
    text = c.t.str.replace(r"年$", "").str.replace(r"\.0$", "")  # input grammar
    ok = text.str.contains(r"^(19|2\d)\d\d$")
    return _fails(ok, text.cast(pl.Int64, strict=False), C.FORMAT_INVALID, c.t, expected="year")


def _class(c: Cell) -> Judged:
    from exchange.classes import CLASS_CODE

    return _fails(c.t.str.contains(CLASS_CODE.pattern), c.t, C.FORMAT_INVALID, c.t,
                  expected="class_code")


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
    text = c.t.str.replace_all(",", "", literal=True).str.replace("元$", "")  # input grammar
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
    limit = c.col.max_length or 200
    return Judged(pl.when(c.t.str.len_chars() <= limit).then(c.t),
                  pl.when(c.t.str.len_chars() > limit).then(pl.lit(C.TEXT_TOO_LONG)),
                  pl.lit(None, pl.Utf8), {"limit": limit})


RULES: dict[str, Callable[[Cell], Judged]] = {
    "id": _id, "name": _name, "code": _code, "codes": _codes, "month": _month, "date": _date,
    "wage": _wage, "serial": _serial, "phone": _phone, "postcode": _postcode, "text": _text,
    "class": _class, "id_type": _code, "email": _email, "year": _year, "amount": _amount,
    "rate": _rate,
}


class _Memo:
    """A column's judged distinct cells across chunks and files (the judgement of a cell is a
    function of the cell, the column, the tables and today: the plan's key): cell key -> its
    row in `frame` (`v`, `c`, `p`). Codes, months, sexes and wages repeat from file to file: a
    small file's cells are mostly judged already, and a query costs milliseconds however few
    its cells. Bounded: past LIMIT cells it starts again (a column of IDs fills it)."""
    LIMIT = 20_000

    def __init__(self) -> None:
        self.at: dict[Any, int] = {}
        self.frame: pl.DataFrame | None = None
        self.lock = threading.Lock()

    def missing(self, keys: list[Any]) -> list[Any]:
        at = self.at
        with self.lock:
            return [k for k in keys if k not in at]

    def judged(self, keys: list[Any], new: list[Any], judged: pl.DataFrame | None
               ) -> pl.DataFrame:
        """The judged rows of `keys`, after adding `new` (judged now, as `judged`)."""
        with self.lock:
            if judged is not None:
                if self.frame is None or len(self.at) + len(new) > self.LIMIT:
                    kept = [k for k in keys if k in self.at]     # start again with this chunk's
                    self.frame = self.frame[[self.at[k] for k in kept]] if kept else judged.clear()
                    self.at = {k: n for n, k in enumerate(kept)}
                fresh = [n for n, k in enumerate(new) if k not in self.at]
                if len(fresh) < len(new):        # another thread judged some meanwhile
                    judged = judged[fresh]
                    new = [new[n] for n in fresh]
                base = len(self.at)
                self.at.update((k, base + n) for n, k in enumerate(new))
                self.frame = pl.concat([self.frame, judged], how="vertical_relaxed")
                if self.frame.n_chunks() > 32:
                    self.frame = self.frame.rechunk()
            assert self.frame is not None
            return self.frame[[self.at[k] for k in keys]]


@dataclass(frozen=True)
class _Plan:
    """A column's rule as a query over its distinct cells: columns made in stages (`with_columns`
    in order), then `v` value, `c` code and `p` the finding's value param; `params` the code's
    constant parameters."""
    stages: tuple[tuple[pl.Expr, ...], ...]
    out: tuple[pl.Expr, ...]
    params: dict[str, Any]
    memo: _Memo = field(default_factory=lambda: _Memo(), compare=False)

    def query(self, cells: pl.DataFrame) -> pl.LazyFrame:
        lazy = cells.lazy()
        for stage in self.stages:
            lazy = lazy.with_columns(stage)
        return lazy.select(self.out)


_NO_PASSES = pl.QueryOptFlags.none()    # a small chunk's plan is dearer to optimise than to run
_PLANS: dict[tuple[int, int, date], tuple[ColumnSpec, dict[str, CodeTable], _Plan]] = {}


def _plan(col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> _Plan:
    """The column's plan, made once per (column, tables, today): building the expressions costs
    more than judging a small file's cells."""
    key = (id(col), id(tables), today)
    made = _PLANS.get(key)
    if made is None or made[0] is not col or made[1] is not tables:
        if len(_PLANS) > 4096:           # rules reloaded many times, or many days: start again
            _PLANS.clear()
        made = _PLANS[key] = (col, tables, _make_plan(col, tables, today))
    return made[2]


def _make_plan(col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> _Plan:
    s, k = pl.col("s"), pl.col("k")
    blank = (k == BLANK) | ((k == TEXT) & (s.str.strip_chars(V.BLANK_CHARS) == ""))
    if col.default is not None:
        s = pl.when(blank).then(pl.lit(col.default)).otherwise(s)
        k = pl.when(blank).then(pl.lit(TEXT, pl.UInt8)).otherwise(k)
    first = (s.alias("s"), k.alias("k"), blank.alias("blank"))
    second = (pl.when(pl.col("k") == TEXT).then(text_of(pl.col("s"))).otherwise(pl.col("o"))
              .alias("t"),)
    c = Cell(*(pl.col(x) for x in "sknidt"), col, tables, today)
    judged = RULES[col.type](c)
    steps = tuple(tuple(e.alias(name) for name, e in step.items()) for step in judged.steps)
    refused, blank = pl.col("r").is_not_null(), pl.col("blank")
    if col.default is None:
        code = (pl.when(refused).then(pl.lit(C.TEXT_CONTROL))
                .when(blank).then(pl.lit(C.REQUIRED) if col.required else pl.lit(None, pl.Utf8))
                .otherwise(judged.code))
        value = pl.when(blank).then(None).otherwise(judged.value)
    else:
        code = pl.when(refused).then(pl.lit(C.TEXT_CONTROL)).otherwise(judged.code)
        value = judged.value
    shown = pl.when(refused).then(pl.col("r")).otherwise(judged.shown)
    return _Plan((first, second, *steps), (value.alias("v"), code.alias("c"), shown.alias("p")),
                 judged.params)


def _judge(cells: pl.DataFrame, col: ColumnSpec, tables: dict[str, CodeTable], today: date
           ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A column's distinct cells judged: `v` value, `c` code, `p` the finding's value param."""
    plan = _plan(col, tables, today)
    return plan.query(cells).collect(), plan.params


class CellJudgement:
    """A chunk's cells judged: parsed values by field (null where absent or failing) and the
    findings of the failing cells, row by row in column order."""

    def __init__(self, rows: list[tuple[int, tuple[Any, ...]]], columns: tuple[ColumnSpec, ...],
                 tables: dict[str, CodeTable], today: date) -> None:
        self.columns = columns
        self.rows = [n for n, _ in rows]
        width = len(columns)
        self.judged: list[tuple[pl.DataFrame, pl.Series, dict[str, Any]]] = []
        self._gathered: dict[int, pl.DataFrame] = {}
        plans, keys, indexes, queries = [], [], [], []
        missing: list[list[Any] | None] = []
        for col, cells in zip(columns, zip(*(
                c[:width] if len(c) >= width else c + (None,) * (width - len(c))
                for _, c in rows)) if rows else [()] * width):
            plan = _plan(col, tables, today)
            distinct, index = _distinct(list(cells))
            new = plan.memo.missing(distinct)
            asks = bool(new) or plan.memo.frame is None
            if asks:
                queries.append(plan.query(_cells_frame(new)))
            plans.append(plan)
            keys.append(distinct)
            missing.append(new if asks else None)
            indexes.append(pl.Series("index", index, dtype=pl.UInt32))
        # Every column's new cells in one call, without the optimiser's passes: a small chunk's
        # plan costs more to optimise than to run.
        done = iter(pl.collect_all(queries, engine="in-memory", optimizations=_NO_PASSES)
                    if queries else [])
        for plan, distinct, new, index in zip(plans, keys, missing, indexes):
            judged = plan.memo.judged(distinct, new or [], None if new is None else next(done))
            self.judged.append((judged, index, plan.params))

    def values(self, j: int) -> pl.Series:
        """The parsed values of column j, row by row (null where blank or failing)."""
        return self._rowwise(j)["v"]

    def failing(self, j: int) -> pl.Series:
        """Whether each row's cell of column j has a finding (`required` included)."""
        return self._rowwise(j)["c"].is_not_null()

    def _rowwise(self, j: int) -> pl.DataFrame:
        """Column j's judged cells (`v`, `c`, `p`) row by row: gathered once."""
        got = self._gathered.get(j)
        if got is None:
            judged, index, _ = self.judged[j]
            got = self._gathered[j] = judged[index]
        return got

    def findings(self) -> list[list[Finding]]:
        out: list[list[Finding]] = [[] for _ in self.rows]
        for col, (judged, index, params) in zip(self.columns, self.judged):
            codes = judged["c"]
            if codes.null_count() == len(codes):
                continue
            made = {d: (code, self._params(params, code, shown)) for d, (code, shown) in
                    enumerate(zip(codes, judged["p"])) if code is not None}
            hits = index.is_in(list(made)).arg_true().to_list()
            for position, d in zip(hits, index.gather(hits).to_list()):
                code, found = made[d]
                out[position].append(Finding(self.rows[position], code, col.header, col.field,
                                             dict(found)))
        return out

    @staticmethod
    def _params(params: dict[str, Any], code: str, shown: Any) -> dict[str, Any]:
        if code == C.REQUIRED:
            return {}
        if code == C.TEXT_CONTROL:
            return {"char": shown}
        if code == C.TEXT_TOO_LONG:
            return dict(params)
        return {"value": shown, **params}

    def frame(self) -> pl.DataFrame:
        """The parsed values, a column per field (null where blank or failing), `row`, and per
        field `{field}?`: whether the cell failed (given but unreadable; `required` is not)."""
        out: dict[str, pl.Series] = {"row": pl.Series("row", self.rows, dtype=pl.Int64)}
        for j, col in enumerate(self.columns):
            judged = self._rowwise(j)
            out[col.field] = judged["v"].alias(col.field)
            out[f"{col.field}?"] = judged["c"].alias(f"{col.field}?")
        return pl.DataFrame(out).with_columns(          # one query for every column's `?`
            (pl.col(f"{c.field}?").is_not_null() & (pl.col(f"{c.field}?") != C.REQUIRED))
            for c in self.columns)

    def as_rows(self) -> list[tuple[dict[str, Any], list[Finding]]]:
        """Each row's parsed values (those that did not fail; codes as tuples) and findings."""
        keep = []
        for j, col in enumerate(self.columns):
            codes = self._rowwise(j)["c"]
            present = (codes.is_null() | (codes == C.REQUIRED)).to_list()
            keep.append((col.field, self.values(j).to_list(), present))
        out = []
        for i, findings in enumerate(self.findings()):
            values = {}
            for field_name, column_values, present in keep:
                if present[i]:
                    value = column_values[i]
                    values[field_name] = tuple(value) if isinstance(value, list) else value
            out.append((values, findings))
        return out


def judge_cells(rows: list[tuple[int, tuple[Any, ...]]], columns: tuple[ColumnSpec, ...],
                tables: dict[str, CodeTable], today: date) -> CellJudgement:
    return CellJudgement(rows, columns, tables, today)
