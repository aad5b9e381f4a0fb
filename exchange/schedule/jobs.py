"""The intake and housekeeping jobs: rescan (safety net behind the watchers), archive retention.

Each is `fn(instance, db, **options) -> str`, idempotent, and safe when run twice.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select

from exchange.config import Instance
from exchange.errors import ConfigError
from exchange.intake.watch import rescan_pass
from exchange.schedule.registry import job
from exchange.store.db import Database
from exchange.store.models import JobRun

log = logging.getLogger("exchange.jobs")


@job("rescan")
def rescan(instance: Instance, db: Database, settle_seconds: float | None = None) -> str:
    """Finish what a stopped worker left, then process every settled file the watchers missed."""
    settle = instance.settings.intake.settle_seconds if settle_seconds is None else settle_seconds
    return rescan_pass(instance, db, settle_seconds=float(settle))


def _month_end(folder: str) -> float | None:
    """End of the month an archive folder is named after (archive/<YYYYMM>/...), else None."""
    if len(folder) != 6 or not folder.isdigit() or not 1 <= int(folder[4:]) <= 12:
        return None
    year, month = int(folder[:4]), int(folder[4:])
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return following.timestamp()


def _archived_at(path: Path, root: Path, st: os.stat_result) -> float:
    """When the file was received, at the latest.

    mtime is the unit's own (clients may preserve an old one) and ctime moves whenever the file
    is touched, so the newer of the two never deletes early; the month folder the pipeline files
    it under bounds that from above.
    """
    seen = max(st.st_mtime, st.st_ctime)
    month_end = _month_end(path.relative_to(root).parts[0])
    return seen if month_end is None else min(seen, month_end)


def _positive_days(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"archive_retention: {what} must be a positive integer, got {value!r}")
    return value


@job("archive_retention")
def archive_retention(instance: Instance, db: Database, days: int | None = None,
                      dry_run: bool = False, job_history_days: int | None = None) -> str:
    """Delete archived source files older than [archive].retention_days (receipts stay), and
    finished job runs older than [archive].job_history_days."""
    archive = instance.settings.archive
    keep_days = _positive_days(archive.retention_days if days is None else days, "days")
    history = _positive_days(archive.job_history_days if job_history_days is None
                             else job_history_days, "job_history_days")
    pruned = prune_job_runs(db, datetime.now() - timedelta(days=history), dry_run)
    runs = (f"; {'would delete' if dry_run else 'deleted'} {pruned} job run(s) finished more "
            f"than {history} days ago")
    return _prune_archive(instance, keep_days, dry_run) + runs


def prune_job_runs(db: Database, before: datetime, dry_run: bool = False) -> int:
    """Finished job runs older than `before`: deleted (counted only on a dry run). Unfinished
    runs stay whatever their age: the scheduler resumes or closes them."""
    where = (JobRun.finished_at.is_not(None), JobRun.finished_at < before)
    with db.session() as s:
        if dry_run:
            return int(s.scalar(select(func.count()).select_from(JobRun).where(*where)) or 0)
        return int(cast(CursorResult[Any], s.execute(delete(JobRun).where(*where))).rowcount or 0)


def _prune_archive(instance: Instance, keep_days: int, dry_run: bool) -> str:
    root = instance.archive
    if not root.is_dir():
        return "no archive"
    cutoff = time.time() - keep_days * 86400
    removed, freed = 0, 0
    for dirpath, dirnames, filenames in os.walk(root, topdown=False, followlinks=False):
        folder = Path(dirpath)
        for name in filenames:
            path = folder / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if _archived_at(path, root, st) >= cutoff:
                continue
            if not dry_run:
                path.unlink(missing_ok=True)
            removed += 1
            freed += st.st_size
            log.info("unit=%s file=%s: archive copy older than %d days %s",
                     folder.name, name, keep_days, "would be deleted" if dry_run else "deleted")
        if folder != root and not dry_run:
            try:
                folder.rmdir()        # only succeeds when empty
            except OSError:
                pass
    verb = "would delete" if dry_run else "deleted"
    return f"{verb} {removed} archived file(s), {freed / 1048576:.1f} MB, older than {keep_days} days"


__all__ = ["rescan", "archive_retention", "prune_job_runs"]
