"""A nightly job over every unit is not stopped by one unit: a record that cannot name a folder
(a units file from before codes were checked) or an outbox that cannot be written fails that
unit's part only. The others' templates, reports, rosters and batches are made, and the job run
is recorded as failed, naming the unit, so the operator sees it in `exchange jobs`."""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from exchange.errors import UnitsFailed
from exchange.intake.scan import process_inbox
from exchange.schedule.registry import all_jobs
from exchange.schedule.scheduler import run_recorded
from exchange.store.models import Batch, Declaration, JobRun, Unit
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

BAD = "0/9"          # sorts before 1001: the units after it must still be served


@pytest.fixture
def bad_unit(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.add(Unit(code=BAD, name="旧数据里的单位", unit_type="employer"))
    return BAD


@pytest.mark.parametrize("name, folder", [("refresh_templates", "templates"),
                                          ("unit_reports", "reports")])
def test_a_unit_that_cannot_name_a_folder_fails_alone(instance, db, bad_unit, name, folder
                                                      ):  # type: ignore[no-untyped-def]
    outcome = run_recorded(db, name, "test", lambda: all_jobs()[name](instance, db))
    assert outcome is not None
    assert outcome.startswith("failed: UnitsFailed: wrote ")
    assert "1 unit(s) failed: 0/9" in outcome
    for code in ("1001", "1002"):
        assert any(instance.unit_outbox(code, folder).iterdir()), code
    with db.session() as s:
        run = s.scalars(select(JobRun).where(JobRun.job == name)).one()
        assert run.finished_at is not None and run.outcome == outcome


def _block(folder: Path) -> Path:
    """`folder` made a file: nothing can be written under it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")
    return folder


def _pending(instance, db, unit: str, seq: str) -> None:  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox(unit) / "增员.xlsx", ADD_HEADERS,
                  [add_row(make_id("19900101", seq), "王小明", wage=5200)],
                  title="职工批量新增申报填写表")
    assert [r.status for r in process_inbox(instance, db)] == ["accepted"]


def test_a_unit_whose_roster_cannot_be_written_does_not_stop_the_night(instance, db
                                                                       ):  # type: ignore[no-untyped-def]
    _pending(instance, db, "1001", "131")
    _pending(instance, db, "1002", "242")
    # 1001's rosters folder is a file: its batch document cannot be written.
    blocked = _block(instance.unit_outbox("1001", "rosters"))
    with pytest.raises(UnitsFailed, match=r"submitted 2 declaration\(s\) in 2 batch\(es\).*1 unit\(s\) "
                                          r"failed: 1001"):
        all_jobs()["submit_batches"](instance, db)
    with db.session() as s:
        assert sorted(s.scalars(select(Batch.unit_code))) == ["1001", "1002"]
        assert set(s.scalars(select(Declaration.status))) == {"submitted"}
    assert any(instance.unit_outbox("1002", "rosters").iterdir())
    # Once the folder is mended, the next night writes the missing roster.
    blocked.unlink()
    text = all_jobs()["submit_batches"](instance, db)
    assert "rewrote 2 missing document(s)" in text     # its roster and its review book
    assert any(instance.unit_outbox("1001", "rosters").iterdir())


def test_monthly_rosters_go_on_past_a_unit(instance, db, bad_unit):  # type: ignore[no-untyped-def]
    _pending(instance, db, "1001", "131")
    _pending(instance, db, "1002", "242")
    month = f"{date.today():%Y%m}"
    with db.session() as s:
        for d in s.scalars(select(Declaration)):
            d.status, d.decided_at = "approved", d.created_at
    _block(instance.unit_outbox("1001", "reports"))
    with pytest.raises(UnitsFailed, match=r"1 unit\(s\) failed: 1001"):
        all_jobs()["monthly_rosters"](instance, db, month=month)
    assert any(instance.unit_outbox("1002", "reports").iterdir())


def test_the_cli_names_the_failed_unit_after_doing_the_others(home, instance, db, bad_unit
                                                             ):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from exchange.cli import cli

    result = CliRunner().invoke(cli, ["--home", str(home), "templates"])
    assert result.exit_code != 0        # main() prints it as "error: ..." and exits 1
    assert isinstance(result.exception, UnitsFailed)
    assert str(result.exception) == "templates: 2 done; 1 unit(s) failed: 0/9 (see the log)"
    assert any(instance.unit_outbox("1002", "templates").iterdir())


def test_small_batches_get_their_documents_first(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    """A unit's 60,000-row roster takes minutes: the other units' small batches do not wait."""
    import exchange.review.submit as submit

    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS,
                  [add_row(make_id("19900101", f"{i:03d}"), "王小明", wage=5200) for i in range(100, 104)],
                  title="职工批量新增申报填写表")
    assert [r.counts.accepted for r in process_inbox(instance, db)] == [4]
    _pending(instance, db, "1002", "242")
    order: list[int] = []
    write = submit.write_batch_documents
    monkeypatch.setattr(submit, "write_batch_documents",
                        lambda inst, database, batch_id, **kw: order.append(batch_id) or write(
                            inst, database, batch_id, **kw))
    batches = submit.submit_pending(instance, db)
    assert [b.unit_code for b in batches] == ["1001", "1002"]         # numbered in unit order
    assert order == [batches[1].batch_id, batches[0].batch_id]        # 1 row before 4 rows
