"""A judged file's answers to its sender: the receipts and error workbook staged beside the work
file, then published into the sender's outbox, and the file archived or quarantined.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from exchange.config import Instance
from exchange.messages import OUTPUT_NAMES
from exchange.names import safe_name
from exchange.outputs.atomic import publish
from exchange.outputs.receipt import receipt_json, receipt_text
from exchange.results import FileResult
from exchange.store.db import Database
from exchange.store.models import FileRecord
from exchange.work import Claim


def output_stem(result: FileResult) -> str:
    return f"{result.received_at:%Y%m%d-%H%M%S}-{result.file_id:06d}-{Path(safe_name(result.name)).stem}"


def stage_dir(instance: Instance, work: Claim) -> Path:
    """Where a claimed file's outputs wait until they are placed."""
    return instance.processing / f"{work.work_path.name}.out"


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
        rec = s.get(FileRecord, work.file_id)
        if rec is not None:
            rec.stored_path = str(target)
            rec.lease_until = None
