"""户主信息表: heads are registered, changed and deleted on import; delete only without members."""
from __future__ import annotations

from sqlalchemy import select

from exchange import codes as C
from exchange.store.models import Declaration, Household
from tests.conftest import make_id
from tests.flows.helpers import process_one, receipt_of, triples
from tests.flows.residents import (HEAD, HEAD_FREE, HOUSEHOLD, PT, RESIDENT_ADD, community,  # noqa: F401
                                   drop)

NEW_HEAD = make_id("19700909", "901", PT)


def test_household_rows_take_effect_on_import(instance, db, community):  # type: ignore[no-untyped-def]
    rows = [[NEW_HEAD, "陈国强", "13905941111", ""],                  # 新增 by default
            [NEW_HEAD[:15], "陈某", "13905941111", "新增"],           # 15-digit ID
            [HEAD, "林建国", "13905942222", "修改"],                  # phone changed
            [make_id("19710101", "902", PT), "无此户", "13905943333", "删除"],
            [HEAD_FREE, "郑秀英", "13905940000", "新增"],              # already registered
            [NEW_HEAD, "陈国强", "13905941111", "修改"]]              # same head again
    drop(instance, "C3001", "户主.xlsx", HOUSEHOLD, rows, title="户主信息表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "household"
    assert triples(receipt) == [
        (5, "户主身份证号", C.ID_FORMAT), (7, "户主身份证号", C.HOUSEHOLD_MISSING),
        (8, "户主身份证号", C.HOUSEHOLD_EXISTS), (9, None, C.DUPLICATE_IN_FILE)]
    noted = {r["row"]: [n["code"] for n in r.get("notes", [])] for r in receipt["rows"] if r["ok"]}
    assert noted == {4: [C.NOTE_HOUSEHOLD_DONE], 6: [C.NOTE_HOUSEHOLD_DONE]}
    with db.session() as s:
        heads = {h.head_id: h for h in s.scalars(select(Household).where(Household.unit_code == "C3001"))}
        statuses = {d.status for d in s.scalars(select(Declaration))}
    assert heads[NEW_HEAD].status == "active" and heads[NEW_HEAD].name == "陈国强"
    assert heads[HEAD].phone == "13905942222"
    assert statuses == {"approved"}                    # registration data: nothing to review


def test_head_with_members_cannot_be_deleted(instance, db, community):  # type: ignore[no-untyped-def]
    # HEAD has one member insured here; HEAD_FREE gets a pending enrolment first.
    enrol = ["", make_id("20150101", "903", PT), "郑小华", "", "", "", HEAD_FREE, "子", "学生", "", "", "", ""]
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, [enrol], title="城乡居民参保申报表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1
    rows = [[HEAD, "林建国", "13905941234", "删除"], [HEAD_FREE, "郑秀英", "13905940000", "删除"]]
    drop(instance, "C3001", "删户.xlsx", HOUSEHOLD, rows, title="户主信息表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "户主身份证号", C.HOUSEHOLD_HAS_MEMBERS),
                                (5, "户主身份证号", C.HOUSEHOLD_HAS_MEMBERS)]
    assert "名下还有 1 名参保人员" in receipt["rows"][0]["errors"][0]["message"]


def test_deleted_head_is_gone_and_may_come_back(instance, db, community):  # type: ignore[no-untyped-def]
    delete = [[HEAD_FREE, "郑秀英", "13905940000", "删除"]]
    drop(instance, "C3001", "删户.xlsx", HOUSEHOLD, delete, title="户主信息表")
    assert receipt_of(instance, process_one(instance, db))["status"] == "accepted"
    # Nobody can be declared under a deleted head.
    enrol = ["", make_id("20150101", "903", PT), "郑小华", "", "", "", HEAD_FREE, "子", "学生", "", "", "", ""]
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, [enrol], title="城乡居民参保申报表")
    assert triples(receipt_of(instance, process_one(instance, db))) == [
        (4, "户主身份证号", C.HOUSEHOLD_MISSING)]
    # The same deletion again is a duplicate; registering the head again is new work.
    drop(instance, "C3001", "删户.xlsx", HOUSEHOLD, delete, title="户主信息表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["duplicate"] == 1
    again = [[HEAD_FREE, "郑秀英", "13905940000", "新增"]]
    drop(instance, "C3001", "登记.xlsx", HOUSEHOLD, again, title="户主信息表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1
    drop(instance, "C3001", "登记.xlsx", HOUSEHOLD, again, title="户主信息表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["duplicate"] == 1
    with db.session() as s:
        assert s.get(Household, ("C3001", HEAD_FREE)).status == "active"


def test_delete_row_must_name_the_registered_head(instance, db, community):  # type: ignore[no-untyped-def]
    drop(instance, "C3001", "删户.xlsx", HOUSEHOLD, [[HEAD_FREE, "郑秀", "13905940000", "删除"]],
         title="户主信息表")
    assert triples(receipt_of(instance, process_one(instance, db))) == [(4, "户主姓名", C.RECORD_MISMATCH)]


def test_household_receipt_does_not_promise_a_nightly_submission(instance, db, community):  # type: ignore[no-untyped-def]
    """Households take effect on import: the receipt must not say they wait for submission."""
    from exchange.intake.scan import process_inbox
    from exchange.messages import RECEIPT_WORDS
    from tests.conftest import make_id, make_workbook

    make_workbook(instance.unit_inbox("C3001") / "户主.xlsx", ["户主身份证号*", "户主姓名*", "联系电话*", "操作"],
                  [[make_id("19700101", "801"), "户主甲", "13900000001", "新增"]], title="户主信息表")
    [result] = process_inbox(instance, db)
    assert result.counts.accepted == 1
    text = (instance.unit_outbox("C3001", "receipts") / result.receipt_name).read_text(encoding="utf-8-sig")
    assert RECEIPT_WORDS["pending_hint"] not in text


def test_the_centre_digest_counts_household_rows_as_registrations_not_approvals(instance, db, community):  # type: ignore[no-untyped-def]
    from datetime import date

    from pypdf import PdfReader

    from exchange.review.reports import centre_digest

    drop(instance, "C3001", "户主.xlsx", HOUSEHOLD, [[NEW_HEAD, "陈国强", "13905941111", ""],
                                                     [HEAD, "林建国", "13905942222", "修改"]],
         title="户主信息表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 2
    written = centre_digest(instance, db, date.today())
    cells = [line.strip() for p in PdfReader(str(written.path)).pages
             for line in (p.extract_text() or "").splitlines()]
    # One cell per line: the headers (收到文件 … 审核通过), then the row after the unit's name.
    headers = cells[cells.index("收到文件"):cells.index("审核通过") + 1]
    start = cells.index("城厢区凤凰山社区") + 1
    figures = dict(zip(headers, cells[start:start + len(headers)]))
    assert (figures["登记"], figures["审核通过"], figures["新申报"]) == ("2", "0", "0"), cells


def test_withdrawing_a_registration_says_it_took_effect_and_how_to_correct_it(instance, db, community):  # type: ignore[no-untyped-def]
    """A clerk lists a head's registration in the 业务回退表, by ID and type or by serial. It
    took effect on import, so nothing is withdrawn; by ID the row said 没有找到本单位可回退的申报,
    and by serial only that it was 已通过. Both now say it took effect and what to send instead."""
    drop(instance, "C3001", "户主.xlsx", HOUSEHOLD, [[NEW_HEAD, "陈国强", "13905941111", ""]],
         title="户主信息表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
    drop(instance, "C3001", "回退.xlsx", ["业务流水号", "身份证号", "业务类型"],
         [["", NEW_HEAD, "户主信息维护"], [d.serial, "", ""], ["", NEW_HEAD, ""]], title="业务回退表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "身份证号", C.DECLARATION_NOT_FOUND),
                                (5, "业务流水号", C.DECLARATION_NOT_PENDING),
                                (6, "身份证号", C.DECLARATION_NOT_FOUND)]
    by_id, by_serial, bare = (r["errors"][0]["message"] for r in receipt["rows"])
    assert by_id == ("“户主信息维护”在导入时已经生效，没有可回退的申报。"
                     "如需更正，请重新报送一份户主信息表。")
    assert by_serial == (f"业务流水号 {d.serial} 的“户主信息维护”在导入时已经生效，不能回退。"
                         "如需更正，请重新报送一份户主信息表。")
    assert bare == f"没有找到本单位可回退的申报（身份证号 {NEW_HEAD}）。"
    with db.session() as s:
        assert s.get(Declaration, d.serial).status == "approved"
        # `exchange declarations` lists the registration under its head's ID (it was blank).
        from exchange.review.queries import declarations

        listed = {r.serial: r for r in declarations(s, unit="C3001", kind="household")}
    assert (listed[d.serial].id_number, listed[d.serial].name) == (NEW_HEAD, "陈国强")
