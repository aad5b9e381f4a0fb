"""Read-only queries behind `exchange batches`, `declarations`, `errors` and `report`."""
from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from exchange.errors import NotFound
from exchange.kinds.spec import KindSpec
from exchange.messages import DECLARATION_STATUS_LABELS, STATUS_ALIASES
from exchange.store.models import Batch, Declaration, FileRecord, RowError, Unit

STATUSES = ("pending", "submitted", "approved", "rejected", "withdrawn")
ENROLMENTS = ("new", "renewal", "transfer_in")


def window_clause(col: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    """[since, until) on a timestamp column."""
    return ([col >= since] if since else []) + ([col < until] if until else [])


def person_clause(id_col: Any, name_col: Any, person: str | None) -> list[Any]:
    """A person as a clerk types them: the ID (any case, full-width digits) or the exact name."""
    if not person:
        return []
    text = unicodedata.normalize("NFKC", person).strip()
    return [or_(id_col.in_(sorted({text, text.upper()})), name_col == text)]


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
            kind: str | None = None, person: str | None = None, since: datetime | None = None,
            until: datetime | None = None, limit: int | None = 100) -> list[BatchRow]:
    """Batches newest first; `kind` and `person` keep those holding such a declaration, `since`
    and `until` bound the submission time."""
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
    q = q.where(*window_clause(Batch.created_at, since, until))
    if kind or person:
        held = select(Declaration.batch_id).where(Declaration.batch_id.is_not(None),
                                                  *person_clause(Declaration.id_number, Declaration.name, person))
        if kind:
            held = held.where(Declaration.kind == kind)
        q = q.where(Batch.id.in_(held))
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
    enrolment: str | None = None      # resident_add: new | renewal | transfer_in

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def declarations(s: Session, *, unit: str | None = None, status: str | None = None,
                 kind: str | None = None, person: str | None = None, batch: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 enrolment: str | None = None, limit: int | None = 200) -> list[DeclarationRow]:
    """Declarations newest first; `since`/`until` bound the time they were imported (申报日期);
    `enrolment` keeps the resident enrolments the system judged 新参保/续保/调入."""
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
    q = q.where(*person_clause(Declaration.id_number, Declaration.name, person),
                *window_clause(Declaration.created_at, since, until))
    if batch:
        q = q.where(Batch.batch_no == batch)
    if enrolment:
        q = q.where(Declaration.kind == "resident_add",
                    Declaration.payload["enrolment"].as_string() == enrolment)
    if limit:
        q = q.limit(limit)
    # A head's registration (户主信息) is stored without an ID: its head's is shown.
    return [DeclarationRow(d.serial, d.unit_code, d.kind,
                           d.id_number or (d.payload or {}).get("head_id"), d.name, d.status, batch_no,
                           d.created_at, d.submitted_at, d.decided_at, d.decision_reason,
                           d.reviewer, file_name, d.row, (d.payload or {}).get("enrolment"))
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
           "UnitSummary", "STATUSES", "ENROLMENTS", "parse_period", "date_range", "status_of",
           "kind_of", "person_clause", "window_clause"]


def _day_text(text: str) -> str:
    """'2026/12/1', '2026.12', '2026年12月1日', full-width digits -> '2026-12-1', '2026-12'."""
    t = unicodedata.normalize("NFKC", text).strip()
    for sep in ("/", ".", "年", "月"):  # input grammar
        t = t.replace(sep, "-")
    return t.replace("日", "").strip("-")  # input grammar


def parse_period(text: str) -> tuple[datetime, datetime]:
    """A date as a clerk types it -> [since, until): '2026' (a year); '202611', '2026-11' or
    '2026年11月' (a month); '2026-11-22', '20261122' or '2026/11/22' (a day).

    Raises ValueError for anything else.
    """
    t = _day_text(text)
    parts = t.split("-")
    try:
        if len(parts) == 1 and t.isdigit() and len(t) in (4, 6, 8):
            parts = [t[:4], t[4:6], t[6:]][:len(t) // 2 - 1]
        if len(parts) == 1 and len(parts[0]) == 4:
            year = int(parts[0])
            return datetime(year, 1, 1), datetime(year + 1, 1, 1)
        if len(parts) == 2 and len(parts[0]) == 4 and parts[1].isdigit():
            start = datetime(int(parts[0]), int(parts[1]), 1)
            return start, datetime(start.year + (start.month == 12), start.month % 12 + 1, 1)
        if len(parts) == 3 and len(parts[0]) == 4 and all(x.isdigit() for x in parts):
            start = datetime(int(parts[0]), int(parts[1]), int(parts[2]))
            return start, start + timedelta(days=1)
    except ValueError:
        pass
    raise ValueError(f"{text!r}: expected a year, a month or a day "
                     "(2026, 2026-12, 202612, 2026-12-01, 20261201)")


def date_range(period: str | None = None, since: str | None = None,
               until: str | None = None) -> tuple[datetime | None, datetime | None]:
    """[since, until) of a period and/or a range whose ends are included: `since` '2026-11'
    starts on 1 November, `until` '2026-12' ends with 31 December. Raises ValueError."""
    lo, hi = parse_period(period) if period else (None, None)
    if since:
        start = parse_period(since)[0]
        lo = max(lo, start) if lo else start
    if until:
        end = parse_period(until)[1]
        hi = min(hi, end) if hi else end
    return lo, hi


def status_of(text: str) -> str:
    """A declaration state in English (pending ...) or as the pages say it (待提交, 已提交,
    待审核, 审核通过/通过, 审核不通过/不通过, 已回退/回退). Raises ValueError."""
    t = unicodedata.normalize("NFKC", text).strip()
    if t.lower() in STATUSES:
        return t.lower()
    for status, label in DECLARATION_STATUS_LABELS.items():
        if t == label:
            return status
    if t in STATUS_ALIASES:
        return STATUS_ALIASES[t]
    raise ValueError(f"unknown state {text!r} (known: {', '.join(STATUSES)}, "
                     f"{'/'.join(DECLARATION_STATUS_LABELS.values())})")


def kind_of(kinds: dict[str, KindSpec], text: str) -> str:
    """A kind by its name (employee_add) or as the pages name it (its label or title, e.g.
    职工增加申报). Raises ValueError."""
    t = unicodedata.normalize("NFKC", text).strip()
    if t in kinds:
        return t
    for name, spec in kinds.items():
        if t in (spec.label, spec.title):
            return name
    raise ValueError(f"unknown kind {text!r} (known: {', '.join(sorted(kinds))})")
