"""Submission on the unit's word (issue 16.5): the 待提交清单, sent back whole, in part, stale,
with 否, or as a one-line 提交确认.txt; receipts that say what happens next (issue 21.16)."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from exchange import codes as C
from exchange.review.jobs import submit_batches
from exchange.store.models import Batch, Declaration
from exchange.view import confirm
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from exchange.view.refresh import flush
from tests.flows.helpers import fill_list, process_one as intake_one, receipt_of, submit_on_word as on_word

TITLE = "职工批量新增申报填写表"


def process_one(instance, db):  # type: ignore[no-untyped-def]
    """One file through intake, then the marked units' views rewritten, as at the end of
    `exchange process` (under serve the Refresher does it, debounced)."""
    result = intake_one(instance, db)
    flush(instance, db)
    return result


def declare(instance, db, seqs: list[str], name: str = "增员.xlsx"):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19810203", seq), "甲乙", wage=5000 + int(seq)) for seq in seqs]
    make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS, rows, title=TITLE)
    return process_one(instance, db)


def receipt_text(instance, result) -> str:  # type: ignore[no-untyped-def]
    return (instance.unit_outbox(result.unit, "receipts") / result.receipt_name).read_text(
        encoding="utf-8-sig")


def pending(db) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return dict(s.execute(select(Declaration.serial, Declaration.id_number)
                              .where(Declaration.status == "pending")).all())


def read_list(path: Path) -> tuple[dict[str, object], list[tuple]]:
    """The list as a clerk reads it: the cells above the table, and the table's rows."""
    ws = openpyxl.load_workbook(path).worksheets[0]
    rows = [r for r in ws.iter_rows(values_only=True)]
    top = {r[0]: r[1] for r in rows[:9] if r and r[0]}
    at = next(i for i, r in enumerate(rows) if r[0] == "业务流水号")
    return top, [r for r in rows[at + 1:] if r[0] is not None]


def send_back(path: Path, target: Path, *, answer: str = "是", keep: set[int] | None = None) -> Path:
    fill_list(openpyxl.load_workbook(path), answer, keep).save(target)
    return target


def test_nightly_receipt_names_the_time_of_the_job(instance, db):  # type: ignore[no-untyped-def]
    result = declare(instance, db, ["101"])
    text = receipt_text(instance, result)
    assert "将在夜间" not in text
    assert "成功导入的申报处于“待提交”状态，将于 " in text and " 02:00 自动提交医保中心审核" in text
    assert not confirm.list_path(instance, "1001").exists()      # nightly: no list
    jobs = instance.jobs_dir / "submit_batches.toml"
    jobs.write_text(jobs.read_text(encoding="utf-8").replace("enabled = true", "enabled = false"),
                    encoding="utf-8")
    text = receipt_text(instance, declare(instance, db, ["102"], "增员2.xlsx"))
    assert "由医保中心统一提交审核（未设定自动提交时间）" in text and "将于" not in text


def test_the_list_shows_pending_with_amounts_and_submits_on_yes(instance, db):  # type: ignore[no-untyped-def]
    on_word(instance)
    result = declare(instance, db, ["101", "103", "105"])
    text = receipt_text(instance, result)
    assert "由单位确认提交（请核对待提交清单后确认提交）：不会自动提交，请下载待提交清单" in text
    assert "将于" not in text
    path = confirm.list_path(instance, "1001")
    top, rows = read_list(path)
    serials = pending(db)
    assert [r[0] for r in rows] == sorted(serials)
    assert [r[2] for r in rows] == [serials[x] for x in sorted(serials)]
    assert top["确认提交"] == "否" and top["合计人数"] == 3
    with db.session() as s:
        decls = list(s.scalars(select(Declaration).order_by(Declaration.serial)))
        from exchange.amounts.register import declaration_due, rates_of
        dues = [declaration_due(instance.rules, rates_of(instance.rules, s), d) for d in decls]
    assert all(d is not None and d.total > 0 for d in dues)
    assert [Decimal(str(r[6])).quantize(Decimal("0.01")) for r in rows] == [d.total for d in dues]
    assert Decimal(str(top["合计应缴金额（元）"])).quantize(Decimal("0.01")) == sum(d.total for d in dues)
    assert top["清单编号"] == confirm.token_of("1001", serials)
    # The nightly job submits nothing here.
    assert "nothing submitted" in submit_batches(instance, db)
    assert len(pending(db)) == 3
    # 否: nothing submitted, the reason given.
    send_back(path, instance.unit_inbox("1001") / "待提交清单.xlsx", answer="否")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "rejected"
    assert receipt["file_errors"][0]["code"] == C.SUBMIT_NOT_CONFIRMED
    assert len(pending(db)) == 3
    # 是: all three in one batch, the list rewritten empty, the batch documents written.
    send_back(path, instance.unit_inbox("1001") / "待提交清单.xlsx")
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 3
    assert pending(db) == {}
    with db.session() as s:
        batch = s.scalars(select(Batch)).one()
        assert sorted(s.scalars(select(Declaration.serial).where(Declaration.batch_id == batch.id))) \
            == sorted(serials)
    assert f"批次号 {batch.batch_no}，共 3 条" in receipt_text(instance, result)
    assert list(instance.unit_outbox("_centre", "batches").glob(f"*{batch.batch_no}*"))
    top, rows = read_list(path)
    assert [r[0] for r in rows] == ["当前没有待提交的申报。"]
    assert top["合计人数"] == 0


def test_partial_stale_and_withdraw_before_confirming(instance, db):  # type: ignore[no-untyped-def]
    on_word(instance)
    declare(instance, db, ["101", "103", "105"])
    path = confirm.list_path(instance, "1001")
    old = path.with_name("old.xlsx")
    old.write_bytes(path.read_bytes())
    serials = sorted(pending(db))
    # Withdrawal (业务回退) still works before confirming; the list changes with it.
    make_workbook(instance.unit_inbox("1001") / "回退.xlsx", ["业务流水号", "身份证号", "业务类型"],
                  [[serials[0], "", ""]], title="业务回退表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1
    _, rows = read_list(path)
    assert [r[0] for r in rows] == serials[1:]
    # The list made before the withdrawal is stale: refused, nothing submitted.
    send_back(old, instance.unit_inbox("1001") / "旧清单.xlsx")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["file_errors"][0]["code"] == C.SUBMIT_STALE
    assert "已过期" in receipt["file_errors"][0]["message"]
    assert sorted(pending(db)) == serials[1:]
    # Part of the current list: only the row left on it is submitted.
    send_back(path, instance.unit_inbox("1001") / "清单.xlsx", keep={serials[2]})
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"]["accepted"] == 1
    assert sorted(pending(db)) == [serials[1]]
    # 提交确认.txt naming the current list submits the rest.
    _, rows = read_list(path)
    assert [r[0] for r in rows] == [serials[1]]
    token = confirm.token_of("1001", [serials[1]])
    (instance.unit_inbox("1001") / "提交确认.txt").write_bytes(f"确认提交 {token}\r\n".encode("gb18030"))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and pending(db) == {}
    with db.session() as s:
        assert s.scalar(select(Declaration.status).where(Declaration.serial == serials[0])) == "withdrawn"
        assert len(s.scalars(select(Batch)).all()) == 2


def test_a_confirmation_where_submission_is_nightly_is_refused(instance, db):  # type: ignore[no-untyped-def]
    declare(instance, db, ["101"])
    (instance.unit_inbox("1001") / "提交确认.txt").write_text("确认提交 ABCDEF0123", encoding="utf-8")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["file_errors"][0]["code"] == C.SUBMIT_NOT_ON_WORD
    assert len(pending(db)) == 1


def test_region_switch_is_validated(instance):  # type: ignore[no-untyped-def]
    from exchange.errors import ConfigError
    region = instance.rules_dir / "region.toml"
    region.write_text(region.read_text(encoding="utf-8").replace(
        'submission = "nightly"', 'submission = "weekly"'), encoding="utf-8")
    instance.__dict__.pop("rules", None)
    with pytest.raises(ConfigError, match="submission"):
        instance.rules


def test_an_operators_submission_rewrites_the_list(instance, db):  # type: ignore[no-untyped-def]
    from exchange.review.submit import submit_pending
    on_word(instance)
    declare(instance, db, ["101", "103"])
    path = confirm.list_path(instance, "1001")
    assert len(read_list(path)[1]) == 2
    [batch] = submit_pending(instance, db, unit="1001", actor="operator")
    assert batch.count == 2 and pending(db) == {}
    assert len(read_list(path)[1]) == 2          # marked changed, not written on the spot
    flush(instance, db)                          # (the end of `exchange batches submit`)
    top, rows = read_list(path)
    assert [r[0] for r in rows] == ["当前没有待提交的申报。"] and top["清单编号"] == confirm.token_of("1001", [])


def test_a_list_copied_without_its_hidden_sheet_is_still_the_list(instance, db):  # type: ignore[no-untyped-def]
    """A clerk pastes the list into a new workbook (the hidden _meta sheet stays behind) and sends
    it: never read as a 业务回退表 of the serials it lists, but as the list (its visible 清单编号)."""
    on_word(instance)
    declare(instance, db, ["101", "103"])
    ws = openpyxl.load_workbook(confirm.list_path(instance, "1001")).worksheets[0]
    copy = openpyxl.Workbook()
    for row in ws.iter_rows(values_only=True):
        copy.active.append(list(row))
    copy.active["B4"] = "是"
    copy.save(instance.unit_inbox("1001") / "清单副本.xlsx")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == confirm.LIST_KIND and receipt["counts"]["accepted"] == 2
    with db.session() as s:
        assert set(s.scalars(select(Declaration.status))) == {"submitted"}


def test_the_time_named_is_the_next_run_in_the_schedules_time_zone(instance):  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(instance.settings.schedule.timezone)
    # 01:59 and 02:01 in the schedule's zone, given as UTC instants: today's run, then tomorrow's.
    before = datetime(2026, 12, 5, 1, 59, tzinfo=tz).astimezone(timezone.utc)
    after = datetime(2026, 12, 5, 2, 1, tzinfo=tz).astimezone(timezone.utc)
    assert confirm.next_submission(instance, "1001", before) == datetime(2026, 12, 5, 2, 0)
    assert confirm.next_submission(instance, "1001", after) == datetime(2026, 12, 6, 2, 0)
    assert "12月6日 02:00" in confirm.next_step(instance, "1001", after)


def test_a_pass_reads_jobs_once_until_the_time_it_named_comes(instance, monkeypatch):  # type: ignore[no-untyped-def]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from exchange.schedule import spec

    tz = ZoneInfo(instance.settings.schedule.timezone)
    clock = [datetime(2026, 12, 5, 1, 58, tzinfo=tz)]

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
            return clock[0] if tz is None else clock[0].astimezone(tz)

    reads = []
    load_jobs = spec.load_jobs
    monkeypatch.setattr(spec, "load_jobs", lambda i: reads.append(i) or load_jobs(i))
    monkeypatch.setattr(confirm, "datetime", Clock)
    today, tomorrow = datetime(2026, 12, 5, 2, 0), datetime(2026, 12, 6, 2, 0)
    with confirm.one_pass():
        assert confirm.next_submission(instance, "1001") == today
        clock[0] = datetime(2026, 12, 5, 1, 59, 59, tzinfo=tz)
        assert confirm.next_submission(instance, "1001") == today
        assert len(reads) == 1                     # kept: the time it named has not come
        clock[0] = datetime(2026, 12, 5, 2, 0, 1, tzinfo=tz)
        assert confirm.next_submission(instance, "1001") == tomorrow
        assert confirm.next_submission(instance, "1001") == tomorrow
        assert len(reads) == 2
    assert confirm.next_submission(instance, "1001") == tomorrow
    assert len(reads) == 3                         # outside a pass: read per call
