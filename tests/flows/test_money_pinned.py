"""Amounts pinned to the fen on a small register, through the database: figures worked out by
hand from the manuals' formulas (base × rate, each part rounded half up to the fen; a
resident's year = contribution − subsidies), not by the code under test.

Unit 1001, report of 2026-11-20 (month 202611, residents' year 2026). Rates: the shipped
rates.toml (310: 8 % unit + 2 % person; 330: 10.00 a month from the person; 510: 0.8 % unit)
with a 310 rate loaded as master data from 202607: 7.5 % unit + 2.5 % person.

A, employee (310,510), paid to 202603, base 4,321 until a 缴费基数申报 to 5,333 from 202605:
  202604 (4,321; 8 %/2 %)   310: 345.68 + 86.42 = 432.10    510: 34.568 -> 34.57
  202605-06 (5,333; 8 %/2 %)  310: 426.64 + 106.66 = 533.30  510: 42.664 -> 42.66
  202607-11 (5,333; 7.5 %/2.5 %) 310: 399.975 -> 399.98 + 133.325 -> 133.33 (half up, not
                                 to even) = 533.31        510: 42.66
  due unpaid 310: 432.10 + 2 × 533.30 + 5 × 533.31 = 4,165.25; 510: 34.57 + 7 × 42.66 = 333.19
  paid: 202604, no insurance, 500.00: 432.10 to 310, 34.57 to 510, 33.33 left over to 310;
        202607 naming 510: 42.66; 202610 naming 310: 100.00
        -> 310: 565.43, 510: 77.23; computed arrears 3,599.82 + 255.96 = 3,855.78
  this month: person 133.33, unit 399.98 + 42.66 = 442.64
B, employee (310,330), base 3,000, insured from 202609, never paid:
  202609-11: 310: 225.00 + 75.00; 330: 10.00 (the person's)
  due unpaid 900.00 + 30.00; paid 202609 naming 330: 10.00 -> arrears 920.00
  this month: person 75.00 + 10.00 = 85.00, unit 225.00
C, resident, 低保 (31) with 计生补助, paid to 202512: 2026: 400 − 200 − 50 = 150.00;
  paid 202603 100.00 -> arrears 50.00
D, resident, 学生 (11), paid to 202412: 2025: 400.00, 2026: 400.00 -> arrears 800.00
E, resident, 特困 (32), insured from 202601: 400 − 400 = 0.00
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from exchange.amounts.register import totals_by_unit_type, unit_dues
from exchange.store.models import LoadedRate, Payment, Person
from tests.conftest import make_id
from tests.flows.test_money_split import approve_base_change

A, B, C, D, E = (make_id("19800101", "111"), make_id("19900202", "222"), make_id("19600303", "333"),
                 make_id("20100404", "444"), make_id("19500505", "555"))


def _register(instance, db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.add(LoadedRate(scheme="employee", code="310", start="202607", unit_rate=Decimal("0.075"),
                         person_rate=Decimal("0.025"), unit_amount=0, person_amount=0, amount=0))

        def person(number: str, name: str, insurances: str, insured_from: str, paid_to: str | None,
                   **more: object) -> Person:
            return Person(id_number=number, person_no=name, name=name, unit_code="1001", status="1",
                          insurances=insurances, insured_from=insured_from, last_paid_month=paid_to,
                          arrears=0, **more)

        s.add_all([
            person(A, "A", "310,510", "202001", "202603", wage_base=4321),
            person(B, "B", "310,330", "202609", None, wage_base=3000),
            person(C, "C", "390", "202401", "202512", extra={"category": "31", "family_planning": "1"}),
            person(D, "D", "390", "202401", "202412", extra={"category": "11", "family_planning": "0"}),
            person(E, "E", "390", "202601", None, extra={"category": "32"}),
            Payment(id_number=A, month="202604", insurance="", amount=Decimal("500.00")),
            Payment(id_number=A, month="202607", insurance="510", amount=Decimal("42.66")),
            Payment(id_number=A, month="202610", insurance="310", amount=Decimal("100.00")),
            Payment(id_number=B, month="202609", insurance="330", amount=Decimal("10.00")),
            Payment(id_number=C, month="202603", insurance="", amount=Decimal("100.00"))])
        s.flush()
        approve_base_change(instance, s, A, "202605", 5333, datetime(2026, 6, 10))


def test_a_small_register_to_the_fen(instance, db) -> None:  # type: ignore[no-untyped-def]
    _register(instance, db)
    with db.session() as s:
        dues = unit_dues(instance.rules, s, "1001", date(2026, 11, 20))
        totals = totals_by_unit_type(instance.rules, s, "202611")
    d = Decimal
    got = {p.id_number: (p.base, p.person, p.unit, p.due_unpaid, p.paid_unpaid, p.arrears_computed)
           for p in dues.persons}
    assert got == {
        A: (5333, d("133.33"), d("442.64"), d("4498.44"), d("642.66"), d("3855.78")),
        B: (3000, d("85.00"), d("225.00"), d("930.00"), d("10.00"), d("920.00")),
        C: (None, d("150.00"), d("0.00"), d("150.00"), d("100.00"), d("50.00")),
        D: (None, d("400.00"), d("0.00"), d("800.00"), d("0.00"), d("800.00")),
        E: (None, d("0.00"), d("0.00"), d("0.00"), d("0.00"), d("0.00"))}
    by = {(p.id_number, x.insurance): (x.due, x.due_unpaid, x.paid_unpaid)
          for p in dues.persons for x in p.by_insurance}
    assert by[A, "310"] == (d("533.31"), d("4165.25"), d("565.43"))
    assert by[A, "510"] == (d("42.66"), d("333.19"), d("77.23"))
    assert by[B, "330"] == (d("10.00"), d("30.00"), d("10.00"))
    lines = {(x.period, x.insurance): (x.count, x.person, x.unit) for x in dues.lines}
    assert lines["202604", "310"] == (1, d("86.42"), d("345.68"))
    assert lines["202606", "510"] == (1, d("0.00"), d("42.66"))
    assert lines["202611", "310"] == (2, d("208.33"), d("624.98"))
    assert lines["2025", "11"] == (1, d("400.00"), d("0.00"))
    assert lines["2026", "31"] == (1, d("150.00"), d("0.00"))
    assert sum((x.total for x in dues.lines), d(0)) == d("6378.44")
    assert sum((t.month_due for t in totals), d(0)) == d("575.97") + d("310.00")
    assert sum((t.year_due for t in totals), d(0)) == d("550.00")
