"""A judged file's answers to its sender: the receipts and error workbook staged beside the work
file, then published into the sender's outbox, and the file archived or quarantined.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exchange.checks.context import UnitRecord
from exchange.config import Instance
from exchange.messages import OUTPUT_NAMES
from exchange.names import safe_name
from exchange.outputs.atomic import publish
from exchange.outputs.receipt import ReceiptRows, receipt_json, receipt_text
from exchange.results import FileResult, RowOutcome
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.work import Claim

if TYPE_CHECKING:
    from exchange.outputs.error_book import ErrorBook


def output_stem(result: FileResult) -> str:
    return f"{result.received_at:%Y%m%d-%H%M%S}-{result.file_id:06d}-{Path(safe_name(result.name)).stem}"


def stage_dir(instance: Instance, work: Claim) -> Path:
    """Where a claimed file's outputs wait until they are placed."""
    return instance.processing / f"{work.work_path.name}.out"


class Staged:
    """A file's answers staged while its rows are judged: the rows its receipt shows spooled,
    the failed ones written to its error workbook (by a helper process unless `book_helper` is
    False), both in `stage`."""

    def __init__(self, instance: Instance, result: FileResult, stage: Path, stem: str,
                 book_helper: bool = True) -> None:
        self.instance, self.result, self.stage = instance, result, stage
        self.book_helper = book_helper
        self.spool = ReceiptRows(stage / "rows.jsonl")
        self.writer: list[ErrorBook] = []
        self.err_name = f"{stem}.{OUTPUT_NAMES['errors']}.xlsx"
        self.unit: UnitRecord | None = None     # whose file it is (set once it is known)

    def add(self, outcome: RowOutcome) -> None:
        result = self.result
        if not outcome.ok or outcome.duplicate or outcome.notes:
            self.spool.add(outcome)
        if outcome.failed and result.kind in self.instance.rules.kinds:   # photos have no template
            if not self.writer:
                from exchange.outputs.error_book import ErrorBook    # not needed by validate
                from exchange.outputs.aids import error_book_aids

                rules = self.instance.rules      # the kind as this unit's type fills it
                unit_name, unit_type = ((self.unit.name, self.unit.unit_type) if self.unit
                                        else ("", None))
                kind = rules.for_unit_type(rules.kinds[result.kind or ""], unit_type)
                self.writer.append(ErrorBook(self.stage / self.err_name, kind, result.unit,
                                             unit_name, result.name, helper=self.book_helper,
                                             aids=error_book_aids(rules, kind, unit_type)))
            self.writer[0].add(outcome)

    def finish_book(self) -> None:
        """The error workbook, if any row failed, closed and named in the result."""
        if self.writer:
            self.writer.pop().close()
            self.result.error_book_name = self.err_name

    def close(self) -> None:
        self.spool.close()
        if self.writer:                   # judged no further: a helper writing the book is stopped
            self.writer.pop().discard()


def write_receipts(instance: Instance, result: FileResult, spool: Any, stage: Path,
                   stem: str) -> None:
    """The receipt (text and JSON) staged under `stem`; `spool` holds the rows it shows."""
    text = receipt_text(result, spool, instance.settings.intake.receipt_row_lines)
    (stage / f"{stem}.{OUTPUT_NAMES['receipt']}.txt").write_text(text, encoding="utf-8-sig")
    with (stage / f"{stem}.{OUTPUT_NAMES['receipt']}.json").open("w", encoding="utf-8") as fh:
        receipt_json(result, spool, fh)
    result.receipt_name = f"{stem}.{OUTPUT_NAMES['receipt']}.txt"


def place(instance: Instance, db: Database, work: Claim, quarantined: bool, stage: Path) -> None:
    """Publish staged outputs into the sender's outbox (a sub-account's file: the sub-account's),
    then archive or quarantine the source."""
    outbox = work.sender.outbox
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
        Q.update_file(s, work.file_id, stored_path=str(target), lease_until=None)
