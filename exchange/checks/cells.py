"""Cell checks: one parser per column type, from the raw cell to a clean value or a Finding."""
from __future__ import annotations

import re
from datetime import date
from operator import itemgetter
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable

from exchange import codes as C
from exchange.checks import ids, names, values as V
from exchange.checks.finding import Finding
from exchange.kinds.spec import CodeTable, ColumnSpec
from exchange.text import code_point, screen, suspect

Parsed = tuple[Any, str | None, dict[str, Any]]   # value, finding code, finding params


def _id(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    if raw.__class__ is str and len(raw) == 18 and raw.isalnum() and raw.isascii():
        number = raw.upper()                      # the usual cell: nothing to strip or fold
        problem = ids.id_problem(number, today)
        return (None, problem, {"value": raw}) if problem else (number, None, {})
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return None, C.ID_NUMERIC, {"value": V.as_text(raw)}
    text = V.as_text(raw)
    if ids.looks_numeric(text):
        return None, C.ID_NUMERIC, {"value": text}
    number = ids.normalise_id(text)
    problem = ids.id_problem(number, today)
    return (None, problem, {"value": text}) if problem else (number, None, {})


def _name(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    if raw.__class__ is str and names.plain_name(raw):
        return raw, None, {}
    text = names.normalise_name(V.as_text(raw))
    return (text, None, {}) if names.valid_name(text) else (None, C.NAME_INVALID, {"value": text})


def _code(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    table = tables[col.table or ""]
    text = V.as_text(raw)
    code = table.lookup(text)
    if code is None:
        return None, C.CODE_UNKNOWN, {"value": text, "examples": table.examples()}
    return code, None, {}


def _codes(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    table = tables[col.table or ""]
    text = V.as_text(raw)
    found = []
    for part in re.split(r"[,，、;；/\s]+", text):
        if not part:
            continue
        code = table.lookup(part)
        if code is None:
            return None, C.CODE_UNKNOWN, {"value": part, "examples": table.examples()}
        if code not in found:
            found.append(code)
    return tuple(found), None, {}


def _month(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    month = V.parse_month(raw)
    return (month, None, {}) if month else (None, C.MONTH_INVALID, {"value": V.as_text(raw)})


def _date(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    d = V.parse_date(raw)
    if d is None or not 1890 <= d.year <= today.year + 1:
        return None, C.DATE_INVALID, {"value": V.as_text(raw)}
    return d.isoformat(), None, {}


def _wage(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    wage = V.parse_integer(raw)
    if wage is None or wage <= 0:
        return None, C.WAGE_NOT_INTEGER, {"value": V.as_text(raw)}
    return wage, None, {}


def _serial(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    serial = V.parse_integer(raw)
    if serial is None or serial <= 0:
        return None, C.FORMAT_INVALID, {"value": V.as_text(raw), "expected": "positive_integer"}
    return serial, None, {}


def _phone(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    phone = V.parse_phone(raw)
    return (phone, None, {}) if phone else (None, C.PHONE_INVALID, {"value": V.as_text(raw)})


def _postcode(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    text = V.as_text(raw)
    if re.fullmatch(r"\d{6}", text):
        return text, None, {}
    return None, C.FORMAT_INVALID, {"value": text, "expected": "postcode"}


def _amount(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    text = V.as_text(raw).replace(",", "").removesuffix("元")  # input grammar
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        return None, C.FORMAT_INVALID, {"value": V.as_text(raw), "expected": "amount"}
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), None, {}


# ---- issue 17: money (rates and years the centre loads as master data) -------------------------
def _rate(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    """A contribution rate: 0.08, 8% or 8‰; below 1, at most six decimals."""
    text = V.as_text(raw).replace(" ", "")
    scale = Decimal(1)
    if text.endswith(("%", "％")):
        text, scale = text[:-1], Decimal("0.01")
    elif text.endswith("‰"):
        text, scale = text[:-1], Decimal("0.001")
    try:
        rate = Decimal(text) * scale
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not 0 <= rate < 1 or \
            rate != rate.quantize(Decimal("0.000001")):
        return None, C.FORMAT_INVALID, {"value": V.as_text(raw), "expected": "rate"}
    return rate.normalize() if rate else Decimal(0), None, {}


def _year(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    text = V.as_text(raw).removesuffix("年").removesuffix(".0")  # input grammar
    if re.fullmatch(r"(19|2\d)\d\d", text):
        return int(text), None, {}
    return None, C.FORMAT_INVALID, {"value": V.as_text(raw), "expected": "year"}


def _email(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    from email_validator import EmailNotValidError, validate_email

    text = V.as_text(raw)
    try:
        found = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None, C.FORMAT_INVALID, {"value": text, "expected": "email"}
    return found.normalized, None, {}


def _class(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    from exchange.classes import CLASS_CODE

    text = V.as_text(raw)
    if not CLASS_CODE.match(text):
        return None, C.FORMAT_INVALID, {"value": text, "expected": "class_code"}
    return text, None, {}


def _text(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    text = V.as_text(raw)
    limit = col.max_length or 200
    if len(text) > limit:
        return None, C.TEXT_TOO_LONG, {"limit": limit}
    return text, None, {}


PARSERS: dict[str, Callable[[Any, ColumnSpec, dict[str, CodeTable], date], Parsed]] = {
    "id": _id, "name": _name, "code": _code, "codes": _codes, "month": _month, "date": _date,
    "wage": _wage, "serial": _serial, "phone": _phone, "postcode": _postcode, "text": _text,
    "class": _class, "id_type": _code, "amount": _amount, "email": _email, "rate": _rate, "year": _year,
}


# Column types whose cells repeat down a sheet (codes, months, dates, wages): a file's parser
# results are remembered per column, up to MEMO_LIMIT distinct cells each. Parsers are pure
# functions of the cell, the column, the code tables and today, all fixed for one file.
MEMO_TYPES = frozenset({"code", "codes", "month", "date", "wage", "id_type", "amount", "postcode",
                        "rate", "year",
                        "class"})
MEMO_LIMIT = 16384          # birth dates of a whole register fit (a few MB per column at most)
Memo = dict[str, dict[Any, Parsed]]      # field -> cell (or (type, number)) -> result
_NUMBERS = frozenset({int, float, bool})


def new_memo(columns: tuple[ColumnSpec, ...]) -> Memo:
    """An empty memo for parse_rows(), for one file's columns."""
    return {c.field: {} for c in columns if c.type in MEMO_TYPES}


_BLANK: Parsed = (None, None, {})
_MISSING: Parsed = (None, C.REQUIRED, {})


def _parse_cell(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    """One cell: blank cells take the column's default, or are required, or stay None."""
    if raw is None or (raw.__class__ is str and not raw.strip(V.BLANK_CHARS)):     # V.is_blank
        if col.default is None:
            return _MISSING if col.required else _BLANK
        raw = col.default
    return PARSERS[col.type](raw, col, tables, today)


def _parse_column(cells: tuple[Any, ...], col: ColumnSpec, tables: dict[str, CodeTable],
                  today: date, seen: dict[Any, Parsed] | None) -> list[Parsed]:
    if seen is None:
        parse, blank_chars = PARSERS[col.type], V.BLANK_CHARS
        return [parse(raw, col, tables, today)        # a cell that starts with a character
                if raw.__class__ is str and raw[:1].strip(blank_chars)   # is not blank
                else _parse_cell(raw, col, tables, today) for raw in cells]
    # A cell is its own key, but numbers are keyed with their type: 1, 1.0 and True are equal.
    keys: Any = list(zip(map(type, cells), cells)) if _NUMBERS.intersection(map(type, cells)) else cells
    local = {}
    for key in set(keys).difference(seen):
        local[key] = hit = _parse_cell(key[1] if key.__class__ is tuple else key, col, tables, today)
        if len(seen) < MEMO_LIMIT:
            seen[key] = hit
    lookup = seen.get
    return [lookup(k) or local[k] for k in keys] if local else list(map(seen.__getitem__, keys))


def _screen_column(cells: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[int, Parsed]]:
    """A column's cells with line breaks normalised (CR LF, CR -> LF), and the refusals of the
    cells that hold a character that cannot travel (exchange.text): those are parsed as blank
    and their result replaced by `text.control`."""
    out: list[Any] = []
    refused: dict[int, Parsed] = {}
    for i, raw in enumerate(cells):
        if raw.__class__ is str:
            raw, bad = screen(raw)
            if bad is not None:
                refused[i] = (None, C.TEXT_CONTROL, {"char": code_point(bad)})
                raw = None
        out.append(raw)
    return tuple(out), refused


def parse_rows(rows: list[tuple[int, tuple[Any, ...]]], columns: tuple[ColumnSpec, ...],
               tables: dict[str, CodeTable], today: date, memo: Memo | None = None
               ) -> list[tuple[dict[str, Any], list[Finding]]]:
    """Parse a chunk of rows, a column at a time: (row number, cells in `columns` order) each.

    A blank cell leaves its field None; an invalid cell leaves it out of the result, so row
    rules can tell "not given" (None) from "given but unreadable" (absent). Findings of a row
    come in column order. Cells that repeat down a column are parsed once (see MEMO_TYPES).
    """
    if not rows:
        return []
    width = len(columns)
    cells_by_column: list[tuple[Any, ...]] = list(zip(*(cells[:width] if len(cells) >= width else
                                 cells + (None,) * (width - len(cells)) for _, cells in rows)))
    refused: dict[int, dict[int, Parsed]] = {}      # column -> row index -> text.control
    for j, cells in enumerate(cells_by_column):
        strings = [c for c in cells if c.__class__ is str]
        if strings and suspect("".join(strings)):
            cells_by_column[j], refused[j] = _screen_column(cells)
    results = [_parse_column(cells, col, tables, today, memo.get(col.field) if memo else None)
               for col, cells in zip(columns, cells_by_column)]
    for j, bad in refused.items():
        results[j] = [bad.get(i) or hit for i, hit in enumerate(results[j])]
    fields = [c.field for c in columns]
    first = itemgetter(0)
    values = [dict(zip(fields, t)) for t in zip(*(map(first, r) for r in results))]
    findings: list[list[Finding]] = [[] for _ in rows]
    second = itemgetter(1)
    for col, parsed in zip(columns, results):
        codes = list(map(second, parsed))
        if codes.count(None) == len(codes):
            continue
        for i, code in enumerate(codes):
            if code is None:
                continue
            findings[i].append(Finding(rows[i][0], code, col.header, col.field, parsed[i][2]))
            if code != C.REQUIRED:
                del values[i][col.field]
    return list(zip(values, findings))
