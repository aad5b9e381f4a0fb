"""Tables. Every state change of a declaration leaves an AuditEntry."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, MetaData,
                        Numeric, String, Text, UniqueConstraint, false, func, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OPEN_STATUSES = ("pending", "submitted")
# A declaration that counts as "already imported" when the same row comes again.
IMPORTED_STATUSES = ("pending", "submitted", "approved")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


class Unit(Base):
    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(32))
    unit_type: Mapped[str | None] = mapped_column(String(8))
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    contact_mobile: Mapped[str | None] = mapped_column(String(30))
    address: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(254))          # 电子邮箱 (Nanping)
    arrears: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now, onupdate=_now)


class Account(Base):
    """A login: a unit's SFTP account, a sub-account of a school, or the centre's."""
    __tablename__ = "accounts"
    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(16), default="unit")  # unit | centre | department | class
    scope: Mapped[str | None] = mapped_column(Text)                # class codes, comma separated
    password_hash: Mapped[str | None] = mapped_column(String(200))
    public_keys: Mapped[str | None] = mapped_column(Text)          # OpenSSH lines
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    # 注销 (Changchun 用户管理): a deleted login stays as a tombstone, so its name is never
    # given again and it can no longer sign in.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    label: Mapped[str | None] = mapped_column(String(100))         # 用户名称: 系 or class name
    # Passwords a unit sets itself (issue 18.1): the initial or a reset password must be changed
    # at the next login; [accounts].password_expiry_days counts from password_set_at.
    must_change: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_set_at: Mapped[datetime | None] = mapped_column(DateTime)


class Person(Base):
    """A person on file (master data), keyed by ID number."""
    __tablename__ = "persons"
    id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    person_no: Mapped[str | None] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str | None] = mapped_column(String(2))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    unit_code: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str | None] = mapped_column(String(2))          # person_status table: 1 参保 2 暂停 3 终止
    insurances: Mapped[str | None] = mapped_column(String(100))    # "310,510"
    paid_months: Mapped[dict | None] = mapped_column(JSON)         # {"310": "202610", ...}
    last_paid_month: Mapped[str | None] = mapped_column(String(6))
    arrears: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    wage_base: Mapped[int | None] = mapped_column(Integer)
    household_head: Mapped[str | None] = mapped_column(String(18), index=True)
    class_code: Mapped[str | None] = mapped_column(String(32))
    staff_no: Mapped[str | None] = mapped_column(String(32))
    extra: Mapped[dict | None] = mapped_column(JSON)               # contact details and the like
    insured_from: Mapped[str | None] = mapped_column(String(6))
    stopped_after: Mapped[str | None] = mapped_column(String(6))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now, onupdate=_now)


class FileRecord(Base):
    """One dropped file, from claim to archive or quarantine."""
    __tablename__ = "files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    total: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    file_code: Mapped[str | None] = mapped_column(String(32))
    node: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # Times the claim was taken (claimed, then taken over from a holder that died): see
    # intake.scan.MAX_TAKES.
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    work_path: Mapped[str | None] = mapped_column(Text)            # where the claimed bytes sit
    stored_path: Mapped[str | None] = mapped_column(Text)          # archive or quarantine path
    receipt_name: Mapped[str | None] = mapped_column(String(255))
    error_book_name: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Batch(Base):
    """A numbered submission (批次号) of one unit's pending declarations."""
    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_no: Mapped[str] = mapped_column(String(32), unique=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="submitted")  # submitted | reviewed
    count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)


class Declaration(Base):
    """One imported row: 业务流水号 is `serial`."""
    __tablename__ = "declarations"
    serial: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column(String(18))
    name: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    old_values: Mapped[dict | None] = mapped_column(JSON)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    row: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(50))

    __table_args__ = (
        # One unreviewed declaration per person, enforced by the database as well as the checks,
        # so two nodes importing at once cannot both win.
        Index("uq_declarations_open_person", "id_number", unique=True,
              sqlite_where=text("status IN ('pending', 'submitted') AND id_number IS NOT NULL"),
              postgresql_where=text("status IN ('pending', 'submitted') AND id_number IS NOT NULL")),
        # Fingerprints are looked up only for rows without an ID (see queries.imported_fingerprints),
        # and persons only by their ID: each index holds only the rows it is asked about.
        Index("ix_declarations_fingerprint_no_id", "fingerprint", sqlite_where=text("id_number IS NULL"),
              postgresql_where=text("id_number IS NULL")),
        Index("ix_declarations_id_number", "id_number", sqlite_where=text("id_number IS NOT NULL"),
              postgresql_where=text("id_number IS NOT NULL")),
    )


class RowError(Base):
    """错误日志: every failed row finding and every refused decision."""
    __tablename__ = "row_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str | None] = mapped_column(String(32))
    row: Mapped[int | None] = mapped_column(Integer)
    id_number: Mapped[str | None] = mapped_column(String(40), index=True)
    name: Mapped[str | None] = mapped_column(String(50))
    column: Mapped[str | None] = mapped_column(String(50))
    code: Mapped[str] = mapped_column(String(40), index=True)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now, index=True)


class AuditEntry(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    serial: Mapped[int | None] = mapped_column(Integer, index=True)
    file_id: Mapped[int | None] = mapped_column(Integer, index=True)
    row: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class JobRun(Base):
    """One firing of a scheduled job; the unique key makes it run once across nodes."""
    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    fire_key: Mapped[str] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)   # renewed while it runs
    __table_args__ = (UniqueConstraint("job", "fire_key", name="uq_job_runs_job_fire_key"),)


# ---- issue 4: communities and schools ----------------------------------------------------------
class Household(Base):
    """A household head (户主) a community registered. Effective on import: registration data
    that residents are declared under, not an insurance change the centre reviews.

    Keyed per unit: 参保人数 counts the members insured in this unit. A deleted head stays as a
    tombstone (status "deleted") so that a resent 删除 row is recognised as already done.
    """
    __tablename__ = "households"
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    head_id: Mapped[str] = mapped_column(String(18), primary_key=True, index=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(16), default="active")   # active | deleted
    serial: Mapped[int | None] = mapped_column(Integer)                  # declaration that set it
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now, onupdate=_now)


class PhotoReview(Base):
    """A photo review workbook (照片审核单) sent to the centre: one unit's pending photos."""
    __tablename__ = "photo_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_no: Mapped[str] = mapped_column(String(64), unique=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="sent")    # sent | reviewed
    count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)


class Photo(Base):
    """An ID photo (证件照) normalised to the card size, pending the centre's review.

    Not a declaration: a photo usually arrives with the person's enrolment, and a person may have
    only one unreviewed declaration. A newer photo of the same person supersedes a pending one.
    The nightly photo review puts pending photos on a review workbook (`review_id`).
    """
    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    id_number: Mapped[str] = mapped_column(String(18), index=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"), index=True)
    source_name: Mapped[str] = mapped_column(String(255))      # file or zip entry as dropped
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # of the source bytes
    path: Mapped[str] = mapped_column(Text)                    # normalised JPEG, relative to home
    width: Mapped[int] = mapped_column(Integer)                # of the source, after EXIF rotation
    height: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # pending | approved | rejected | superseded
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewer: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("photo_reviews.id"), index=True)


# ---- issue 18: classes as data -----------------------------------------------------------------
class SchoolClass(Base):
    """A class (班级) of a school: 班级编号, 班级名称, 年级 and 院系 (department). Kept by the school
    (only its own login adds or renames one), or loaded as master data."""
    __tablename__ = "classes"
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    class_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    grade: Mapped[str | None] = mapped_column(String(50))
    department: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now, onupdate=_now)


# ---- issue 17: money ---------------------------------------------------------------------------
class Payment(Base):
    """A payment the centre loaded (master data): what a person paid for a month (费款所属期),
    for one insurance or ("" ) for all. Computed arrears are the amounts due less these."""
    __tablename__ = "payments"
    id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    month: Mapped[str] = mapped_column(String(6), primary_key=True)
    insurance: Mapped[str] = mapped_column(String(8), primary_key=True, default="")
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    unit_code: Mapped[str | None] = mapped_column(String(32), index=True)
    loaded_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class LoadedRate(Base):
    """A rate the centre loaded as master data; it replaces rules/rates.toml's entry of the same
    key. scheme employee: code = insurance, start = YYYYMM; resident: code = 人员类别,
    start = YYYY, amount = the yearly contribution."""
    __tablename__ = "contribution_rates"
    scheme: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    start: Mapped[str] = mapped_column(String(6), primary_key=True)
    unit_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6), default=0)
    person_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6), default=0)
    unit_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    person_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    loaded_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class ClosedPeriod(Base):
    """A person's insured period at a unit that ended when he was insured again (参保历史): a
    职工增加 or 城乡居民参保 approved for a person on file replaces the record's unit and months,
    and the period it replaced is kept here, so the unit it was at still owes its unpaid months.
    insured_from .. stopped_after (YYYYMM, both included; insured_from None: since ever), the base
    and insurances of the record then, and its paid-to months then (最大缴费月份 and per
    insurance): a paid month the centre loads later is the person's new unit's. `serial` is the
    declaration whose approval closed it."""
    __tablename__ = "closed_periods"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_number: Mapped[str] = mapped_column(String(18), index=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    insured_from: Mapped[str | None] = mapped_column(String(6))
    stopped_after: Mapped[str] = mapped_column(String(6))
    wage_base: Mapped[int | None] = mapped_column(Integer)
    insurances: Mapped[str | None] = mapped_column(String(100))
    last_paid_month: Mapped[str | None] = mapped_column(String(6))
    paid_months: Mapped[dict | None] = mapped_column(JSON)
    serial: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
