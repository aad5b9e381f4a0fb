"""Issue 17's last two points, through the database: a wage (base) change declared for a month
splits the amounts at that month (the old base before it, kept in Declaration.old_values by the
approval's effect), and arrears are computed per insurance from payments that name one, with
payments that name none matched to the month's dues in rates.toml's order of insurances.

The property test draws rate tables, persons (insurances, bases, months, paid-to months per
insurance), approved base changes and payments, writes them as the product does (the `wage`
effect of review/effects.py changes the record), and holds `unit_dues` to a person-by-person
Decimal computation of the rules the README states; every sum equals the sum of its parts."""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.amounts.dues import add_months, employee_month, months_between
from exchange.amounts.rates import Rates
from exchange.amounts.register import unit_dues
from exchange.review.effects import apply_effect
from exchange.store.models import Declaration, Payment, Person
from tests.unit.test_amounts import MONTH, base_in_force, rate_tables

INSURANCES = ["310", "320", "330", "510"]
ZERO = Decimal(0)
PAYMENT = st.tuples(MONTH, st.sampled_from(["", "", *INSURANCES]),
                    st.decimals(min_value=0, max_value=3000, places=2))
PERSON = st.fixed_dictionaries({
    "insurances": st.lists(st.sampled_from(INSURANCES), min_size=1, unique=True),
    "base": st.one_of(st.none(), st.integers(min_value=1, max_value=40000)),
    "insured_from": st.one_of(st.none(), MONTH), "stopped_after": st.one_of(st.none(), MONTH),
    "status": st.sampled_from(["1", "1", "3"]), "last_paid": st.one_of(st.none(), MONTH),
    "paid_months": st.dictionaries(st.sampled_from(INSURANCES), MONTH, max_size=2),
    "changes": st.lists(st.tuples(MONTH, st.integers(min_value=1, max_value=40000)), max_size=3),
    "payments": st.lists(PAYMENT, max_size=4)})
COUNTER = itertools.count()


def approve_base_change(instance, s, number: str, start: str, wage: int,  # type: ignore[no-untyped-def]
                        decided_at: datetime, unit: str = "1001") -> Declaration:
    """A 缴费基数申报 approved and applied as review does (the old base kept in old_values)."""
    d = Declaration(unit_code=unit, kind="wage", id_number=number, name="职工", status="approved",
                    fingerprint=f"{number}-{decided_at}", payload={"start_month": start, "wage": wage},
                    decided_at=decided_at)
    s.add(d)
    s.flush()
    apply_effect(s, d, instance.rules.kinds["wage"], decided_at)
    return d


def _expected(rates: Rates, p: dict, month: str) -> tuple[dict[str, tuple], bool]:
    """Per insurance (due this month, paid-to, due unpaid, paid), by the README's rules, and
    whether the person is listed at all."""
    first = p["insured_from"] or "000000"
    last = p["stopped_after"] or ("999912" if p["status"] == "1" else "000000")
    olds = [p["base"], *(w for _, w in p["changes"][:-1])]
    changes = [(s, w, old) for (s, w), old in zip(p["changes"], olds)]
    record = p["changes"][-1][1] if p["changes"] else p["base"]

    def due(ins: str, m: str) -> Decimal:
        base = base_in_force(record, changes, m)
        d = employee_month(rates, ins, base, m) if base and first <= m <= last else None
        return d.total if d else ZERO

    owned = [i for i in rates.insurances if i in p["insurances"]]
    out: dict[str, list] = {}
    window: dict[str, tuple[str, bool]] = {}
    for ins in owned:
        paid_to = p["paid_months"].get(ins) or p["last_paid"]
        start = add_months(paid_to, 1) if paid_to else (p["insured_from"] or month)
        since = max(start, add_months(month, 1 - rates.arrears_months), p["insured_from"] or "000000")
        window[ins] = (since, since <= min(last, month))
        out[ins] = [due(ins, month), paid_to,
                    sum((due(ins, m) for m in months_between(since, month)), ZERO), ZERO]
    for m, ins, amount in p["payments"]:
        if ins:
            if ins in window and window[ins][1] and window[ins][0] <= m <= month:
                out[ins][3] += amount
            continue
        open_ = [i for i in owned if window[i][1] and window[i][0] <= m <= month]
        left = amount
        for i in open_:
            take = min(max(left, ZERO), due(i, m))
            out[i][3] += take
            left -= take
        if open_ and left > 0:
            out[open_[0]][3] += left
    # Listed while insured in the month, with payments loaded, or still owing for the window's
    # months after a stop (a stop ends the insurance, not what the unit owes).
    owes = sum(v[2] for v in out.values()) != sum(v[3] for v in out.values())
    listed = first <= month <= last or bool(p["payments"]) or (last != "000000" and owes)
    return {k: tuple(v) for k, v in out.items()}, listed


def test_unit_dues_split_bases_and_match_payments_per_insurance(instance, db) -> None:  # type: ignore[no-untyped-def]
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(rates=rate_tables(), people=st.lists(PERSON, min_size=1, max_size=6), report=MONTH)
    def check(rates: Rates, people: list[dict], report: str) -> None:
        n = next(COUNTER)
        unit = f"T{n:05d}"
        ids = [f"{n:06d}{i:012d}" for i in range(len(people))]
        decided = datetime(2026, 1, 1)
        with db.session() as s:
            for number, p in zip(ids, people):
                s.add(Person(id_number=number, person_no=number[-4:], name="职工", unit_code=unit,
                             status=p["status"], insurances=",".join(p["insurances"]),
                             wage_base=p["base"], insured_from=p["insured_from"],
                             stopped_after=p["stopped_after"], last_paid_month=p["last_paid"],
                             paid_months=p["paid_months"] or None, arrears=0))
                payments = {(m, ins): a for m, ins, a in p["payments"]}      # one row a key
                p["payments"] = [(m, ins, a) for (m, ins), a in payments.items()]
                s.add_all(Payment(id_number=number, month=m, insurance=ins, amount=a)
                          for (m, ins), a in payments.items())
            s.flush()
            for number, p in zip(ids, people):
                for start, wage in p["changes"]:
                    decided += timedelta(minutes=1)
                    approve_base_change(instance, s, number, start, wage, decided, unit)
        month = report
        as_of = date(int(month[:4]), int(month[4:]), 15)
        with db.session() as s:
            dues = unit_dues(replace(instance.rules, rates=rates), s, unit, as_of)
        got = {p.id_number: p for p in dues.persons}
        for number, p in zip(ids, people):
            expected, listed = _expected(rates, p, month)
            assert (number in got) == listed
            if not listed:
                continue
            mine = got[number]
            assert {x.insurance: (x.due, x.paid_to, x.due_unpaid, x.paid_unpaid)
                    for x in mine.by_insurance} == expected
            # The person's figures are the sums of the insurances' printed ones.
            assert mine.total == sum((x.due for x in mine.by_insurance), ZERO)
            assert mine.arrears_computed == sum((x.arrears_computed for x in mine.by_insurance), ZERO)
            assert mine.due_unpaid == sum((x.due_unpaid for x in mine.by_insurance), ZERO)
        # 单位应缴信息's lines add up to the persons' dues of the unpaid months.
        assert sum((x.total for x in dues.lines), ZERO) == sum((p.due_unpaid for p in dues.persons), ZERO)
        assert dues.arrears_computed() == {p.id_number: p.arrears_computed for p in dues.persons
                                           if p.arrears_computed}

    check()


def test_a_declared_raise_splits_the_dues_at_its_month(instance, db) -> None:  # type: ignore[no-untyped-def]
    """4,000 until June, 6,000 from July (a 缴费基数申报 approved in August): the year's dues are
    six months of each, the report shows the base in force, and arrears from the paid-to month
    use each month's base; a payment naming 生育保险 counts for it alone, one naming nothing
    fills the month's insurances in order."""
    number = "320602198001011234"
    with db.session() as s:
        s.add(Person(id_number=number, person_no="P1", name="王五", unit_code="1001", status="1",
                     insurances="310,510", wage_base=4000, insured_from="202001",
                     last_paid_month="202605", arrears=0))
        s.add_all([Payment(id_number=number, month="202606", insurance="510", amount=Decimal("32")),
                   Payment(id_number=number, month="202607", insurance="", amount=Decimal("700"))])
        d = approve_base_change(instance, s, number, "202607", 6000, datetime(2026, 8, 3))
    with db.session() as s:
        stored = s.get(Declaration, d.serial)
        assert stored.old_values["wage_base"] == 4000 and s.get(Person, number).wage_base == 6000
        june = unit_dues(instance.rules, s, "1001", date(2026, 6, 30))
        july = unit_dues(instance.rules, s, "1001", date(2026, 7, 31))
    # 310: 8% + 2%, 510: 0.8% (unit). June at 4,000: 400 + 32; July at 6,000: 600 + 48.
    (p,) = june.persons
    assert (p.base, p.total) == (4000, Decimal("432.00"))
    assert {x.insurance: x.arrears_computed for x in p.by_insurance} == {
        "310": Decimal("400.00"), "510": Decimal("0.00")}                 # June's 510 paid
    (p,) = july.persons
    assert (p.base, p.total) == (6000, Decimal("648.00"))
    by = {x.insurance: x for x in p.by_insurance}
    assert by["310"].due_unpaid == Decimal("1000.00") and by["510"].due_unpaid == Decimal("80.00")
    # July's 700 with no insurance: 600 to 310 (first in rates.toml), 48 to 510, 52 over -> 310.
    assert by["310"].paid_unpaid == Decimal("652.00") and by["510"].paid_unpaid == Decimal("80.00")
    assert p.arrears_computed == Decimal("348.00") == by["310"].arrears_computed + by["510"].arrears_computed
    assert [(x.period, x.insurance, x.total) for x in july.lines] == [
        ("202606", "310", Decimal("400.00")), ("202606", "510", Decimal("32.00")),
        ("202607", "310", Decimal("600.00")), ("202607", "510", Decimal("48.00"))]
