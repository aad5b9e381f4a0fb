"""Text that cannot travel: the characters no cell may hold, and how writers stay safe anyway.

A cell is judged at the boundary where it is parsed (exchange.checks.columnar, the review readers):
line breaks are normalised (CR LF, a lone CR and the line and paragraph separators U+2028 and
U+2029 become LF, which loses nothing: Notepad, log viewers and older JSON readers broke the
line at a separator anyway, without showing one), and a cell that
still holds a character from UNTRAVELLING is refused with `text.control`. Writers (workbooks,
PDFs, receipts) pass every string through `travel_safe()` as well, so text stored before these
checks, or reaching them some other way (a file name), can never make a writer fail.
"""
from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"

# Characters that show nothing and mean nothing in a cell: zero-width spaces and joiners, the
# word joiner, the byte-order mark, and the bidirectional marks, embeddings, overrides and
# isolates. They ride along when clerks paste from web pages, chat apps and phone contacts (a
# number copied from a contact card comes wrapped in U+202A ... U+202C), and a cell is read
# without them (exchange.checks.values.as_text, columnar.text_of): an override kept would also
# turn the rest of a receipt's line around where the clerk reads it.
INVISIBLE_CLASS = "[\u200b-\u200f\u2060\ufeff\u061c\u202a-\u202e\u2066-\u2069]"
# Excel's text prefix, typed into a CSV (where it stays) or a cell by clerks told to "put an
# apostrophe before a long number": '320602... A cell is read without it and what follows it.
# ‘ and ’ are the apostrophe a Chinese input method types.
TEXT_PREFIXES = "'‘’"
TEXT_PREFIX = rf"^[{TEXT_PREFIXES}]\s*"


def _untravelling_class() -> str:
    """C0 controls but tab, LF and CR; DEL; C1 controls; lone surrogates; every noncharacter
    (U+FDD0..U+FDEF and the last two code points of each of the 17 planes)."""
    ranges = ["\x00-\x08", "\x0b\x0c", "\x0e-\x1f", "\x7f-\x9f", "\ud800-\udfff", "\ufdd0-\ufdef"]
    ranges += [chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)]
    return "[" + "".join(ranges) + "]"


UNTRAVELLING = re.compile(_untravelling_class())      # exact; slow (34 astral singletons)
# The same in the Basic Multilingual Plane, and every code point from U+1FFFE up beyond it: a
# search 7x as fast as UNTRAVELLING's; an astral hit is checked by `_exact`.
_COARSE_CLASS = _untravelling_class()[:-1].split(chr(0x1FFFE))[0] + "\U0001fffe-\U0010ffff]"
_COARSE = re.compile(_COARSE_CLASS)
_SUSPECT = re.compile(_COARSE_CLASS[:-1] + "\r\u2028\u2029]")      # what a cell may need done to it
_BREAKS = re.compile("\r\n?|[\u2028\u2029]")


def _exact(ch: str) -> bool:
    return ch < "\U00010000" or ord(ch) & 0xFFFE == 0xFFFE


def first_untravelling(text: str) -> str | None:
    """The first character of `text` that cannot travel, or None."""
    for m in _COARSE.finditer(text):
        if _exact(m.group()):
            return m.group()
    return None


def untravelling_chars() -> list[str]:
    """Every character of UNTRAVELLING, for tests and documentation."""
    return [chr(c) for c in range(0x110000) if UNTRAVELLING.match(chr(c))]


def code_point(ch: str) -> str:
    """How a character is named to a clerk: U+001B."""
    return f"U+{ord(ch):04X}"


def suspect(text: str) -> bool:
    """Whether a cell's text may need a line break normalised or be refused (cheap, for a
    column's cells joined together)."""
    return _SUSPECT.search(text) is not None


def screen(text: str) -> tuple[str, str | None]:
    """(the text with line breaks normalised, the first character that cannot travel or None)."""
    if "\r" in text or "\u2028" in text or "\u2029" in text:
        text = _BREAKS.sub("\n", text)
    return text, first_untravelling(text)


def travel_safe(value: Any) -> Any:
    """A string with every character that cannot travel replaced by U+FFFD; other values as
    they are. Writers' last guard: XML (xlsx), PDF fonts and UTF-8 all accept the result."""
    if value.__class__ is str and first_untravelling(value) is not None:
        return _COARSE.sub(lambda m: REPLACEMENT if _exact(m.group()) else m.group(), value)
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any, **options: Any) -> str:
    """json.dumps(ensure_ascii=False) that any UTF-8 writer accepts: a lone surrogate (a file
    name of undecodable bytes, read with surrogateescape) is written as its \\uXXXX escape, which
    JSON allows inside strings, the only place text can be. Nothing is lost."""
    text = json.dumps(value, ensure_ascii=False, **options)
    if _LONE_SURROGATE.search(text):
        text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


_LOG_UNSAFE = re.compile(UNTRAVELLING.pattern[:-1] + "\r\n\u2028\u2029\u202a-\u202e\u2066-\u2069]")


_NAME_UNSAFE = re.compile(_LOG_UNSAFE.pattern[:-1] + "\t]")


def shown_name(text: str, limit: int = 31) -> str:
    """A name the file chose (a sheet's) as a receipt line quotes it: what would break the line
    or turn its text around (line breaks, controls, bidirectional overrides) as U+FFFD, at
    most `limit` characters (Excel's bound on a sheet's name) and "…"."""
    text = _NAME_UNSAFE.sub(REPLACEMENT, travel_safe(text))
    return text if len(text) <= limit else text[:limit] + "…"


def log_safe(text: str) -> str:
    """One log line whatever a file name holds: line breaks, controls and bidirectional
    overrides written as \\uXXXX escapes."""
    if _LOG_UNSAFE.search(text):
        return _LOG_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text
