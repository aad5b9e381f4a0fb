"""照片审核: the centre reviews the ID photos units upload, on a workbook, as it reviews batches.

Sending: every unit's pending photos that are on no review yet go on a numbered review
workbook (照片审核单 `ZP-<unit>-<YYYYMMDD>-<seq>`, at most PHOTOS_PER_REVIEW photos each) in
outbox/_centre/photos/, each photo shown in its row beside the person it is of. Photos are put
on a review with a compare-and-set, so two nodes cannot put one photo on two reviews; a
workbook lost to a crash after the commit is written again by the next run.

Deciding: the back office fills 审核结论 (通过/不通过, a reason for 不通过) and drops the
workbook (or a CSV with its columns) into inbox/_centre/. A decision is applied once, by a
compare-and-set from pending; the same decision again is harmless; one that contradicts the
recorded decision, names a photo replaced meanwhile by a newer upload of the same person
(superseded), or a photo that is not on the workbook's review, is refused with a reason in the
centre's receipt. A rejected photo is kept in the error log (review.photo_rejected). The unit
then receives the review's result workbook in outbox/<unit>/results/; a newer upload of the
same person starts its own review.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Iterable, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks.values import parse_integer
from exchange.config import CENTRE, Instance
from exchange.errors import UNIT_OF, each_unit, hand_on
from exchange.kinds.spec import KindSpec
from exchange.messages import (CONCLUSIONS, DOC_NAMES, PHOTO_REVIEW_HEADERS as H,
                               PHOTO_REVIEW_WORDS as PW, PHOTO_STATUS_LABELS, UNDECIDED_LABEL,
                               row_message)
from exchange.outputs.photo_book import (PHOTO_REVIEW_KIND, PhotoLine, write_photo_result_book,
                                         write_photo_review_book)
from exchange.photos import PHOTO_KIND, people_of_unit
from exchange.review.decisions import (APPROVED, REJECTED, DecisionRow, Refusals, ReviewReport,
                                       close_when_decided, decision_spec, decisions_receipt,
                                       decision_text, load_by_key, missing_results,
                                       read_conclusion, row_group, shows_person, who)
from exchange.review.submit import next_number, numbered
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Photo, PhotoReview, RowError, Unit

log = logging.getLogger("exchange.review")

PHOTOS_PER_REVIEW = 300          # ~20 KB a photo: a workbook of ~6 MB opens quickly
PENDING = "pending"


def photo_review_spec() -> KindSpec:
    """The photo review workbook's columns as a kind (exchange.review.decisions.decision_spec)."""
    return decision_spec(PHOTO_REVIEW_KIND, PW["kind_photo_review"], H["photo_id"], H["review_no"],
                         "photo", H["id_number"])


PHOTO_REFUSALS = Refusals(C.REVIEW_PHOTO_INVALID, C.REVIEW_PHOTO_REASON_REQUIRED)


@dataclass
class PhotoReviewReport(ReviewReport):
    """What one photo decisions file did: the centre's receipt."""
    KIND: ClassVar[str] = PHOTO_REVIEW_KIND
    GROUP: ClassVar[tuple[str, str]] = ("review", "reviews")
    KEY: ClassVar[str] = "photo"
    SUMMARY: ClassVar[tuple[str, str]] = (PW["receipt_summary"], PW["receipt_summary_noreview"])


@dataclass
class SentReview:
    review_id: int
    review_no: str
    unit_code: str
    count: int
    documents: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"review_no": self.review_no, "unit": self.unit_code, "count": self.count,
                "documents": [str(p) for p in self.documents]}


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


# Sending -----------------------------------------------------------------------------------------
def _waiting_units(s: Session, unit: str | None) -> list[str]:
    q = select(Photo.unit_code).distinct().where(Photo.status == PENDING, Photo.review_id.is_(None))
    if unit:
        q = q.where(Photo.unit_code == unit)
    return sorted(s.scalars(q).all())


def _send_unit(db: Database, unit_code: str, actor: str, when: datetime) -> SentReview | None:
    """One review of up to PHOTOS_PER_REVIEW of the unit's waiting photos; None when none wait."""
    def send(s: Session) -> SentReview | None:
        ids = list(s.scalars(select(Photo.id).where(
            Photo.unit_code == unit_code, Photo.status == PENDING, Photo.review_id.is_(None))
            .order_by(Photo.id).limit(PHOTOS_PER_REVIEW)))
        if not ids:
            return None
        review = PhotoReview(review_no=next_number(s, PhotoReview.review_no,
                                                   f"ZP-{unit_code}-{when:%Y%m%d}-"),
                             unit_code=unit_code, status="sent", count=0, created_at=when)
        s.add(review)
        s.flush()
        s.execute(update(Photo).where(Photo.id.in_(ids), Photo.status == PENDING,
                                      Photo.review_id.is_(None)).values(review_id=review.id)
                  .execution_options(synchronize_session=False))
        taken = s.scalar(select(func.count()).select_from(Photo).where(Photo.review_id == review.id))
        if not taken:                       # another node took them all first
            s.delete(review)
            return None
        review.count = taken
        Q.audit(s, actor, "photo.sent", detail=f"{review.review_no} photos={taken}")
        log.info("unit=%s photo review=%s: %d photo(s)", unit_code, review.review_no, taken)
        return SentReview(review.id, review.review_no, unit_code, taken)
    return numbered(db, f"unit={unit_code} photo review", send)


def send_photo_reviews(instance: Instance, db: Database, *, unit: str | None = None,
                       actor: str = "system", now: datetime | None = None,
                       failed: list[str] | None = None) -> list[SentReview]:
    """Put every unit's (or one unit's) waiting photos on review workbooks and write them. A
    unit whose part fails is logged and added to `failed` (else UnitsFailed at the end)."""
    when = now or _now()
    close_finished(db, when)
    with db.session() as s:
        units = _waiting_units(s, unit)

    def send(code: str) -> list[SentReview]:
        reviews = []
        while (review := _send_unit(db, code, actor, when)) is not None:
            reviews.append(review)
        return reviews

    def document(review: SentReview) -> None:
        review.documents = [write_review_document(instance, db, review.review_id)]

    missed: list[str] = []
    sent = [r for rs in each_unit(units, send, what="photo reviews", failed=missed) for r in rs]
    # A review whose workbook failed stays sent; ensure_photo_documents writes it next time.
    each_unit(sent, document, what="photo review workbooks", unit=UNIT_OF, failed=missed)
    hand_on(f"photo reviews: {len(sent)}", missed, failed)
    return sent


def review_book_path(instance: Instance, review: PhotoReview) -> Path:
    return instance.unit_outbox(CENTRE, "photos") / DOC_NAMES["photo_review_book"].format(
        review=review.review_no)


def result_book_path(instance: Instance, review: PhotoReview) -> Path:
    return instance.unit_outbox(review.unit_code, "results") / DOC_NAMES["photo_result_book"].format(
        review=review.review_no)


def _lines(instance: Instance, s: Session, review: PhotoReview) -> list[PhotoLine]:
    """The review's photos; a decided one with its conclusion, a pending one with none."""
    photos = list(s.scalars(select(Photo).where(Photo.review_id == review.id).order_by(Photo.id)))
    people = people_of_unit(s, review.unit_code, [p.id_number for p in photos])
    labels = {APPROVED: CONCLUSIONS[APPROVED][0], REJECTED: CONCLUSIONS[REJECTED][0],
              PENDING: ""}
    lines = []
    for p in photos:
        name, class_code = people.get(p.id_number, ("", None))
        lines.append(PhotoLine(
            p.id, p.id_number, name, class_code, p.source_name, p.created_at,
            instance.home / p.path, p.status, labels.get(p.status, PHOTO_STATUS_LABELS.get(p.status, "")),
            p.reason or "", p.reviewer or "", p.decided_at))
    return lines


def _documents(instance: Instance, db: Database, review_id: int, which: str) -> Path | None:
    """The centre's review workbook (its pending photos) or the unit's result workbook (all)."""
    with db.session() as s:
        review = s.get(PhotoReview, review_id)
        if review is None:
            return None
        unit = s.get(Unit, review.unit_code)
        unit_name = unit.name if unit else ""
        lines = _lines(instance, s, review)
    if which == "review":
        return write_photo_review_book(
            review_book_path(instance, review), centre=instance.settings.name,
            review_no=review.review_no, unit_code=review.unit_code, unit_name=unit_name,
            lines=[line for line in lines if line.status == PENDING])
    return write_photo_result_book(
        result_book_path(instance, review), review_no=review.review_no,
        unit_code=review.unit_code, unit_name=unit_name,
        lines=[replace(line, conclusion=UNDECIDED_LABEL) if line.status == PENDING else line
               for line in lines])


def write_review_document(instance: Instance, db: Database, review_id: int) -> Path:
    path = _documents(instance, db, review_id, "review")
    assert path is not None, review_id
    return path


def ensure_photo_documents(instance: Instance, db: Database, failed: list[str] | None = None
                           ) -> list[Path]:
    """Write the review workbooks of unreviewed photo reviews that are missing (a crash)."""
    with db.session() as s:
        reviews = list(s.scalars(select(PhotoReview).where(PhotoReview.status == "sent")))

    def repair(r: PhotoReview) -> list[Path]:
        if review_book_path(instance, r).exists():
            return []
        log.warning("photo review=%s: writing the missing review workbook", r.review_no)
        return [write_review_document(instance, db, r.id)]

    return [p for paths in each_unit(reviews, repair, what="photo review workbooks",
                                     unit=UNIT_OF, failed=failed) for p in paths]


# Deciding ----------------------------------------------------------------------------------------
def apply_photo_decisions(instance: Instance, db: Database, rows: Iterable[DecisionRow], *,
                          review_hint: str | None = None, actor: str = CENTRE,
                          now: datetime | None = None) -> PhotoReviewReport:
    """Apply photo decisions in one transaction, then write the units' result workbooks."""
    now = now or _now()
    report = PhotoReviewReport(batch_hint=review_hint or None)
    rows = list(rows)
    with db.session() as s:
        keys = [parse_integer(r.serial) for r in rows]
        photos = load_by_key(s, Photo.id, [k for k in keys if k])
        reviews = {r.id: r.review_no for r in s.scalars(select(PhotoReview).where(
            PhotoReview.id.in_({p.review_id for p in photos.values() if p.review_id})))} if photos else {}
        for r, key in zip(rows, keys):
            _decide(s, report, r, key, photos, reviews, actor, now)
        for review_id in report.batches:
            _close_review(s, review_id, now)
        report.batch_names = dict(reviews)
    missing = missing_results(db, PhotoReview, report.all_batches,
                              lambda r: result_book_path(instance, r))
    for review_id in sorted(report.batches | missing):
        path = _documents(instance, db, review_id, "result")
        if path is not None:
            report.outputs.append(str(path))
    return report


def _decide(s: Session, report: PhotoReviewReport, r: DecisionRow, key: int | None,
            photos: dict[int, Photo], reviews: dict[int, str], actor: str, now: datetime) -> None:
    decided = read_conclusion(report, r, key, PHOTO_REFUSALS)
    if decided is None:
        return
    photo_id, conclusion, reason = decided
    expected, other = row_group(report, r)
    if other:
        report.refuse(r.row, photo_id, C.REVIEW_PHOTO_NOT_IN_REVIEW, photo=photo_id, review=expected,
                      row_review=other)
        return
    p = photos.get(photo_id)
    if p is None:
        report.refuse(r.row, photo_id, C.REVIEW_PHOTO_UNKNOWN, photo=photo_id)
        return
    if expected and reviews.get(p.review_id or 0) != expected:
        report.refuse(r.row, photo_id, C.REVIEW_PHOTO_NOT_IN_REVIEW, photo=photo_id, review=expected)
        return
    if not shows_person(r, p.id_number, None):       # the photo's person, by the row's ID
        report.refuse(r.row, photo_id, C.REVIEW_MISMATCH, photo=photo_id,
                      person=who(p.id_number, None), row_person=who(r.id_number, r.name))
        return
    if p.review_id:
        report.all_batches.add(p.review_id)
    reviewer = decision_text(r.reviewer, 50) or None
    if p.status == PENDING:
        result = s.execute(update(Photo).where(Photo.id == photo_id, Photo.status == PENDING).values(
            status=conclusion, decided_at=now, reason=reason or None, reviewer=reviewer)
            .execution_options(synchronize_session=False))
        s.refresh(p)
        if cast(CursorResult, result).rowcount == 1:       # compare-and-set: this run won
            _applied(s, report, p, conclusion, reason, reviewer or actor, now)
            return
    if p.status == conclusion:
        report.repeated += 1
    elif p.status == "superseded":
        report.refuse(r.row, photo_id, C.REVIEW_PHOTO_SUPERSEDED, photo=photo_id)
    else:
        report.refuse(r.row, photo_id, C.REVIEW_PHOTO_CONFLICT, photo=photo_id,
                      status=PHOTO_STATUS_LABELS.get(p.status, p.status),
                      conclusion=PHOTO_STATUS_LABELS[conclusion],
                      decided_at=f"{p.decided_at:%Y-%m-%d %H:%M}" if p.decided_at else "")


def _applied(s: Session, report: PhotoReviewReport, p: Photo, conclusion: str, reason: str,
             who: str, now: datetime) -> None:
    if conclusion == APPROVED:
        report.approved += 1
    else:
        # 错误日志: a rejected photo is kept and queried like a failed row.
        s.add(RowError(file_id=p.file_id, unit_code=p.unit_code, kind=PHOTO_KIND, row=None,
                       id_number=p.id_number, name=None, column=None, code=C.REVIEW_PHOTO_REJECTED,
                       message=row_message(C.REVIEW_PHOTO_REJECTED, {"reason": reason}),
                       created_at=now))
        report.rejected += 1
    Q.audit(s, who, f"photo.{conclusion}", file_id=p.file_id,
            detail=f"{p.id_number} photo={p.id}" + (f": {reason}" if reason else ""))
    if p.review_id:
        report.batches.add(p.review_id)


def _close_review(s: Session, review_id: int, now: datetime) -> None:
    close_when_decided(s, PhotoReview, review_id, Photo.review_id, Photo.status, PENDING, now)


def close_finished(db: Database, now: datetime) -> None:
    """Close the open reviews that have nothing left to decide: their last pending photos were
    superseded by newer uploads (which go on reviews of their own)."""
    with db.session() as s:
        for review_id in s.scalars(select(PhotoReview.id).where(PhotoReview.status == "sent")).all():
            _close_review(s, review_id, now)


# The centre inbox hook ---------------------------------------------------------------------------
def handle_photo_review_file(instance: Instance, db: Database, path: Path) -> dict[str, Any] | None:
    """exchange.intake.centre handler: a receipt when `path` holds photo decisions, else None."""
    return decisions_receipt(instance, db, path, photo_review_spec(), lambda rows, review: (
        apply_photo_decisions(instance, db, rows, review_hint=review)), "review", PW["review_sheet"])


__all__ = ["send_photo_reviews", "ensure_photo_documents", "apply_photo_decisions",
           "handle_photo_review_file", "photo_review_spec", "close_finished", "SentReview",
           "PHOTOS_PER_REVIEW"]
