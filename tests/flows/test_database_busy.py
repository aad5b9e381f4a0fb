"""The database locked or gone while a file is worked on: never the file's fault.

No receipt says the file is broken and nothing is quarantined; the pipeline waits and judges
again, and when the trouble outlasts its waits the file stays claimed, to be judged again by
recovery. SQLite: another connection holds the write lock (a 1,000,000-person master load holds
it about 25 s). PostgreSQL: another connection holds the `files` rows (past lock_timeout), or
the server ends our connection mid-import.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

import exchange.pipeline as pipeline
import exchange.store.db as dbmod
import exchange.store.queries as Q
from exchange.errors import DatabaseBusy
from exchange.intake.claim import node_name, takeable
from exchange.intake.scan import process_inbox, recover
from exchange.store.models import Declaration, FileRecord
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _drop(instance: Any, name: str = "a.xlsx") -> Path:
    return make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS,
                         [add_row(make_id("19800101", "701"), "甲"),
                          add_row(make_id("19800101", "70X"), "乙")])   # a bad check character


class WriteLock:
    """Another connection holding SQLite's write lock (BEGIN IMMEDIATE) until released; on
    PostgreSQL, the lock on every `files` row (a hung node's transaction, say)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.conn: Any = None
        self.done = False

    def take(self) -> None:
        if self.db.is_sqlite:
            self.conn = sqlite3.connect(self.db.engine.url.database, isolation_level=None, timeout=0,
                                        check_same_thread=False)    # released by another thread
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn = self.db.engine.connect()
            self.conn.execute(text("SELECT id FROM files FOR UPDATE"))
        self.done = True

    def release(self, *_: Any) -> None:
        if self.conn is not None:
            if self.db.is_sqlite:
                self.conn.execute("COMMIT")
            else:
                self.conn.commit()
            self.conn.close()
            self.conn = None


@pytest.fixture
def short_waits(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "BUSY_SECONDS", 0.2)
    monkeypatch.setattr(pipeline, "DB_RETRY_WAITS", (0.01,))
    db.engine.dispose()                  # pooled connections wait 30 s: new ones 0.2 s


def _lock_when_judging(monkeypatch: pytest.MonkeyPatch, lock: WriteLock) -> None:
    """Take the lock once the file is claimed, as a master load started meanwhile would."""
    judge = pipeline._judge_and_import

    def locked_then_judge(*args: Any) -> None:
        if not lock.done:
            lock.take()
        judge(*args)

    monkeypatch.setattr(pipeline, "_judge_and_import", locked_then_judge)


def _outputs(instance: Any) -> list[str]:
    return sorted(p.name for p in instance.unit_outbox("1001").rglob("*") if p.is_file()
                  and p.parent.name in ("receipts", "errors"))


def test_a_lock_held_past_the_waits_leaves_the_file_claimed(instance, db, short_waits, monkeypatch):  # type: ignore[no-untyped-def]
    lock = WriteLock(db)
    _lock_when_judging(monkeypatch, lock)
    _drop(instance)
    with pytest.raises(DatabaseBusy):
        process_inbox(instance, db)
    assert _outputs(instance) == []                      # no receipt calls the file broken
    assert not any(instance.quarantine.rglob("*.xlsx"))
    work = [p for p in instance.processing.iterdir()]
    assert len(work) == 1 and work[0].is_file()          # the bytes wait in var/processing
    lock.release()
    with db.session() as s:
        assert s.scalars(select(FileRecord.status)).all() == ["claimed"]
    # This process gave it up, so the service's next rescan takes it at once.
    results = recover(instance, db)
    assert [(r.status, r.counts.accepted, r.counts.failed) for r in results] == [("partial", 1, 1)]
    assert len([n for n in _outputs(instance) if n.endswith(".txt")]) == 1
    assert list(instance.processing.iterdir()) == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1


def test_a_lock_released_while_waiting_is_waited_out(instance, db, short_waits, monkeypatch):  # type: ignore[no-untyped-def]
    lock = WriteLock(db)
    _lock_when_judging(monkeypatch, lock)
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(sleep=lock.release))
    _drop(instance)
    [result] = process_inbox(instance, db)
    assert (result.status, result.counts.accepted, result.counts.failed) == ("partial", 1, 1)
    assert not any(instance.quarantine.rglob("*"))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1


@sqlite_only
def test_a_lock_while_claiming_leaves_the_file_for_adoption(instance, db, short_waits, monkeypatch):  # type: ignore[no-untyped-def]
    import exchange.intake.scan as scan

    lock = WriteLock(db)
    lock.take()
    _drop(instance)
    with pytest.raises(DatabaseBusy):
        process_inbox(instance, db)
    lock.release()
    [work] = list(instance.processing.iterdir())         # renamed, never recorded
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(FileRecord)) == 0
    monkeypatch.setattr(scan, "ADOPT_AFTER_SECONDS", 0.0)
    results = recover(instance, db, force=True)
    assert [(r.status, r.counts.accepted) for r in results] == [("partial", 1)]
    assert not work.exists()


@sqlite_only
def test_the_cli_says_the_database_is_busy_and_refuses_nothing(instance, db, short_waits, monkeypatch):  # type: ignore[no-untyped-def]
    from exchange.cli import cli

    lock = WriteLock(db)
    _lock_when_judging(monkeypatch, lock)
    _drop(instance)
    out = CliRunner().invoke(cli, ["--home", str(instance.home), "process"])
    lock.release()
    assert out.exit_code == 1, out.output
    assert "database busy or unreachable" in out.output and "Traceback" not in out.output
    assert _outputs(instance) == []
    out = CliRunner().invoke(cli, ["--home", str(instance.home), "process"])
    assert out.exit_code == 0, out.output
    assert "a.xlsx: partial" in out.output


@sqlite_only
def test_a_claim_this_process_still_holds_is_not_taken(instance, db):  # type: ignore[no-untyped-def]
    from datetime import datetime

    from exchange.intake.claim import claimed

    path = _drop(instance)
    with claimed(instance, db, path, "1001") as job:
        assert job is not None
        with db.session() as s:
            [seen] = Q.unplaced_files(s)
        assert seen.node == node_name()
        assert not takeable(seen, datetime.now())         # a thread here works on it
        assert recover(instance, db) == []
    assert takeable(seen, datetime.now())                # let go of: recovery may take it


def test_the_connection_lost_mid_import_is_judged_again(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    """The server restarted, or a network blip: the transaction is gone, the file is not."""
    monkeypatch.setattr(pipeline, "DB_RETRY_WAITS", (0.01,))
    add = Q.add_declarations
    calls = []

    def lose_connection(s: Any, rows: Any) -> Any:
        calls.append(len(rows))
        if len(calls) == 1:
            if db.is_postgres:
                s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            else:   # SQLite has no server to lose: what the driver raises when the disk is full
                raise sqlite3.OperationalError("database or disk is full")
        return add(s, rows)

    monkeypatch.setattr(Q, "add_declarations", lose_connection)
    _drop(instance)
    [result] = process_inbox(instance, db)
    assert (result.status, result.counts.accepted, result.counts.failed) == ("partial", 1, 1)
    assert len(calls) == 2
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1
        assert s.scalars(select(FileRecord.status)).all() == ["partial"]


@sqlite_only
def test_a_centre_file_meets_a_locked_database(instance, db, short_waits, tmp_path):  # type: ignore[no-untyped-def]
    from exchange.intake.centre import process_centre_inbox
    from exchange.intake.watch import recover_centre
    from exchange.store.models import Person

    number = make_id("19800101", "631")
    make_workbook(instance.unit_inbox("_centre") / "persons.xlsx",
                  ["个人编号", "身份证号*", "姓名*", "单位编号", "参保状态", "险种"],
                  [["P1", number, "甲", "1001", "参保", "310"]], title="参保人员信息")
    other = instance.processing / "centre-20261123010203040506-another.xlsx"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"a file another node is handling")
    lock = WriteLock(db)
    lock.take()                              # an operator's master load holds it, say
    with pytest.raises(DatabaseBusy):
        process_centre_inbox(instance, db)
    lock.release()
    assert not any(instance.unit_outbox("_centre", "receipts").glob("*"))
    assert not any(instance.quarantine.rglob("*.xlsx"))
    # Given up by this process: taken again at once, not after the lease (nor only by force).
    assert recover_centre(instance, db) == 1
    assert recover_centre(instance, db) == 0
    assert list(instance.processing.glob("centre-*")) == [other]   # not ours: waits for the lease
    with db.session() as s:
        assert s.get(Person, number) is not None
    [receipt] = instance.unit_outbox("_centre", "receipts").glob("*.json")
    assert '"status": "accepted"' in receipt.read_text(encoding="utf-8")


def test_the_service_takes_a_file_it_gave_up_on_at_the_folders_retry(instance, db, short_waits,  # type: ignore[no-untyped-def]
                                                                      monkeypatch):
    """In the service, a file given up on while the database was busy is judged again at the
    folder's retry (RETRY_SECONDS), not left to the next rescan minutes later."""
    from exchange.intake import watch
    from tests.flows.serving import wait_until

    monkeypatch.setattr(watch, "RETRY_SECONDS", 0.3)
    lock = WriteLock(db)
    _lock_when_judging(monkeypatch, lock)
    path = _drop(instance)
    worker = watch.IntakeWorker(instance, db)
    worker.settle = 0.0
    worker.start()
    try:
        worker.notify(path)
        wait_until(lambda: worker._recover_due, 20, "the worker to give the file up")
        assert _outputs(instance) == [] and len(list(instance.processing.iterdir())) == 1
        lock.release()
        wait_until(lambda: [n for n in _outputs(instance) if n.endswith(".txt")], 10,
                   "the receipt, from the folder's retry")
    finally:
        worker.stop(timeout=30)
    assert list(instance.processing.iterdir()) == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1
