"""Cell values as clerks write them: Excel numbers and dates, text in many spellings."""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange.messages import NO, YES
from exchange.read.slices import CellError, UnsavedFormula
from exchange.text import INVISIBLE_CLASS, TEXT_PREFIX, TEXT_PREFIXES

EXCEL_EPOCH = date(1899, 12, 30)
_INVISIBLE = re.compile(INVISIBLE_CLASS)       # exchange.text: dropped from every text cell
_TEXT_PREFIX = re.compile(TEXT_PREFIX)         # and a leading apostrophe
_PREFIXES = tuple(TEXT_PREFIXES)


BLANK_CHARS = " \t\r\n\u3000"


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip(BLANK_CHARS))


def holds_nothing(value: Any) -> bool:
    """A cell of what a blank row holds: blank, a formula's error value (a lookup formula
    filled down past the data shows #N/A on every row below it), or a formula whose file holds
    no value it made (filled down as far, by a writer that never calculates). Such a cell in a
    row holding something else is `cell.formula_error` or `cell.formula_unsaved`
    (read.slices.CellError, UnsavedFormula)."""
    return is_blank(value) or value.__class__ is CellError or value.__class__ is UnsavedFormula


def as_text(value: Any) -> str:
    """A cell as the clerk sees it: integral floats without '.0', dates as YYYY-MM-DD; text
    folded (NFKC), without invisible characters, surrounding spaces or a leading apostrophe
    (exchange.text)."""
    if type(value) is str and value.isascii():     # most cells: NFKC and the table change nothing
        value = value.strip()
        return _TEXT_PREFIX.sub("", value) if value.startswith("'") else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # Past 15 digits a float is not the number typed (an ID stored as a number): shown as
        # Excel shows it, the same in the receipt, the error workbook and the error log.
        return repr(value) if abs(value) < 1e15 else excel_general(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    text = unicodedata.normalize("NFKC", str(value))
    text = (_INVISIBLE.sub("", text) if _INVISIBLE.search(text) else text).strip()
    return _TEXT_PREFIX.sub("", text) if text.startswith(_PREFIXES) else text


def excel_general(number: float) -> str:
    """A number as Excel's General format shows it in a cell of the default width: at most 11
    characters, so 320602199708083100 reads 3.20602E+17 and 10**12 reads 1E+12."""
    if not math.isfinite(number):
        return repr(number)
    size = abs(number)
    if size and (size >= 1e11 or size < 1e-9):
        mantissa, exponent = f"{number:.5E}".split("E")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}E{exponent[0]}{int(exponent[1:]):02d}"
    if float(number).is_integer():
        return str(int(number))
    return f"{number:.{10 if number > 0 else 9}g}"


def excel_serial(value: float) -> date | None:
    if 1 <= value < 2958466 and float(value).is_integer():
        return EXCEL_EPOCH + timedelta(days=int(value))
    return None


# A date cell that a spreadsheet saved as text keeps its time of day: Excel's CSV writes
# 1980/1/1 0:00, LibreOffice's 1980-01-01 00:00:00, other systems 1980-01-01T00:00:00. The time
# is dropped before the date is read (a date cell's time is too); a time that is no time stays.
TIME_OF_DAY = r"(?:\s+|T)(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?$"  # input grammar
_TIME_OF_DAY = re.compile(TIME_OF_DAY)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?$"),  # input grammar
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_MONTH_PATTERNS = (
    re.compile(r"^(\d{4})(\d{2})$"),
    re.compile(r"^(\d{4})[-/.年](\d{1,2})(?:月份?)?$"),  # input grammar: 2016年7月份
)
# 2026.10 typed into a General cell is the number 2026.1, and a CSV saves it as the text 2026.1:
# January or October cannot be told, so neither is guessed (the number itself is refused too).
AMBIGUOUS_MONTH = r"^\d{4}\.1$"


def _spaceless(value: Any) -> str:
    """A date's or month's text without its time of day and its spaces."""
    return _TIME_OF_DAY.sub("", as_text(value)).replace(" ", "")


def parse_date(value: Any) -> date | None:
    """Excel dates, 2016-07-01, 2016/7/1, 2016.7.1, 2016年7月1日, 20160701, Excel serials."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 19000101 <= value <= 21001231:
            return parse_date(str(int(value)))
        return excel_serial(float(value)) if value < 100000 else None
    text = _spaceless(value)
    if re.fullmatch(r"\d{5}(\.0)?", text):
        return excel_serial(float(text))
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


def parse_month(value: Any) -> str | None:
    """YYYYMM from 201607, 2016-07, 2016/7, 2016年7月, an Excel date or a full date (not an
    Excel serial: see below)."""
    if isinstance(value, (datetime, date)):
        # A date cell of 0 (an empty formula result formatted as a date, shown 1900-01-00) is
        # 1899-12-30 here: no month anything is declared for.
        d = value.date() if isinstance(value, datetime) else value
        return f"{d.year:04d}{d.month:02d}" if 1900 <= d.year <= 2100 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value).is_integer() and 190001 <= value <= 210012:
            value = str(int(value))
        else:
            # A whole date (20260115); never an Excel serial: 20261, a digit left out of 202601,
            # is the serial of 1955-06 (a date cell is a date already).
            full = parse_date(value) if 19000101 <= value <= 21001231 else None
            return f"{full.year:04d}{full.month:02d}" if full else None
    text = _spaceless(value)
    if re.fullmatch(r"\d{6}\.0+", text):
        text = text.split(".")[0]
    if re.match(AMBIGUOUS_MONTH, text) or re.fullmatch(r"\d{5}(\.0)?", text):
        return None
    for pattern in _MONTH_PATTERNS:
        m = pattern.match(text)
        if m:
            year, month = int(m.group(1)), int(m.group(2))
            return f"{year:04d}{month:02d}" if 1900 <= year <= 2100 and 1 <= month <= 12 else None
    full = parse_date(text)
    return f"{full.year:04d}{full.month:02d}" if full else None


# A currency format's sign, as a CSV saves the cell (￥5,000.00; ￥ folds to ¥).
CURRENCY = r"^¥\s*"
_CURRENCY = re.compile(CURRENCY)


def parse_integer(value: Any) -> int | None:
    """Whole numbers: 5000, 5000.0, "5,000", "５０００", "5000元", "￥5,000.00". None for decimals
    or words."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = as_text(value).replace(",", "").replace("，", "").removesuffix("元").strip()  # input grammar
    text = _CURRENCY.sub("", text)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
AREA_CODE = r"^\((0\d{2,3})\)"             # (0513)85123456 is 0513-85123456; （ folds to (
_AREA_CODE = re.compile(AREA_CODE)
EXTENSION = r"(?i)(?:转|分机|ext\.?|x|#)(\d{1,6})$"  # input grammar: 0431-87654321转8001 is …-8001
_EXTENSION = re.compile(EXTENSION)


def parse_phone(value: Any) -> str | None:
    """Mobile (11 digits from 1) or landline (area code, dash, extension); None when neither."""
    if value.__class__ is str and _MOBILE.fullmatch(value):     # the usual cell, as it is
        return value
    text = as_text(value).replace(" ", "").replace("—", "-").replace("－", "-")
    text = re.sub(r"^(\+?86-?)", "", text) if len(text) > 11 else text
    text = _EXTENSION.sub(r"-\1", _AREA_CODE.sub(r"\1-", text))
    if re.fullmatch(r"1[3-9]\d{9}", text.replace("-", "")):      # 138-0013-8000
        return text.replace("-", "")
    if re.fullmatch(r"(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?", text):
        return text
    return None

