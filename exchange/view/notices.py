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
from exchange.intake.subaccounts import sub_account_outbox
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


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


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
    from exchange.intake.names import safe_name

    published = f"{datetime.now():%Y%m%d}-{safe_name(shown)}"
    logins = sub_accounts(db, units)
    for unit in units:
        _copy(work, instance.unit_outbox(unit.code, FOLDER) / published)
        for login in logins.get(unit.code, []):
            _copy(work, sub_account_outbox(instance, unit.code, login, FOLDER) / published)
    log.info("unit=_centre file=%s: notice %s sent to %d unit(s)", name, published, len(units))
    return {"kind": "notice", "status": "accepted", "address": to, "published_as": published,
            "counts": {"units": len(units), "sub_accounts": sum(map(len, logins.values()))},
            "recipients": [{"unit": u.code, "name": u.name,
                            "sub_accounts": logins.get(u.code, [])} for u in units]}


__all__ = ["handle_notice", "recipients", "address", "FOLDER"]
