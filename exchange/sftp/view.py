"""What one login sees: `/inbox` (write) and `/outbox` (read-only) of its own unit, nothing else
(a school's sub-account: its own folders inside the school's).

Resolution follows SFTPGo's ResolvePath: refuse odd names before touching the disk, join the
virtual path under the area's root, resolve symbolic links and refuse any result outside the
root. The inbox is flat (intake reads files directly in inbox/<unit>/); the outbox has its parts.
Names starting with '.' are never served: they are upload and outbox temp files.
"""
from __future__ import annotations

import os
import posixpath
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from exchange.config import Instance

MAX_PATH_CHARS = 1024
# Upload temp names add a prefix and a suffix; keep the final name well inside NAME_MAX (255 bytes).
MAX_NAME_BYTES = 200
# Characters no listed name holds: controls, format characters (invisible marks, overrides),
# surrogates, private use, unassigned, and the line and paragraph separators (U+2028, U+2029:
# a receipt's 文件： line, a log line or a listing broke there).
REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
# Characters that only serve to deceive: look-alike slashes and dots, which some clients and
# Windows tools may turn into real separators.
LOOKALIKES = set("\\\u2215\u2044\uff0f\uff3c\u29f8\u2024\uff0e")


class Denied(Exception):
    """The path is outside the view or the operation is not allowed there."""


class Missing(Exception):
    """Nothing at that path in the view."""


@dataclass(frozen=True)
class Area:
    name: str
    root: Path
    writable: bool


@dataclass(frozen=True)
class Resolved:
    virtual: str            # normalised virtual path, e.g. "/inbox/a.xlsx"
    area: Area | None       # None: the view's root "/"
    real: Path | None       # None: the view's root "/"
    parts: tuple[str, ...]  # components below the area's root

    @property
    def is_root(self) -> bool:
        return self.area is None

    @property
    def is_area_root(self) -> bool:
        return self.area is not None and not self.parts


def check_name(name: str) -> None:
    """Refuse a path component that is empty, hidden, too long or built from odd characters."""
    if not name or name in (".", ".."):
        raise Denied(f"name {name!r} not allowed")
    if name.startswith("."):
        raise Denied("hidden names are not served")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise Denied("name too long")
    for ch in name:
        if ch in LOOKALIKES or unicodedata.category(ch) in REFUSED_CATEGORIES:
            raise Denied(f"character U+{ord(ch):04X} not allowed in names")
    if unicodedata.normalize("NFC", name) != name:
        # The same-looking name in two spellings would be two files: refuse the odd one.
        raise Denied("name is not in Unicode normal form C")


class View:
    """The virtual tree of one login. Every operation resolves its path here first."""

    def __init__(self, areas: list[Area]) -> None:
        self.areas = {a.name: a for a in areas}

    @classmethod
    def for_unit(cls, instance: Instance, unit_code: str, login: str | None = None,
                 role: str = "unit") -> "View":
        """A unit's (or the centre's) folders; a school's department or class login has its
        own inbox/<school>/@<login>/ and outbox/<school>/@<login>/ (exchange.intake.subaccounts):
        it reads its own receipts and templates, never the school's other students."""
        from exchange.accounts import SUB_ROLES, make_sub_account_folders
        from exchange.work import sub_account_inbox, sub_account_outbox

        inbox, outbox = instance.unit_inbox(unit_code), instance.unit_outbox(unit_code)
        if role in SUB_ROLES and login:
            make_sub_account_folders(instance, unit_code, login)
            inbox = sub_account_inbox(instance, unit_code, login)
            outbox = sub_account_outbox(instance, unit_code, login)
        for folder in (inbox, outbox):
            folder.mkdir(parents=True, exist_ok=True)
        areas = [Area("inbox", Path(os.path.realpath(inbox)), True),
                 Area("outbox", Path(os.path.realpath(outbox)), False)]
        if role == "centre":        # /notices: inbox/_centre/notices/ (exchange.view.notices)
            notices = inbox / "notices"
            notices.mkdir(exist_ok=True)
            areas.append(Area("notices", Path(os.path.realpath(notices)), True))
        return cls(areas)

    def canonical(self, path: str) -> str:
        """REALPATH: a normalised absolute virtual path, clamped at "/" like a chroot.

        Only used to tell a client where it is (`cd ..`); operations refuse '..' outright.
        """
        if "\x00" in path or len(path) > MAX_PATH_CHARS:
            raise Denied("bad path")
        clean = posixpath.normpath("/" + path)
        # normpath keeps a leading "//"; a virtual path has exactly one.
        return "/" + clean.lstrip("/")

    def resolve(self, path: str) -> Resolved:
        if not isinstance(path, str) or len(path) > MAX_PATH_CHARS:
            raise Denied("bad path")
        if "\x00" in path:
            raise Denied("NUL in path")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise Denied("'..' in path")
        if not parts:
            return Resolved("/", None, None, ())
        for part in parts:
            check_name(part)
        area = self.areas.get(parts[0])
        if area is None:
            raise Missing(f"no {parts[0]!r} at the top of the view")
        rest = tuple(parts[1:])
        if area.writable and len(rest) > 1:
            raise Denied("the inbox has no folders")
        real = Path(os.path.realpath(area.root.joinpath(*rest)))
        if real != area.root and area.root not in real.parents:
            raise Denied("path leads outside the view")
        if area.writable and rest and real.is_dir():
            # Folders inside an inbox (a school's sub-account folders) belong to other logins.
            raise Missing(f"no {rest[0]!r} in the inbox")
        return Resolved("/" + "/".join(parts), area, real, rest)

    def for_write(self, path: str) -> Resolved:
        """A file directly in the writable area (the inbox)."""
        r = self.resolve(path)
        if r.area is None or not r.area.writable:
            raise Denied("read-only")
        if len(r.parts) != 1:
            raise Denied("only files directly in the inbox may change")
        assert r.real is not None
        if r.real.parent != r.area.root or os.path.islink(r.area.root / r.parts[0]):
            # The name is a link (even one pointing inside): writing through it is refused.
            raise Denied("links are not written through")
        return r


__all__ = ["View", "Area", "Resolved", "Denied", "Missing", "check_name"]
