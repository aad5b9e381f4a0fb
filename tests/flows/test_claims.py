"""Claims through the database: leases renewed, takeovers decided once, live holders respected."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import func, select, update

from exchange.config import Instance
from exchange.intake import scan
from exchange.intake.claim import claim, claimed, node_host, taken_over, work_path_for
from exchange.intake.scan import process_inbox, recover
from exchange.schedule.scheduler import run_recorded
from exchange.store import queries as Q
from exchange.store.db import FILE_LOCK, UNIT_LOCK, Database, lock_key
from exchange.store.models import Declaration, FileRecord, JobRun
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

TITLE = "职工批量新增申报填写表"


def _drop(instance: Instance, name: str = "a.xlsx", seq: str = "801") -> Path:
    return make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS,
                         [add_row(make_id("19800101", seq), "甲")], title=TITLE)


def _with_lease(instance: Instance, seconds: int) -> Instance:
    s = instance.settings
    return Instance(instance.home, replace(s, intake=replace(s.intake, lease_seconds=seconds)))


def _expire(db: Database, **values: object) -> None:
    with db.session() as s:
        s.execute(update(FileRecord).values(lease_until=datetime.now() - timedelta(seconds=1),
                                            **values))


def _lease_of(db: Database, file_id: int) -> datetime | None:
    with db.session() as s:
        return s.scalar(select(FileRecord.lease_until).where(FileRecord.id == file_id))


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _declarations(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Declaration)) or 0)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_lease_is_renewed_while_the_file_is_worked_on(instance, db):  # type: ignore[no-untyped-def]
    short = _with_lease(instance, 1)
    with claimed(short, db, _drop(short), "1001") as job:
        assert job is not None
        first = _lease_of(db, job.file_id)
        assert first is not None
        assert _wait_for(lambda: (_lease_of(db, job.file_id) or first) > first + timedelta(seconds=1))
    after = _lease_of(db, job.file_id)
    time.sleep(0.7)                                   # two renewal periods: none comes any more
    assert _lease_of(db, job.file_id) == after


def test_expired_claim_goes_to_exactly_one_of_several_takers(instance, db):  # type: ignore[no-untyped-def]
    claim(instance, db, _drop(instance), "1001")     # its worker died right after claiming
    _expire(db)
    with db.session() as s:
        (seen,) = Q.unplaced_files(s)
    nodes = [Database(instance.database_url) for _ in range(4)]
    start = threading.Barrier(len(nodes))
    won: list[bool] = []

    def take(node_db: Database) -> None:
        start.wait()
        with taken_over(instance, node_db, seen) as job:
            won.append(job is not None)

    threads = [threading.Thread(target=take, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for n in nodes:
        n.dispose()
    assert sorted(won) == [False, False, False, True]


def test_claim_of_a_dead_process_on_this_host_is_taken_at_once(instance, db):  # type: ignore[no-untyped-def]
    job = claim(instance, db, _drop(instance), "1001")
    assert job is not None
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    with db.session() as s:                               # its lease is still fresh
        s.execute(update(FileRecord).values(node=f"{node_host()}-{gone.stdout.strip()}"))
    assert [r.status for r in recover(instance, db)] == ["accepted"]
    assert _declarations(db) == 1


def test_claim_of_a_live_process_on_this_host_is_never_taken(instance, db):  # type: ignore[no-untyped-def]
    claim(instance, db, _drop(instance), "1001")
    _expire(db, node=f"{node_host()}-{os.getppid()}")     # alive: our parent
    assert recover(instance, db, force=True) == []
    assert _declarations(db) == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_live_node_keeps_its_file_past_its_lease(instance, db):  # type: ignore[no-untyped-def]
    other = Database(instance.database_url)              # a second node on the same database
    try:
        with claimed(instance, db, _drop(instance), "1001") as job:
            assert job is not None
            _expire(db)                                  # as if its renewals had stalled
            assert recover(instance, other, force=True) == []
        # The holder is gone (its locks with it): the other node finishes the work.
        assert [r.status for r in recover(instance, other)] == ["accepted"]
    finally:
        other.dispose()
    assert _declarations(db) == 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_files_of_a_unit_busy_on_another_node_wait(instance, db):  # type: ignore[no-untyped-def]
    path = _drop(instance)
    busy: list[str] = []
    with db.locks() as other_node:
        assert other_node.try_lock(UNIT_LOCK, "1001")
        assert process_inbox(instance, db, on_busy=lambda unit, _p: busy.append(unit)) == []
        assert busy == ["1001"] and path.exists()
    assert [r.status for r in process_inbox(instance, db)] == ["accepted"]


def test_unrecorded_file_in_processing_is_adopted_once(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    # Another process renamed the file and has not recorded it yet: it is alive (and on
    # PostgreSQL holds the lock on the name, as every claimer does until the row is in).
    claimer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    work = work_path_for(instance, "1001", "a.xlsx")
    work = work.with_name(work.name.replace(f"-{os.getpid()}__", f"-{claimer.pid}__"))
    os.rename(_drop(instance), work)
    locks = db.locks()
    try:
        assert locks.try_lock(FILE_LOCK, work.name)
        assert recover(instance, db) == []               # younger than a lease: left alone
        monkeypatch.setattr(scan, "ADOPT_AFTER_SECONDS", 0.0)
        if db.is_postgres:                               # the claimer's lock says it lives
            assert recover(instance, db, force=True) == []
    finally:
        locks.release()
        claimer.kill()
        claimer.wait()
    assert [r.status for r in recover(instance, db, force=True)] == ["accepted"]
    assert recover(instance, db, force=True) == []
    assert not work.exists() and _declarations(db) == 1
    assert len(list(instance.unit_outbox("1001", "receipts").glob("*.json"))) == 1


def test_scheduled_firing_runs_once_whichever_node_fires_it(instance, db):  # type: ignore[no-untyped-def]
    nodes = [Database(instance.database_url) for _ in range(3)]
    start = threading.Barrier(len(nodes))
    ran: list[str] = []
    outcomes: list[str | None] = []

    def submit() -> str:
        ran.append("x")
        return "submitted"

    def fire(node_db: Database) -> None:
        start.wait()
        outcomes.append(run_recorded(node_db, "submit", "2026-11-23T02:00:00+08:00", submit))

    threads = [threading.Thread(target=fire, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for n in nodes:
        n.dispose()
    assert ran == ["x"]
    assert sorted(outcomes, key=str) == [None, None, "submitted"]
    with db.session() as s:
        assert s.scalars(select(JobRun.outcome)).all() == ["submitted"]


def test_lock_keys_are_stable_signed_32_bit_numbers() -> None:
    assert lock_key("1001") == lock_key("1001")
    assert all(-(1 << 31) <= lock_key(v) < (1 << 31) for v in ("1001", "学校", 0, 2**40, -5))


def test_units_take_turns_so_one_units_files_never_hold_up_anothers(instance, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every unit's oldest file, then every unit's next: a unit that dropped many files (or slow
    ones: a hostile file may use the reading worker's whole minute) no longer holds up a file
    another unit dropped a moment later; within a unit, files keep their order. With a time
    budget (serve gives each folder's turn 5 s) the rest is left for the caller's next turn."""
    import openpyxl

    def drop(unit: str, name: str, seq: int, at: float) -> None:
        path = instance.unit_inbox(unit) / name
        wb = openpyxl.Workbook()
        wb.active.append(["身份证号*", "姓名*"])
        wb.active.append([make_id("19800101", f"{seq:03d}"), "张三"])
        wb.save(path)
        os.utime(path, (at, at))

    now = time.time() - 60
    for k in range(4):
        drop("1001", f"a{k}.xlsx", 100 + k, now + k)
    drop("1002", "b0.xlsx", 200, now + 10)
    drop("1002", "b1.xlsx", 201, now + 11)
    order = [(r.unit, r.name) for r in process_inbox(instance, db)]
    assert order == [("1001", "a0.xlsx"), ("1002", "b0.xlsx"), ("1001", "a1.xlsx"),
                     ("1002", "b1.xlsx"), ("1001", "a2.xlsx"), ("1001", "a3.xlsx")]

    for k in range(3):
        drop("1001", f"c{k}.xlsx", 300 + k, now + 20 + k)
    clock = iter(range(0, 1000, 10))          # each look at the clock: 10 s later
    monkeypatch.setattr(scan.time, "monotonic", lambda: float(next(clock)))
    first = process_inbox(instance, db, budget_seconds=5)
    assert [r.name for r in first] == ["c0.xlsx"]
    assert sorted(p.name for p in instance.unit_inbox("1001").iterdir()) == ["c1.xlsx", "c2.xlsx"]
