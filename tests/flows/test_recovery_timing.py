"""A node takes its own claims again at once (issue 21 item 9), measured with the clock.

The lease ([intake].lease_seconds, 600 s) is for claims of other hosts. A file renamed into
var/processing but never recorded, because the database was full or away at that moment or
because the process was killed between the rename and the row, was adopted only after a whole
lease: receipts came 624-672 s late. Now the name tells which process renamed it, and a file of
this process that no thread holds, or of a dead process of this host (on PostgreSQL: of any
claimer whose lock on the name is gone), is taken at the next recovery.
"""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import exchange.intake.claim as claim_mod
from exchange.config import Instance
from exchange.intake import watch
from exchange.intake.claim import work_path_for
from exchange.store.db import Database
from exchange.store.models import Declaration, FileRecord
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.cluster import Node, wait_until

TITLE = "职工批量新增申报填写表"
LEASE = 600


def _drop(instance: Instance, name: str = "a.xlsx", seq: str = "721") -> Path:
    return make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS,
                         [add_row(make_id("19800101", seq), "甲")], title=TITLE)


def _receipts(instance: Instance) -> list[Path]:
    return sorted(instance.unit_outbox("1001", "receipts").glob("*.json"))


def _dead_pid() -> int:
    """The id of a process of this host that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """A claim's row cannot be written while `full[0]` (SQLite on a full file system)."""
    register = claim_mod.register
    full = [True]

    def disk_full(*args: Any) -> Any:
        if full[0]:
            raise OperationalError("INSERT INTO files", {},
                                   sqlite3.OperationalError("database or disk is full"))
        return register(*args)

    monkeypatch.setattr(claim_mod, "register", disk_full)
    return full


def test_a_file_claimed_while_the_disk_was_full_is_taken_once_space_returns(
        instance: Instance, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite on a full file system: the rename works, the row cannot be written."""
    assert instance.settings.intake.lease_seconds == LEASE
    monkeypatch.setattr(watch, "RETRY_SECONDS", 0.3)
    full = _full_disk(monkeypatch)
    path = _drop(instance)
    worker = watch.IntakeWorker(instance, db, settle_seconds=0.0)
    worker.start()
    try:
        worker.notify(path)
        wait_until(lambda: worker._recover_due, 20, "the claim to fail on the full disk")
        [work] = [p for p in instance.processing.iterdir()]       # renamed, not recorded
        assert not _receipts(instance)
        freed = time.monotonic()
        full[0] = False                                           # space returns
        wait_until(lambda: _receipts(instance), 30, "the receipt once space returned")
        waited = time.monotonic() - freed
    finally:
        worker.stop(timeout=30)
    assert waited < 10, waited                  # the folder's retry, not a 600 s lease
    assert not work.exists() and list(instance.processing.iterdir()) == []
    with db.session() as s:
        assert s.scalars(select(FileRecord.status)).all() == ["accepted"]
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1


def test_a_rescan_that_meets_a_full_disk_is_retried_soon(
        instance: Instance, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same from a full pass (the start-up one, or the rescan job): what it gave up on is
    taken at the worker's retry, not at the next rescan minutes later."""
    monkeypatch.setattr(watch, "RETRY_SECONDS", 0.3)
    full = _full_disk(monkeypatch)
    _drop(instance)
    worker = watch.IntakeWorker(instance, db, settle_seconds=0.0)
    worker.start()
    try:
        failed = worker.rescan(startup=True)
        wait_until(failed.done, 20, "the first pass to fail on the full disk")
        assert isinstance(failed.exception(), Exception)
        assert not _receipts(instance)
        full[0] = False
        freed = time.monotonic()
        wait_until(lambda: _receipts(instance), 30, "the receipt once space returned")
        waited = time.monotonic() - freed
    finally:
        worker.stop(timeout=30)
    assert waited < 10, waited
    assert list(instance.processing.iterdir()) == []


def test_a_file_renamed_by_a_killed_serve_is_taken_at_once_on_restart(
        instance: Instance, db: Database) -> None:
    """kill -9 between the rename into var/processing and the row: planted as it is left, the
    rename a moment ago (ctime now), by a process of this host that has ended."""
    config = instance.home / "config.toml"
    config.write_text(re.sub(r"(?m)^settle_seconds\s*=\s*[0-9.]+", "settle_seconds = 0.2",
                             config.read_text(encoding="utf-8")), encoding="utf-8")
    work = work_path_for(instance, "1001", "a.xlsx")
    work = work.with_name(work.name.replace(f"-{os.getpid()}__", f"-{_dead_pid()}__"))
    os.rename(_drop(instance), work)
    node = Node(instance, "n")
    started = time.monotonic()
    node.start()
    try:
        wait_until(lambda: _receipts(instance), 30, "the receipt of the file the killed node renamed")
        waited = time.monotonic() - started
    finally:
        assert node.stop() == 0
    assert waited < 20, waited
    assert "unregistered file in processing, taking it" in node.output()
    assert list(instance.processing.iterdir()) == []
    with db.session() as s:
        assert s.scalars(select(FileRecord.status)).all() == ["accepted"]
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1
