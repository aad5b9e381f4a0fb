"""An employer's view (issue 16): after each kind of event its 申报状态.xlsx and 参保人员.xlsx in
outbox/<unit>/status/ say what the database says."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import openpyxl
from sqlalchemy import select, update

from exchange.intake.scan import process_inbox
from exchange.schedule.registry import all_jobs
from exchange.store.models import Declaration, Person
from exchange.view.refresh import flush, refresh_units
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import decide_review
from tests.flows.view_books import lines, states, status_dir, table


def lines_sheet(path):  # type: ignore[no-untyped-def]
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    name = wb.sheetnames[0]
    wb.close()
    return name

NEW = [(make_id("19900101", "131"), "王小明", 5200), (make_id("19910202", "242"), "赵小红", 6100),
       (make_id("19920303", "353"), "孙小刚", 7300)]
WITHDRAW = ["业务流水号", "身份证号", "业务类型"]


def _by_state(db, unit: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        rows = s.execute(select(Declaration.serial, Declaration.status).where(
            Declaration.unit_code == unit).order_by(Declaration.serial)).all()
    out: dict[str, list[str]] = {"待提交": [], "已提交待审核": [], "审核结果": [], "已回退": []}
    sheet = {"pending": "待提交", "submitted": "已提交待审核", "approved": "审核结果",
             "rejected": "审核结果", "withdrawn": "已回退"}
    for serial, status in rows:
        out[sheet[status]].append(str(serial))
    return out


def test_employer_status_book_follows_every_event(instance, db, persons):  # type: ignore[no-untyped-def]
    inbox = instance.unit_inbox("1001")
    # A clerk's file: three good rows, one with a wage that is no integer (fails).
    make_workbook(inbox / "增员.xlsx", ADD_HEADERS,
                  [add_row(n, name, wage=w) for n, name, w in NEW]
                  + [add_row(make_id("19930404", "464"), "错工资", wage="5000.5")],
                  title="职工批量新增申报填写表")
    assert process_inbox(instance, db)[0].status == "partial"
    got = states(instance, db, "1001")
    assert got == _by_state(db, "1001") and len(got["待提交"]) == 3
    book = status_dir(instance, "1001") / "申报状态.xlsx"
    pending = table(book, "待提交", "业务流水号")
    assert [(r["证件号码"], r["姓名"], r["业务类型"], r["来源文件"], r["行号"]) for r in pending] == [
        (n, name, "职工增加申报", "增员.xlsx", 4 + i) for i, (n, name, _) in enumerate(NEW)]
    assert "缴费工资：5200" in pending[0]["申报内容"]
    summary = lines(book, "汇总")
    assert "当前有 3 条待提交" in summary
    assert any(x.startswith("提交方式：将于 ") and x.endswith(" 02:00 自动提交医保中心审核") for x in summary)

    # Withdrawal (业务回退) of the second row.
    second = pending[1]["业务流水号"]
    make_workbook(inbox / "回退.xlsx", WITHDRAW, [[second, "", ""]], title="业务回退表")
    assert process_inbox(instance, db)[0].status == "accepted"
    got = states(instance, db, "1001")
    assert got == _by_state(db, "1001") and got["已回退"] == [second]

    # The nightly submission.
    all_jobs()["submit_batches"](instance, db)
    got = states(instance, db, "1001")
    assert got == _by_state(db, "1001") and len(got["已提交待审核"]) == 2 and not got["待提交"]
    submitted = table(book, "已提交待审核", "业务流水号")
    batch_no = submitted[0]["批次号"]
    assert batch_no.startswith("1001-") and isinstance(submitted[0]["提交时间"], datetime)
    # The submission roster PDF has its Excel twin (issue 16.2), listing the same people.
    [twin] = instance.unit_outbox("1001", "rosters").glob(f"{batch_no}*.xlsx")
    assert {r["姓名"] for r in submitted} <= set(lines(twin, lines_sheet(twin)))

    # The centre's decisions: one approved, one rejected with a reason.
    first, third = submitted[0]["业务流水号"], submitted[1]["业务流水号"]
    review = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    receipt = decide_review(instance, db, review, "业务流水号",
                            {int(first): ("通过", ""), int(third): ("不通过", "缴费工资低于下限")},
                            "审核.xlsx")
    assert receipt["counts"]["approved"] == receipt["counts"]["rejected"] == 1, receipt
    got = states(instance, db, "1001")
    assert got["审核结果"] and sorted(got["审核结果"]) == sorted(_by_state(db, "1001")["审核结果"])
    decided = {r["业务流水号"]: r for r in table(book, "审核结果", "业务流水号")}
    assert (decided[first]["审核结论"], decided[third]["审核结论"]) == ("通过", "不通过")
    assert decided[third]["不通过原因"] == "缴费工资低于下限" and decided[third]["审核人"] == "张审核"
    assert "1 条审核不通过，可修改后重新申报（最近 30 天；不通过原因见“审核结果”表）" in lines(book, "汇总")

    # The people workbook: the approved person is insured now, as the database says.
    people = {r["证件号码"]: r for r in table(status_dir(instance, "1001") / "参保人员.xlsx", "参保人员",
                                             "个人编号")}
    with db.session() as s:
        on_file = s.scalars(select(Person).where(Person.unit_code == "1001")).all()
        assert set(people) == {p.id_number for p in on_file}
        for p in on_file:
            row = people[p.id_number]
            assert (row["姓名"], row["缴费基数"], row["最大缴费月份"]) == (
                p.name, p.wage_base, p.last_paid_month)
            assert Decimal(str(row["欠费金额（中心）"])) == Decimal(p.arrears)
    assert people[NEW[0][0]]["参保状态"] == "参保" and people[persons["insured"]]["参保险种"]


def test_decisions_older_than_the_window_leave_the_results_sheet(instance, db, persons):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS,
                  [add_row(n, name, wage=w) for n, name, w in NEW[:2]], title="职工批量新增申报填写表")
    process_inbox(instance, db)
    all_jobs()["submit_batches"](instance, db)
    review = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    serials = states(instance, db, "1001")["已提交待审核"]
    decide_review(instance, db, review, "业务流水号", {int(x): ("通过", "") for x in serials}, "审核.xlsx")
    assert sorted(states(instance, db, "1001")["审核结果"]) == sorted(serials)
    with db.session() as s:     # the first decision was made 31 days ago
        s.execute(update(Declaration).where(Declaration.serial == int(serials[0])).values(
            decided_at=datetime.now() - timedelta(days=31)))
    instance.changed(["1001"])
    assert states(instance, db, "1001")["审核结果"] == serials[1:]


def test_a_master_data_load_rewrites_the_people_book(instance, db, persons, tmp_path):  # type: ignore[no-untyped-def]
    from exchange.master import load_master

    newcomer = make_id("19880808", "585")
    path = make_workbook(tmp_path / "persons.xlsx",
                         ["个人编号", "身份证号*", "姓名*", "单位编号", "参保状态", "险种", "最大缴费月份",
                          "欠费金额", "缴费基数"],
                         [["P0100", newcomer, "周新", "1001", "参保", "310", "202611", "12.30", 7000],
                          ["P0001", persons["insured"], "李四", "1002", "参保", "310", "202611", "", 6000]],
                         title="参保人员信息")
    report = load_master(instance, db, path)
    assert report.loaded == 2, report.refused
    flush(instance, db)
    ours = {r["证件号码"]: r for r in table(status_dir(instance, "1001") / "参保人员.xlsx", "参保人员",
                                           "个人编号")}
    theirs = {r["证件号码"] for r in table(status_dir(instance, "1002") / "参保人员.xlsx", "参保人员",
                                          "个人编号")}
    assert newcomer in ours and persons["insured"] not in ours       # moved to 1002
    assert persons["insured"] in theirs
    assert (ours[newcomer]["个人编号"], ours[newcomer]["缴费基数"], ours[newcomer]["最大缴费月份"],
            Decimal(str(ours[newcomer]["欠费金额（中心）"]))) == ("P0100", 7000, "202611", Decimal("12.30"))


def test_every_pdf_report_has_its_excel_twin(instance, db, persons):  # type: ignore[no-untyped-def]
    from exchange.review.reports import unit_reports

    written = [w.path for w in unit_reports(instance, db, unit="1001")]
    pdfs = [p for p in written if p.suffix == ".pdf"]
    assert len(pdfs) >= 4
    for pdf in pdfs:
        twin = pdf.with_suffix(".xlsx")
        assert twin in written and twin.is_file(), twin.name
    insured = next(p.with_suffix(".xlsx") for p in pdfs if p.name.endswith("参保花名册.pdf"))
    text = lines(insured, lines_sheet(insured))
    with db.session() as s:
        names = set(s.scalars(select(Person.name).where(Person.unit_code == "1001", Person.status == "1")))
    assert names and names <= set(text)


def test_a_base_declared_for_a_later_month_is_not_shown_as_the_current_one(instance, db, persons
                                                                          ):  # type: ignore[no-untyped-def]
    """An approved 缴费基数申报 sets the record's base at once, whatever its 申报开始时间: in
    December, one for next January made 参保人员.xlsx and 当前缴费基数花名册 show next year's base
    as the current one. Both now show the base in force and the later one beside it."""
    from datetime import date

    from exchange.amounts.dues import add_months
    from exchange.review.reports import unit_reports
    from tests.flows.test_money_split import approve_base_change

    today = date.today()
    month, following = f"{today:%Y%m}", add_months(f"{today:%Y%m}", 1)
    with db.session() as s:
        approve_base_change(instance, s, persons["insured"], following, 8800, datetime.now())
    refresh_units(instance, db, ["1001"])
    people = {r["证件号码"]: r for r in table(status_dir(instance, "1001") / "参保人员.xlsx", "参保人员",
                                             "个人编号")}
    row = people[persons["insured"]]
    shown_month = f"{following[:4]}年{int(following[4:])}月"
    assert (row["缴费基数"], row["待执行缴费基数"]) == (6000, f"8800（{shown_month}起）")
    unit_reports(instance, db, unit="1001", month=month)
    [book] = instance.unit_outbox("1001", "reports").glob("*当前缴费基数花名册.xlsx")
    rows = list(openpyxl.load_workbook(book).worksheets[0].iter_rows(values_only=True))
    header = next(r for r in rows if r[0] == "序号")
    roster = {r[header.index("证件号码")]: dict(zip(header, r)) for r in rows}
    assert (roster[persons["insured"]]["缴费基数"], roster[persons["insured"]]["待执行缴费基数"]) == (
        6000, f"8800（{shown_month}起）")
    # Declared for this month: in force now, nothing later.
    with db.session() as s:
        approve_base_change(instance, s, persons["insured"], month, 9100, datetime.now())
    refresh_units(instance, db, ["1001"])
    people = {r["证件号码"]: r for r in table(status_dir(instance, "1001") / "参保人员.xlsx", "参保人员",
                                             "个人编号")}
    assert (people[persons["insured"]]["缴费基数"], people[persons["insured"]]["待执行缴费基数"]) == (9100, None)
