"""Master data from the centre: units and persons, upserted by code / ID, in bulk; rates and
payments (exchange.amounts.master)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import compress
from operator import is_not, itemgetter
from pathlib import Path
from typing import Any, Iterator, cast

from sqlalchemy import Table, Text, insert, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.accounts import unit_code_problem
from exchange.amounts.master import LOADERS as MONEY_LOADERS
from exchange.checks.columnar import judge_cells
from exchange.checks.finding import Finding
from exchange.checks.values import holds_nothing
from exchange.classes import upsert_classes
from exchange.config import CENTRE, Instance
from exchange.errors import FileRejected
from exchange.kinds.detect import detect_kind
from exchange.kinds.spec import KindSpec
from exchange.read.header import Located, column_taker, footer_row, locate_header
from exchange.read.tables import TABLE_FORMATS
from exchange.store import bulk
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
    footer_rows: list[int] = field(default_factory=list)     # 合计, 制表人： … (read.header.FOOTER)

    @property
    def refused_count(self) -> int:
        return len(self.refused)


def load_master(instance: Instance, db: Database, path: Path, today: date | None = None,
                progress: Any = None) -> MasterReport:
    """Load a units or persons workbook/CSV in one transaction. Bad rows are refused with
    reasons; the rest upserted. A file refused as a whole (unreadable, too large) loads nothing."""
    report = MasterReport()
    touched: set[str] | None = set()          # units whose records changed; None: every unit
    rules = instance.rules
    specs = list(rules.master.values())
    today = today or date.today()
    try:
        # Parsed in a sandboxed worker (exchange.read.sandbox): a reader that dies or passes a
        # limit refuses the file, the operator's command goes on to say so.
        with instance.readers.upload(path) as upload, db.session() as s:
            if upload.sniffed.format not in TABLE_FORMATS:
                raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
            book = upload.book()
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
            upsert = ({"units": _upsert_units, "classes": upsert_classes}.get(spec.kind)
                      or MONEY_LOADERS.get(spec.kind) or _PersonLoad(spec).upsert)
            gate = GATES[spec.kind](s, spec) if spec.kind in GATES else None
            with bulk.overlapped(s):
                for chunk in _chunks(located, detected.mapping, spec, report.footer_rows):
                    good = []
                    parsed = judge_cells(chunk, spec.columns, rules.tables, today).as_rows()
                    for (number, _), (values, findings) in zip(chunk, parsed):
                        if not findings and gate is not None:
                            findings = gate(number, values)
                        if findings:
                            report.refused.append((number, findings))
                        else:
                            good.append(values)
                    touched = units_touched(s, spec.kind, good, touched)
                    created, updated = upsert(s, good)
                    report.created += created
                    report.updated += updated
                    report.loaded += len(good)
                    if progress is not None:
                        progress(len(chunk))
    except FileRejected as exc:
        # The session rolled back: nothing of the file stays.
        return MasterReport(kind=report.kind, file_error=(exc.code, exc.params))
    if report.loaded:
        instance.changed(touched)             # their status and people workbooks (issue 16)
    return report


def units_touched(s: Session, kind: str, rows: list[dict[str, Any]], touched: set[str] | None
                  ) -> set[str] | None:
    """`touched` with the units `rows` of a master-data `kind` change: the units named, and the
    units persons leave; rates change what every unit owes (None: every unit)."""
    if touched is None or kind in ("rates", "resident_rates"):
        return None
    key = "code" if kind == "units" else "unit_code"
    found = {r[key] for r in rows if r.get(key)}
    if kind == "persons":
        bulk.settle(s)          # the last chunk's overlapped UPDATE (bulk.overlapped), then read
        ids = [r["id_number"] for r in rows if r.get("id_number")]
        for i in range(0, len(ids), 900):
            found.update(u for u in s.scalars(select(Person.unit_code).where(
                Person.id_number.in_(ids[i:i + 900])).distinct()) if u)
    return touched | found


def _chunks(located: Located, mapping: dict[int, str], spec: KindSpec, footers: list[int]
            ) -> Iterator[list[tuple[int, tuple[Any, ...]]]]:
    """The data rows as (row number, cells in the spec's column order), CHUNK at a time;
    rows with every cell blank (or a formula's error value: a lookup filled down past the
    data) are left out, and so are an export's totals and signatures (their numbers go to
    `footers`)."""
    take = column_taker(mapping, spec.columns)
    chunk: list[tuple[int, tuple[Any, ...]]] = []
    for number, values in located.rows:
        cells = take(values)
        for v in cells:
            if not holds_nothing(v):
                break
        else:
            continue                            # a blank row
        if footer_row(values):
            footers.append(number)
            continue
        chunk.append((number, cells))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _UnitCodes:
    """A units row's 单位编号 is refused unless `units add` would take it (exchange.accounts):
    the code names the unit's folders, and a units file is the centre's SFTP upload (a code
    like ../../x wrote status workbooks and templates outside the instance). A code differing
    from a known one (or an earlier row's) only by case is refused too."""

    def __init__(self, s: Session, spec: KindSpec) -> None:
        self.column = _header(spec, "code")
        self.folded = {code.casefold(): code for code in s.scalars(select(Unit.code))}

    def __call__(self, number: int, values: dict[str, Any]) -> list[Finding]:
        code = values["code"]
        why = unit_code_problem(code)
        twin = None if why else self.folded.setdefault(code.casefold(), code)
        if why is None and twin == code:
            return []
        params = {"value": code, "why": why} if why else {"value": code, "twin": twin}
        return [Finding(number, C.UNIT_CODE_INVALID, self.column, "code", params)]


class _PersonRows:
    """A persons row is refused when its 单位编号 names no registered unit, or when an earlier
    row of the file gave the same person another unit, or one of the same insurances (or
    neither row names one): the later row would silently overwrite the earlier. Rows of one
    person that add insurances (310 on one row, 510 on the next) stay one person's, merged."""

    def __init__(self, s: Session, spec: KindSpec) -> None:
        self.column = _header(spec, "unit_code")
        # Registered units, each given an index (the person's first row keeps it, packed).
        self.units = {code: i for i, code in enumerate(s.scalars(
            select(Unit.code).where(Unit.code != CENTRE)), 1)}
        self.insurances: dict[str, int] = {}          # insurance code -> its bit
        # ID -> (first row << 48) | (unit index << 20) | insurance bits: one int each (a
        # register of a million persons: about 130 MB while it loads, not a tuple's 250).
        self.seen: dict[str, int] = {}

    def __call__(self, number: int, values: dict[str, Any]) -> list[Finding]:
        unit = values.get("unit_code")
        if unit is not None and unit not in self.units:
            return [Finding(number, C.UNIT_UNKNOWN, self.column, "unit_code", {"value": unit})]
        bits = 0
        for x in values.get("insurances") or ():
            bits |= self.insurances.setdefault(x, 1 << min(len(self.insurances), 19))
        here = self.units.get(unit, 0) if unit is not None else 0
        number_id = values["id_number"]
        first = self.seen.get(number_id)
        if first is None:
            self.seen[number_id] = number << 48 | here << 20 | bits
            return []
        there, had = first >> 20 & 0xFFFFFFF, first & 0xFFFFF
        if (here and there and here != there) or not bits or not had or bits & had:
            return [Finding(number, C.DUPLICATE_IN_FILE, None, None, {"first_row": first >> 48})]
        self.seen[number_id] = first | bits | (0 if there else here << 20)
        return []


GATES = {"units": _UnitCodes, "persons": _PersonRows}


def _header(spec: KindSpec, name: str) -> str | None:
    return next((c.header for c in spec.columns if c.field == name), None)


def _upsert_units(s: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    bulk.settle(s)              # the last chunk's updates, before reading what they changed
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        merged.setdefault(r["code"], {}).update({k: v for k, v in r.items() if v is not None})
    existing = set(s.scalars(select(Unit.code).where(Unit.code.in_(list(merged)))))
    new = [r for code, r in merged.items() if code not in existing]
    if new:
        s.execute(insert(Unit), [{"arrears": 0, **r} for r in new])
    # Known units: one bulk UPDATE per set of columns given, not one each.
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    now = datetime.now().replace(microsecond=0)
    for code, r in merged.items():
        if code in existing:
            updates.setdefault(tuple(sorted(r)), []).append({**r, "updated_at": now})
    for group in updates.values():
        Q.update_many(s, cast(Table, Unit.__table__), "code", group)
    return len(new), len(existing)


# A person's rows of one chunk merged (their first row alone stands for the person):
# the columns given, the insurances in order of appearance, the last paid month per insurance
# and over all.
_Merged = tuple[dict[str, Any], list[str], dict[str, str], str | None]
# Computed here from the insurance and month columns; every other column is taken as given.
_DERIVED = ("insurances", "paid_months", "last_paid_month")
_CACHE_LIMIT = 4096       # distinct paid-month maps remembered (a register has a few dozen)


class _PersonLoad:
    """Persons upserted a chunk at a time by ID, in the load's one transaction.

    New persons are inserted, known ones updated in the columns their rows fill (a blank cell
    changes nothing); insurances add up, each with its own last paid month. A person's later
    rows (in this chunk or a later one) see the earlier ones. Paid-month maps repeat across a
    register: equal maps are one object (its JSON written once a chunk), stored ones are
    decoded once.
    """

    def __init__(self, spec: KindSpec) -> None:
        self.table = cast(Table, Person.__table__)
        fields = [c.field for c in spec.columns if c.field not in _DERIVED]
        settable = [f for f in fields if f != "id_number"]
        self.pick = itemgetter(*fields)
        self.pick_settable = itemgetter(*settable)
        self.settable = settable
        # Arrears is NOT NULL: a new person owes nothing unless told.
        self.arrears = fields.index("arrears") if "arrears" in fields else None
        self.insert_names = [*fields, *_DERIVED, "updated_at",
                             *(["arrears"] if self.arrears is None else [])]
        self.maps: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self.month_maps: dict[tuple[tuple[str, ...], str], dict[str, str]] = {}
        self.decoded: dict[str, dict[str, str]] = {}

    def upsert(self, s: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
        merged = _merge_persons(rows)
        bulk.settle(s)          # the last chunk's updates, before reading what they changed
        c = self.table.c
        # The stored paid months as JSON text: decoded once per distinct text (see _decode).
        existing = {r[0]: r for r in s.execute(
            select(c.id_number, c.insurances, sql_cast(c.paid_months, Text), c.last_paid_month)
            .where(Q.among(s, c.id_number, list(merged))))}
        now = datetime.now().replace(microsecond=0)
        tail = (now,) if self.arrears is not None else (now, 0)
        inserts: list[tuple[Any, ...]] = []
        updates: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
        nones = (None,) * len(self.settable)
        for number, m in merged.items():
            if isinstance(m, dict):                      # the person's only row
                given, ins, last = m, m.get("insurances") or (), m.get("last_paid_month")
                paid = self._month_map(ins, last)
            else:
                given, ins, paid, last = m
            old = existing.get(number)
            if old is None:
                values = self.pick(given)
                a = self.arrears
                if a is not None and values[a] is None:
                    values = (*values[:a], 0, *values[a + 1:])
                inserts.append((*values, ",".join(ins) or None,
                                self._shared(paid) if paid else None, last, *tail))
                continue
            had = [x for x in (old[1] or "").split(",") if x]
            insurances = ",".join(had + [x for x in ins if x not in had]) or None
            if old[2]:
                stored, paid = paid, dict(self._decode(old[2]))
                for x, month in stored.items():
                    paid[x] = max(paid.get(x, ""), month)
            values = self.pick_settable(given)
            filled = tuple(map(is_not, values, nones))   # which columns this person's rows fill
            updates.setdefault(filled, []).append(
                (*compress(values, filled), insurances, self._shared(paid) if paid else None,
                 last or old[3], now, number))
        bulk.insert_rows(s, self.table, self.insert_names, inserts)
        for filled, group in updates.items():
            names = [*compress(self.settable, filled), *_DERIVED, "updated_at"]
            bulk.update_rows(s, self.table, "id_number", names, group)
        return len(inserts), len(merged) - len(inserts)

    def _month_map(self, insurances: tuple[str, ...], month: str | None) -> dict[str, str]:
        """{insurance: month} for one row, one object for equal ones (never changed)."""
        if not month or not insurances:
            return {}
        key = (insurances, month)
        found = self.month_maps.get(key)
        if found is None:
            found = self._shared(dict.fromkeys(insurances, month))
            if len(self.month_maps) < _CACHE_LIMIT:
                self.month_maps[key] = found
        return found

    def _shared(self, paid: dict[str, str]) -> dict[str, str]:
        """One dict object for equal maps (never changed after this)."""
        key = tuple(paid.items())
        found = self.maps.get(key)
        if found is None:
            found = paid
            if len(self.maps) < _CACHE_LIMIT:
                self.maps[key] = paid
        return found

    def _decode(self, text: str | None) -> dict[str, str]:
        if not text:
            return {}
        found = self.decoded.get(text)
        if found is None:
            found = json.loads(text) or {}
            if len(self.decoded) < _CACHE_LIMIT:
                self.decoded[text] = found
        return found


def _merge_persons(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any] | _Merged]:
    """The chunk's rows by person: a person's only row as it is, or several rows merged (later
    columns win, insurances add up, months keep their max)."""
    merged: dict[str, dict[str, Any] | _Merged] = {}
    for r in rows:
        number = r["id_number"]
        seen = merged.get(number)
        if seen is None:
            merged[number] = r
            continue
        if seen.__class__ is dict:
            first = cast(dict[str, Any], seen)
            ins, month = first.get("insurances") or (), first.get("last_paid_month")
            seen = (dict(first), list(ins), dict.fromkeys(ins, month) if month else {}, month)
        given, insurances, paid, last = cast(_Merged, seen)
        given.update((k, v) for k, v in r.items() if v is not None)
        ins, month = r.get("insurances") or (), r.get("last_paid_month")
        insurances += [x for x in ins if x not in insurances]
        if month:
            for x in ins:
                paid[x] = max(paid.get(x, ""), month)
            last = max(last or "", month)
        merged[number] = (given, insurances, paid, last)
    return merged
