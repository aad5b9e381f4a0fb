"""Notices (issue 16.4): what the centre drops into inbox/_centre/notices/ reaches the units.

A notice is a .txt, .pdf or .xlsx file addressed by its name's prefix, in [] or 【】:
`[全部]通知.pdf` (every unit), `[类型30]通知.pdf` or `[类型30,40]…` (unit types, rules/codes.toml
unit_type), `[1001,1002]通知.pdf` (listed units; "," "，" "、" or spaces between). A text notice
may instead say it on its first line: `收件单位：全部` (same grammar). Each addressed unit finds a
copy in outbox/<unit>/notices/<YYYYMMDD>-<name without the prefix> (written under a hidden name,
then renamed), and so do a school's department and class logins (outbox/<school>/@<login>/
notices/): a notice is addressed to the school, and its class teachers are the ones who act on
it (collecting fees from pupils). The centre's receipt (outbox/_centre/receipts/) lists who got
it. No address, an unknown unit or type, or a file that is not what its extension says: a
receipt with a notice.* code, and the notice reaches nobody.
"""
from __future__ import annotations

import filecmp
import itertools
import logging
import re
import shutil
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from exchange import codes as C
from exchange.accounts import SUB_ROLES
from exchange.config import Instance
from exchange.work import sub_account_outbox
from exchange.messages import NOTICE_WORDS as W, file_message
from exchange.outputs.atomic import atomic_path
from exchange.store.db import Database
from exchange.store.models import Account, Unit

log = logging.getLogger("exchange.centre")

FOLDER = "notices"                 # inbox/_centre/notices/ and outbox/<unit>/notices/
SUFFIXES = (".txt", ".pdf", ".xlsx")
MAX_BYTES = 20 * 1024 * 1024
PREFIX = re.compile(r"^\s*[\[【](?P<to>[^\]】]*)[\]】]\s*(?P<rest>.*)$")
LINE = re.compile(r"^\s*" + W["address_line"] + r"\s*[:：]\s*(?P<to>.*)$")
SEPARATORS = re.compile(r"[,，、;；\s]+")


class Refused(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


def _text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Refused(C.NOTICE_UNSAFE, what="notice_text")


def check_content(path: Path, suffix: str) -> None:
    """The bytes are what the extension says (never opened beyond that: the units open it)."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise Refused(C.NOTICE_UNSAFE, what="notice_size")
    if size == 0:
        raise Refused(C.NOTICE_EMPTY)
    with path.open("rb") as fh:
        head = fh.read(8)
    if suffix == ".pdf" and not head.startswith(b"%PDF-"):
        raise Refused(C.NOTICE_UNSAFE, what="notice_content")
    if suffix == ".xlsx":
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError):
            names = set()
        if "xl/workbook.xml" not in names or any(n.startswith("/") or ".." in n for n in names):
            raise Refused(C.NOTICE_UNSAFE, what="notice_content")
    if suffix == ".txt" and b"\x00" in path.read_bytes():
        raise Refused(C.NOTICE_UNSAFE, what="notice_text")


def address(name: str, path: Path, suffix: str) -> tuple[str, str]:
    """(the address as written, the name the units see)."""
    m = PREFIX.match(unicodedata.normalize("NFC", name))
    if m and m["to"].strip():
        return m["to"].strip(), m["rest"].strip() or name
    if suffix == ".txt":
        lines = _text(path.read_bytes()).splitlines()
        first = LINE.match(lines[0]) if lines else None
        if first and first["to"].strip():
            if not any(x.strip() for x in lines[1:]):
                raise Refused(C.NOTICE_EMPTY)
            return first["to"].strip(), m["rest"].strip() if m else name
    raise Refused(C.NOTICE_NO_ADDRESS)


def recipients(instance: Instance, db: Database, to: str) -> list[Unit]:
    """The units an address names; Refused(notice.unknown_units) naming what is not on file."""
    with db.session() as s:
        units = list(s.scalars(select(Unit).order_by(Unit.code)))
        s.expunge_all()
    if to == W["all"]:
        return units
    words = [w for w in SEPARATORS.split(to) if w]
    rules = instance.rules
    if words and all(w.startswith(W["type_prefix"]) for w in words):
        types = [w[len(W["type_prefix"]):] for w in words]
        table = rules.tables["unit_type"]
        unknown = [w for w, t in zip(words, types) if table.lookup(t) is None]
        if unknown:
            raise Refused(C.NOTICE_UNKNOWN_UNITS, units="、".join(unknown))
        codes = {table.lookup(t) for t in types}
        return [u for u in units if rules.unit_type(u.unit_type) in codes]
    by_code = {u.code: u for u in units}
    unknown = [w for w in words if w not in by_code]
    if unknown or not words:
        raise Refused(C.NOTICE_UNKNOWN_UNITS, units="、".join(unknown) or to)
    return [by_code[w] for w in dict.fromkeys(words)]


def sub_accounts(db: Database, units: list[Unit]) -> dict[str, list[str]]:
    """Active department and class logins of the addressed units."""
    codes = [u.code for u in units]
    out: dict[str, list[str]] = {}
    with db.session() as s:
        for i in range(0, len(codes), 900):
            for login, unit in s.execute(select(Account.login, Account.unit_code).where(
                    Account.unit_code.in_(codes[i:i + 900]), Account.role.in_(SUB_ROLES),
                    Account.status == "active").order_by(Account.login)):
                out.setdefault(unit, []).append(login)
    return out


def held(folder: Path, source: Path, stem: str, suffix: str) -> str | None:
    """The name under which `folder` already holds this notice, byte for byte (sent again, on
    any day, under its name or a numbered one); None when it does not."""
    pattern = re.compile(r"^\d{8}-" + re.escape(stem) + r"(（\d+）)?" + re.escape(suffix) + "$")
    size = source.stat().st_size
    try:
        names = sorted(p.name for p in folder.iterdir() if pattern.match(p.name))
    except FileNotFoundError:
        return None
    for name in names:
        path = folder / name
        if path.is_file() and path.stat().st_size == size and filecmp.cmp(path, source, shallow=False):
            return name
    return None


def free_name(folders: list[Path], day: str, stem: str, suffix: str) -> str:
    """<day>-<stem><suffix>, or <day>-<stem>（2）<suffix>, … : the first name none of `folders`
    holds, so two notices of one name on one day never overwrite each other."""
    for n in itertools.count(1):
        name = f"{day}-{stem}{'' if n == 1 else W['numbered'].format(n=n)}{suffix}"
        if not any((folder / name).exists() for folder in folders):
            return name
    raise AssertionError("unreachable")


def deliver(source: Path, folders: list[Path], day: str, shown: str
            ) -> tuple[str, dict[Path, str], set[Path]]:
    """Copy the notice into each folder that does not hold it yet, under one name free in all of
    them (written under a hidden name, then renamed). (that name — or, when every folder held
    it already, the first folder's —, folder -> the name it is stored under there, the
    folders that held it already)."""
    stem, suffix = Path(shown).stem, Path(shown).suffix
    found = {folder: held(folder, source, stem, suffix) for folder in folders}
    missing = [folder for folder, name in found.items() if name is None]
    name = free_name(missing, day, stem, suffix) if missing or not folders else \
        found[folders[0]] or ""
    for folder in missing:
        with atomic_path(folder / name) as tmp:
            shutil.copyfile(source, tmp)
    stored = {folder: got or name for folder, got in found.items()}
    return name, stored, {folder for folder, got in found.items() if got is not None}


def handle_notice(instance: Instance, db: Database, work: Path, name: str) -> dict[str, Any]:
    """Copy a notice to every unit (and sub-account) it addresses; the centre's receipt."""
    suffix = Path(name).suffix.lower()
    try:
        if suffix not in SUFFIXES:
            raise Refused(C.NOTICE_UNSAFE, what="notice_type")
        check_content(work, suffix)
        to, shown = address(name, work, suffix)
        units = recipients(instance, db, to)
    except Refused as exc:
        status = "quarantined" if exc.code == C.NOTICE_UNSAFE else "rejected"
        log.info("unit=_centre file=%s: notice refused (%s)", name, exc.code)
        return {"kind": "notice", "status": status, "file_errors": [
            {"code": exc.code, "message": file_message(exc.code, exc.params)}]}
    from exchange.names import safe_name

    logins = sub_accounts(db, units)
    folders = {(unit.code, None): instance.unit_outbox(unit.code, FOLDER) for unit in units}
    folders.update({(unit.code, login): sub_account_outbox(instance, unit.code, login, FOLDER)
                    for unit in units for login in logins.get(unit.code, [])})
    published, stored, had = deliver(work, list(folders.values()), f"{datetime.now():%Y%m%d}",
                                     safe_name(shown))
    as_stored = {key: stored[folder] for key, folder in folders.items()}
    already = [u.code for u in units if folders[(u.code, None)] in had]
    log.info("unit=_centre file=%s: notice %s sent to %d unit(s), %d of which held it already",
             name, published, len(units), len(already))
    return {"kind": "notice", "status": "accepted", "address": to, "published_as": published,
            "counts": {"units": len(units), "sub_accounts": sum(map(len, logins.values())),
                       "already_held": len(already)},
            "recipients": [{"unit": u.code, "name": u.name, "stored_as": as_stored[(u.code, None)],
                            "sub_accounts": logins.get(u.code, [])} for u in units]}


__all__ = ["handle_notice", "recipients", "address", "FOLDER"]
