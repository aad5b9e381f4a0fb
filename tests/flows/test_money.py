"""Money end to end: rates and payments loaded as master data, amounts due in the unit's
应缴信息 PDF (page subtotals and totals held to the database to the fen), arrears computed from
payments beside the centre's 欠费金额, amounts on the batch roster, 登记情况 and the CLI's JSON."""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader

from exchange.amounts.dues import employee_dues_frame, employee_month, months_between, yuan
from exchange.amounts.register import person_frame, rates_of, unit_dues
from exchange.cli import cli
from exchange.master import load_master
from exchange.review.reports import unit_reports
from exchange.store.models import Payment, Person
from tests.conftest import make_id, make_workbook

TODAY = date(2026, 11, 20)
MONTH = "202611"
INSURANCES = ("310,510", "310,330", "310", "310,330,510")
ID_RE = re.compile(r"^\d{17}[\dX]$")


def _employees(db, n: int = 130) -> list[str]:  # type: ignore[no-untyped-def]
    """A register with awkward bases (fen rounding), varied paid-to months and some arrears."""
    ids = []
    with db.session() as s:
        for i in range(n):
            number = make_id(f"19{70 + i % 25}0{1 + i % 9}1{i % 9}", f"{i:03d}")
            ids.append(number)
            s.add(Person(id_number=number, person_no=f"P{i:04d}", name=f"职工{i}", unit_code="1001",
                         status="1", insurances=INSURANCES[i % 4], wage_base=2800 + (i * 1373) % 12801,
                         insured_from=("202401", "202603", "202609")[i % 3],
                         last_paid_month=(None, "202608", "202610", "202611")[i % 4],
                         arrears=Decimal("12.34") if i % 7 == 0 else 0))
    return ids


def _load(instance, db, path: Path):  # type: ignore[no-untyped-def]
    return load_master(instance, db, path, today=TODAY)


def _pages(path: Path) -> list[list[str]]:
    return [[x.strip() for x in (p.extract_text() or "").splitlines() if x.strip()]
            for p in PdfReader(str(path)).pages]


def _summary(lines: list[str], label: str, width: int) -> tuple[int, list[str]]:
    i = lines.index(label)
    count = int(re.fullmatch(r"共 (\d+) (?:人|条)", lines[i + 1]).group(1))  # type: ignore[union-attr]
    return count, lines[i + 2:i + 1 + width]


def _d(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_rates_and_payments_load_as_master_data_with_clerks_mistakes(instance, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = _employees(db, 4)
    rates = make_workbook(tmp_path / "费率.xlsx", ["险种*", "生效月份*", "单位费率", "个人费率"], [
        ["310-职工基本医疗保险", "2026年7月", "7.5%", "0.02"],
        ["生育保险", 202607, "0.7%", ""],
        ["310", "202608", "120%", "0.02"],           # not a rate
        ["999", "202608", "0.01", "0.01"],           # no such insurance
    ], title="缴费费率")
    report = _load(instance, db, rates)
    assert report.kind == "rates" and report.loaded == 2
    assert [(row, [f.code for f in fs]) for row, fs in report.refused] == [
        (6, ["format.invalid"]), (7, ["code.unknown"])]
    payments = make_workbook(tmp_path / "缴费记录.csv", ["证件号码", "费款所属期", "实缴金额", "险种"], [
        [ids[1].lower(), "2026-09", "500.00", ""],
        [ids[1], "202610", "1,000.5", "310"],
        [ids[2], "2026/13", "10", ""],               # no such month
        [ids[2], "202610", "-5", ""],                # negative
    ], title="缴费记录", fmt="csv-gb18030")
    report = _load(instance, db, payments)
    assert report.kind == "payments" and report.loaded == 2
    assert [[f.code for f in fs] for _, fs in report.refused] == [["month.invalid"], ["format.invalid"]]
    with db.session() as s:
        stored = {(p.month, p.insurance): p.amount for p in s.query(Payment).all()}
        rates_now = rates_of(instance.rules, s)
    assert stored == {("202609", ""): Decimal("500.00"), ("202610", "310"): Decimal("1000.50")}
    assert rates_now.employee_rate("310", "202606").unit_rate == Decimal("0.08")
    assert rates_now.employee_rate("310", "202607").unit_rate == Decimal("0.075")
    assert rates_now.employee_rate("510", "202611").unit_rate == Decimal("0.007")
    # Loading the same payment again replaces it (the centre's latest statement).
    again = make_workbook(tmp_path / "缴费记录2.csv", ["证件号码", "费款所属期", "实缴金额"],
                          [[ids[1], "202609", "600"]], title="缴费记录", fmt="csv-gb18030")
    assert _load(instance, db, again).loaded == 1
    with db.session() as s:
        assert s.get(Payment, (ids[1], "202609", "")).amount == Decimal("600.00")


def test_dues_pdf_subtotals_and_totals_match_the_database_to_the_fen(instance, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = _employees(db)
    _load(instance, db, make_workbook(tmp_path / "rates.xlsx", ["险种", "生效月份", "单位费率", "个人费率"],
                                      [["310", "202607", "0.075", "0.025"]], title="缴费费率"))
    _load(instance, db, make_workbook(tmp_path / "pay.csv", ["身份证号", "费款所属期", "实缴金额"],
                                      [[n, "202611", "123.45"] for n in ids[::5]], fmt="csv-gb18030"))
    unit_reports(instance, db, unit="1001", today=TODAY)
    pdf = instance.unit_outbox("1001", "reports") / "20261120.应缴信息.pdf"
    pages = _pages(pdf)
    assert len(pages) >= 4

    # The database's own figures, by the columnar path (not the one the PDF used).
    with db.session() as s:
        rates = rates_of(instance.rules, s)
        frame = person_frame(s, unit="1001", resident_insurance=rates.resident_insurance)
        persons = {p.id_number: p for p in s.query(Person).filter_by(unit_code="1001")}
        paid = {(p.id_number, p.month): p.amount for p in s.query(Payment).all()}
    month = employee_dues_frame(rates, frame, [MONTH]).persons
    due = {n: (yuan(person), yuan(unit))
           for n, person, unit in zip(frame["id_number"], month["person_fen"], month["unit_fen"])}

    def window(number: str) -> str:
        p = persons[number]
        return max(p.insured_from, "202412",   # 24 months back (rates.toml)
                   months_between(p.last_paid_month, "209912")[1] if p.last_paid_month else "000000")

    def owed(number: str) -> Decimal:
        p = persons[number]
        total = Decimal(0)
        for m in months_between(window(number), MONTH):
            for ins in p.insurances.split(","):
                d = employee_month(rates, ins, p.wage_base, m)
                total += d.total if d else 0
        return total

    def arrears(number: str) -> Decimal:
        first = window(number)
        return owed(number) - sum((a for (n, m), a in paid.items() if n == number and first <= m),
                                  Decimal(0))

    # 单位职工应缴信息: each page's 本页小计 equals the database's figures of the persons printed
    # on it; 合计 equals the whole unit's.
    person_pages = [p for p in pages if "单位职工应缴信息" in " ".join(p[:3])]
    assert len(person_pages) >= 3
    seen: list[str] = []
    for lines in person_pages:
        on_page = [x for x in lines if ID_RE.match(x)]
        count, values = _summary(lines, "本页小计", 11)
        assert count == len(on_page) > 0
        base, person, unit, total, arrears_loaded, computed = (
            values[3], values[4], values[5], values[6], values[8], values[9])
        assert int(base) == sum(persons[n].wage_base for n in on_page)
        assert _d(person) == sum(due[n][0] for n in on_page)
        assert _d(unit) == sum(due[n][1] for n in on_page)
        assert _d(total) == _d(person) + _d(unit)
        assert _d(arrears_loaded) == sum(Decimal(persons[n].arrears) for n in on_page)
        assert _d(computed) == sum(arrears(n) for n in on_page)
        seen += on_page
    assert sorted(seen) == sorted(ids)
    count, values = _summary(person_pages[-1], "合计", 11)
    assert count == 130
    assert _d(values[4]) == sum(d[0] for d in due.values())
    assert _d(values[5]) == sum(d[1] for d in due.values())
    assert _d(values[9]) == sum(arrears(n) for n in ids)
    assert _d(values[9]) != sum(Decimal(p.arrears) for p in persons.values())   # computed, not copied

    # 单位职工分险种应缴信息: a row per person and insurance; its 合计 of computed arrears is the
    # persons' (the parts add up to the whole), each page's 本页小计 the sum of its rows.
    ins_pages = [p for p in pages if "单位职工分险种应缴信息" in " ".join(p[:3])]
    assert ins_pages
    rows = 0
    for lines in ins_pages:
        count, values = _summary(lines, "本页小计", 9)
        assert count == len([x for x in lines if ID_RE.match(x)])
        rows += count
        assert _d(values[5]) - _d(values[6]) == _d(values[7])
    count, values = _summary(ins_pages[-1], "合计", 9)
    assert count == rows == sum(len([i for i in persons[n].insurances.split(",")
                                      if rates.employee_rate(i, MONTH)]) for n in ids)
    assert _d(values[7]) == sum(arrears(n) for n in ids)
    assert _d(values[3]) == sum(d[0] + d[1] for d in due.values())

    # The same report as a workbook (导出Excel): exact amounts, the same 合计.
    import openpyxl

    book = openpyxl.load_workbook(pdf.with_suffix(".xlsx"))
    sheet = book.worksheets[1]
    header = [c.value for c in sheet[3]]
    last = [c.value for c in sheet[sheet.max_row]]
    assert last[0] == "合计" and sheet.max_row == 3 + 130 + 1
    col = header.index("计算欠费")
    assert Decimal(str(last[col])) == sum(arrears(n) for n in ids)
    assert Decimal(str(last[header.index("个人应缴（月）")])) == sum(d[0] for d in due.values())

    # 单位应缴信息: rows per month and insurance; every page adds up to what it prints, and the
    # whole equals the persons' dues over the months still unpaid.
    line_pages = [p for p in pages if "单位应缴信息" in " ".join(p[:3]) and p not in person_pages]
    printed_total = Decimal(0)
    for lines in line_pages:
        rows = [lines[i:i + 6] for i, x in enumerate(lines) if re.fullmatch(r"20\d{4}", x)
                and i + 5 < len(lines) and re.fullmatch(r"\d+", lines[i + 2])]
        count, values = _summary(lines, "本页小计", 6)
        assert count == len(rows)
        assert int(values[1]) == sum(int(r[2]) for r in rows)
        for col in (3, 4, 5):
            assert _d(values[col - 1]) == sum(_d(r[col]) for r in rows)
        printed_total += sum(_d(r[5]) for r in rows)
        assert {r[0] for r in rows} <= set(months_between("202412", MONTH))
    _, values = _summary(line_pages[-1], "合计", 6)
    assert _d(values[4]) == printed_total == sum(owed(n) for n in ids)


def test_cli_json_and_registration(instance, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = _employees(db, 3)
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(instance.home), "report", "dues", "--unit", "1001",
                                  "--month", MONTH, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    with db.session() as s:
        dues = unit_dues(instance.rules, s, "1001", date(2026, 11, 30))
    assert data["totals"]["due"] == f"{sum(p.total for p in dues.persons):.2f}"
    first = next(p for p in data["persons"] if p["id_number"] == ids[0])
    rate = instance.rules.rates
    expected = sum(employee_month(rate, i, 2800, MONTH).total for i in ("310", "510"))
    assert first["total"] == f"{expected:.2f}" and first["base"] == 2800
    result = runner.invoke(cli, ["--home", str(instance.home), "report", "registration", "--unit",
                                  "1001", "--period", "2026", "--json"])
    assert result.exit_code == 0, result.output
    reg = json.loads(result.output)
    assert reg["insured"] == 3 and reg["due"] == "0.00"


def test_batch_roster_shows_each_declarations_monthly_amount_with_subtotals(instance, db) -> None:  # type: ignore[no-untyped-def]
    from exchange.intake.scan import process_inbox
    from exchange.schedule.registry import all_jobs
    from tests.conftest import ADD_HEADERS, add_row

    new = [(make_id("19900101", "131"), "王小明", 5200), (make_id("19910202", "242"), "赵小红", 6100),
           (make_id("19920303", "353"), "孙小刚", 7300)]
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS,
                  [add_row(n, name, wage=w, month="202612") for n, name, w in new],
                  title="职工批量新增申报填写表")
    assert [r.status for r in process_inbox(instance, db)] == ["accepted"]
    all_jobs()["submit_batches"](instance, db)
    roster = next(instance.unit_outbox("1001", "rosters").glob("*.申报花名册.pdf"))
    lines = _pages(roster)[0]
    text = "".join(lines)
    for header in ("个人应缴（月）", "单位应缴（月）", "应缴合计（月）"):
        assert header in text
    # 5200: person 2% = 104.00; unit 8% + 0.8% = 457.60 (default insurances 310, 510) ...
    after = [x for x in lines[lines.index("5200"):] if re.fullmatch(r"[\d,]+\.\d\d", x)]
    assert after[:3] == ["104.00", "457.60", "561.60"]
    for label in ("本页小计", "合计"):
        count, values = _summary(lines, label, 10)
        assert count == 3
        assert values[3:8] == ["18600", "--", "372.00", "1,636.80", "2,008.80"]


def test_registration_counts_enrolments_and_sums_the_years_due(instance, db) -> None:  # type: ignore[no-untyped-def]
    """Putian's 登记情况: 新登记 / 已保 (续保) / 调入 / 暂停 and 应缴总额, for the year a
    declaration pays (declared in the collection period: the next year)."""
    from datetime import datetime

    from exchange.accounts import add_unit
    from exchange.amounts.register import registration
    from exchange.review.reports import registration_roster
    from exchange.store.models import Declaration, Unit

    def decl(serial: int, kind: str, status: str, when: datetime, **payload: object) -> Declaration:
        return Declaration(serial=serial, unit_code="C3001", kind=kind, id_number=make_id("20100101", f"{serial:03d}"),
                           name=f"居民{serial}", status=status, fingerprint=str(serial), payload=payload,
                           created_at=when)

    with db.session() as s:
        add_unit(instance, s, "C3001", "城厢区凤凰山社区", unit_type="30", password="pw")
    in_period, before = datetime(2026, 10, 8, 9), datetime(2026, 8, 8, 9)
    with db.session() as s:
        s.add_all([
            decl(1, "resident_add", "pending", in_period, enrolment="new", category="21"),          # 2027: 400
            decl(2, "resident_add", "approved", in_period, enrolment="new", category="31",
                 family_planning="1"),                                                               # 400-200-50
            decl(3, "resident_add", "submitted", in_period, enrolment="renewal", category="32"),     # 0
            decl(4, "resident_add", "pending", before, enrolment="transfer_in", category="12"),     # 2026: 400
            decl(5, "resident_add", "rejected", in_period, enrolment="new", category="21"),         # not counted
            decl(6, "resident_suspend", "pending", in_period, reason="1"),
            Declaration(serial=7, unit_code="C3001", kind="resident_suspend", id_number=None, name=None,
                        status="submitted", fingerprint="7", created_at=in_period,
                        payload={"class_stop": True, "count": 12, "members": []}),
        ])
    with db.session() as s:
        reg = registration(instance.rules, s, "C3001", datetime(2026, 1, 1), datetime(2027, 1, 1), "2026")
        roster = registration_roster(instance, s, s.get(Unit, "C3001"), datetime(2026, 1, 1),
                                     datetime(2027, 1, 1), "2026", TODAY)
    assert [(x.item, x.count, x.due) for x in reg.lines] == [
        ("new", 2, Decimal("550.00")), ("renewal", 1, Decimal("0.00")),
        ("transfer_in", 1, Decimal("400.00")), ("suspended", 13, None)]
    assert reg.due == Decimal("950.00")
    section = roster.sections[0]
    assert [r[1] for r in section.rows] == [2, 1, 1, 13]
    assert any("集中征缴期：09-01 至 12-31" in x for x in section.info)


def test_digest_totals_per_unit_type_equal_the_units_own_dues(instance, db) -> None:  # type: ignore[no-untyped-def]
    """The centre's digest adds the month's employee dues and the year's resident dues per unit
    type (column-wise over the whole register); each equals the sum of the units' 应缴信息."""
    from exchange.accounts import add_unit
    from exchange.amounts.register import totals_by_unit_type
    from exchange.review.reports import centre_digest
    from exchange.store.models import Unit

    ids = _employees(db, 40)
    with db.session() as s:
        s.get(Unit, "1001").unit_type = "10"
        add_unit(instance, s, "S4001", "长春市第一中学", unit_type="40", password="pw")
    with db.session() as s:
        for i in range(25):
            s.add(Person(id_number=make_id(f"2012{1 + i % 9:02d}1{i % 9}", f"{i:03d}"), name=f"学生{i}",
                         unit_code="S4001", status="1", insurances="390", insured_from="202509",
                         class_code=f"C{i % 3}", arrears=Decimal("0.10") if i % 5 == 0 else 0,
                         extra={"category": ("12", "31", "32", "34")[i % 4],
                                "family_planning": "1" if i % 3 == 0 else "0"}))
    day = date(2026, 11, 20)
    with db.session() as s:
        totals = {t.unit_type: t for t in totals_by_unit_type(instance.rules, s, "202611")}
        employer = unit_dues(instance.rules, s, "1001", day)
        school = unit_dues(instance.rules, s, "S4001", day)
    assert totals["10"].insured == 40 and totals["40"].insured == 25
    assert totals["10"].month_due == sum(p.total for p in employer.persons) > 0
    assert totals["40"].year_due == sum(p.person for p in school.persons) > 0
    assert totals["40"].arrears_loaded == Decimal("0.50")
    assert totals["10"].arrears_loaded == Decimal("12.34") * len(ids[::7])
    pages = _pages(centre_digest(instance, db, day).path)
    _, values = _summary(pages[-1], "合计", 6)
    assert _d(values[2]) == totals["10"].month_due and _d(values[3]) == totals["40"].year_due
