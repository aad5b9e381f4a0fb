"""Submission (提交): each unit's pending declarations go into one numbered batch (批次号).

A batch number is `<unit>-<YYYYMMDD>-<seq>` (e.g. 1001-20261122-001), unique in the database.
Declarations move from pending to submitted with a compare-and-set on their status, so two
nodes submitting at once cannot put a declaration into two batches; the loser's empty batch is
dropped. Documents (the unit's roster PDF, the centre's review workbook) are written after the
commit and re-written by the next run if a crash lost them, so the job is idempotent.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from exchange.config import CENTRE, Instance
from exchange.errors import UNIT_OF, each_unit, hand_on
from exchange.messages import DOC_NAMES, REVIEW_WORDS as RW
from exchange.outputs.review_book import ReviewLine, write_review_book
from exchange.residents import class_stop_members
from exchange.review.display import content, declaration_label, member_lines
from exchange.review.reports import write_batch_roster
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Batch, Declaration, FileRecord, Unit

log = logging.getLogger("exchange.review")

IN_CHUNK = 900
MAX_TRIES = 5
T = TypeVar("T")


@dataclass
class Submitted:
    batch_id: int
    batch_no: str
    unit_code: str
    count: int
    documents: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"batch_no": self.batch_no, "unit": self.unit_code, "count": self.count,
                "documents": [str(p) for p in self.documents]}


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def next_number(s: Session, column: Any, prefix: str) -> str:
    """`prefix` and the next free 3-digit sequence among the values of `column` (unique)."""
    taken = s.scalars(select(column).where(column.like(prefix + "%"))).all()
    seqs = [int(no[len(prefix):]) for no in taken
            if no.startswith(prefix) and no[len(prefix):].isdigit()]
    return f"{prefix}{max(seqs, default=0) + 1:03d}"


def next_batch_no(s: Session, unit_code: str, when: datetime) -> str:
    return next_number(s, Batch.batch_no, f"{unit_code}-{when:%Y%m%d}-")


def numbered(db: Database, what: str, make: Callable[[Session], T]) -> T:
    """`make(session)` in a transaction that takes a unique number (next_number); run again
    when another node took the number between reading and inserting, or (SQLite) won the write
    lock after this transaction had read."""
    for attempt in range(MAX_TRIES):
        try:
            with db.session() as s:
                return make(s)
        except IntegrityError:
            log.info("%s: number taken concurrently, retrying", what)
        except OperationalError as exc:
            if not db.is_sqlite or "locked" not in str(exc):
                raise
            log.info("%s: database busy, retrying", what)
            time.sleep(0.1 * (attempt + 1))
    raise RuntimeError(f"{what}: could not allocate a number")


def pending_units(s: Session, unit: str | None = None) -> list[str]:
    q = select(Declaration.unit_code).distinct().where(Declaration.status == "pending")
    if unit:
        q = q.where(Declaration.unit_code == unit)
    return sorted(s.scalars(q).all())


def submit_in(s: Session, unit_code: str, actor: str, when: datetime,
              serials: Sequence[int] | None = None) -> Submitted | None:
    """In the caller's transaction: the unit's pending declarations (those of `serials` only,
    when given: a 待提交清单 the unit sent back) into a new batch. None when none is pending."""
    q = select(Declaration.serial).where(Declaration.unit_code == unit_code,
                                         Declaration.status == "pending")
    pending = list(s.scalars(q.order_by(Declaration.serial)))
    if serials is not None:
        wanted = set(serials)
        pending = [x for x in pending if x in wanted]
    if not pending:
        return None
    batch = Batch(batch_no=next_batch_no(s, unit_code, when), unit_code=unit_code,
                  status="submitted", count=0, created_at=when)
    s.add(batch)
    s.flush()
    for i in range(0, len(pending), IN_CHUNK):
        s.execute(update(Declaration).where(
            Declaration.serial.in_(pending[i:i + IN_CHUNK]),
            Declaration.status == "pending").values(
            status="submitted", batch_id=batch.id, submitted_at=when)
            .execution_options(synchronize_session=False))
    done = s.execute(select(Declaration.serial, Declaration.file_id, Declaration.row)
                     .where(Declaration.batch_id == batch.id)
                     .order_by(Declaration.serial)).all()
    if not done:                      # another node took them all first
        s.delete(batch)
        return None
    batch.count = len(done)
    Q.add_audit(s, [{"at": when, "actor": actor, "action": "submit", "serial": serial,
                     "file_id": file_id, "row": row, "detail": batch.batch_no}
                    for serial, file_id, row in done])
    log.info("unit=%s batch=%s submitted %d declarations", unit_code, batch.batch_no, len(done))
    return Submitted(batch.id, batch.batch_no, unit_code, len(done))


def _submit_unit(db: Database, unit_code: str, actor: str, when: datetime) -> Submitted | None:
    return numbered(db, f"unit={unit_code} submission",
                    lambda s: submit_in(s, unit_code, actor, when))


def submit_pending(instance: Instance, db: Database, *, unit: str | None = None,
                   actor: str = "system", now: datetime | None = None,
                   failed: list[str] | None = None) -> list[Submitted]:
    """Submit every unit's (or one unit's) pending declarations, one batch per unit, and write
    the batch documents. Returns the new batches; none when nothing was pending. A unit whose
    part fails is logged and added to `failed` (else UnitsFailed at the end); the others go on."""
    when = now or _now()
    with db.session() as s:
        units = pending_units(s, unit)
    missed: list[str] = []
    batches = [b for b in each_unit(units, lambda code: _submit_unit(db, code, actor, when),
                                    what="submission", failed=missed) if b is not None]

    def document(b: Submitted) -> None:
        b.documents = write_batch_documents(instance, db, b.batch_id)

    # Small batches first: a unit's 60,000-row roster (minutes) holds up no other unit's. A
    # batch whose documents failed stays submitted; ensure_documents writes them next time.
    each_unit(sorted(batches, key=lambda b: b.count), document, what="batch documents", unit=UNIT_OF,
              failed=missed)
    instance.changed(b.unit_code for b in batches)   # their status books and 待提交清单
    hand_on(f"submission: {len(batches)} batch(es)", missed, failed)
    return batches


# Documents -------------------------------------------------------------------------------------
def roster_path(instance: Instance, batch: Batch) -> Path:
    return instance.unit_outbox(batch.unit_code, "rosters") / DOC_NAMES["batch_roster"].format(
        batch=batch.batch_no)


def review_book_path(instance: Instance, batch: Batch) -> Path:
    return instance.unit_outbox(CENTRE, "batches") / DOC_NAMES["review_book"].format(
        batch=batch.batch_no)


def review_lines(instance: Instance, s: Session, batch: Batch) -> list[ReviewLine]:
    rules = instance.rules
    q = (select(Declaration, FileRecord.name).outerjoin(FileRecord, FileRecord.id == Declaration.file_id)
         .where(Declaration.batch_id == batch.id).order_by(Declaration.kind, Declaration.serial))
    found = s.execute(q).all()
    members = class_stop_members(s, [d for d, _ in found])
    lines = []
    for d, file_name in found:
        kind = rules.kinds.get(d.kind)
        label = declaration_label(rules.kinds, d)
        where = RW["file_row"].format(file=file_name, row=d.row) if file_name else ""
        class_name, pupils = member_lines(d, members)
        lines.append(ReviewLine(d.serial, label, d.id_number, class_name or d.name,
                                content(kind, d.payload or {}, d.old_values, rules.tables), where,
                                d.submitted_at))
        lines += [ReviewLine(d.serial, label, number, name, text, "", None, member_of=d.serial)
                  for number, name, text in pupils]
    return lines


def write_batch_documents(instance: Instance, db: Database, batch_id: int, *,
                          which: Sequence[str] = ("roster", "review")) -> list[Path]:
    """The unit's submission roster (PDF, for stamping) and the centre's review workbook."""
    written = []
    with db.session() as s:
        batch = s.get(Batch, batch_id)
        if batch is None:
            return []
        unit = s.get(Unit, batch.unit_code)
        if "roster" in which:
            written.append(write_batch_roster(instance, s, batch).path)
        if "review" in which:
            written.append(write_review_book(
                review_book_path(instance, batch), centre=instance.settings.name,
                batch_no=batch.batch_no, unit_code=batch.unit_code,
                unit_name=unit.name if unit else "", submitted_at=batch.created_at,
                lines=review_lines(instance, s, batch)))
    return written


def ensure_documents(instance: Instance, db: Database, failed: list[str] | None = None
                     ) -> list[Path]:
    """Write the documents of unreviewed batches that are missing (e.g. after a crash)."""
    with db.session() as s:
        batches = list(s.scalars(select(Batch).where(Batch.status == "submitted")))

    def repair(b: Batch) -> list[Path]:
        missing = [w for w, path in (("roster", roster_path(instance, b)),
                                      ("review", review_book_path(instance, b))) if not path.exists()]
        if not missing:
            return []
        log.warning("batch=%s: writing missing documents %s", b.batch_no, ",".join(missing))
        return write_batch_documents(instance, db, b.id, which=missing)

    return [p for paths in each_unit(batches, repair, what="batch documents", unit=UNIT_OF,
                                     failed=failed) for p in paths]


__all__ = ["submit_pending", "submit_in", "write_batch_documents", "ensure_documents", "next_batch_no", "next_number",
           "numbered",
           "Submitted", "roster_path", "review_book_path"]
