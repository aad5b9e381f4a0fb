"""The data's path: claim -> read -> kind -> check -> import -> outputs -> archive/quarantine.

`examine()` is the one place a file is judged; `process_claim()` imports what it accepts and
writes the unit's outputs; `validate_file()` judges without changing anything.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks.columnar_rows import FileRepeats
from exchange.checks.context import CheckContext, UnitRecord
from exchange.checks.engine import Chunk, Parsed, judge_chunk, parse_chunk, repeat_key, rule_names
from exchange.checks.finding import Finding
from exchange.checks.values import BLANK_CHARS
from exchange.config import Instance
from exchange.errors import DatabaseBusy, ErrorBookFailed, FileRejected
from exchange.intake.claim import Claim, claimed, node_name
from exchange.intake.names import safe_name
from exchange.kinds.detect import detect_kind, unit_named
from exchange.kinds.spec import KindSpec, normalise_label
from exchange.messages import OUTPUT_NAMES
from exchange.outputs.atomic import publish
from exchange.outputs.receipt import ReceiptRows, receipt_json, receipt_text
from exchange.read.header import SCAN_ROWS, Located, column_taker, locate_header
from exchange.read.images import named_as_image
from exchange.read.tables import Book
from exchange.intake.subaccounts import attribution, outbox_of_work
from exchange.photos import PhotoRun, examine_photos, is_photo_upload
from exchange.residents import hooks_for
from exchange.metrics import metered_claim
from exchange.results import FileError, FileResult, RowOutcome
from exchange.store import queries as Q
from exchange.store.db import Database, disk_full, transient, trouble
from exchange.store.models import IMPORTED_STATUSES, OPEN_STATUSES, Declaration, FileRecord
from exchange.testhook import die_if_marked
from exchange.view.confirm import (after_file, examine_confirmation, is_confirmation_text,
                                   next_step, read_text, sent_list)

log = logging.getLogger("exchange.pipeline")

# Refusals whose file is unsafe or unreadable go to quarantine; the rest are archived.
RACE_ATTEMPTS = 3           # judging again after losing a one-open-declaration race
DB_RETRY_WAITS = (5.0, 20.0)   # seconds before judging again after the database stayed busy
QUARANTINE_CODES = {C.FILE_UNREADABLE, C.FILE_ENCRYPTED, C.FILE_HOSTILE, C.FILE_TOO_LARGE,
                    C.FILE_UNKNOWN_UNIT}
INTERNAL_ERROR = "internal"

RowSink = Callable[[RowOutcome], None]


@dataclass
class Options:
    importing: bool = True
    actor: str | None = None              # who declares: the unit, or a sub-account login
    scope: frozenset[str] | None = None   # classes a sub-account may declare for
    file_id: int | None = None
    today: date = field(default_factory=date.today)


def _fingerprint_encoder() -> Callable[[Any], str]:
    """JSONEncoder(ensure_ascii=False, default=str).encode: the text fingerprints are made of.

    encode() builds its C encoder anew at every call, which is 40% of a fingerprint; the C
    encoder is built once here where the interpreter has one (values never refer to
    themselves, so no cycle check)."""
    from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]

    if c_make_encoder is None or c_encode_basestring is None:
        return json.JSONEncoder(ensure_ascii=False, default=str).encode
    parts = c_make_encoder(None, str, c_encode_basestring, None, ": ", ", ", False, False, True)
    return lambda body: "".join(parts(body, 0))


_fingerprint_text = _fingerprint_encoder()


def fingerprint(kind: str, unit: str, values: dict[str, Any]) -> str:
    """Same kind, unit and normalised values: the same declaration, however it was spelt.

    The text hashed is the JSON of [kind, unit, [[field, value], ...]] over the non-empty values
    sorted by field; stored fingerprints depend on it never changing."""
    body = _fingerprint_text(
        [kind, unit, sorted((k, v) for k, v in values.items() if v is not None and v != "")])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class FileRun:
    """Checks and imports the data rows of one file, a chunk at a time."""

    def __init__(self, instance: Instance, session: Session, kind: KindSpec, unit: UnitRecord,
                 opts: Options, sink: RowSink) -> None:
        self.instance = instance
        self.session = session
        self.kind = kind
        self.unit = unit
        self.opts = opts
        self.sink = sink
        self.rules = instance.rules
        self.repeats = FileRepeats(repeat_key(kind))
        self.position = {c.field: i for i, c in enumerate(kind.columns)}
        # Fields whose parsed value is a tuple (codes columns), and the kind's defaults.
        self.tuple_fields = [c.field for c in kind.columns if c.type == "codes"] + ["insurances"]
        self.now = _now()
        # A school's class or department account: every row stays within its classes.
        self.rule_names = rule_names(kind, opts.scope)
        # The resident kinds' and the 用户维护表's extra steps (exchange.residents, account_book).
        self.hooks = hooks_for(kind, instance, opts.actor)
        self.data_rows = 0

    # Reading -------------------------------------------------------------------------------
    def parse(self, rows: list[tuple[int, tuple[Any, ...]]]) -> Chunk:
        """A chunk of data rows, each (row number, cells in the kind's column order)."""
        return parse_chunk(rows, self.kind, self.rules.tables, self.opts.today, self.repeats)

    def given(self, p: Parsed, field_name: str) -> str | None:
        """What the clerk wrote for a field that may not parse: the value, else the cell's text."""
        value = p.values.get(field_name)
        if value or field_name not in self.position:
            return value or None
        return _text(p.raw[self.position[field_name]])

    # Checking ------------------------------------------------------------------------------
    def context(self, chunk: Chunk) -> CheckContext:
        s = self.session
        ids = [p.values["id_number"] for p in chunk if p.values.get("id_number")]
        ctx = CheckContext(self.rules, self.kind, self.unit, self.opts.today, scope=self.opts.scope)
        ctx.persons = Q.persons(s, ids)
        if self.kind.action == "withdraw":
            serials = [p.values["serial"] for p in chunk if p.values.get("serial")]
            ctx.declarations, ctx.by_person = Q.unit_declarations(s, self.unit.code, serials, ids)
        else:
            # One query for the persons' declarations: the open ones block new work, and a row
            # can repeat an imported one only if its person has one (the fingerprint covers the
            # ID), so only those rows need a fingerprint now. Rows without an ID: by fingerprint.
            history = Q.person_declarations(s, ids)
            ctx.open_by_person = {d.id_number: d for d in history
                                  if d.id_number and d.status in OPEN_STATUSES}
            ctx.imported = {d.fingerprint: d.serial for d in history if d.fingerprint
                            and d.unit_code == self.unit.code and d.status in IMPORTED_STATUSES}
            imported_ids = {d.id_number for d in history
                            if d.unit_code == self.unit.code and d.status in IMPORTED_STATUSES}
            unknown = []
            for p in chunk:          # only a row without findings can be one imported before
                number = p.values.get("id_number")
                if p.findings or (number and number not in imported_ids):
                    continue
                p.fingerprint = fingerprint(self.kind.kind, self.unit.code, p.values)
                if not number:
                    unknown.append(p.fingerprint)
            if unknown:
                ctx.imported.update(Q.imported_fingerprints(s, self.unit.code, unknown))
        if self.hooks:
            ctx = self.hooks.enrich(s, ctx, [(p.outcome_row, p.values) for p in chunk])
        return ctx

    def _fingerprint(self, p: Parsed) -> str:
        return p.fingerprint or fingerprint(self.kind.kind, self.unit.code, p.values)

    def judge(self, chunk: Chunk, ctx: CheckContext) -> list[list[Finding]]:
        """Each row's findings, in the chunk's order (exchange.checks.engine)."""
        return judge_chunk(chunk, ctx, self.rule_names)

    # Importing -----------------------------------------------------------------------------
    def run_chunk(self, chunk: Chunk) -> None:
        ctx = self.context(chunk)
        judged = list(zip(chunk.rows, self.judge(chunk, ctx)))
        serials: dict[int, int] = {}
        if self.opts.importing:
            serials = self.store(judged, ctx)
        for p, findings in judged:
            serial = serials.get(p.outcome_row)
            if serial is None and findings and findings[0].code == C.DUPLICATE_IMPORTED:
                serial = findings[0].params.get("serial")
            notes = self.hooks.notes(p.outcome_row, p.values, ctx) if self.hooks and not findings else ()
            self.sink(RowOutcome(p.outcome_row, tuple(findings), p.raw, self.given(p, "id_number"),
                                 self.given(p, "name"), serial, notes))

    def store(self, judged: list[tuple[Parsed, list[Finding]]], ctx: CheckContext) -> dict[int, int]:
        s, actor, file_id = self.session, self.opts.actor or self.unit.code, self.opts.file_id
        now = self.now = _now()              # one timestamp for the rows of a chunk
        accepted = [p for p, f in judged if not f]
        failures = [(p, f) for p, f in judged if f and not all(x.is_duplicate for x in f)]
        Q.add_row_errors(s, [
            {"file_id": file_id, "unit_code": self.unit.code, "kind": self.kind.kind,
             "row": p.outcome_row, "id_number": self.given(p, "id_number"),
             "name": self.given(p, "name"), "column": x.column,
             "code": x.code, "message": x.message, "created_at": now}
            for p, f in failures for x in f])
        if self.kind.action == "withdraw":
            return self.withdraw(accepted, ctx)
        rows = [self.declaration(p, ctx) for p in accepted]
        serials = Q.add_declarations(s, rows)
        if self.hooks:
            self.hooks.imported(s, rows, serials)
        if file_id is not None:
            Q.audit_imported(s, file_id, serials, now, actor)
        else:
            Q.add_audit(s, [{"at": now, "actor": actor, "action": "import", "serial": serial,
                             "file_id": None, "row": p.outcome_row, "detail": self.kind.kind}
                            for p, serial in zip(accepted, serials)])
        return {p.outcome_row: serial for p, serial in zip(accepted, serials)}

    def _json_safe(self, values: dict[str, Any]) -> dict[str, Any]:
        """Tuples as lists, in place: only multi-code columns (and what the kind adds) hold them.

        Only for the hooks, which read payloads: a tuple's JSON text is a list's (orjson and
        json.dumps write both as an array), so the stored text is the same either way."""
        if not self.hooks:
            return values
        for f in self.tuple_fields:
            if isinstance(values.get(f), tuple):
                values[f] = list(values[f])
        return values

    def declaration(self, p: Parsed, ctx: CheckContext) -> dict[str, Any]:
        values = dict(p.values)
        old: dict[str, Any] | None = None
        if self.kind.effect == "insure" and not values.get("insurances"):
            values["insurances"] = tuple(self.rules.region.default_insurances)
        if self.kind.effect == "stop":
            # Insured to the end of the month it is declared in; stopped from the next (fixed).
            values["stop_after"] = ctx.current_month
        if self.kind.change_fields:
            record: Any = ctx.person(values) if self.kind.subject == "person" else None
            old = {}
            for f in self.kind.change_fields:
                if values.get(f) in (None, ""):
                    continue
                if record is not None:
                    old[f] = record.value(f)
                elif self.kind.subject == "unit":
                    old[f] = self.unit.extra.get(f)
        row = {"unit_code": self.unit.code, "kind": self.kind.kind,
               "id_number": values.get("id_number"), "name": values.get("name"),
               "status": "pending", "fingerprint": self._fingerprint(p),
               "payload": self._json_safe(values), "old_values": old, "file_id": self.opts.file_id,
               "row": p.outcome_row, "created_at": self.now}
        if self.hooks:
            self.hooks.complete(row, p.values, ctx)
        return row

    def withdraw(self, accepted: list[Parsed], ctx: CheckContext) -> dict[int, int]:
        done: dict[int, int] = {}
        actor = self.opts.actor or self.unit.code
        for p in accepted:
            serial, number, kind = (p.values.get("serial"), p.values.get("id_number"),
                                    p.values.get("declared_kind"))
            targets = ([ctx.declarations[serial]] if serial is not None else
                       [d for d in ctx.by_person.get(str(number), []) if kind in (None, d.kind)])
            for d in targets:
                if d.status != "pending":
                    continue
                self.session.execute(update(Declaration).where(
                    Declaration.serial == d.serial, Declaration.status == "pending").values(
                    status="withdrawn", decided_at=_now()))
                Q.audit(self.session, actor, "withdraw", serial=d.serial, file_id=self.opts.file_id,
                        row=p.outcome_row)
                done[p.outcome_row] = d.serial
        return done


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def _text(value: Any) -> str | None:
    from exchange.checks.values import as_text

    text = as_text(value)
    return text[:40] or None


def _data_chunks(located: Located, mapping: dict[int, str], run: FileRun, max_rows: int,
                 size: int) -> Iterator[Chunk]:
    """The data rows below the header, parsed a chunk at a time; blank rows and the header
    pasted again are skipped."""
    columns = run.kind.columns
    take = column_taker(mapping, columns)
    where = {f: pos for pos, f in mapping.items()}
    labels = [normalise_label(located.header[where[c.field]]) if c.field in where else None
              for c in columns]
    blank_chars = BLANK_CHARS

    def skipped(raw: tuple[Any, ...]) -> bool:
        """A blank row, or one whose every filled cell is its column's header."""
        for label, v in zip(labels, raw):
            if v is None or (v.__class__ is str and not v.strip(blank_chars)):
                continue
            if label is None or normalise_label(str(v)) != label:
                return False
        return True

    batch: list[tuple[int, tuple[Any, ...]]] = []
    for number, values in located.rows:
        raw = take(values)
        if skipped(raw):
            continue
        run.data_rows += 1
        if run.data_rows > max_rows:
            raise FileRejected(C.FILE_TOO_LARGE, what="row_count", limit=max_rows)
        batch.append((number, raw))
        if len(batch) >= size:
            yield run.parse(batch)
            batch = []
    if batch:
        yield run.parse(batch)


def examine(instance: Instance, session: Session, path: Path, unit_code: str, name: str,
            result: FileResult, opts: Options, sink: RowSink) -> tuple[KindSpec | None, UnitRecord | None]:
    """Judge one file: whole-file refusals raise FileRejected; rows go to `sink` one by one."""
    die_if_marked(str(path))            # tests only: a process that dies while reading
    unit = Q.unit_record(session, unit_code)
    if unit is None:
        raise FileRejected(C.FILE_UNKNOWN_UNIT, unit=unit_code)
    if is_confirmation_text(name):                # 提交确认.txt (issue 16.5)
        examine_confirmation(instance, session, read_text(path), unit_code, result,
                             opts.importing, opts.actor or unit_code, sink, opts.scope)
        return None, unit
    # Every byte of the file is parsed in a sandboxed worker (exchange.read.sandbox); a worker
    # that dies or passes a limit is this file's FileRejected, never the service's end.
    with instance.readers.upload(path, book=not named_as_image(name)) as upload:
        if is_photo_upload(upload.sniffed, name):   # <证件号码>.jpg|.png or a zip of them
            examine_photos(instance, session, upload, unit_code, name, result, PhotoRun(
                opts.importing, opts.file_id, opts.actor or unit_code, opts.today, opts.scope), sink)
            return None, unit
        if upload.sniffed.format not in ("xlsx", "xls", "csv"):
            raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
        sent, book = sent_list(upload.book())
        if sent is not None:                      # a 待提交清单 sent back (issue 16.5)
            examine_confirmation(instance, session, sent, unit_code, result, opts.importing,
                                 opts.actor or unit_code, sink, opts.scope)
            return None, unit
        return _examine_book(instance, session, book, unit, name, result, opts, sink)


def _examine_book(instance: Instance, session: Session, book: Book, unit: UnitRecord, name: str,
                  result: FileResult, opts: Options, sink: RowSink) -> tuple[KindSpec, UnitRecord]:
    """A workbook or CSV's kind and rows judged; its rows come from the reading worker."""
    unit_code, limits = unit.code, instance.settings.limits
    rules = instance.rules
    # Every kind as this unit's type fills it (its required columns); one it may not send is
    # recognised, then refused by name rather than read as some other kind.
    kinds = [rules.for_unit_type(k, unit.unit_type) for k in rules.kinds.values()]
    located = None
    seen_rows = 0
    for sheet in book.sheets:
        # The head read here is handed on, not wrapped: every data row passes below.
        head = list(itertools.islice(sheet.rows, SCAN_ROWS))
        seen_rows += len(head)
        located = locate_header(itertools.chain(head, sheet.rows), kinds)
        if located is not None:
            break
    if located is None:
        raise FileRejected(C.FILE_EMPTY if seen_rows == 0 else C.FILE_UNKNOWN_KIND)
    detected = detect_kind(kinds, located.header, located.title_lines, name, book.meta)
    kind = detected.kind
    result.kind, result.kind_label = kind.kind, kind.label
    result.awaits_submission = kind.review and kind.action == "declare"
    if result.awaits_submission and opts.importing:     # for the receipt (validate has none)
        result.next_step = next_step(instance, unit_code)
    result.withdrawal = kind.action == "withdraw"
    named = unit_named(located.title_lines, book.meta)
    if named and named != unit_code:
        raise FileRejected(C.FILE_WRONG_UNIT, named=named, unit=unit_code)
    if not rules.allows(kind, unit.unit_type):
        types = rules.tables["unit_type"]
        raise FileRejected(C.FILE_KIND_NOT_ALLOWED, title=kind.title,
                           unit_type=types.label(rules.unit_type(unit.unit_type)),
                           allowed="、".join(types.label(t) for t in rules.sender_types(kind)))
    run = FileRun(instance, session, kind, unit, opts, sink)
    for chunk in _data_chunks(located, detected.mapping, run, limits.max_rows,
                              instance.settings.intake.chunk_rows):
        run.run_chunk(chunk)
    if run.data_rows == 0:
        raise FileRejected(C.FILE_EMPTY)
    return kind, unit




# Processing a claimed file ---------------------------------------------------------------------
def output_stem(result: FileResult) -> str:
    return f"{result.received_at:%Y%m%d-%H%M%S}-{result.file_id:06d}-{Path(safe_name(result.name)).stem}"


@metered_claim
def process_claim(instance: Instance, db: Database, work: Claim, actor: str | None = None,
                  scope: frozenset[str] | None = None) -> FileResult:
    """Judge and import a claimed file, then publish its outputs and archive or quarantine it.

    `actor` is who declares (default: the unit; a file claimed from a sub-account's folder
    inbox/<unit>/@<login>/ names its login); a school's class or department account is held to
    its classes (`scope`, default: the account's own, see exchange.intake.subaccounts).

    Receipts and the error workbook are staged before the import commits, so a crash after the
    commit only leaves placing to do (recover()); a crash before it leaves nothing behind.
    A database that stays locked or unreachable raises DatabaseBusy: no receipt is written, and
    the file stays claimed for recovery to judge again.
    """
    stage = stage_dir(instance, work)
    try:
        result = _judged(instance, db, work, actor, scope, stage)
    except Exception as exc:
        if not transient(exc):
            raise
        shutil.rmtree(stage, ignore_errors=True)
        log.error("unit=%s file=%s id=%s: database busy or unreachable, or disk full (%s); the "
                  "file stays claimed in %s and is judged again by recovery", work.unit,
                  work.name, work.file_id, trouble(exc), work.work_path)
        raise DatabaseBusy(trouble(exc)) from exc
    try:
        place(instance, db, work, result.quarantined, stage)
    except Exception as exc:
        if disk_full(exc):
            # Judged and recorded; its outputs not all published: recovery places it again.
            log.error("unit=%s file=%s id=%s: disk full while placing (%s); placed again by "
                      "recovery", work.unit, work.name, work.file_id, exc)
            raise DatabaseBusy(trouble(exc)) from exc
        if not transient(exc):
            raise
        # Published and moved; only the row's stored_path is missing: recover() records it.
        log.warning("unit=%s file=%s id=%s: placed, not yet recorded (%s)", work.unit, work.name,
                    work.file_id, trouble(exc))
    log.info("unit=%s file=%s id=%s kind=%s status=%s %s", work.unit, work.name, work.file_id,
             result.kind, result.status, result.counts.as_dict())
    try:
        after_file(instance, db, result)
    except Exception:            # the file is done; its batch documents are rewritten nightly
        log.exception("unit=%s file=%s id=%s: batch documents or submit list not written",
                      work.unit, work.name, work.file_id)
    return result


def _judged(instance: Instance, db: Database, work: Claim, actor: str | None,
            scope: frozenset[str] | None, stage: Path) -> FileResult:
    """The file judged (and imported) with its outputs staged; a file the pipeline could not
    judge (an internal error) is refused as unreadable. Database trouble that outlasts
    DB_RETRY_WAITS is raised: the file is not at fault."""
    actor, scope = attribution(db, work, actor, scope)
    opts = Options(importing=True, actor=actor, scope=scope, file_id=work.file_id)
    races, waits, book_helper = 0, list(DB_RETRY_WAITS), True
    while True:
        result = FileResult(work.unit, work.name, work.received_at, file_id=work.file_id)
        try:
            _judge_and_import(instance, db, work, result, opts, stage, book_helper)
            return result
        except ErrorBookFailed as exc:
            if not book_helper:
                raise
            # The error workbook's helper stopped (killed, out of memory): not the file's
            # fault. Nothing was committed; judge again with the book written here.
            log.warning("unit=%s file=%s id=%s: the error workbook's helper failed (%s); judging "
                        "again with the book written in-process", work.unit, work.name,
                        work.file_id, exc)
            book_helper = False
            continue
        except IntegrityError:
            # Another node imported a declaration for one of these persons since we read the
            # records (the one-open-declaration index said no). Judge again: that row is now
            # person.pending, and a clerk reads why instead of a quarantined file.
            races += 1
            if races < RACE_ATTEMPTS:
                log.warning("unit=%s file=%s id=%s: lost an import race, judging again (%d)",
                            work.unit, work.name, work.file_id, races)
                continue
            log.exception("unit=%s file=%s id=%s: import races persist, quarantined", work.unit,
                          work.name, work.file_id)
            error = FileError(C.FILE_UNREADABLE, {"reason": "corrupt"})
        except FileRejected as exc:
            error = FileError(exc.code, exc.params)
        except Exception as exc:
            if transient(exc):
                if not waits:
                    raise
                wait = waits.pop(0)
                instance.metrics.database_retry("file")
                log.warning("unit=%s file=%s id=%s: database busy or unreachable, or disk full "
                            "(%s), judging again in %.0fs", work.unit, work.name, work.file_id,
                            trouble(exc), wait)
                time.sleep(wait)
                continue
            log.exception("unit=%s file=%s id=%s: internal error, quarantined", work.unit, work.name,
                          work.file_id)
            error = FileError(C.FILE_UNREADABLE, {"reason": "corrupt"})
        _refuse(instance, db, result, error, error.code in QUARANTINE_CODES, stage,
                output_stem(result))
        return result


def _judge_and_import(instance: Instance, db: Database, work: Claim, result: FileResult,
                      opts: Options, stage: Path, book_helper: bool = True) -> None:
    """One attempt: judge and import in one transaction, staging the receipts before commit
    (a large error workbook written by a helper process unless `book_helper` is False)."""
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    stem = output_stem(result)
    from exchange.outputs.error_book import ErrorBook     # not needed by validate

    spool = ReceiptRows(stage / "rows.jsonl")
    writer: list[ErrorBook] = []
    err_name = f"{stem}.{OUTPUT_NAMES['errors']}.xlsx"
    unit_name, unit_type = "", None

    def sink(outcome: RowOutcome) -> None:
        result.counts.add(outcome)
        if not outcome.ok or outcome.duplicate or outcome.notes:
            spool.add(outcome)
        if outcome.failed and result.kind in instance.rules.kinds:   # photos have no template
            if not writer:
                rules = instance.rules      # the kind as this unit's type fills it
                kind = rules.for_unit_type(rules.kinds[result.kind or ""], unit_type)
                writer.append(ErrorBook(stage / err_name, kind, work.unit, unit_name, work.name,
                                        helper=book_helper))
            writer[0].add(outcome)

    try:
        with db.session() as s:
            unit = Q.unit_record(s, work.unit)
            unit_name, unit_type = (unit.name, unit.unit_type) if unit else ("", None)
            examine(instance, s, work.work_path, work.unit, work.name, result, opts, sink)
            if writer:
                writer.pop().close()
                result.error_book_name = err_name
            _finish_record(s, result)
            _write_receipts(instance, result, spool, stage, stem)
        if result.counts.accepted:
            instance.changed((work.unit,))        # the unit's status workbooks (issue 16)
    finally:
        spool.close()
        if writer:                   # judged no further: a helper writing the book is stopped
            writer.pop().discard()


def dies_alone(instance: Instance, work: Claim) -> str | None:
    """Judge a claimed file without importing (`exchange validate`) in a child process: how the
    child ended abnormally (a signal, or outlasting the lease), or None when it judged the
    file. Asked of a file whose holders died while judging it (intake.scan.MAX_TAKES): was it
    the file, or something else that stopped them?"""
    import subprocess
    import sys

    command = [sys.executable, "-c", "from exchange.cli import main; main()", "--home",
               str(instance.home), "validate", str(work.work_path), "--unit", work.unit, "--json"]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              timeout=instance.settings.intake.lease_seconds)
    except subprocess.TimeoutExpired:
        return f"still judging it after {instance.settings.intake.lease_seconds} s"
    if done.returncode < 0:
        import signal

        return f"ended by {signal.Signals(-done.returncode).name}"
    return None


def refuse_crashed(instance: Instance, db: Database, work: Claim) -> FileResult:
    """Quarantine a claimed file without judging it again: the processes that judged it ended
    abnormally (killed, aborted) twice (intake.scan.MAX_TAKES). Its receipt says so."""
    result = FileResult(work.unit, work.name, work.received_at, file_id=work.file_id)
    stage = stage_dir(instance, work)
    stage.mkdir(parents=True, exist_ok=True)
    _refuse(instance, db, result, FileError(C.FILE_UNREADABLE, {"reason": "crashed"}), True, stage,
            output_stem(result))
    place(instance, db, work, True, stage)
    log.info("unit=%s file=%s id=%s status=%s code=%s", work.unit, work.name, work.file_id,
             result.status, C.FILE_UNREADABLE)
    return result


def stage_dir(instance: Instance, work: Claim) -> Path:
    return instance.processing / f"{work.work_path.name}.out"


def _refuse(instance: Instance, db: Database, result: FileResult, error: FileError,
            quarantined: bool, stage: Path, stem: str) -> None:
    result.file_error = error
    result.quarantined = quarantined
    result.counts = type(result.counts)()
    result.error_book_name = None
    for leftover in stage.glob("*"):
        leftover.unlink()
    _write_receipts(instance, result, [], stage, stem)
    _record_refusal(db, result)


def _finish_record(s: Session, result: FileResult) -> None:
    rec = s.get(FileRecord, result.file_id)
    if rec is None:
        return
    rec.kind = result.kind
    rec.status = result.status
    rec.total, rec.accepted = result.counts.total, result.counts.accepted
    rec.failed, rec.duplicate = result.counts.failed, result.counts.duplicate
    rec.error_book_name = result.error_book_name
    rec.receipt_name = f"{output_stem(result)}.{OUTPUT_NAMES['receipt']}.txt"
    rec.finished_at = _now()
    Q.audit(s, result.unit, "file." + result.status, file_id=result.file_id,
            detail=json.dumps(result.counts.as_dict()))


def _record_refusal(db: Database, result: FileResult) -> None:
    with db.session() as s:
        _finish_record(s, result)
        rec = s.get(FileRecord, result.file_id)
        if rec is not None and result.file_error:
            rec.file_code = result.file_error.code
        if result.file_error:
            Q.add_row_errors(s, [{"file_id": result.file_id, "unit_code": result.unit,
                                  "kind": result.kind, "row": None, "id_number": None, "name": None,
                                  "column": None, "code": result.file_error.code,
                                  "message": result.file_error.message, "created_at": _now()}])


def _write_receipts(instance: Instance, result: FileResult, spool: Any, stage: Path,
                    stem: str) -> None:
    text = receipt_text(result, spool, instance.settings.intake.receipt_row_lines)
    (stage / f"{stem}.{OUTPUT_NAMES['receipt']}.txt").write_text(text, encoding="utf-8-sig")
    with (stage / f"{stem}.{OUTPUT_NAMES['receipt']}.json").open("w", encoding="utf-8") as fh:
        receipt_json(result, spool, fh)
    result.receipt_name = f"{stem}.{OUTPUT_NAMES['receipt']}.txt"


def place(instance: Instance, db: Database, work: Claim, quarantined: bool, stage: Path) -> None:
    """Publish staged outputs into the unit's outbox (a sub-account's file: the sub-account's),
    then archive or quarantine the source."""
    outbox = outbox_of_work(instance, work.work_path, work.unit)
    for staged in sorted(stage.glob("*")):
        if staged.name.endswith(".xlsx"):
            publish(staged, outbox / "errors" / staged.name)
        elif f".{OUTPUT_NAMES['receipt']}." in staged.name:
            publish(staged, outbox / "receipts" / staged.name)
    month = f"{work.received_at:%Y%m}"
    base = instance.quarantine if quarantined else instance.archive / month
    target = base / work.unit / f"{work.file_id:06d}-{safe_name(work.name)}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if work.work_path.exists():
        shutil.move(str(work.work_path), target)
    shutil.rmtree(stage, ignore_errors=True)
    with db.session() as s:
        rec = s.get(FileRecord, work.file_id)
        if rec is not None:
            rec.stored_path = str(target)
            rec.lease_until = None


# Entry points ----------------------------------------------------------------------------------
def process_file(instance: Instance, db: Database, path: Path, unit: str) -> FileResult | None:
    """Claim one file from an inbox and process it; None when another worker claimed it, or
    another node is judging a file of the same unit (see intake.claim.claimed)."""
    with claimed(instance, db, path, unit) as work:
        if work is None:
            return None
        return process_claim(instance, db, work)


@dataclass
class Validation:
    result: FileResult
    rows_path: Path | None

    def rows(self) -> Iterator[dict[str, Any]]:
        for line in self.lines():
            yield json.loads(line)

    def lines(self) -> Iterator[str]:
        """Each row as its JSON text (what json.dumps(row, ensure_ascii=False) gives)."""
        if self.rows_path is None:
            return
        with self.rows_path.open(encoding="utf-8") as fh:
            for line in fh:
                yield line.rstrip("\n")


def _row_json(outcome: RowOutcome) -> str:
    if not outcome.findings and not outcome.notes and outcome.serial is None:
        return f'{{"row": {outcome.row}, "ok": true, "errors": []}}'    # most rows, same text
    return json.dumps(outcome.as_dict(), ensure_ascii=False)


def validate_file(instance: Instance, db: Database, path: Path, unit: str, spool_dir: Path,
                  today: date | None = None) -> Validation:
    """Judge a file against the rules and the current records; nothing is written."""
    result = FileResult(unit, path.name, _now())
    spool_dir.mkdir(parents=True, exist_ok=True)
    rows_path = spool_dir / "validate-rows.jsonl"
    opts = Options(importing=False, today=today or date.today())
    with rows_path.open("w", encoding="utf-8") as out:
        def sink(outcome: RowOutcome) -> None:
            result.counts.add(outcome)
            out.write(_row_json(outcome) + "\n")

        with db.sessions() as s:
            try:
                examine(instance, s, path, unit, path.name, result, opts, sink)
            except FileRejected as exc:
                result.file_error = FileError(exc.code, exc.params)
                result.counts = type(result.counts)()
            finally:
                s.rollback()
    if result.file_error:
        return Validation(result, None)
    return Validation(result, rows_path)


__all__ = ["process_file", "process_claim", "validate_file", "examine", "fingerprint", "Options"]
