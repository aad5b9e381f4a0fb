"""A worker stopped mid-file: on restart the file is processed exactly once."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from exchange.intake.claim import claim
from exchange.intake.scan import recover
from exchange.pipeline import place, process_claim, stage_dir
from exchange.store.models import Declaration, FileRecord
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

TITLE = "职工批量新增申报填写表"


def _drop(instance):  # type: ignore[no-untyped-def]
    return make_workbook(instance.unit_inbox("1001") / "a.xlsx", ADD_HEADERS,
                         [add_row(make_id("19800101", "701"), "甲")], title=TITLE)


def test_claimed_but_unfinished_file_is_processed_once(instance, db):  # type: ignore[no-untyped-def]
    job = claim(instance, db, _drop(instance), "1001")        # the worker died right after claiming
    assert job is not None and job.work_path.exists()
    with db.session() as s:                                     # ... on another host
        s.execute(update(FileRecord).values(node="elsewhere-4242"))
    assert recover(instance, db) == []                          # lease still valid: leave it alone
    with db.session() as s:
        s.execute(update(FileRecord).values(lease_until=datetime.now() - timedelta(seconds=1)))
    results = recover(instance, db)
    assert [r.status for r in results] == ["accepted"]
    assert recover(instance, db) == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1
    assert len(list(instance.unit_outbox("1001", "receipts").glob("*.txt"))) == 1


def test_committed_but_unplaced_file_is_only_placed(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    job = claim(instance, db, _drop(instance), "1001")
    import exchange.pipeline as pipeline

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise SystemExit("killed after commit")

    monkeypatch.setattr(pipeline, "place", crash)
    try:
        process_claim(instance, db, job)
    except SystemExit:
        pass
    monkeypatch.setattr(pipeline, "place", place)
    assert job.work_path.exists() and stage_dir(instance, job).exists()
    assert recover(instance, db, force=True) == []              # placed, not processed again
    assert not job.work_path.exists()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1
        assert s.scalars(select(FileRecord.stored_path)).one() is not None
    receipts = list(instance.unit_outbox("1001", "receipts").glob("*.json"))
    assert len(receipts) == 1 and '"accepted": 1' in receipts[0].read_text(encoding="utf-8")
