"""Cell checks: one parser per column type, from the raw cell to a clean value or a Finding."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from exchange import codes as C
from exchange.checks import ids, names, values as V
from exchange.checks.finding import Finding
from exchange.kinds.spec import CodeTable, ColumnSpec

Parsed = tuple[Any, str | None, dict[str, Any]]   # value, finding code, finding params


def _id(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return None, C.ID_NUMERIC, {"value": V.as_text(raw)}
    text = V.as_text(raw)
    if ids.looks_numeric(text):
        return None, C.ID_NUMERIC, {"value": text}
    number = ids.normalise_id(text)
    problem = ids.id_problem(number, today)
    return (None, problem, {"value": text}) if problem else (number, None, {})


def _name(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
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
    return float(round(amount, 2)), None, {}


def _text(raw: Any, col: ColumnSpec, tables: dict[str, CodeTable], today: date) -> Parsed:
    text = V.as_text(raw)
    limit = col.max_length or 200
    if len(text) > limit:
        return None, C.TEXT_TOO_LONG, {"limit": limit}
    return text, None, {}


PARSERS: dict[str, Callable[[Any, ColumnSpec, dict[str, CodeTable], date], Parsed]] = {
    "id": _id, "name": _name, "code": _code, "codes": _codes, "month": _month, "date": _date,
    "wage": _wage, "serial": _serial, "phone": _phone, "postcode": _postcode, "text": _text,
    "class": _text, "id_type": _code, "amount": _amount,
}


# Column types whose cells repeat down a sheet (codes, months, dates, wages): a file's parser
# results are remembered per column, up to MEMO_LIMIT distinct cells each. Parsers are pure
# functions of the cell, the column, the code tables and today, all fixed for one file.
MEMO_TYPES = frozenset({"code", "codes", "month", "date", "wage", "id_type", "amount", "postcode",
                        "class"})
MEMO_LIMIT = 16384          # birth dates of a whole register fit (a few MB per column at most)
Memo = dict[str, dict[tuple[type, Any], Parsed]]


def new_memo(columns: tuple[ColumnSpec, ...]) -> Memo:
    """An empty memo for parse_row(), for one file's columns."""
    return {c.field: {} for c in columns if c.type in MEMO_TYPES}


def parse_row(row: int, cells: dict[str, Any], columns: tuple[ColumnSpec, ...],
              tables: dict[str, CodeTable], today: date, memo: Memo | None = None
              ) -> tuple[dict[str, Any], list[Finding]]:
    """Parse every column of one row.

    A blank cell leaves its field None; an invalid cell leaves it out of the result, so row
    rules can tell "not given" (None) from "given but unreadable" (absent).
    """
    parsed: dict[str, Any] = {}
    findings: list[Finding] = []
    blank_chars = V.BLANK_CHARS
    for col in columns:
        raw = cells.get(col.field)
        if raw is None or (isinstance(raw, str) and not raw.strip(blank_chars)):   # V.is_blank
            if col.default is not None:
                raw = col.default
            elif col.required:
                findings.append(Finding(row, C.REQUIRED, col.header, col.field))
                parsed[col.field] = None
                continue
            else:
                parsed[col.field] = None
                continue
        seen = memo.get(col.field) if memo is not None else None
        if seen is None:
            value, code, params = PARSERS[col.type](raw, col, tables, today)
        else:
            key = (raw.__class__, raw)            # 1, 1.0 and True are equal keys otherwise
            hit = seen.get(key)
            if hit is None:
                hit = PARSERS[col.type](raw, col, tables, today)
                if len(seen) < MEMO_LIMIT:
                    seen[key] = hit
            value, code, params = hit
        if code:
            findings.append(Finding(row, code, col.header, col.field, params))
        else:
            parsed[col.field] = value
    return parsed, findings
