"""Reads and writes the pipeline and the CLI share. Bulk where a file can be large."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, Iterable, Sequence, cast

from sqlalchemy import (ARRAY, ColumnElement, CursorResult, DateTime, String, Table, any_, bindparam,
                        func, insert, literal, literal_column, select, update)
from sqlalchemy.orm import Session

from exchange.config import CENTRE
from exchange.checks.context import INSURED, OpenDeclaration, PersonRecord, UnitRecord
from exchange.store import bulk
from exchange.store.models import (IMPORTED_STATUSES, OPEN_STATUSES, AuditEntry, Declaration,
                                   FileRecord, JobRun, Person, RowError, Unit)

IN_CHUNK = 900   # below SQLite's bound-parameter limit
LIST_CHUNK = 10_000   # values per among() list


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), LIST_CHUNK):
        yield items[i:i + LIST_CHUNK]


def among(s: Session, column: Any, values: list[Any]) -> ColumnElement[bool]:
    """`column IN (values)` with the values as one parameter: json_each() on SQLite, = ANY(array)
    on PostgreSQL. An IN list of bound parameters is rebuilt by SQLAlchemy at every execution,
    one parameter at a time: most of the lookups' cost for a large file. The index serves both.

    `SELECT value FROM json_each(?)` is spelt with a literal column, not a table-valued alias:
    the alias and its column refer to each other, and each such cycle kept its ~100 KB of JSON
    until the collector (run seldom: exchange.config.COLLECTOR_THRESHOLDS) came by, ~12 MB
    over a 500,000-row file."""
    if s.get_bind().dialect.name == "sqlite":
        each = select(literal_column("value")).select_from(func.json_each(json.dumps(values)))
        return cast(ColumnElement[bool], column.in_(each))
    return cast(ColumnElement[bool], column == any_(bindparam(None, values, type_=ARRAY(column.type))))


def insured_count(s: Session, unit_code: str) -> int:
    """How many persons are insured in the unit now (as its pre-filled templates list them)."""
    return s.scalar(select(func.count()).select_from(Person).where(
        Person.unit_code == unit_code, Person.status == INSURED)) or 0


def unit_codes(s: Session, only: str | None = None) -> list[str]:
    """The units' codes in order (the centre's own login is none), or `only`'s if it is one."""
    q = select(Unit.code).where(Unit.code != CENTRE).order_by(Unit.code)
    return list(s.scalars(q if only is None else q.where(Unit.code == only)))


def unit_record(s: Session, code: str) -> UnitRecord | None:
    unit = s.get(Unit, code)
    if unit is None:
        return None
    extra = {k: getattr(unit, k) for k in ("address", "postcode", "contact_name", "contact_phone",
                                            "contact_mobile", "credit_code", "email")}
    return UnitRecord(unit.code, unit.name, unit.unit_type, Decimal(unit.arrears or 0), extra)


def person_record(p: Person) -> PersonRecord:
    return PersonRecord(
        id_number=p.id_number, name=p.name, person_no=p.person_no, sex=p.sex,
        birth_date=p.birth_date, unit_code=p.unit_code, status=p.status,
        insurances=tuple(x for x in (p.insurances or "").split(",") if x),
        paid_months=dict(p.paid_months or {}), last_paid_month=p.last_paid_month,
        arrears=Decimal(p.arrears or 0), wage_base=p.wage_base, household_head=p.household_head,
        class_code=p.class_code, staff_no=p.staff_no, extra=dict(p.extra or {}),
        stopped_after=p.stopped_after, insured_from=p.insured_from)


def persons(s: Session, ids: Iterable[str]) -> dict[str, PersonRecord]:
    out = {}
    for chunk in _chunks(sorted(set(ids))):
        for p in s.scalars(select(Person).where(among(s, Person.id_number, chunk))):
            out[p.id_number] = person_record(p)
    return out


def _open(d: Any) -> OpenDeclaration:
    return OpenDeclaration(d.serial, d.kind, d.status, d.unit_code, d.id_number)


def open_declarations(s: Session, ids: Iterable[str]) -> dict[str, OpenDeclaration]:
    """Each person's unreviewed declaration (pending or submitted), whatever the unit."""
    out = {}
    cols = (Declaration.serial, Declaration.kind, Declaration.status, Declaration.unit_code,
            Declaration.id_number)
    for chunk in _chunks(sorted(set(ids))):
        # The status is filtered here, not in WHERE: given a long IN list, SQLite prefers the
        # status index and walks every pending declaration of every unit, for each chunk.
        for d in s.execute(select(*cols).where(among(s, Declaration.id_number, chunk))):
            if d.status in OPEN_STATUSES:
                out[d.id_number] = _open(d)
    return out


def person_declarations(s: Session, ids: Iterable[str]) -> list[OpenDeclaration]:
    """Every declaration of these persons, whatever its unit and status, with its fingerprint."""
    out = []
    cols = (Declaration.serial, Declaration.kind, Declaration.status, Declaration.unit_code,
            Declaration.id_number, Declaration.fingerprint)
    for chunk in _chunks(sorted(set(ids))):
        for d in s.execute(select(*cols).where(among(s, Declaration.id_number, chunk))):
            out.append(OpenDeclaration(d.serial, d.kind, d.status, d.unit_code, d.id_number,
                                       d.fingerprint))
    return out


def imported_fingerprints(s: Session, unit: str, fingerprints: Iterable[str]) -> dict[str, int]:
    """Imported declarations without an ID, of this unit, by fingerprint (a row with an ID is
    matched through its person's declarations, see judge.FileRun.context)."""
    out = {}
    for chunk in _chunks(sorted(set(fingerprints))):
        # Only the fingerprint in WHERE: with the unit there too, SQLite walks the unit's index
        # (every declaration the unit ever made) instead of looking up each fingerprint.
        q = select(Declaration.fingerprint, Declaration.serial, Declaration.unit_code,
                   Declaration.status).where(among(s, Declaration.fingerprint, chunk),
                                             Declaration.id_number.is_(None))   # the index's rows
        for fp, serial, unit_code, status in s.execute(q):
            if unit_code == unit and status in IMPORTED_STATUSES:
                out[fp] = serial
    return out


def unit_declarations(s: Session, unit: str, serials: Iterable[int], ids: Iterable[str]
                      ) -> tuple[dict[int, OpenDeclaration], dict[str, list[OpenDeclaration]]]:
    """A unit's declarations named by serial or by person: what a withdrawal may target."""
    cols = (Declaration.serial, Declaration.kind, Declaration.status, Declaration.unit_code,
            Declaration.id_number)
    by_serial: dict[int, OpenDeclaration] = {}
    for chunk in _chunks(sorted(set(serials))):
        for d in s.execute(select(*cols).where(among(s, Declaration.serial, chunk))):
            by_serial[d.serial] = _open(d)
    by_person: dict[str, list[OpenDeclaration]] = {}
    for chunk in _chunks(sorted(set(ids))):
        # Unit and status filtered here, for the same reason as in open_declarations().
        q = (select(*cols).where(among(s, Declaration.id_number, chunk))
             .order_by(Declaration.serial.desc()))
        for d in s.execute(q):
            if d.unit_code == unit and d.status != "withdrawn":
                by_person.setdefault(d.id_number, []).append(_open(d))
    return by_serial, by_person




# Bulk inserts: the rows a column at a time to the driver (store/bulk.py): one prepared INSERT
# and executemany of tuples on SQLite, COPY on PostgreSQL; no ORM object and no Core parameter
# set per row (several times the cost of the driver's own work).
def _columns(table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[Sequence[Any]]]:
    """The rows' keys and each key's values, in the rows' order. Every row has the same keys;
    a column with a Python-side default that they leave out gets its default, one value for
    all of them (Core would compute it a row at a time)."""
    keys = rows[0].keys()
    if set(map(len, rows)) != {len(keys)}:       # with every key of the first (KeyError below)
        raise ValueError(f"rows for {table.name} differ in their keys")
    names = list(keys)
    columns: list[Sequence[Any]] = [list(map(itemgetter(k), rows)) for k in names]
    for c in table.c:
        if c.default is not None and c.name not in keys:
            value = c.default.arg(None) if c.default.is_callable else c.default.arg  # type: ignore[attr-defined]
            names.append(c.name)
            columns.append([value] * len(rows))
    return names, columns


def update_many(s: Session, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
    """UPDATE table SET <the rows' other keys> WHERE key = row[key], for rows that all have the
    same keys, each key once (see bulk.update_rows). Columns with an `onupdate` must be given:
    no Python-side default is applied."""
    if rows:
        names = [k for k in rows[0] if k != key]
        bulk.update_rows(s, table, key, names, [[r[k] for k in names] + [r[key]] for r in rows])


def insert_many(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in bulk (rows with the same keys; see _columns)."""
    if rows:
        bulk.insert_columns(s, table, *_columns(table, rows))


def add_declarations(s: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert declarations in bulk and return their serials in the order of the rows (see
    bulk.insert_keyed: distinct and in row order, whatever other nodes import meanwhile)."""
    if not rows:
        return []
    return bulk.insert_keyed(s, cast(Table, Declaration.__table__), "serial", *_columns(
        cast(Table, Declaration.__table__), rows))


def add_audit(s: Session, rows: list[dict[str, Any]]) -> None:
    insert_many(s, cast(Table, AuditEntry.__table__), rows)


def audit_imported(s: Session, file_id: int, serials: list[int], at: datetime, actor: str) -> None:
    """The audit row of each declaration just imported from a file (who, when, which file and
    row), made by the database from the declarations themselves in one statement.

    `serials` are one chunk's, in one transaction: this file's earlier chunks are below them,
    and another file's declarations among them (another node's, drawn from the sequence at the
    same moment on PostgreSQL) are left out by their file."""
    if not serials:
        return
    d, a = cast(Table, Declaration.__table__), cast(Table, AuditEntry.__table__)
    rows = select(literal(at, DateTime), literal(actor, String), literal("import", String), d.c.serial,
                  d.c.file_id, d.c.row, d.c.kind).where(
        d.c.file_id == file_id, d.c.serial.between(min(serials), max(serials))).order_by(d.c.serial)
    s.execute(insert(a).from_select(["at", "actor", "action", "serial", "file_id", "row", "detail"],
                                    rows))


def add_row_errors(s: Session, rows: list[dict[str, Any]]) -> None:
    insert_many(s, cast(Table, RowError.__table__), rows)


# A file's row is written three times a file, by plain statements on its table: the ORM's
# unit of work (an object added and flushed: 0.13 ms against 0.10) and its bulk update (which
# looks at the session's objects first: 0.25 ms against 0.11) cost ~0.3 ms more a file.
def add_file(s: Session, **values: Any) -> int:
    """A new file's row; its id."""
    files = cast(Table, FileRecord.__table__)
    return int(s.execute(insert(files).values(**values)).inserted_primary_key[0])


def update_file(s: Session, file_id: int, **values: Any) -> int:
    """Change one file's row; the number of rows changed."""
    files = cast(Table, FileRecord.__table__)
    done = cast(CursorResult[Any], s.execute(update(files).where(files.c.id == file_id)
                                             .values(**values)))
    return done.rowcount


def audit(s: Session, actor: str, action: str, *, serial: int | None = None,
          file_id: int | None = None, row: int | None = None, detail: str | None = None) -> None:
    s.add(AuditEntry(at=datetime.now().replace(microsecond=0), actor=actor, action=action,
                     serial=serial, file_id=file_id, row=row, detail=detail))


# Claims: a `files` row is held by `node` until `lease_until`, and is done once `stored_path` is
# set (placed in the archive or quarantine). Every change of holder is a compare-and-set on the
# (node, lease_until) a taker saw, so of two nodes taking the same row exactly one succeeds.
@dataclass(frozen=True)
class Unplaced:
    """A file not yet archived or quarantined, and who holds it until when."""
    file_id: int
    unit: str
    name: str
    status: str
    node: str | None
    lease_until: datetime | None
    received_at: datetime
    work_path: str | None
    attempts: int = 1            # times the claim was taken so far


def unplaced_files(s: Session) -> list[Unplaced]:
    q = select(FileRecord.id, FileRecord.unit_code, FileRecord.name, FileRecord.status,
               FileRecord.node, FileRecord.lease_until, FileRecord.received_at,
               FileRecord.work_path, FileRecord.attempts).where(FileRecord.stored_path.is_(None)).order_by(FileRecord.id)
    return [Unplaced(*row) for row in s.execute(q)]


def last_job_runs(s: Session) -> dict[str, JobRun]:
    """The newest run of every job that has run, by job id."""
    last = select(func.max(JobRun.id)).group_by(JobRun.job)
    return {r.job: r for r in s.scalars(select(JobRun).where(JobRun.id.in_(last)))}


def registered(s: Session, work_name: str) -> bool:
    """Whether a file in var/processing has its row (matched by name: mount paths may differ)."""
    q = select(FileRecord.id).where(FileRecord.work_path.endswith("/" + work_name, autoescape=True))
    return s.scalar(q.limit(1)) is not None


def renew_lease(s: Session, file_id: int, node: str, until: datetime) -> bool:
    """Extend this node's hold on an unplaced file; False when it is no longer this node's."""
    done = cast(CursorResult[Any], s.execute(update(FileRecord).where(
        FileRecord.id == file_id, FileRecord.node == node, FileRecord.stored_path.is_(None)
    ).values(lease_until=until).execution_options(synchronize_session=False)))
    return done.rowcount == 1


def renew_job_run(s: Session, run_id: int, node: str, until: datetime) -> bool:
    """Extend this node's hold on a running job; False when it is no longer this node's."""
    done = cast(CursorResult[Any], s.execute(update(JobRun).where(
        JobRun.id == run_id, JobRun.node == node, JobRun.finished_at.is_(None)
    ).values(lease_until=until).execution_options(synchronize_session=False)))
    return done.rowcount == 1


def take_job_run(s: Session, seen: JobRun, node: str, until: datetime, *,
                 closed_at: datetime | None = None, outcome: str | None = None) -> bool:
    """Become the runner of an unfinished job run if nobody changed its runner or lease since
    it was read (and with `closed_at`, close it with `outcome` at once)."""
    values: dict[str, Any] = {"node": node, "lease_until": until}
    if closed_at is not None:
        values.update(finished_at=closed_at, outcome=outcome)
    done = cast(CursorResult[Any], s.execute(update(JobRun).where(
        JobRun.id == seen.id, JobRun.finished_at.is_(None),
        JobRun.node.is_not_distinct_from(seen.node),
        JobRun.lease_until.is_not_distinct_from(seen.lease_until),
    ).values(**values).execution_options(synchronize_session=False)))
    return done.rowcount == 1


def take_over(s: Session, seen: Unplaced, node: str, until: datetime, count: bool = True) -> bool:
    """Become the holder of `seen` if nobody changed its holder or lease since it was read;
    with `count`, one more take in its `attempts`."""
    values: dict[str, Any] = {"node": node, "lease_until": until}
    if count:
        values["attempts"] = FileRecord.attempts + 1
    done = cast(CursorResult[Any], s.execute(update(FileRecord).where(
        FileRecord.id == seen.file_id, FileRecord.stored_path.is_(None),
        FileRecord.node.is_not_distinct_from(seen.node),
        FileRecord.lease_until.is_not_distinct_from(seen.lease_until),
    ).values(**values).execution_options(synchronize_session=False)))
    return done.rowcount == 1

