"""Read-only queries behind `exchange batches`, `declarations`, `errors` and `report`."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from exchange.errors import NotFound
from exchange.kinds.spec import KindSpec
from exchange.store.models import Batch, Declaration, FileRecord, RowError, Unit

STATUSES = ("pending", "submitted", "approved", "rejected", "withdrawn")


@dataclass(frozen=True)
class BatchRow:
    batch_no: str
    unit: str
    status: str
    count: int
    approved: int
    rejected: int
    waiting: int
    created_at: datetime
    reviewed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def batches(s: Session, *, unit: str | None = None, status: str | None = None,
            limit: int | None = 100) -> list[BatchRow]:
    counts = (select(Declaration.batch_id,
                     func.sum(case((Declaration.status == "approved", 1), else_=0)).label("ok"),
                     func.sum(case((Declaration.status == "rejected", 1), else_=0)).label("no"),
                     func.sum(case((Declaration.status == "submitted", 1), else_=0)).label("wait"))
              .where(Declaration.batch_id.is_not(None)).group_by(Declaration.batch_id).subquery())
    q = (select(Batch, counts.c.ok, counts.c.no, counts.c.wait)
         .outerjoin(counts, counts.c.batch_id == Batch.id).order_by(Batch.id.desc()))
    if unit:
        q = q.where(Batch.unit_code == unit)
    if status:
        q = q.where(Batch.status == status)
    if limit:
        q = q.limit(limit)
    return [BatchRow(b.batch_no, b.unit_code, b.status, b.count, int(ok or 0), int(no or 0),
                     int(wait or 0), b.created_at, b.reviewed_at) for b, ok, no, wait in s.execute(q)]


def batch_by_no(s: Session, batch_no: str) -> Batch:
    batch = s.scalar(select(Batch).where(Batch.batch_no == batch_no))
    if batch is None:
        raise NotFound(f"no batch {batch_no!r}")
    return batch


@dataclass(frozen=True)
class DeclarationRow:
    serial: int
    unit: str
    kind: str
    id_number: str | None
    name: str | None
    status: str
    batch_no: str | None
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    reason: str | None
    reviewer: str | None
    file: str | None
    row: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def declarations(s: Session, *, unit: str | None = None, status: str | None = None,
                 kind: str | None = None, person: str | None = None, batch: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int | None = 200) -> list[DeclarationRow]:
    q = (select(Declaration, Batch.batch_no, FileRecord.name)
         .outerjoin(Batch, Batch.id == Declaration.batch_id)
         .outerjoin(FileRecord, FileRecord.id == Declaration.file_id)
         .order_by(Declaration.serial.desc()))
    if unit:
        q = q.where(Declaration.unit_code == unit)
    if status:
        q = q.where(Declaration.status == status)
    if kind:
        q = q.where(Declaration.kind == kind)
    if person:
        q = q.where(or_(Declaration.id_number == person.upper(), Declaration.name == person))
    if batch:
        q = q.where(Batch.batch_no == batch)
    if since:
        q = q.where(Declaration.created_at >= since)
    if until:
        q = q.where(Declaration.created_at < until)
    if limit:
        q = q.limit(limit)
    return [DeclarationRow(d.serial, d.unit_code, d.kind, d.id_number, d.name, d.status, batch_no,
                           d.created_at, d.submitted_at, d.decided_at, d.decision_reason,
                           d.reviewer, file_name, d.row)
            for d, batch_no, file_name in s.execute(q)]


@dataclass(frozen=True)
class UnitSummary:
    unit: str
    name: str
    pending: int
    submitted: int
    approved: int
    rejected: int
    withdrawn: int
    batches: int
    files: int
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summary(s: Session, *, unit: str | None = None, since: datetime | None = None,
            until: datetime | None = None) -> list[UnitSummary]:
    """Per unit: declarations by status, batches, files and error-log entries (in the period)."""
    def period(col: Any) -> list[Any]:
        out = []
        if since:
            out.append(col >= since)
        if until:
            out.append(col < until)
        return out

    names = dict(s.execute(select(Unit.code, Unit.name)).all())
    by: dict[str, dict[str, int]] = {}

    def bump(code: str, key: str, n: Any) -> None:
        by.setdefault(code, {k: 0 for k in (*STATUSES, "batches", "files", "errors")})[key] += int(n or 0)

    q = select(Declaration.unit_code, Declaration.status, func.count()).where(
        *period(Declaration.created_at)).group_by(Declaration.unit_code, Declaration.status)
    for code, status, n in s.execute(q):
        if status in STATUSES:
            bump(code, status, n)
    for code, n in s.execute(select(Batch.unit_code, func.count()).where(
            *period(Batch.created_at)).group_by(Batch.unit_code)):
        bump(code, "batches", n)
    for code, n in s.execute(select(FileRecord.unit_code, func.count()).where(
            *period(FileRecord.received_at)).group_by(FileRecord.unit_code)):
        bump(code, "files", n)
    for code, n in s.execute(select(RowError.unit_code, func.count()).where(
            *period(RowError.created_at)).group_by(RowError.unit_code)):
        bump(code, "errors", n)
    rows = []
    for code in sorted(by):
        if unit and code != unit:
            continue
        f = by[code]
        rows.append(UnitSummary(code, names.get(code, ""), f["pending"], f["submitted"],
                                f["approved"], f["rejected"], f["withdrawn"], f["batches"],
                                f["files"], f["errors"]))
    return rows


def kind_names(kinds: dict[str, KindSpec]) -> list[str]:
    return sorted(kinds)


__all__ = ["batches", "batch_by_no", "declarations", "summary", "BatchRow", "DeclarationRow",
           "UnitSummary", "STATUSES"]


def parse_period(text: str) -> tuple[datetime, datetime]:
    """'2026' (a year), '202611' or '2026-11' (a month), '2026-11-22' (a day) -> [since, until).

    Raises ValueError for anything else.
    """
    t = text.strip()
    digits = t.replace("-", "")
    try:
        if len(t) == 4 and t.isdigit():
            return datetime(int(t), 1, 1), datetime(int(t) + 1, 1, 1)
        if len(digits) == 6 and digits.isdigit() and len(t) in (6, 7):
            start = datetime(int(digits[:4]), int(digits[4:]), 1)
            return start, datetime(start.year + (start.month == 12), start.month % 12 + 1, 1)
        if len(t) == 10:
            start = datetime.strptime(t, "%Y-%m-%d")
            return start, start + timedelta(days=1)
    except ValueError:
        pass
    raise ValueError(f"period {text!r}: expected YYYY, YYYYMM, YYYY-MM or YYYY-MM-DD")
