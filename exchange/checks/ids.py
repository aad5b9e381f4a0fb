"""Chinese resident ID numbers (GB 11643-1999): 17 digits, then a MOD 11-2 check character."""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from operator import mul

from exchange import codes as C

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.IGNORECASE)


_ZERO_SUM = 48 * sum(WEIGHTS)          # the weights times ord("0")


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    if first17.isascii():                # digit values straight from the bytes: d = byte - 48
        return CHECK_CHARS[(sum(map(mul, first17.encode(), WEIGHTS)) - _ZERO_SUM) % 11]
    return CHECK_CHARS[sum(map(mul, map(int, first17), WEIGHTS)) % 11]


def normalise_id(text: str) -> str:
    """Full-width to half-width, spaces removed, lowercase x read as X."""
    if text.isascii() and text.isalnum():        # the usual case: nothing to fold or remove
        return text.upper()
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def looks_numeric(text: str) -> bool:
    """An ID that went through Excel as a number: 3.20602E+17 or 3.206021980010125e+17."""
    return bool(_SCIENTIFIC.match(text))


def birth_date(id_number: str) -> date | None:
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def sex_code(id_number: str) -> str:
    """GB/T 2261.1 code from the 17th digit: odd is 1 (男), even is 2 (女)."""
    return "1" if int(id_number[16]) % 2 else "2"


def from_id(field: str, id_number: str | None) -> str | None:
    """What a valid 18-character ID says of `field`: "sex" (GB/T 2261.1 code) or "birth_date"
    (ISO date); None for other fields and other IDs."""
    if field not in ("sex", "birth_date") or not id_number or len(id_number) != 18:
        return None
    born = birth_date(id_number)
    if born is None or not id_number[:17].isdigit():
        return None
    return sex_code(id_number) if field == "sex" else born.isoformat()


_FORM = re.compile(r"\d{17}[\dX]")


@lru_cache(maxsize=65536)
def _born_problem(digits: str, today: date) -> bool:
    """Whether the birth date digits YYYYMMDD of an ID are no date, in the future or too old."""
    born = birth_date("000000" + digits)
    return born is None or born > today or born.year < 1890


# The last three digits of an 18-digit number Excel kept to its 15 significant digits.
ZEROED = "000"


def id_problem(id_number: str, today: date) -> str | None:
    """The code of what is wrong with a normalised ID, or None when it is valid."""
    if not (id_number.isascii() and _FORM.fullmatch(id_number)):
        return C.ID_FORMAT
    if _born_problem(id_number[6:14], today):
        return C.ID_BIRTHDATE
    if check_char(id_number[:17]) != id_number[17]:
        return C.ID_NUMERIC if id_number.endswith(ZEROED) else C.ID_CHECKSUM
    return None
