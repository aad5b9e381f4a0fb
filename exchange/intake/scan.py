"""Process what waits: leftovers of a crash first, then every settled file in the unit inboxes."""
from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import select

from exchange.config import Instance
from exchange.intake.claim import Claim, claim, parse_work_name, register
from exchange.intake.ignore import ignored
from exchange.results import FileResult
from exchange.store.db import Database
from exchange.store.models import FileRecord

log = logging.getLogger("exchange.intake")


def waiting_files(instance: Instance, settle_seconds: float = 0.0) -> Iterator[tuple[str, Path]]:
    """(unit, path) of every complete file in a unit inbox, oldest first.

    A file changed within `settle_seconds` may still be arriving over a shared folder: it waits.
    """
    if not instance.inbox.is_dir():
        return
    now = time.time()
    entries = []
    for unit_dir in instance.inbox.iterdir():
        if not unit_dir.is_dir() or unit_dir.name.startswith((".", "_")):
            continue
        for path in unit_dir.iterdir():
            try:
                if not path.is_file() or ignored(path.name):
                    continue
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if now - mtime >= settle_seconds:
                entries.append((mtime, unit_dir.name, path))
    for _, unit, path in sorted(entries):
        yield unit, path


def recover(instance: Instance, db: Database, *, force: bool = False) -> list[FileResult]:
    """Finish files a stopped worker left in var/processing.

    Claimed but unfinished (lease expired, or `force` on a single node): processed again from
    the start, since nothing of it was committed. Finished but not placed: placed.
    """
    from exchange.pipeline import place, process_claim, stage_dir

    results: list[FileResult] = []
    if not instance.processing.is_dir():
        return results
    now = datetime.now()
    for work in sorted(instance.processing.iterdir()):
        if not work.is_file():
            continue
        parsed = parse_work_name(work)
        if parsed is None:
            continue
        unit, name = parsed
        with db.session() as s:
            rec = s.scalars(select(FileRecord).where(FileRecord.work_path == str(work))).first()
            state = None if rec is None else (rec.id, rec.status, rec.lease_until, rec.received_at,
                                              rec.stored_path)
        if state is None:
            log.warning("unit=%s file=%s: unregistered file in processing, taking it", unit, name)
            results.append(process_claim(instance, db, register(instance, db, work, unit, name)))
            continue
        file_id, status, lease, received, stored = state
        job = Claim(file_id, unit, name, work, received)
        if status == "claimed":
            if force or lease is None or lease < now:
                log.warning("unit=%s file=%s id=%s: unfinished claim, processing again",
                            unit, name, file_id)
                results.append(process_claim(instance, db, job))
        elif stored is None:
            log.warning("unit=%s file=%s id=%s: finished but not placed, placing", unit, name, file_id)
            place(instance, db, job, status == "quarantined", stage_dir(instance, job))
    return results


def process_inbox(instance: Instance, db: Database, *, settle_seconds: float = 0.0,
                  unit: str | None = None, on_result: Callable[[FileResult], None] | None = None
                  ) -> list[FileResult]:
    """Claim and process every waiting file (optionally of one unit)."""
    from exchange.pipeline import process_claim

    results = []
    for file_unit, path in waiting_files(instance, settle_seconds):
        if unit and file_unit != unit:
            continue
        job = claim(instance, db, path, file_unit)
        if job is None:
            continue
        result = process_claim(instance, db, job)
        results.append(result)
        if on_result:
            on_result(result)
    return results
