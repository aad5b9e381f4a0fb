"""A transfer keeps the old unit's dues: an employee stopped at 1001 (职工减少) and added at 1002
(职工增加), both approved by review, was one record whose unit became 1002 and whose 参保年月 the
new month; 1001's 应缴信息 lost the months he was insured there and not paid (its amounts due
and its computed arrears). The old unit now keeps his closed period (参保历史): it owes the
months of its own period at that period's base, the new unit from its own start."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from exchange.amounts.dues import add_months, employee_month, months_between
from exchange.amounts.register import rates_of, unit_dues
from exchange.master import load_master
from exchange.review.effects import apply_effect
from exchange.schedule.registry import all_jobs
from exchange.store.models import Batch, ClosedPeriod, Declaration, Person
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import decide_review, process_one

STOP = ["个人编号", "身份证号*", "姓名*", "停保原因", "备注"]
MOVER = make_id("19820412", "317")
NOW = f"{date.today():%Y%m}"               # a stop runs to the end of the month it is approved in
NEXT = add_months(NOW, 1)
PAID = add_months(NOW, -3)                 # 最大缴费月份 at the old unit: three months unpaid there


def _approved(instance, db, unit: str, path, name: str) -> None:  # type: ignore[no-untyped-def]
    """Import the unit's file, submit it and approve it as the back office does."""
    assert process_one(instance, db).status == "accepted", path
    all_jobs()["submit_batches"](instance, db)
    with db.session() as s:
        [(serial, batch_no)] = s.execute(select(Declaration.serial, Batch.batch_no).join(
            Batch, Batch.id == Declaration.batch_id).where(
            Declaration.unit_code == unit, Declaration.status == "submitted")).all()
    book = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    receipt = decide_review(instance, db, book, "业务流水号", {serial: ("通过", "")}, name)
    assert receipt["counts"]["approved"] == 1, receipt


def _moved(instance, db) -> None:  # type: ignore[no-untyped-def]
    """The mover insured at 1001 from 202401 at 6,000, paid to PAID, stopped there (to the end
    of this month) and added at 1002 from next month at 8,000: files in, both approved."""
    with db.session() as s:
        s.add(Person(id_number=MOVER, person_no="P0101", name="周转", sex="1", unit_code="1001",
                     status="1", insurances="310,510", wage_base=6000, insured_from="202401",
                     paid_months={"310": PAID, "510": PAID}, last_paid_month=PAID, arrears=0))
    stop = make_workbook(instance.unit_inbox("1001") / "减少.xlsx", STOP,
                         [["P0101", MOVER, "周转", "", "调出"]], title="职工批量减少申报填写表")
    _approved(instance, db, "1001", stop, "减少审核.xlsx")
    add = make_workbook(instance.unit_inbox("1002") / "增员.xlsx", ADD_HEADERS,
                        [add_row(MOVER, "周转", sex="1", month=NEXT, wage=8000, insurances="310,510")],
                        title="职工批量新增申报填写表")
    _approved(instance, db, "1002", add, "增员审核.xlsx")


def _month_dues(rates, base: int, months: list[str]) -> dict[str, Decimal]:  # type: ignore[no-untyped-def]
    """Per insurance, the dues of `months` at `base`, one person's way (Decimal)."""
    out: dict[str, Decimal] = {}
    for ins in ("310", "510"):
        for m in months:
            due = employee_month(rates, ins, base, m)
            out[ins] = out.get(ins, Decimal(0)) + (due.total if due else Decimal(0))
    return out


def test_a_transfer_leaves_the_old_unit_owing_its_own_unpaid_months(instance, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _moved(instance, db)
    with db.session() as s:
        person = s.get(Person, MOVER)
        assert (person.unit_code, person.insured_from, person.wage_base) == ("1002", NEXT, 8000)
        [period] = s.scalars(select(ClosedPeriod)).all()
        assert (period.unit_code, period.insured_from, period.stopped_after, period.wage_base,
                period.insurances, period.last_paid_month) == ("1001", "202401", NOW, 6000, "310,510", PAID)
        rates = rates_of(instance.rules, s)
        unit_dues_of = {(unit, m): unit_dues(instance.rules, s, unit, date(int(m[:4]), int(m[4:]), 15))
                        for unit in ("1001", "1002") for m in (NOW, NEXT)}

    old_months = months_between(add_months(PAID, 1), NOW)
    owed_old = _month_dues(rates, 6000, old_months)
    for m in (NOW, NEXT):
        # The old unit: his unpaid months there, at its base; in its own last month, that month's due.
        (p,) = unit_dues_of["1001", m].persons
        assert (p.id_number, p.base, p.paid_to) == (MOVER, 6000, PAID)
        assert {x.insurance: x.due_unpaid for x in p.by_insurance} == owed_old
        assert p.arrears_computed == sum(owed_old.values())
        assert p.total == (sum(_month_dues(rates, 6000, [NOW]).values()) if m == NOW else 0)
        assert {x.period for x in unit_dues_of["1001", m].lines} == set(old_months)
        assert sum(x.total for x in unit_dues_of["1001", m].lines) == sum(owed_old.values())
    # The new unit: nothing before its start, then its own month at its own base.
    assert unit_dues_of["1002", NOW].persons == [] and unit_dues_of["1002", NOW].lines == []
    (p,) = unit_dues_of["1002", NEXT].persons
    owed_new = _month_dues(rates, 8000, [NEXT])
    assert (p.base, p.total) == (8000, sum(owed_new.values()))
    assert {x.insurance: x.due_unpaid for x in p.by_insurance} == owed_new
    assert {x.period for x in unit_dues_of["1002", NEXT].lines} == {NEXT}


def test_the_old_units_months_are_paid_by_payments_not_by_the_new_units_paid_month(instance, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A closed period keeps the paid-to months it had when it closed: 最大缴费月份 loaded later
    is the person's at the new unit and pays none of the old unit's months; payments loaded
    (缴费记录) for the old unit's months count for it, those for the new unit's for the new."""
    _moved(instance, db)
    one_month = add_months(PAID, 1)
    persons = make_workbook(tmp_path / "人员.xlsx", ["身份证号", "姓名", "单位编号", "险种", "最大缴费月份"],
                            [[MOVER, "周转", "1002", "310", NEXT], [MOVER, "周转", "1002", "510", NEXT]],
                            title="人员")
    payments = make_workbook(tmp_path / "缴费记录.xlsx", ["证件号码", "费款所属期", "实缴金额", "险种"],
                             [[MOVER, one_month, "600.00", "310"], [MOVER, NEXT, "999.00", ""]],
                             title="缴费记录")
    for path in (persons, payments):
        report = load_master(instance, db, path)
        assert report.loaded == 2 and not report.refused
    with db.session() as s:
        rates = rates_of(instance.rules, s)
        old = unit_dues(instance.rules, s, "1001", date(int(NEXT[:4]), int(NEXT[4:]), 15))
        new = unit_dues(instance.rules, s, "1002", date(int(NEXT[:4]), int(NEXT[4:]), 15))
    owed_old = _month_dues(rates, 6000, months_between(one_month, NOW))
    (p,) = old.persons
    assert {x.insurance: (x.paid_to, x.due_unpaid, x.paid_unpaid) for x in p.by_insurance} == {
        "310": (PAID, owed_old["310"], Decimal("600.00")), "510": (PAID, owed_old["510"], Decimal(0))}
    assert old.arrears_computed() == {MOVER: sum(owed_old.values()) - Decimal("600.00")}
    (p,) = new.persons
    assert p.paid_to == NEXT and p.arrears_computed == 0 and new.arrears_computed() == {}


def _approve(instance, s, kind: str, unit: str, payload: dict, decided_at: datetime) -> None:  # type: ignore[no-untyped-def]
    """A declaration of the person approved and applied as review does."""
    d = Declaration(unit_code=unit, kind=kind, id_number=MOVER, name="周转", status="approved",
                    fingerprint=f"{kind}-{decided_at}", payload=payload, decided_at=decided_at)
    s.add(d)
    s.flush()
    apply_effect(s, d, instance.rules.kinds[kind], decided_at)


def test_a_unit_left_twice_owes_each_of_its_periods_at_its_own_base(instance, db) -> None:  # type: ignore[no-untyped-def]
    """1001 from 202601 (paid to 202602), 1002 from 202604, 1001 again from 202606, 1002 from
    202608: each unit owes the unpaid months of both its periods, each at its base, and a
    person's rows add up to his computed arrears."""
    with db.session() as s:
        s.add(Person(id_number=MOVER, person_no="P0101", name="周转", unit_code="1001", status="1",
                     insurances="310", wage_base=5000, insured_from="202601", last_paid_month="202602",
                     paid_months={"310": "202602"}, arrears=0))
        s.flush()
        moves = [("1001", "202603", "1002", "202604", 6000), ("1002", "202605", "1001", "202606", 7000),
                 ("1001", "202607", "1002", "202608", 8000)]
        for i, (left, stop, joined, start, wage) in enumerate(moves):
            _approve(instance, s, "employee_stop", left, {"stop_after": stop}, datetime(2026, 1, 1, i, 0))
            _approve(instance, s, "employee_add", joined, {"change_month": start, "wage": wage,
                                                           "insurances": ["310"]}, datetime(2026, 1, 1, i, 30))
    with db.session() as s:
        rates = rates_of(instance.rules, s)
        periods = [(p.unit_code, p.insured_from, p.stopped_after, p.wage_base) for p in
                   s.scalars(select(ClosedPeriod).order_by(ClosedPeriod.id))]
        dues = {unit: unit_dues(instance.rules, s, unit, date(2026, 8, 15)) for unit in ("1001", "1002")}
    assert periods == [("1001", "202601", "202603", 5000), ("1002", "202604", "202605", 6000),
                       ("1001", "202606", "202607", 7000)]

    def owed(base: int, months: list[str]) -> Decimal:
        return _month_dues(rates, base, months)["310"]

    assert [(p.base, p.due_unpaid, p.total) for p in dues["1001"].persons] == [
        (5000, owed(5000, ["202603"]), 0), (7000, owed(7000, ["202606", "202607"]), 0)]
    assert dues["1001"].arrears_computed() == {MOVER: owed(5000, ["202603"]) + owed(7000, ["202606", "202607"])}
    assert [(x.period, x.total) for x in dues["1001"].lines] == [
        ("202603", owed(5000, ["202603"])), ("202606", owed(7000, ["202606"])), ("202607", owed(7000, ["202607"]))]
    # 1002: its current period (202608 on, at 8000) and its closed one (202604-202605, at 6000).
    assert [(p.base, p.due_unpaid, p.total) for p in dues["1002"].persons] == [
        (8000, owed(8000, ["202608"]), owed(8000, ["202608"])), (6000, owed(6000, ["202604", "202605"]), 0)]


def test_a_plain_stop_leaves_the_unit_owing_its_unpaid_months(instance, db) -> None:  # type: ignore[no-untyped-def]
    """Stopped and never insured elsewhere, the record stays the unit's: after the stop month
    its 应缴信息 still lists what the unit owes for the months before (it was dropped from the
    month after the stop, the transfer's loss without a transfer), and nothing once paid."""
    stopped_after = add_months(NOW, -1)
    with db.session() as s:
        s.add(Person(id_number=MOVER, person_no="P0101", name="周转", sex="1", unit_code="1001",
                     status="3", insurances="310,510", wage_base=6000, insured_from="202401",
                     stopped_after=stopped_after, last_paid_month=PAID, arrears=0))
        rates = rates_of(instance.rules, s)
        today = date.today()
        (p,) = unit_dues(instance.rules, s, "1001", today).persons
        owed = _month_dues(rates, 6000, months_between(add_months(PAID, 1), stopped_after))
        assert (p.id_number, p.total) == (MOVER, 0)                 # nothing due this month
        assert {x.insurance: x.due_unpaid for x in p.by_insurance} == owed
        assert p.arrears_computed == sum(owed.values())
        s.get(Person, MOVER).last_paid_month = stopped_after       # the centre loads it paid
        s.flush()
        assert unit_dues(instance.rules, s, "1001", today).persons == []
