"""Three `exchange serve` nodes on one PostgreSQL database and one shared folder tree.

Files are dropped at once over SFTP and the shared folder; one node is killed with SIGKILL while
it holds a file, then restarted. Every file must end with exactly one receipt, every accepted row
with exactly one declaration and one audit entry, and no outbox file may be partial.
(bench/reliability.py does the same with 1,000 files and prints the figures.)
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select

from exchange.accounts import add_unit
from exchange.store.db import open_database
from exchange.store.models import FileRecord
from tests.flows.cluster import (Node, Planned, check_outcome, configure, drop_sftp, drop_shared,
                                 receipts_of, rescan_every, wait_until, write_add_file)

UNITS = [f"30{i:02d}" for i in range(1, 7)]
FILES_PER_UNIT = 6
ROWS, BIG_ROWS = 120, 1500
BAD_EVERY = 25


def _password(unit: str) -> str:
    return f"pw-{unit}"


def _plan(tmp_path: Path) -> list[Planned]:
    plans, first = [], 0
    for u in UNITS:
        for k in range(FILES_PER_UNIT):
            rows = BIG_ROWS if k == 0 else ROWS
            name = f"{'big' if k == 0 else 'add'}-{u}-{k}.xlsx"
            plans.append(write_add_file(tmp_path / "files" / name, u, first, rows, BAD_EVERY))
            first += rows
    return plans


def test_three_nodes_lose_nothing_when_one_is_killed_mid_file(tmp_path: Path, pg_url: str) -> None:
    instance = configure(tmp_path / "inst", pg_url, settle_seconds=0.3, lease_seconds=5)
    rescan_every(instance, 2)
    db = open_database(instance)
    with db.session() as s:
        for u in UNITS:
            add_unit(instance, s, u, f"测试单位{u}", password=_password(u))
    plans = _plan(tmp_path)
    nodes = [Node(instance, name) for name in "abc"]
    try:
        for node in nodes:
            node.start()
        victim, sftp_node = nodes[0], nodes[1]
        over_sftp = [p for i, p in enumerate(plans) if i % 3 == 2]
        started = time.monotonic()
        uploader = threading.Thread(target=drop_sftp, args=(sftp_node.port, over_sftp, _password))
        uploader.start()
        for p in plans:
            if p not in over_sftp:
                drop_shared(instance, p)

        def holds(pattern: str) -> bool:
            with db.session() as s:
                return s.scalar(select(FileRecord.id).where(
                    FileRecord.node == victim.node_id, FileRecord.stored_path.is_(None),
                    FileRecord.name.like(pattern)).limit(1)) is not None

        # Kill it while it holds a file, a big one if it gets one (more time to be caught in).
        try:
            wait_until(lambda: holds("big-%"), 20, "the victim to hold a big file", every=0.01)
        except AssertionError:
            wait_until(lambda: holds("%"), 20, "the victim to hold a file", every=0.005)
        victim_id = victim.node_id
        victim.kill()
        with db.session() as s:
            left = s.scalars(select(FileRecord.id).where(FileRecord.node == victim_id,
                                                         FileRecord.stored_path.is_(None))).all()
        assert left, "the kill did not land mid-file"
        victim.start()
        uploader.join(120)
        wait_until(lambda: len(receipts_of(instance, UNITS)) >= len(plans), 300,
                   "a receipt for every file", every=0.2)
        elapsed = time.monotonic() - started
    finally:
        codes = [node.stop() for node in nodes if node.running()]
    assert codes == [0, 0, 0], [n.output()[-3000:] for n in nodes]

    outcome = check_outcome(instance, db, plans)
    assert outcome.problems == []
    assert outcome.receipts == len(plans) == len(UNITS) * FILES_PER_UNIT
    assert outcome.declarations == outcome.accepted == sum(len(p.accepted_ids) for p in plans)
    with db.session() as s:                    # the files the dead node held were finished
        finished = s.execute(select(FileRecord.status, FileRecord.node)
                             .where(FileRecord.id.in_(left))).all()
    assert all(status in ("accepted", "partial") and node != victim_id for status, node in finished)
    assert any("processing again" in n.output() for n in nodes)
    db.dispose()
    print(f"{len(plans)} files, {outcome.rows} rows, last receipt after {elapsed:.1f}s, "
          f"1 kill survived ({len(left)} file(s) in hand), peak RSS "
          f"{max(mb for n in nodes for mb in n.peak_mb):.0f} MB")


def test_file_of_a_dead_node_on_another_host_is_finished_after_its_lease(
        tmp_path: Path, pg_url: str) -> None:
    # Named hosts: the survivor cannot see that the victim's process is gone, only its lease.
    lease = 4
    instance = configure(tmp_path / "inst", pg_url, settle_seconds=0.2, lease_seconds=lease)
    rescan_every(instance, 1)
    db = open_database(instance)
    with db.session() as s:
        add_unit(instance, s, UNITS[0], "测试单位", password=_password(UNITS[0]))
    plan = write_add_file(tmp_path / "files" / "big.xlsx", UNITS[0], 0, 3000, BAD_EVERY)
    victim, survivor = Node(instance, "a", host="node-a"), Node(instance, "b", host="node-b")
    try:
        victim.start()
        drop_shared(instance, plan)

        def held() -> int | None:
            with db.session() as s:
                return s.scalar(select(FileRecord.id).where(FileRecord.node == victim.node_id,
                                                            FileRecord.stored_path.is_(None)))

        file_id = wait_until(held, 30, "the victim to claim the file", every=0.005)
        victim.kill()
        killed = time.monotonic()
        survivor.start()
        wait_until(lambda: receipts_of(instance, UNITS[:1]), 60, "the receipt", every=0.1)
        waited = time.monotonic() - killed
    finally:
        codes = [node.stop() for node in (victim, survivor) if node.running()]
    assert codes == [0]
    outcome = check_outcome(instance, db, [plan])
    assert outcome.problems == []
    with db.session() as s:
        record = s.get(FileRecord, file_id)
        assert record is not None and record.node == survivor.node_id
    assert waited > lease - 1                    # taken over only once the lease ran out
    assert "processing again" in survivor.output()
    db.dispose()
