"""Names of dropped files: which ones intake leaves alone (`ignored`), and what a file is called
in var/processing, the archive and its outputs (`safe_name`).

A unit may drop a file whose name the SFTP view would never list (control or invisible
characters, look-alike slashes, not NFC, undecodable bytes) or that is too long to carry a
receipt's prefix and suffix within a file system's 255 bytes. Such a file still gets its
receipt: every name derived from the file uses `safe_name()`, which the view lists, while the
receipt's JSON keeps the original under `file` (and this one under `safe_name`).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePath

from exchange.sftp.view import LOOKALIKES, MAX_NAME_BYTES, REFUSED_CATEGORIES, Denied, check_name

# A receipt is "<YYYYmmdd-HHMMSS>-<file id>-<stem>.回执.json": 38 bytes around the stem for file
# ids up to 9 digits; MAX_NAME_BYTES (200) is what the view lists.
SAFE_NAME_BYTES = 150
assert SAFE_NAME_BYTES + 38 <= MAX_NAME_BYTES
REPLACEMENT = "_"
_MAX_SUFFIX_BYTES = 16


def _refused(ch: str) -> bool:
    return ch == "/" or ch in LOOKALIKES or unicodedata.category(ch) in REFUSED_CATEGORIES


def _tag(name: str) -> str:
    """A short hash of the original name: two long names cut alike stay apart."""
    return "~" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _cut(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes of `text`, never half a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def safe_name(name: str) -> str:
    """`name` itself when the SFTP view lists it and it is at most SAFE_NAME_BYTES; else NFC,
    every refused character replaced by "_", a leading dot too, and a name still too long cut
    by bytes before its extension, with a short hash of the original."""
    if len(name.encode("utf-8", "surrogatepass")) <= SAFE_NAME_BYTES:
        try:
            check_name(name)
            return name
        except Denied:
            pass
    text = unicodedata.normalize("NFC", name)
    text = "".join(REPLACEMENT if _refused(ch) else ch for ch in text)
    if text.startswith("."):
        text = REPLACEMENT + text[1:]
    if len(text.encode("utf-8")) > SAFE_NAME_BYTES:
        suffix = PurePath(text).suffix
        if len(suffix.encode("utf-8")) > _MAX_SUFFIX_BYTES:
            suffix = ""
        stem = text[:len(text) - len(suffix)] if suffix else text
        tag = _tag(name)
        budget = SAFE_NAME_BYTES - len(tag.encode()) - len(suffix.encode("utf-8"))
        text = unicodedata.normalize("NFC", _cut(stem, budget)) + tag + suffix
    try:
        check_name(text)
    except Denied:                        # "", "..", a name of refused characters only
        text = "file" + _tag(name)
    return text


def storable_name(name: str) -> str:
    """`name` as a database can store it: undecodable bytes (lone surrogates from
    surrogateescape) read as U+FFFD; everything else as given."""
    return _SURROGATE.sub("\ufffd", name)


_SURROGATE = re.compile("[\ud800-\udfff]")

# Names intake leaves alone until they are renamed: office locks, OS litter, partial uploads.
LITTER = {"thumbs.db", ".ds_store", "desktop.ini"}
PARTIAL_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload", ".partial", ".uploading")


def ignored(name: str | PurePath) -> bool:
    base = PurePath(name).name
    lower = base.lower()
    return (base.startswith("~$") or base.startswith(".") or lower in LITTER
            or lower.endswith(PARTIAL_SUFFIXES))
