"""Master data from the centre: units and persons, upserted by code / ID, in bulk."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks.cells import new_memo, parse_row
from exchange.checks.finding import Finding
from exchange.checks.values import is_blank
from exchange.config import Instance
from exchange.errors import FileRejected
from exchange.kinds.detect import detect_kind
from exchange.kinds.spec import KindSpec
from exchange.read.guard import sniff
from exchange.read.header import locate_header, row_cells
from exchange.read.tables import open_book
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Person, Unit

CHUNK = 5000


@dataclass
class MasterReport:
    kind: str | None = None
    loaded: int = 0
    created: int = 0
    updated: int = 0
    refused: list[tuple[int, list[Finding]]] = field(default_factory=list)
    file_error: tuple[str, dict[str, Any]] | None = None

    @property
    def refused_count(self) -> int:
        return len(self.refused)


def load_master(instance: Instance, db: Database, path: Path, today: date | None = None,
                progress: Any = None) -> MasterReport:
    """Load a units or persons workbook/CSV. Bad rows are refused with reasons; the rest upserted."""
    report = MasterReport()
    rules = instance.rules
    specs = list(rules.master.values())
    today = today or date.today()
    try:
        sniffed = sniff(path, instance.settings.limits)
        if sniffed.format not in ("xlsx", "xls", "csv"):
            raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
        with open_book(path, sniffed, instance.settings.limits) as book:
            located = None
            for sheet in book.sheets:
                located = locate_header(sheet.rows, specs)
                if located is not None:
                    break
            if located is None:
                raise FileRejected(C.FILE_UNKNOWN_KIND)
            detected = detect_kind(specs, located.header, located.title_lines, path.name, book.meta)
            spec = detected.kind
            report.kind = spec.kind
            memo = new_memo(spec.columns)
            rows = ((n, row_cells(v, detected.mapping)) for n, v in located.rows)
            rows = ((n, c) for n, c in rows if not all(is_blank(x) for x in c.values()))
            while True:
                chunk = list(islice(rows, CHUNK))
                if not chunk:
                    break
                good = []
                for number, cells in chunk:
                    values, findings = parse_row(number, cells, spec.columns, rules.tables, today,
                                                 memo)
                    if findings:
                        report.refused.append((number, findings))
                    else:
                        good.append(values)
                with db.session() as s:
                    created, updated = (_upsert_units if spec.kind == "units" else _upsert_persons)(s, good)
                report.created += created
                report.updated += updated
                report.loaded += len(good)
                if progress is not None:
                    progress(len(chunk))
    except FileRejected as exc:
        report.file_error = (exc.code, exc.params)
    return report


def _upsert_units(s: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        merged.setdefault(r["code"], {}).update({k: v for k, v in r.items() if v is not None})
    existing = set(s.scalars(select(Unit.code).where(Unit.code.in_(list(merged)))))
    new = [r for code, r in merged.items() if code not in existing]
    if new:
        s.execute(insert(Unit), [{"arrears": 0, **r} for r in new])
    for code, r in merged.items():
        if code in existing:
            s.execute(update(Unit).where(Unit.code == code).values(**r))
    return len(new), len(existing)


def _upsert_persons(s: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Rows of one person merge: insurances add up, each with its own last paid month."""
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = merged.setdefault(r["id_number"], {"paid": {}, "ins": []})
        for k, v in r.items():
            if v is not None and k not in ("insurances", "last_paid_month"):
                m[k] = v
        for ins in r.get("insurances") or ():
            if ins not in m["ins"]:
                m["ins"].append(ins)
            if r.get("last_paid_month"):
                m["paid"][ins] = max(m["paid"].get(ins, ""), r["last_paid_month"])
        if r.get("last_paid_month"):
            m["last"] = max(m.get("last", ""), r["last_paid_month"])
    ids = list(merged)
    table = cast(Table, Person.__table__)
    existing = {p.id_number: p for p in s.connection().execute(
        select(table.c.id_number, table.c.insurances, table.c.paid_months, table.c.last_paid_month)
        .where(table.c.id_number.in_(ids)))} if ids else {}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for number, m in merged.items():
        old = existing.get(number)
        insurances = [x for x in ((old.insurances or "").split(",") if old else []) if x]
        insurances += [x for x in m.pop("ins") if x not in insurances]
        paid = dict(old.paid_months or {}) if old else {}
        for ins, month in m.pop("paid").items():
            paid[ins] = max(paid.get(ins, ""), month)
        last = m.pop("last", None) or (old.last_paid_month if old else None)
        values = {**m, "insurances": ",".join(insurances) or None, "paid_months": paid or None,
                  "last_paid_month": last}
        (updates if old else inserts).append(values)
    now = datetime.now().replace(microsecond=0)
    if inserts:
        Q.insert_many(s, table, [{"arrears": 0, **v, "updated_at": now} for v in _fill(inserts)])
    # One executemany per set of columns given (a row updates only the columns it fills).
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for v in updates:
        groups.setdefault(tuple(v), []).append({**v, "updated_at": now})
    for group in groups.values():
        Q.update_many(s, table, "id_number", group)
    return len(inserts), len(updates)


def _fill(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """executemany needs the same keys on every row."""
    keys = set().union(*rows)
    for r in rows:
        yield {k: r.get(k) for k in keys}
