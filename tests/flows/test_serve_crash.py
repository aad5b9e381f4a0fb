"""Crash safety: `exchange serve` killed with SIGKILL mid-file finishes that file exactly once."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from exchange.cli import cli
from exchange.store.db import Database
from exchange.store.models import Declaration, FileRecord
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.serving import Served, make_instance, wait_until

ROWS = 3000   # enough rows that judging takes over a second: time to kill it in the middle


def test_killed_mid_file_is_processed_exactly_once_after_restart(tmp_path: Path) -> None:
    instance = make_instance(tmp_path / "inst")
    result = CliRunner().invoke(cli, ["--home", str(instance.home), "units", "add", "1001",
                                      "--name", "南通示例公司"], catch_exceptions=False)
    assert result.exit_code == 0
    births = [date(1970, 1, 1) + timedelta(days=i) for i in range(ROWS)]
    rows = [add_row(make_id(f"{b:%Y%m%d}", "011"), "甲乙") for b in births]
    assert len({r[0] for r in rows}) == ROWS
    source = make_workbook(tmp_path / "big.xlsx", ADD_HEADERS, rows, title="职工批量新增申报填写表")
    db = Database(instance.database_url)
    receipts = instance.unit_outbox("1001", "receipts")

    def claimed() -> bool:
        with db.session() as s:
            return s.scalar(select(func.count()).select_from(FileRecord)
                            .where(FileRecord.status == "claimed")) == 1

    try:
        first = Served(instance).start()
        # Dropped over the shared folder: written under a temp name, then renamed.
        part = instance.unit_inbox("1001") / "big.xlsx.part"
        part.write_bytes(source.read_bytes())
        part.rename(part.with_name("big.xlsx"))
        wait_until(claimed, 20, "the file to be claimed", every=0.01)
        first.kill()
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Declaration)) == 0
        assert not list(receipts.glob("*.json"))
        assert list(instance.processing.iterdir())          # the claimed bytes wait there

        second = Served(instance).start()
        found = wait_until(lambda: list(receipts.glob("*.json")), 60, "the receipt after restart")
        assert second.stop() == 0
        assert len(found) == 1
        receipt = json.loads(found[0].read_text(encoding="utf-8"))
        assert receipt["status"] == "accepted"
        assert receipt["counts"] == {"total": ROWS, "accepted": ROWS, "failed": 0, "duplicate": 0}
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Declaration)) == ROWS
            assert s.scalar(select(func.count(func.distinct(Declaration.id_number)))) == ROWS
            records = s.scalars(select(FileRecord)).all()
        assert [(r.name, r.status) for r in records] == [("big.xlsx", "accepted")]
        assert records[0].stored_path and Path(records[0].stored_path).exists()
        assert not [p for p in instance.processing.iterdir()]
        assert list(instance.unit_inbox("1001").iterdir()) == []
        assert "processing again" in second.output()
    finally:
        db.dispose()


def test_sigterm_mid_file_finishes_that_file_then_exits(tmp_path: Path) -> None:
    instance = make_instance(tmp_path / "inst")
    result = CliRunner().invoke(cli, ["--home", str(instance.home), "units", "add", "1001",
                                      "--name", "南通示例公司"], catch_exceptions=False)
    assert result.exit_code == 0
    births = [date(1960, 1, 1) + timedelta(days=i) for i in range(ROWS)]
    rows = [add_row(make_id(f"{b:%Y%m%d}", "013"), "甲乙") for b in births]
    make_workbook(tmp_path / "big.xlsx", ADD_HEADERS, rows, title="职工批量新增申报填写表")
    db = Database(instance.database_url)
    try:
        service = Served(instance).start()
        (tmp_path / "big.xlsx").rename(instance.unit_inbox("1001") / "big.xlsx")

        def claimed() -> bool:
            with db.session() as s:
                return s.scalar(select(func.count()).select_from(FileRecord)) == 1

        wait_until(claimed, 20, "the file to be claimed", every=0.01)
        assert service.stop() == 0
        with db.session() as s:
            assert s.scalar(select(FileRecord.status)) == "accepted"
            assert s.scalar(select(func.count()).select_from(Declaration)) == ROWS
        assert len(list(instance.unit_outbox("1001", "receipts").glob("*.json"))) == 1
        assert "SIGTERM received" in service.output()
    finally:
        db.dispose()
