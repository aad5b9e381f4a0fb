"""A file whose processing kills the node ends quarantined, not taken again for ever (issue 15.2).

A real `exchange serve` is made to die while judging one marked file (the test hook
EXCHANGE_TEST_DIE_ON, exchange/testhook.py), by SIGKILL or by abort() (SIGABRT, what a native
reader that panics sends), and started again twice. The third start's recovery quarantines the
file with a receipt instead of judging it a third time, and the other files are processed.
"""
from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from exchange.config import Instance
from exchange.store.db import Database
from exchange.store.models import FileRecord
from exchange.testhook import ENV
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.cluster import Node, wait_until

TITLE = "职工批量新增申报填写表"


def _quick(instance: Instance) -> Instance:
    """Files settle in 0.2 s instead of 2 s."""
    config = instance.home / "config.toml"
    text, n = re.subn(r"(?m)^settle_seconds\s*=\s*[0-9.]+", "settle_seconds = 0.2",
                      config.read_text(encoding="utf-8"))
    assert n == 1
    config.write_text(text, encoding="utf-8")
    return Instance(instance.home)


def _drop(instance: Instance, unit: str, name: str, seq: str, mtime: float) -> Path:
    path = make_workbook(instance.unit_inbox(unit) / name, ADD_HEADERS,
                         [add_row(make_id("19800101", seq), "甲")], title=TITLE)
    os.utime(path, (mtime, mtime))
    return path


def _record(db: Database, name: str) -> FileRecord:
    with db.session() as s:
        return s.scalars(select(FileRecord).where(FileRecord.name == name)).one()


@pytest.mark.parametrize("how", ["KILL", "ABRT"])
def test_a_file_that_kills_the_node_twice_is_quarantined_at_the_next_recovery(
        instance: Instance, db: Database, how: str) -> None:
    instance = _quick(instance)
    poison = "a-POISON.xlsx"
    # The poison is the oldest file: each start's first pass takes it before the others.
    _drop(instance, "1001", poison, "711", 1_700_000_000)
    _drop(instance, "1001", "b.xlsx", "712", 1_700_000_100)
    _drop(instance, "1002", "c.xlsx", "713", 1_700_000_200)
    expected = -getattr(signal, f"SIG{how}")
    node = Node(instance, "n", env={ENV: f"POISON:{how}"})

    node.start(may_die=True)                     # claims the poison, dies judging it
    assert node.wait(60) == expected
    first = _record(db, poison)
    assert (first.status, first.attempts, first.stored_path) == ("claimed", 1, None)

    node.start(may_die=True)                     # recovery takes it over, dies again
    assert node.wait(60) == expected
    second = _record(db, poison)
    assert (second.status, second.attempts, second.stored_path) == ("claimed", 2, None)
    assert not list(instance.unit_outbox("1001", "receipts").glob("*.json"))

    node.start()                                 # the hook is still set: it is never read again
    try:
        receipts = {u: wait_until(lambda u=u: sorted(instance.unit_outbox(u, "receipts")
                                                     .glob("*.json")) or None,
                                  60, f"receipts of {u}") for u in ("1001", "1002")}
        wait_until(lambda: len(receipts["1001"]) == 2 or receipts.update(
            {"1001": sorted(instance.unit_outbox("1001", "receipts").glob("*.json"))}),
            60, "both receipts of 1001")
        assert node.running()
    finally:
        assert node.stop() == 0
    by_file = {}
    for path in [*receipts["1001"], *receipts["1002"]]:
        data = json.loads(path.read_text(encoding="utf-8"))
        by_file[data["file"]] = data
    assert set(by_file) == {poison, "b.xlsx", "c.xlsx"}
    refused = by_file[poison]
    assert refused["status"] == "quarantined"
    [error] = refused["file_errors"]
    assert error["code"] == "file.unreadable"
    assert "处理此文件时程序两次异常终止" in error["message"]
    text = next(instance.unit_outbox("1001", "receipts").glob("*a-POISON.回执.txt"))
    assert "处理此文件时程序两次异常终止" in text.read_text(encoding="utf-8-sig")
    assert by_file["b.xlsx"]["status"] == by_file["c.xlsx"]["status"] == "accepted"
    last = _record(db, poison)
    assert (last.status, last.attempts, last.file_code) == ("quarantined", 3, "file.unreadable")
    assert last.stored_path and Path(last.stored_path).parent == instance.quarantine / "1001"
    assert Path(last.stored_path).is_file()
    assert [p for p in instance.processing.iterdir()] == []
    assert "quarantined" in node.output() and "stopped while judging it 2 times" in node.output()


def _claimed_by_the_dead(instance: Instance, db: Database, attempts: int) -> None:
    """A claim of a.xlsx whose holders (processes of this host, now ended) died `attempts` times."""
    import subprocess
    import sys

    from sqlalchemy import update

    from exchange.intake.claim import claim, node_host

    job = claim(instance, db, _drop(instance, "1001", "a.xlsx", "714", 1_700_000_000), "1001")
    assert job is not None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with db.session() as s:
        s.execute(update(FileRecord).values(node=f"{node_host()}-{dead.pid}", attempts=attempts))


def test_a_file_its_holders_died_with_for_another_reason_is_judged(
        instance: Instance, db: Database) -> None:
    """Killed twice holding it (an operator's kill -9, say): judged alone in a child first, which
    survives it, so the file is judged as usual and not quarantined."""
    from exchange.intake.scan import recover

    _claimed_by_the_dead(instance, db, attempts=2)
    [result] = recover(instance, db)
    assert (result.status, result.counts.accepted) == ("accepted", 1)
    rec = _record(db, "a.xlsx")
    assert (rec.status, rec.attempts) == ("accepted", 3)
    assert not any(instance.quarantine.rglob("*"))


def test_a_file_that_kills_only_the_node_ends_at_the_last_take(
        instance: Instance, db: Database) -> None:
    from exchange.intake.scan import LAST_TAKE, recover

    _claimed_by_the_dead(instance, db, attempts=LAST_TAKE - 1)
    [result] = recover(instance, db)
    assert result.status == "quarantined" and result.file_error is not None
    assert result.file_error.code == "file.unreadable"
    assert _record(db, "a.xlsx").attempts == LAST_TAKE
