"""Review decisions from the back office: the filled review workbook (or a CSV with its columns).

Each decision names a declaration by 业务流水号 and says 通过 or 不通过 (with a reason). It is
applied once, by a compare-and-set from submitted to approved/rejected together with its effect
on the records; the same decision again is counted as repeated and changes nothing; a decision
that contradicts the recorded one, or names a declaration that is not submitted or not in the
workbook's batch, is refused with a reason in the centre's receipt. After the commit the unit
receives the batch's result workbook and, for rejected rows, a ready-to-fix template.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks.values import as_text, holds_nothing, is_blank, parse_integer
from exchange.config import Instance
from exchange.errors import FileRejected
from exchange.kinds.spec import ColumnSpec, KindSpec, normalise_label
from exchange.messages import (CONCLUSIONS, DOC_NAMES, REVIEW_HEADERS as H, REVIEW_WORDS as RW,
                               UNDECIDED_LABEL, review_file_message, row_message, shown_rows)
from exchange.outputs.result_book import ResultLine, write_result_book
from exchange.outputs.review_book import REVIEW_KIND
from exchange.outputs.templates import build_template, save_workbook
from exchange.read.header import locate_header, map_columns, row_cells
from exchange.read.tables import TABLE_FORMATS
from exchange.residents import class_stop_members
from exchange.review.display import content, declaration_label, member_lines, status_label
from exchange.review.effects import apply_effect, not_insured_here
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Batch, Declaration, RowError, Unit
from exchange.text import INVISIBLE_CLASS, TEXT_PREFIX, code_point, screen, shown_name, travel_safe

log = logging.getLogger("exchange.review")

APPROVED, REJECTED, SUBMITTED = "approved", "rejected", "submitted"
DECIDED = (APPROVED, REJECTED)
MAX_DECISION_ROWS = 200_000


def decision_spec(kind: str, label: str, key: str, number: str, subject: str,
                  id_header: str | None = None) -> KindSpec:
    """A review workbook's columns as a kind, so the shared header finder can locate them: the
    key column (`key` header, read as `serial`), 审核结论, 不通过原因, 审核人, the workbook's
    number (`number` header, read as `batch_no`) and, where given, the person the row shows
    (`id_header` and 姓名, read as `id_number` and `name`)."""
    cols = (
        ColumnSpec("serial", key, "serial", required=True),
        ColumnSpec("conclusion", H["conclusion"], "text", required=True),
        ColumnSpec("reason", H["reason"], "text"),
        ColumnSpec("reviewer", H["reviewer"], "text"),
        ColumnSpec("batch_no", number, "text"),
    )
    if id_header:
        cols += (ColumnSpec("id_number", id_header, "text"), ColumnSpec("name", H["name"], "text"))
    return KindSpec(kind, label, label, cols, subject=subject)


def review_spec() -> KindSpec:
    """The batches' review workbook."""
    return decision_spec(REVIEW_KIND, RW["kind_review"], H["serial"], H["batch_no"], "declaration",
                         H["id_number"])


_CONCLUSION_INDEX = {normalise_label(word): code for code, words in CONCLUSIONS.items()
                     for word in words}


def parse_conclusion(value: Any) -> str | None:
    """'approved' / 'rejected' for 通过 / 不通过 and their spellings; None when unreadable. Only
    words count: a TRUE/FALSE cell (a check box) or a number is no conclusion the drop-down
    offers, and 1 / 0 read as 通过 / 不通过 approved and rejected on a guess."""
    if value.__class__ is not str:
        return None
    return _CONCLUSION_INDEX.get(normalise_label(as_text(value)))


@dataclass(frozen=True)
class DecisionRow:
    row: int
    serial: Any
    conclusion: Any
    reason: Any = None
    reviewer: Any = None
    batch_no: Any = None
    # The person the row shows, as text ("" for a blank cell); None where the file has no such
    # column (a CSV of the four decision columns).
    id_number: str | None = None
    name: str | None = None


@dataclass
class ReviewReport:
    """What one decisions file did; rendered as the centre's receipt.

    Subclassed for the photo review (exchange.review.photos): the class attributes say what a
    decision is about and how the receipt names it."""
    KIND: ClassVar[str] = REVIEW_KIND
    GROUP: ClassVar[tuple[str, str]] = ("batch", "batches")     # receipt keys of the workbook's number
    KEY: ClassVar[str] = "serial"                               # receipt key of a row's target
    SUMMARY: ClassVar[tuple[str, str]] = (RW["receipt_summary"], RW["receipt_summary_nobatch"])
    batch_hint: str | None = None
    approved: int = 0
    rejected: int = 0
    repeated: int = 0
    undecided: int = 0
    refused: list[tuple[int, Any, str, dict[str, Any]]] = field(default_factory=list)
    batches: set[int] = field(default_factory=set)          # touched by a new decision
    all_batches: set[int] = field(default_factory=set)      # named by any valid decision
    outputs: list[str] = field(default_factory=list)
    batch_names: dict[int, str] = field(default_factory=dict)
    hidden_rows: list[int] = field(default_factory=list)    # not read: filtered out or hidden

    def refuse(self, row: int, target: Any, code: str, /, **params: Any) -> None:
        self.refused.append((row, target, code, params))

    @property
    def status(self) -> str:
        done = self.approved + self.rejected + self.repeated
        if self.refused:
            return "partial" if done else "rejected"
        return "accepted"

    def receipt(self) -> dict[str, Any]:
        batch_names = self.batch_names
        counts = {"approved": self.approved, "rejected": self.rejected, "repeated": self.repeated,
                  "refused": len(self.refused), "undecided": self.undecided}
        names = sorted({batch_names[b] for b in self.all_batches if b in batch_names})
        batch = self.batch_hint or (names[0] if len(names) == 1 else None)
        summary = (self.SUMMARY[0].format(batch=batch, review=batch, **counts) if batch
                   else self.SUMMARY[1].format(**counts))
        if self.hidden_rows:
            summary += RW["receipt_hidden"].format(rows=shown_rows(self.hidden_rows))
        one, many = self.GROUP
        receipt = {"kind": self.KIND, "status": self.status, one: batch, many: names,
                   "counts": counts, "summary": summary, "file_errors": [],
                   "rows": [{"row": row, self.KEY: serial if isinstance(serial, int) else as_text(serial),
                             "errors": [{"column": None, "code": code,
                                         "message": row_message(code, params)}]}
                            for row, serial, code, params in self.refused],
                   "outputs": self.outputs}
        if self.hidden_rows:            # as a unit's receipt: the key only when there are some
            receipt["hidden_rows"] = self.hidden_rows
        return receipt


# Reading ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionsRead:
    """A decisions file as read: its `_meta`, its decision rows, and the rows hidden in its
    sheet (filtered out or hidden by hand), which are not read."""
    meta: dict[str, str]
    rows: list[DecisionRow]
    hidden_rows: list[int] = field(default_factory=list)


def read_decisions(instance: Instance, path: Path, spec: KindSpec | None = None,
                   sheet: str | None = None) -> DecisionsRead | None:
    """The decisions when `path` is a review workbook or CSV of `spec` (the batches' review by
    default); None when it is something else. The spec's first column is the decision's key
    (业务流水号, 照片编号), read as DecisionRow.serial; `batch_no` is the workbook's number;
    `sheet` names the template's sheet of decisions (the batches' 审核 by default).

    A file marked with the spec's kind that cannot be used raises FileRejected.
    """
    spec = spec or review_spec()
    try:
        with instance.readers.upload(path) as upload:     # parsed in a sandboxed worker
            if upload.sniffed.format not in TABLE_FORMATS:
                return None
            return _read_book(upload.book(), spec, sheet or RW["review_sheet"])
    except ReviewFileRejected:
        raise
    except FileRejected:
        return None                 # unreadable: the master-data handler answers for it


class ReviewFileRejected(FileRejected):
    """A file marked as a review workbook that cannot be used."""


def _read_book(book: Any, spec: KindSpec, sheet_name: str | None) -> DecisionsRead | None:
    """Every sheet holding the spec's header is read; the one holding decisions is used, else
    the template's own sheet (`sheet_name`: 审核, 照片审核). Decisions on two or more sheets
    refuse the file, naming them: a scratch copy placed before 审核 was the one read, and every
    row the reviewer had rejected on 审核 was approved."""
    meta = dict(book.meta)
    marked = meta.get("kind") == spec.kind
    tables: dict[str, DecisionsRead] = {}
    missing: list[str] = []
    for sheet in book.sheets:
        located = locate_header(sheet.rows, [spec])
        if located is None:
            continue
        mapping = map_columns(located.header, spec)
        lacking = [c.header for c in spec.required if c.field not in mapping.values()]
        if lacking:
            missing = missing or lacking
            continue
        tables[sheet.name] = _read_table(meta, located, mapping, spec, sheet.hidden)
    if not tables:
        if marked:
            raise ReviewFileRejected(C.FILE_MISSING_COLUMNS, title=spec.title,
                                     columns="、".join(missing or [c.header for c in spec.required]))
        return None
    decided = [name for name, t in tables.items()
               if any(not holds_nothing(r.conclusion) for r in t.rows)]
    if len(decided) > 1:
        raise ReviewFileRejected(C.FILE_SEVERAL_SHEETS, decisions=True, sheet=sheet_name or "",
                                 sheets="、".join(shown_name(n) for n in decided))
    chosen = decided[0] if decided else sheet_name if sheet_name in tables else next(iter(tables))
    return tables[chosen]


def _read_table(meta: dict[str, str], located: Any, mapping: dict[int, str], spec: KindSpec,
                hidden: set[int]) -> DecisionsRead:
    """The decision rows of one sheet below its header; rows hidden in it are named, not read."""
    rows = []
    skipped = []
    for number, values in located.rows:
        cells = row_cells(values, mapping)
        if all(holds_nothing(v) for v in cells.values()):
            continue
        if normalise_label(as_text(cells.get("serial"))) == normalise_label(spec.columns[0].header):
            continue                       # the header pasted again
        if number in hidden:
            # Filtered out or hidden by hand, as in a unit's file: the reviewer does not see it
            # (a draft 不通过 left in a row filtered away was applied, silently).
            skipped.append(number)
            continue
        rows.append(DecisionRow(number, cells.get("serial"), cells.get("conclusion"),
                                cells.get("reason"), cells.get("reviewer"), cells.get("batch_no"),
                                *(as_text(cells[f]) if f in cells else None
                                  for f in ("id_number", "name"))))
        if len(rows) > MAX_DECISION_ROWS:
            raise ReviewFileRejected(C.FILE_TOO_LARGE, what="row_count", limit=MAX_DECISION_ROWS)
    return DecisionsRead(meta, rows, skipped)


# Applying --------------------------------------------------------------------------------------
_INVISIBLE = re.compile(INVISIBLE_CLASS)
_TEXT_PREFIX = re.compile(TEXT_PREFIX)


def decision_text(value: Any, limit: int) -> str:
    """A reason or a reviewer's name as written: only invisible characters, the surrounding
    spaces and a leading apostrophe go. Not folded (NFKC) as keys and conclusions are read:
    身份证号码有误，请核对（附件缺失） reached the unit's result workbook as 身份证号码有误,请核对(附件缺失)."""
    if value.__class__ is not str:
        return screen(as_text(value))[0][:limit]
    text = _INVISIBLE.sub("", value).strip()
    return screen(_TEXT_PREFIX.sub("", text))[0][:limit]


def _untravelling(r: DecisionRow) -> tuple[str, str] | None:
    """(column header, U+XXXX) of the first free-text cell of a decision that holds a character
    that cannot travel (exchange.text); None when both are clean."""
    for header, value in ((H["reason"], r.reason), (H["reviewer"], r.reviewer)):
        if value.__class__ is str:
            bad = screen(value)[1]
            if bad is not None:
                return header, code_point(bad)
    return None


def apply_decisions(instance: Instance, db: Database, rows: Iterable[DecisionRow], *,
                    batch_hint: str | None = None, actor: str = "_centre",
                    now: datetime | None = None) -> ReviewReport:
    """Apply decisions in one transaction, then write the units' result documents."""
    now = now or datetime.now().replace(microsecond=0)
    report = ReviewReport(batch_hint=batch_hint or None)
    rows = list(rows)
    with db.session() as s:
        serials = [parse_integer(r.serial) for r in rows]
        decls = load_by_key(s, Declaration.serial, [x for x in serials if x])
        batches = {b.id: b.batch_no for b in s.scalars(select(Batch).where(
            Batch.id.in_({d.batch_id for d in decls.values() if d.batch_id})))} if decls else {}
        kinds = instance.rules.kinds
        for r, serial in zip(rows, serials):
            _decide(s, instance, report, r, serial, decls, batches, kinds, actor, now)
        for batch_id in report.batches:
            _close_batch(s, batch_id, now)
        report.batch_names = dict(batches)
        decided_units = {d.unit_code for d in decls.values() if d.batch_id in report.batches}
    instance.changed(decided_units)
    # New decisions rewrite their batch's documents; a batch whose result workbook is missing
    # (lost to a crash after the commit) gets it back when its decisions are dropped again.
    missing = missing_results(db, Batch, report.all_batches, lambda b: result_book_path(instance, b))
    for batch_id in sorted(report.batches | missing):
        report.outputs += [str(p) for p in write_result_documents(instance, db, batch_id)]
    return report


def result_book_path(instance: Instance, batch: Batch) -> Path:
    return instance.unit_outbox(batch.unit_code, "results") / DOC_NAMES["result_book"].format(
        batch=batch.batch_no)


def missing_results(db: Database, model: Any, ids: set[int], path_of: Callable[[Any], Path]) -> set[int]:
    """Those of the batches (or photo reviews) `ids` whose result workbook `path_of` is missing."""
    if not ids:
        return set()
    with db.session() as s:
        groups = s.scalars(select(model).where(model.id.in_(sorted(ids)))).all()
        return {g.id for g in groups if not path_of(g).exists()}


def load_by_key(s: Session, key: Any, keys: Iterable[int]) -> dict[int, Any]:
    """The rows whose `key` column is among `keys` (declarations by serial, photos by id), in
    chunks below the bound-parameter limit."""
    model = key.class_
    out: dict[int, Any] = {}
    unique = sorted(set(keys))
    for i in range(0, len(unique), Q.IN_CHUNK):
        for row in s.scalars(select(model).where(key.in_(unique[i:i + Q.IN_CHUNK]))):
            out[getattr(row, key.key)] = row
    return out


@dataclass(frozen=True)
class Refusals:
    """The codes a decision row is refused with before its target is looked at."""
    invalid: str                       # the key cell is not a positive number
    reason_required: str               # 不通过 without a reason


DECLARATION_REFUSALS = Refusals(C.REVIEW_SERIAL_INVALID, C.REVIEW_REASON_REQUIRED)


def read_conclusion(report: ReviewReport, r: DecisionRow, key: int | None,
                    refusals: Refusals) -> tuple[int, str, str] | None:
    """(key, conclusion, reason) of a row that decides something; None for a row that says
    nothing (counted as undecided when it names a target) or is refused (in the report)."""
    if key is None or key <= 0:
        if is_blank(r.serial):
            # A note or a stray cell below the table says nothing; a conclusion without a
            # key cannot be applied.
            if not is_blank(r.conclusion):
                report.refuse(r.row, None, refusals.invalid, value="")
            return None
        report.refuse(r.row, r.serial, refusals.invalid, value=as_text(r.serial))
        return None
    if is_blank(r.conclusion):
        report.undecided += 1
        return None
    conclusion = parse_conclusion(r.conclusion)
    if conclusion is None:
        report.refuse(r.row, key, C.REVIEW_CONCLUSION_UNKNOWN, value=as_text(r.conclusion))
        return None
    untravelling = _untravelling(r)
    if untravelling is not None:
        report.refuse(r.row, key, C.TEXT_CONTROL, column=untravelling[0], char=untravelling[1])
        return None
    reason = decision_text(r.reason, 500)
    if conclusion == REJECTED and not reason:
        report.refuse(r.row, key, refusals.reason_required, **{report.KEY: key})
        return None
    return key, conclusion, reason


def row_group(report: ReviewReport, r: DecisionRow) -> tuple[str | None, str | None]:
    """(the batch or photo review the row's target must be in, the row's own 批次号 / 审核单号
    where it names another than the workbook's `_meta`). A row's number never overrides the
    workbook's: D1001's workbook with a row saying D3001-… decided a D3001 declaration."""
    own = as_text(r.batch_no) or None
    if own and report.batch_hint and own != report.batch_hint:
        return report.batch_hint, own
    return report.batch_hint or own, None


def shows_person(r: DecisionRow, id_number: str | None, name: str | None) -> bool:
    """Whether the row shows the person its key names: its ID the target's (blank for a class
    row, which has none) and its name, where both are given, the target's. A clerk who sorted
    some columns only, or a workbook of another instance (a training system numbers batches and
    serials alike), decided the wrong person."""
    if r.id_number is not None and r.id_number.upper() != (id_number or "").upper():
        return False
    # The name as the workbook showed it: characters no workbook holds were replaced there.
    return not (r.name and name and r.name != as_text(travel_safe(name)))


def who(id_number: str | None, name: str | None) -> str:
    """A person as a mismatch's message names them."""
    return RW["mismatch_person"].format(name=name or "", id=id_number or RW["mismatch_no_id"])


def _decide(s: Session, instance: Instance, report: ReviewReport, r: DecisionRow, key: int | None,
            decls: dict[int, Declaration], batches: dict[int, str], kinds: dict[str, KindSpec],
            actor: str, now: datetime) -> None:
    decided = read_conclusion(report, r, key, DECLARATION_REFUSALS)
    if decided is None:
        return
    serial, conclusion, reason = decided
    expected, other = row_group(report, r)
    if other:
        report.refuse(r.row, serial, C.REVIEW_NOT_IN_BATCH, serial=serial, batch=expected,
                      row_batch=other)
        return
    d = decls.get(serial)
    if d is None:
        report.refuse(r.row, serial, C.REVIEW_SERIAL_UNKNOWN, serial=serial)
        return
    if d.status not in (SUBMITTED, *DECIDED):
        report.refuse(r.row, serial, C.REVIEW_NOT_SUBMITTED, serial=serial,
                      status=status_label(d.status))
        return
    if expected and batches.get(d.batch_id or 0) != expected:
        report.refuse(r.row, serial, C.REVIEW_NOT_IN_BATCH, serial=serial, batch=expected)
        return
    if not shows_person(r, d.id_number, d.name):
        report.refuse(r.row, serial, C.REVIEW_MISMATCH, serial=serial,
                      person=who(d.id_number, d.name), row_person=who(r.id_number, r.name))
        return
    if d.batch_id:
        report.all_batches.add(d.batch_id)
    reviewer = decision_text(r.reviewer, 50) or None
    if d.status == SUBMITTED and conclusion == APPROVED:
        stale = not_insured_here(s, d, kinds.get(d.kind))
        if stale is not None:           # the person moved since the import: nothing applied
            stale["status"] = instance.rules.tables["person_status"].label(stale["status"])
            report.refuse(r.row, serial, C.PERSON_NOT_INSURED_HERE, serial=serial, **stale)
            return
    if d.status == SUBMITTED:
        result = s.execute(update(Declaration).where(
            Declaration.serial == serial, Declaration.status == SUBMITTED).values(
            status=conclusion, decided_at=now, decision_reason=reason or None, reviewer=reviewer)
            .execution_options(synchronize_session=False))
        done = cast(CursorResult, result).rowcount     # compare-and-set: 1 when this run won
        if done == 1:
            s.refresh(d)
            _applied(s, instance, report, d, conclusion, reason, reviewer, kinds, actor, now)
            return
        s.refresh(d)                      # decided by someone else meanwhile: judge again
    if d.status == conclusion:
        report.repeated += 1
        return
    report.refuse(r.row, serial, C.REVIEW_CONFLICT, serial=serial, status=status_label(d.status),
                  conclusion=status_label(conclusion),
                  decided_at=f"{d.decided_at:%Y-%m-%d %H:%M}" if d.decided_at else "")


def _applied(s: Session, instance: Instance, report: ReviewReport, d: Declaration, conclusion: str,
             reason: str, reviewer: str | None, kinds: dict[str, KindSpec], actor: str,
             now: datetime) -> None:
    who = reviewer or actor
    if conclusion == APPROVED:
        apply_effect(s, d, kinds.get(d.kind), now)
        report.approved += 1
    else:
        s.add(RowError(file_id=d.file_id, unit_code=d.unit_code, kind=d.kind, row=d.row,
                       id_number=d.id_number, name=d.name, column=None, code=C.REVIEW_REJECTED,
                       message=row_message(C.REVIEW_REJECTED, {"reason": reason}), created_at=now))
        report.rejected += 1
    Q.audit(s, who, "review." + conclusion, serial=d.serial, file_id=d.file_id, row=d.row,
            detail=reason or None)
    if d.batch_id:
        report.batches.add(d.batch_id)


def close_when_decided(s: Session, model: Any, group_id: int, member_of: Any, member_status: Any,
                       open_status: str, now: datetime) -> None:
    """Mark a batch (or a photo review) `reviewed` once none of its members is left open."""
    left = s.scalar(select(func.count()).where(member_of == group_id, member_status == open_status))
    group = s.get(model, group_id)
    if group is not None and not left and group.status != "reviewed":
        group.status, group.reviewed_at = "reviewed", now


def _close_batch(s: Session, batch_id: int, now: datetime) -> None:
    close_when_decided(s, Batch, batch_id, Declaration.batch_id, Declaration.status, SUBMITTED, now)


# The unit's documents --------------------------------------------------------------------------
def write_result_documents(instance: Instance, db: Database, batch_id: int) -> list[Path]:
    """The result workbook of the batch, and one ready-to-fix template per kind with rejections,
    for the unit; and the same, of the declarations each of its sub-accounts sent, in that
    sub-account's own outbox (a class login reads its own classes' pupils only)."""
    from exchange.accounts import senders
    from exchange.work import sub_account_outbox

    with db.session() as s:
        batch = s.get(Batch, batch_id)
        if batch is None:
            return []
        unit = s.get(Unit, batch.unit_code)
        unit_name, unit_type = (unit.name, unit.unit_type) if unit else ("", None)
        decls = list(s.scalars(select(Declaration).where(Declaration.batch_id == batch_id)
                               .order_by(Declaration.kind, Declaration.serial)))
        members = class_stop_members(s, decls)
        sent_by = senders(s, batch.unit_code, [d.serial for d in decls])
    written = _result_documents(instance, batch, unit_name, unit_type, decls, members,
                                instance.unit_outbox(batch.unit_code, "results"))
    for login in sorted(set(sent_by.values())):
        own = [d for d in decls if sent_by.get(d.serial) == login]
        written += _result_documents(instance, batch, unit_name, unit_type, own, members,
                                     sub_account_outbox(instance, batch.unit_code, login, "results"))
    return written


def _result_documents(instance: Instance, batch: Batch, unit_name: str, unit_type: str | None,
                      decls: list[Declaration], members: dict[int, list[tuple[str, str]]],
                      folder: Path) -> list[Path]:
    rules = instance.rules
    written: list[Path] = []
    labels = {APPROVED: CONCLUSIONS[APPROVED][0], REJECTED: CONCLUSIONS[REJECTED][0]}
    lines = []
    for d in decls:
        label, conclusion = declaration_label(rules.kinds, d), labels.get(d.status, UNDECIDED_LABEL)
        class_name, pupils = member_lines(d, members)
        lines.append(ResultLine(d.serial, label, d.id_number, class_name or d.name,
                                content(rules.kinds.get(d.kind), d.payload or {}, d.old_values,
                                        rules.tables),
                                d.submitted_at, d.status, conclusion, d.decision_reason or "",
                                d.reviewer or "", d.decided_at))
        # Each pupil a 班级停保 stops, under its row, with the class's conclusion.
        lines += [ResultLine(d.serial, label, number, name, text, None, d.status, conclusion,
                             member_of=d.serial) for number, name, text in pupils]
    written.append(write_result_book(folder / DOC_NAMES["result_book"].format(batch=batch.batch_no),
                                     batch_no=batch.batch_no, unit_code=batch.unit_code,
                                     unit_name=unit_name, lines=lines))
    rejected: dict[str, list[Declaration]] = {}
    for d in decls:
        if d.status == REJECTED:
            rejected.setdefault(d.kind, []).append(d)
    for kind_name, items in sorted(rejected.items()):
        kind = rules.kinds.get(kind_name)
        if kind is None:
            continue
        kind = rules.for_unit_type(kind, unit_type)
        wb = build_template(rules, kind, batch.unit_code, unit_name,
                            rows=[dict(d.payload or {}) for d in items],
                            reasons=[d.decision_reason or "" for d in items],
                            note=RW["fix_note"].format(batch=batch.batch_no),
                            meta={"source": "rejected", "batch": batch.batch_no},
                            unit_type=unit_type)
        target = folder / DOC_NAMES["fix_template"].format(batch=batch.batch_no, title=kind.title)
        written.append(save_workbook(wb, target))
    return written


# The centre inbox hook ---------------------------------------------------------------------------
def decisions_receipt(instance: Instance, db: Database, path: Path, spec: KindSpec,
                      apply: Callable[[list[DecisionRow], str | None], ReviewReport],
                      number_key: str, sheet: str) -> dict[str, Any] | None:
    """Read `path` as decisions of `spec` (the template's sheet `sheet`) and `apply` them (with
    the number its `_meta` gives under `number_key`): the centre's receipt; None when the file
    is not of `spec`."""
    try:
        read = read_decisions(instance, path, spec, sheet)
    except FileRejected as exc:
        return {"kind": spec.kind, "status": "rejected",
                "file_errors": [{"code": exc.code,
                                 "message": review_file_message(exc.code, exc.params)}]}
    if read is None:
        return None
    report = apply(read.rows, read.meta.get(number_key) or None)
    report.hidden_rows = read.hidden_rows
    receipt = report.receipt()
    log.info("unit=_centre file=%s %s: %s", path.name, spec.kind, receipt["counts"])
    return receipt


def handle_review_file(instance: Instance, db: Database, path: Path) -> dict[str, Any] | None:
    """exchange.intake.centre handler: a receipt when `path` holds review decisions, else None."""
    return decisions_receipt(instance, db, path, review_spec(), lambda rows, batch: apply_decisions(
        instance, db, rows, batch_hint=batch), "batch", RW["review_sheet"])


__all__ = ["apply_decisions", "read_decisions", "DecisionsRead", "read_conclusion", "Refusals", "decisions_receipt",
           "close_when_decided", "decision_spec", "load_by_key", "missing_results", "handle_review_file", "write_result_documents",
           "parse_conclusion", "row_group", "shows_person", "who", "DecisionRow", "ReviewReport", "review_spec"]
