"""Process what waits: leftovers of a crash first, then every settled file in the unit inboxes."""
from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from exchange.config import Instance
from exchange.intake.claim import adopted, claimed, parse_work_name, takeable, taken_over
from exchange.intake.ignore import ignored
from exchange.results import FileResult
from exchange.store import queries as Q
from exchange.store.db import Database

log = logging.getLogger("exchange.intake")


def waiting_files(instance: Instance, settle_seconds: float = 0.0) -> Iterator[tuple[str, Path]]:
    """(unit, path) of every complete file in a unit inbox, oldest first.

    A file changed within `settle_seconds` may still be arriving over a shared folder: it waits.
    """
    if not instance.inbox.is_dir():
        return
    now = time.time()
    entries = [(mtime, unit_dir.name, path) for unit_dir in unit_folders(instance)
               for mtime, path in settled_files(unit_dir, settle_seconds, now)]
    for _, unit, path in sorted(entries):
        yield unit, path


def unit_folders(instance: Instance) -> Iterator[Path]:
    """inbox/<unit>/ folders (not _centre, not hidden)."""
    for unit_dir in instance.inbox.iterdir():
        if unit_dir.is_dir() and not unit_dir.name.startswith((".", "_")):
            yield unit_dir


def settled_files(folder: Path, settle_seconds: float, now: float) -> Iterator[tuple[float, Path]]:
    """(mtime, path) of the complete files in `folder`: not ignored names, quiet long enough."""
    for path in folder.iterdir():
        try:
            if not path.is_file() or ignored(path.name):
                continue
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        if now - mtime >= settle_seconds:
            yield mtime, path


# With `force`, a file renamed into var/processing but never recorded is adopted once it is
# this old (the claimer records it within moments); without, once a whole lease has passed.
ADOPT_AFTER_SECONDS = 30.0


def recover(instance: Instance, db: Database, *, force: bool = False) -> list[FileResult]:
    """Finish files a stopped worker left unplaced; safe when every node runs it at once.

    Claimed but unfinished: processed again from the start, since nothing of it was committed.
    Finished but not placed: placed. Which files may be taken, and when, is `takeable()`:
    never a live local process's, at once a dead one's, another host's once its lease has run
    out (at once with `force`, the operator's `exchange process`); the database then gives each
    file to exactly one node (`taken_over`).
    """
    results: list[FileResult] = []
    with db.session() as s:
        unplaced = Q.unplaced_files(s)
    for seen in unplaced:
        if not takeable(seen, datetime.now(), force):
            continue
        from exchange.pipeline import place, process_claim, stage_dir

        with taken_over(instance, db, seen) as job:
            if job is None:
                continue
            if seen.status != "claimed":
                log.warning("unit=%s file=%s id=%s: finished but not placed, placing",
                            job.unit, job.name, job.file_id)
                place(instance, db, job, seen.status == "quarantined", stage_dir(instance, job))
            elif not job.work_path.is_file():
                log.error("unit=%s file=%s id=%s: claimed but its bytes are gone from %s",
                          job.unit, job.name, job.file_id, job.work_path)
            else:
                log.warning("unit=%s file=%s id=%s: unfinished claim of %s, processing again",
                            job.unit, job.name, job.file_id, seen.node)
                results.append(process_claim(instance, db, job))
    results.extend(_adopt_unregistered(instance, db, force))
    return results


def _adopt_unregistered(instance: Instance, db: Database, force: bool) -> list[FileResult]:
    results: list[FileResult] = []
    if not instance.processing.is_dir():
        return results
    settle = ADOPT_AFTER_SECONDS if force else instance.settings.intake.lease_seconds
    for work in sorted(instance.processing.iterdir()):
        if parse_work_name(work) is None:
            continue
        try:
            # A rename sets ctime: how long ago the claimer moved it here.
            if not work.is_file() or time.time() - work.stat().st_ctime < settle:
                continue
        except FileNotFoundError:
            continue
        with db.session() as s:
            if Q.registered(s, work.name):
                continue
        from exchange.pipeline import process_claim

        with adopted(instance, db, work) as job:
            if job is not None:
                results.append(process_claim(instance, db, job))
    return results


def process_inbox(instance: Instance, db: Database, *, settle_seconds: float = 0.0,
                  unit: str | None = None, on_result: Callable[[FileResult], None] | None = None,
                  on_busy: Callable[[str, Path], None] | None = None) -> list[FileResult]:
    """Claim and process every waiting file (optionally of one unit).

    Safe on several nodes at once: each file is claimed by one of them, and a file whose unit
    another node is judging now is left for later and reported to `on_busy(unit, path)`.
    exchange.pipeline (about 0.2 s of imports) is loaded once there is a file to judge.
    """
    results = []
    for file_unit, path in waiting_files(instance, settle_seconds):
        if unit and file_unit != unit:
            continue
        from exchange.pipeline import process_claim

        with claimed(instance, db, path, file_unit, on_busy) as job:
            if job is None:
                continue
            result = process_claim(instance, db, job)
        results.append(result)
        if on_result:
            on_result(result)
    return results
