"""A community's, a school's and a class login's view (issue 16, issue 18.6): 参保类型 on every
resident declaration, 户主 and 户主列表 for a community, 班级编号 and the scope of a class login,
each compared with the database."""
from __future__ import annotations

from sqlalchemy import select

from exchange.accounts import add_sub_account
from exchange.intake.scan import process_inbox
from exchange.intake.subaccounts import process_sub_account_inboxes
from exchange.schedule.registry import all_jobs
from exchange.store.models import Declaration, Person
from tests.conftest import make_id
from tests.flows.residents import (CC, HEAD, HOUSEHOLD, MEMBER, NEWBORN, PT, RESIDENT_ADD,  # noqa: F401
                                   STUDENTS_01, STUDENTS_02, SUSPEND, SUSPENDED_HERE, community,
                                   drop, school)
from tests.flows.helpers import decide_review
from tests.flows.view_books import lines, states, status_dir, table

ENROL = ["证件号码*", "姓名*", "人员类别*", "班级编号"]
PUPIL_01 = make_id("20170101", "561", CC)
PUPIL_02 = make_id("20170202", "572", CC)


def test_community_sees_enrolment_types_heads_and_members(instance, db, community):  # type: ignore[no-untyped-def]
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD,
         [["", NEWBORN, "林小六", "", "", "", HEAD, "子", "学生", "", "", "", ""],
          ["", SUSPENDED_HERE, "林一", "", "", "", HEAD, "配偶", "成年居民", "", "", "", ""]],
         title="城乡居民参保申报表")
    assert process_inbox(instance, db)[0].status == "accepted"
    got = states(instance, db, "C3001")
    pending = {r["证件号码"]: r for r in table(status_dir(instance, "C3001") / "申报状态.xlsx", "待提交",
                                              "业务流水号")}
    with db.session() as s:
        recorded = {d.id_number: d.payload["enrolment"] for d in s.scalars(
            select(Declaration).where(Declaration.unit_code == "C3001"))}
    assert sorted(got["待提交"]) == sorted(r["业务流水号"] for r in pending.values())
    # The words of receipts, review and result workbooks, rosters (review.display.enrolment_label).
    words = {"new": "新参保", "renewal": "续保", "transfer_in": "调入"}
    assert {n: r["参保类型"] for n, r in pending.items()} == {n: words[e] for n, e in recorded.items()}
    assert pending[NEWBORN]["参保类型"] == "新参保" and pending[SUSPENDED_HERE]["参保类型"] == "续保"

    people_book = status_dir(instance, "C3001") / "参保人员.xlsx"
    people = {r["证件号码"]: r for r in table(people_book, "参保人员", "个人编号")}
    assert "缴费基数" not in next(iter(people.values()))          # residents have no wage base
    assert (people[MEMBER]["户主身份证号"], people[MEMBER]["户主姓名"]) == (HEAD, "林建国")
    heads = {r["户主身份证号"]: r for r in table(people_book, "户主列表", "户主身份证号")}
    with db.session() as s:
        insured_under = {h: len(s.scalars(select(Person.id_number).where(
            Person.unit_code == "C3001", Person.household_head == h, Person.status == "1")).all())
            for h in heads}
    assert {h: r["参保人数"] for h, r in heads.items()} == insured_under
    assert heads[HEAD]["参保人数"] == 1 and heads[HEAD]["户主姓名"] == "林建国"

    # Approval makes the newborn insured under the head: the 户主列表 follows.
    all_jobs()["submit_batches"](instance, db)
    review = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    serials = [int(x) for x in states(instance, db, "C3001")["已提交待审核"]]
    decide_review(instance, db, review, "业务流水号", {x: ("通过", "") for x in serials}, "审核.xlsx")
    states(instance, db, "C3001")
    heads = {r["户主身份证号"]: r for r in table(people_book, "户主列表", "户主身份证号")}
    assert heads[HEAD]["参保人数"] == 3


def test_school_and_its_class_login_each_see_their_scope(instance, db, school):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-02", role="class", classes=["2024-02"])
    drop(instance, "S2201", "新生.xlsx", ENROL, [[PUPIL_02, "孙小新", "学生", "2024-02"]],
         title="城乡居民参保申报表", folder="@c2024-02")
    assert [r.status for r in process_sub_account_inboxes(instance, db)] == ["accepted"]
    drop(instance, "S2201", "校新生.xlsx", ENROL, [[PUPIL_01, "钱小一", "学生", "2024-01"]],
         title="城乡居民参保申报表")
    drop(instance, "S2201", "停保.xlsx", SUSPEND, [[STUDENTS_02[1], "李小二", "转学", "", ""]],
         title="学生停保")
    assert sorted(r.status for r in process_inbox(instance, db)) == ["accepted", "accepted"]

    whole = states(instance, db, "S2201")
    klass = states(instance, db, "S2201", "c2024-02")
    with db.session() as s:
        decls = {d.id_number: str(d.serial) for d in s.scalars(select(Declaration))}
    assert sorted(whole["待提交"]) == sorted(decls.values())
    # The class login sees what it sent and its class's pupils, not class 2024-01.
    assert sorted(klass["待提交"]) == sorted([decls[PUPIL_02], decls[STUDENTS_02[1]]])
    rows = {r["证件号码"]: r for r in table(status_dir(instance, "S2201", "c2024-02") / "申报状态.xlsx",
                                           "待提交", "业务流水号")}
    assert rows[PUPIL_02]["申报账号"] == "c2024-02" and rows[PUPIL_02]["班级编号"] == "2024-02"
    assert rows[PUPIL_02]["参保类型"] == "新参保"
    summary = lines(status_dir(instance, "S2201", "c2024-02") / "申报状态.xlsx", "汇总")
    assert "当前有 2 条待提交" in summary and any("2024-02" in x for x in summary)

    people = table(status_dir(instance, "S2201", "c2024-02") / "参保人员.xlsx", "参保人员", "个人编号")
    with db.session() as s:
        class_02 = set(s.scalars(select(Person.id_number).where(Person.unit_code == "S2201",
                                                                Person.class_code == "2024-02")))
        school_all = set(s.scalars(select(Person.id_number).where(Person.unit_code == "S2201")))
    assert {r["证件号码"] for r in people} == class_02 and {r["班级编号"] for r in people} == {"2024-02"}
    everyone = table(status_dir(instance, "S2201") / "参保人员.xlsx", "参保人员", "个人编号")
    assert {r["证件号码"] for r in everyone} == school_all
    assert STUDENTS_01[0] not in str(lines(status_dir(instance, "S2201", "c2024-02") / "参保人员.xlsx",
                                           "参保人员"))

    # Submission moves them for both views.
    all_jobs()["submit_batches"](instance, db)
    assert sorted(states(instance, db, "S2201", "c2024-02")["已提交待审核"]) == sorted(klass["待提交"])
    assert not states(instance, db, "S2201")["待提交"]
