"""The intake and housekeeping jobs: rescan (safety net behind the watchers), archive retention.

Each is `fn(instance, db, **options) -> str`, idempotent, and safe when run twice.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from pathlib import Path

from exchange.config import Instance
from exchange.errors import ConfigError
from exchange.intake.watch import rescan_pass
from exchange.schedule.registry import job
from exchange.store.db import Database

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


@job("archive_retention")
def archive_retention(instance: Instance, db: Database, days: int | None = None,
                      dry_run: bool = False) -> str:
    """Delete archived source files older than [archive].retention_days (receipts stay)."""
    keep_days = instance.settings.archive.retention_days if days is None else days
    if not isinstance(keep_days, int) or isinstance(keep_days, bool) or keep_days < 1:
        raise ConfigError(f"archive_retention: days must be a positive integer, got {keep_days!r}")
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


__all__ = ["rescan", "archive_retention"]
