"""Personal names: no inner spaces, digits or symbols; a middle dot joins minority names."""
from __future__ import annotations

import re
import unicodedata

# Every dot clerks type for the middle dot of names such as 买买提·艾力.
_DOTS = "·•・‧∙．.・･"
_TO_MIDDLE_DOT = str.maketrans(dict.fromkeys(_DOTS, "·"))
# Han characters (BMP, extension A, compatibility, extensions B–H) and 〇 (U+3007, a Han
# character of GB 2312 that names hold, as 王〇 or 李〇〇 does), or Latin letters.
_HAN = r"\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_NAME = re.compile(rf"^[{_HAN}A-Za-z]+(·[{_HAN}A-Za-z]+)*$")


# Names that normalise_name() leaves as they are and valid_name() accepts: Han characters only.
_PLAIN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]{1,50}")


def plain_name(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None


def normalise_name(text: str) -> str:
    text = text.strip().strip("\u3000")
    text = text.translate(_TO_MIDDLE_DOT)
    return unicodedata.normalize("NFKC", text).replace("\u00b7", "·").strip()


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name)) and len(name) <= 50
