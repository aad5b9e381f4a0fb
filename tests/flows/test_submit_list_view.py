"""Issue 16's leftovers: the 待提交清单 kept by the Refresher (never on the intake's thread, once
for a burst), a school's class login with its own list it may confirm, and one wording of how
pending declarations are submitted in the receipt and the status book's 汇总."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import openpyxl
from sqlalchemy import select

from exchange import codes as C
from exchange.accounts import add_sub_account
from exchange.intake.scan import process_inbox
from exchange.intake.subaccounts import process_sub_account_inboxes
from exchange.review.submit import submit_pending
from exchange.store.models import Declaration, Person
from exchange.view import confirm
from exchange.view.refresh import Refresher, flush
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import decide_review, fill_list, receipt_of, submit_on_word
from tests.flows.residents import CC, STUDENTS_01, STUDENTS_02, SUSPEND, drop, school  # noqa: F401
from tests.flows.view_books import lines, status_dir

TITLE = "职工批量新增申报填写表"
ENROL = ["证件号码*", "姓名*", "人员类别*", "班级编号"]
PUPILS_01 = [make_id("20170101", f"{i}", CC) for i in (561, 562)]
PUPILS_02 = [make_id("20170202", f"{i}", CC) for i in (571, 572)]


def listed(path: Path) -> tuple[dict[str, object], list[int]]:
    """The list as a clerk reads it: the cells above the table, and the 业务流水号 under it."""
    ws = openpyxl.load_workbook(path).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == "业务流水号")
    return ({r[0]: r[1] for r in rows[:at] if r and r[0]},
            [r[0] for r in rows[at + 1:] if isinstance(r[0], int)])


def pending(db, unit: str) -> list[int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return sorted(s.scalars(select(Declaration.serial).where(
            Declaration.unit_code == unit, Declaration.status == "pending")))


def declare(instance, seq: str, name: str) -> None:  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS,
                  [add_row(make_id("19810203", seq), "甲乙", wage=5000)], title=TITLE)


# 1. The list is the Refresher's ----------------------------------------------------------------
def test_intake_never_writes_the_list_and_a_burst_is_one_rewrite(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    submit_on_word(instance)
    threads: list[str] = []
    real = confirm.pending_of

    def spy(s, viewer):  # type: ignore[no-untyped-def]
        if viewer.name == "1001":                      # (every unit marked gets its list)
            threads.append(threading.current_thread().name)
        return real(s, viewer)

    monkeypatch.setattr(confirm, "pending_of", spy)
    path = confirm.list_path(instance, "1001")
    # Without a Refresher (a CLI command before its end): the intake writes no list.
    declare(instance, "101", "增员1.xlsx")
    assert [r.status for r in process_inbox(instance, db)] == ["accepted"]
    assert not path.exists() and threads == []
    flush(instance, db)                                # the end of `exchange process`
    assert listed(path)[1] == pending(db, "1001") and threads == ["MainThread"]

    # Under serve: a burst of five files, each its own intake pass, is one rewrite on the pool.
    threads.clear()
    refresher = Refresher(instance, db)
    refresher.debounce = 3.0          # a loaded CI machine takes ~1 s a file
    refresher.start()
    try:
        for i in range(5):
            declare(instance, f"{103 + 2 * i}", f"增员{i + 2}.xlsx")
            started = time.monotonic()
            assert [r.status for r in process_inbox(instance, db)] == ["accepted"]
            assert time.monotonic() - started < refresher.debounce   # (no rewrite in between)
        assert threads == []                           # nothing written while the burst lasts
        deadline = time.monotonic() + 30
        while (not threads or not refresher.idle()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        refresher.stop()
    assert len(threads) == 1 and threads[0].startswith("view"), threads
    top, serials = listed(path)
    assert serials == pending(db, "1001") and len(serials) == 6
    assert top["清单编号"] == confirm.token_of("1001", serials) and top["合计人数"] == 6


def test_submission_and_decisions_reach_the_list_through_changed_only(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    submit_on_word(instance)
    declare(instance, "101", "增员.xlsx")
    process_inbox(instance, db)
    flush(instance, db)
    path = confirm.list_path(instance, "1001")
    assert len(listed(path)[1]) == 1
    marked: list[list[str]] = []
    real = instance.view.changed

    def spy(units):  # type: ignore[no-untyped-def]
        units = None if units is None else list(units)
        marked.append(units or ["*"])
        real(units)

    monkeypatch.setattr(instance.view, "changed", spy)
    [batch] = submit_pending(instance, db, unit="1001", actor="operator")
    assert marked == [["1001"]]
    assert len(listed(path)[1]) == 1                   # not written on the spot: marked
    written = flush(instance, db)
    assert path in written and listed(path)[1] == [] == pending(db, "1001")
    # A decision marks the unit too: its status book and list are rewritten together.
    review = next(instance.unit_outbox("_centre", "batches").glob(f"*{batch.batch_no}*.xlsx"))
    with db.session() as s:
        [serial] = s.scalars(select(Declaration.serial).where(Declaration.batch_id == batch.batch_id))
    decide_review(instance, db, review, "业务流水号", {serial: ("不通过", "材料不全")}, "审核.xlsx")
    assert marked[-1] == ["1001"]
    assert path in flush(instance, db)


# 2. One wording: the receipt's next step is the 汇总's 提交方式 --------------------------------
def summary_way(instance, db, unit: str = "1001", login: str | None = None) -> str:  # type: ignore[no-untyped-def]
    flush(instance, db)
    [line] = [x for x in lines(status_dir(instance, unit, login) / "申报状态.xlsx", "汇总")
              if x.startswith("提交方式：")]
    return line.removeprefix("提交方式：")


def receipt_text(instance, result) -> str:  # type: ignore[no-untyped-def]
    return (instance.unit_outbox(result.unit, "receipts") / result.receipt_name).read_text(
        encoding="utf-8-sig")


def test_the_summary_says_how_pending_declarations_are_submitted_as_the_receipt_does(instance, db):  # type: ignore[no-untyped-def]
    from datetime import datetime

    declare(instance, "101", "增员1.xlsx")
    [result] = process_inbox(instance, db)
    when = confirm.next_submission(instance, "1001")
    assert when is not None
    nightly = summary_way(instance, db)
    assert nightly == f"将于 {when.month}月{when.day}日 {when:%H:%M} 自动提交医保中心审核"
    assert f"成功导入的申报处于“待提交”状态，{nightly}；" in receipt_text(instance, result)
    assert when > datetime.now()
    # No enabled submission job: the centre submits.
    jobs = instance.jobs_dir / "submit_batches.toml"
    jobs.write_text(jobs.read_text(encoding="utf-8").replace("enabled = true", "enabled = false"),
                    encoding="utf-8")
    instance.view._submissions = None              # (serve reads jobs/ again within a minute)
    declare(instance, "103", "增员2.xlsx")
    [result] = process_inbox(instance, db)
    centre = summary_way(instance, db)
    assert centre == "由医保中心统一提交审核（未设定自动提交时间）"
    assert f"状态，{centre}；" in receipt_text(instance, result)
    # On the unit's word.
    submit_on_word(instance)
    declare(instance, "105", "增员3.xlsx")
    [result] = process_inbox(instance, db)
    word = summary_way(instance, db)
    assert word == "由单位确认提交（请核对待提交清单后确认提交）"
    assert f"状态，{word}：不会自动提交，请下载待提交清单" in receipt_text(instance, result)


# 3. A class login's own list -------------------------------------------------------------------
def class_of(db, serials: list[int]) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """serial -> the class the database says the declaration concerns."""
    with db.session() as s:
        classes = dict(s.execute(select(Person.id_number, Person.class_code).where(
            Person.unit_code == "S2201")).all())
        return {d.serial: (d.payload or {}).get("class_code") or classes[d.id_number]
                for d in s.scalars(select(Declaration).where(Declaration.serial.in_(serials)))}


def test_a_class_login_confirms_its_own_list_and_only_its_class_is_submitted(instance, db, school):  # type: ignore[no-untyped-def]
    submit_on_word(instance)
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-02", role="class", classes=["2024-02"])
        add_sub_account(instance, s, "S2201", "d-grade", role="department", classes=["2024-01", "2024-02"])
    drop(instance, "S2201", "新生.xlsx", ENROL, [[PUPILS_02[0], "孙小新", "学生", "2024-02"]],
         title="城乡居民参保申报表", folder="@c2024-02")
    assert [r.status for r in process_sub_account_inboxes(instance, db)] == ["accepted"]
    drop(instance, "S2201", "校新生.xlsx", ENROL, [[PUPILS_01[0], "钱小一", "学生", "2024-01"],
                                                [PUPILS_02[1], "钱小二", "学生", "2024-02"]],
         title="城乡居民参保申报表")
    drop(instance, "S2201", "停保.xlsx", SUSPEND, [[STUDENTS_02[1], "李小二", "转学", "", ""],
                                               [STUDENTS_01[0], "王小一", "转学", "", ""]],
         title="学生停保")
    assert sorted(r.status for r in process_inbox(instance, db)) == ["accepted", "accepted"]
    flush(instance, db)
    everything = pending(db, "S2201")
    classes = class_of(db, everything)
    of_02 = sorted(x for x in everything if classes[x] == "2024-02")
    assert len(everything) == 5 and len(of_02) == 3

    school_list = confirm.list_path(instance, "S2201")
    class_list = confirm.list_path(instance, "S2201", "c2024-02")
    dept_list = confirm.list_path(instance, "S2201", "d-grade")
    assert class_list == status_dir(instance, "S2201", "c2024-02") / "待提交清单.xlsx"
    top, shown = listed(class_list)
    assert shown == of_02 and top["合计人数"] == 3
    assert top["清单编号"] == confirm.token_of("S2201@c2024-02", of_02)
    assert listed(school_list)[1] == everything and listed(dept_list)[1] == everything
    ws = openpyxl.load_workbook(class_list).worksheets[0]
    assert "c2024-02" in ws["A2"].value and "2024-02" in ws["A2"].value
    old_school = school_list.with_name("old.xlsx")
    old_school.write_bytes(school_list.read_bytes())

    # The class login sends the school's list back: not its list, refused, nothing submitted.
    inbox = instance.unit_inbox("S2201") / "@c2024-02"
    fill_list(openpyxl.load_workbook(school_list)).save(inbox / "全校清单.xlsx")
    [result] = process_sub_account_inboxes(instance, db)
    assert receipt_of(instance, result)["file_errors"][0]["code"] == C.SUBMIT_STALE
    assert pending(db, "S2201") == everything
    # Its own list, with one row deleted: only that class's remaining rows are submitted.
    fill_list(openpyxl.load_workbook(class_list), keep=set(of_02[1:])).save(inbox / "清单.xlsx")
    [result] = process_sub_account_inboxes(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 2
    with db.session() as s:
        submitted = dict(s.execute(select(Declaration.serial, Declaration.status).where(
            Declaration.unit_code == "S2201")).all())
    assert sorted(x for x, st in submitted.items() if st == "submitted") == of_02[1:]
    assert pending(db, "S2201") == sorted(set(everything) - set(of_02[1:]))
    # Every list follows; the school's earlier list is stale now.
    flush(instance, db)
    assert listed(class_list)[1] == of_02[:1]
    assert listed(school_list)[1] == listed(dept_list)[1] == pending(db, "S2201")
    fill_list(openpyxl.load_workbook(old_school)).save(instance.unit_inbox("S2201") / "旧清单.xlsx")
    [result] = process_inbox(instance, db)
    assert receipt_of(instance, result)["file_errors"][0]["code"] == C.SUBMIT_STALE
    # The class's 提交确认.txt submits the rest of its list, nothing of 2024-01.
    token = listed(class_list)[0]["清单编号"]
    (inbox / "提交确认.txt").write_bytes(f"确认提交 {token}\r\n".encode("gb18030"))
    [result] = process_sub_account_inboxes(instance, db)
    assert receipt_of(instance, result)["counts"]["accepted"] == 1
    left = pending(db, "S2201")
    assert left and {class_of(db, left)[x] for x in left} == {"2024-01"}
    assert summary_way(instance, db, "S2201", "c2024-02") == "由单位确认提交（请核对待提交清单后确认提交）"
