"""The data's path: claim -> read -> kind -> check -> import -> outputs -> archive/quarantine.

A claimed file (exchange.intake) is judged by exchange.judge, which hands its rows to the store
(exchange.store.imports); its answers are staged, then placed by exchange.outputs.answers.
`process_claim()` does that for a claimed file, with retries when the database is busy;
`validate_file()` judges a file without changing anything.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy.exc import IntegrityError

from exchange import codes as C
from exchange.config import Instance
from exchange.errors import DatabaseBusy, ErrorBookFailed, FileRejected
from exchange.judge import Options, examine
from exchange.metrics import metered_claim
from exchange.outputs.answers import Staged, output_stem, place, stage_dir, write_receipts
from exchange.results import FileError, FileResult, RowOutcome
from exchange.store import queries as Q
from exchange.store.db import Database, disk_full, transient, trouble
from exchange.store.imports import finish_record, record_refusal
from exchange.view.confirm import after_file
from exchange.work import Claim, acting_as

log = logging.getLogger("exchange.pipeline")

# Refusals whose file is unsafe or unreadable go to quarantine; the rest are archived.
RACE_ATTEMPTS = 3           # judging again after losing a one-open-declaration race
DB_RETRY_WAITS = (5.0, 20.0)   # seconds before judging again after the database stayed busy
QUARANTINE_CODES = {C.FILE_UNREADABLE, C.FILE_ENCRYPTED, C.FILE_HOSTILE, C.FILE_TOO_LARGE,
                    C.FILE_UNKNOWN_UNIT}


# Processing a claimed file ---------------------------------------------------------------------
@metered_claim
def process_claim(instance: Instance, db: Database, work: Claim, actor: str | None = None,
                  scope: frozenset[str] | None = None) -> FileResult:
    """Judge and import a claimed file, then publish its outputs and archive or quarantine it.

    Who sent it, what it may declare for and where its answers go came with the claim
    (`work.sender`); a caller that knows the login some other way names it as `actor` (held to
    that account's classes) or gives the `scope` (exchange.work.acting_as).

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
    sender = work.sender
    if actor is not None or scope is not None:
        with db.session() as s:
            sender = acting_as(s, sender, actor, scope)
    opts = Options(importing=True, actor=sender.login, scope=sender.scope, file_id=work.file_id)
    races, waits, book_helper = 0, list(DB_RETRY_WAITS), True
    while True:
        result = FileResult(work.unit, work.name, work.received_at, file_id=work.file_id,
                            sender=sender)
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
            error = FileError(C.FILE_UNREADABLE, {"reason": "internal"})
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
            error = FileError(C.FILE_UNREADABLE, {"reason": "internal"})
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
    staged = Staged(instance, result, stage, stem, book_helper)

    def sink(outcome: RowOutcome) -> None:
        result.counts.add(outcome)
        staged.add(outcome)

    try:
        with db.session() as s:
            staged.unit = Q.unit_record(s, work.unit)
            examine(instance, s, work.work_path, work.unit, work.name, result, opts, sink,
                    staged.unit)
            staged.finish_book()
            finish_record(s, result)
            write_receipts(instance, result, staged.spool, stage, stem)
        if result.counts.accepted:
            instance.changed((work.unit,))        # the unit's status workbooks (issue 16)
    finally:
        staged.close()


def refuse_crashed(instance: Instance, db: Database, work: Claim) -> FileResult:
    """Quarantine a claimed file without judging it again: the processes that judged it ended
    abnormally (killed, aborted) twice (intake.scan.MAX_TAKES). Its receipt says so."""
    result = FileResult(work.unit, work.name, work.received_at, file_id=work.file_id,
                        sender=work.sender)
    stage = stage_dir(instance, work)
    stage.mkdir(parents=True, exist_ok=True)
    _refuse(instance, db, result, FileError(C.FILE_UNREADABLE, {"reason": "crashed"}), True, stage,
            output_stem(result))
    place(instance, db, work, True, stage)
    log.info("unit=%s file=%s id=%s status=%s code=%s", work.unit, work.name, work.file_id,
             result.status, C.FILE_UNREADABLE)
    return result


def _refuse(instance: Instance, db: Database, result: FileResult, error: FileError,
            quarantined: bool, stage: Path, stem: str) -> None:
    result.file_error = error
    result.quarantined = quarantined
    result.counts = type(result.counts)()
    result.error_book_name = None
    for leftover in stage.glob("*"):
        leftover.unlink()
    write_receipts(instance, result, [], stage, stem)
    record_refusal(db, result)


# Entry points ----------------------------------------------------------------------------------
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
    result = FileResult(unit, path.name, datetime.now().replace(microsecond=0))
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


__all__ = ["process_claim", "validate_file", "place", "stage_dir"]
