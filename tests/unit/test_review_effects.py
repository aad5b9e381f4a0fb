"""Effects of approval, by the kind's `effect`: what changes on the record and what is kept."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from exchange.review.effects import apply_effect
from exchange.store.models import Declaration, Person
from tests.conftest import make_id

WHEN = datetime(2026, 11, 22, 10, 0)
STUDENT = make_id("20120506", "123", "350302")
CLASSMATE = make_id("20120607", "234", "350302")


def _decl(kind: str, payload: dict, id_number: str | None = None) -> Declaration:
    return Declaration(unit_code="1001", kind=kind, id_number=id_number, name=payload.get("name"),
                       status="approved", fingerprint="x", payload=payload)


def test_resident_insure_creates_the_person_in_class_and_household(instance, db):  # type: ignore[no-untyped-def]
    head = make_id("19800101", "111", "350302")
    with db.session() as s:
        d = _decl("resident_add", {"name": "林小明", "household_head": head, "category": "12",
                                   "class_code": "C2026-1", "enrolment": "new"}, STUDENT)
        apply_effect(s, d, instance.rules.kinds.get("resident_add"), WHEN)
        p = s.get(Person, STUDENT)
        assert (p.status, p.unit_code, p.class_code, p.household_head, p.insured_from) == \
            ("1", "1001", "C2026-1", head, "202611")
        assert p.sex == "1" and p.birth_date == "2012-05-06" and p.extra["category"] == "12"


def test_class_stop_suspends_every_member_and_keeps_their_old_state(instance, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        for number in (STUDENT, CLASSMATE):
            s.add(Person(id_number=number, name="学生", unit_code="1001", status="1", class_code="C1",
                         arrears=0))
    with db.session() as s:
        d = _decl("resident_suspend", {"class_stop": True, "class_code": "C1",
                                       "members": [STUDENT, CLASSMATE], "stop_after": "202611"})
        apply_effect(s, d, instance.rules.kinds.get("resident_suspend"), WHEN)
        assert {(p.status, p.stopped_after) for p in (s.get(Person, STUDENT), s.get(Person, CLASSMATE))} \
            == {("2", "202611")}
        assert d.old_values == {"status": {STUDENT: "1", CLASSMATE: "1"}}


def test_class_transfer_moves_the_student(instance, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.add(Person(id_number=STUDENT, name="林小明", unit_code="1001", status="1", class_code="C1",
                     arrears=0))
    with db.session() as s:
        d = _decl("class_transfer", {"name": "林小明", "target_class": "C2"}, STUDENT)
        apply_effect(s, d, instance.rules.kinds.get("class_transfer"), WHEN)
        assert s.get(Person, STUDENT).class_code == "C2" and d.old_values == {"class_code": "C1"}


def test_an_effect_nobody_registered_records_the_approval_only(instance, db, caplog):  # type: ignore[no-untyped-def]
    kind = replace(instance.rules.kinds["wage"], effect="no_such_effect")
    with db.session() as s:
        d = _decl("wage", {"wage": 9000}, make_id())
        apply_effect(s, d, kind, WHEN)
        assert d.old_values is None
    assert "no effect 'no_such_effect' registered" in caplog.text


def test_class_stop_leaves_a_member_moved_to_another_unit_as_he_is(instance, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.add(Person(id_number=STUDENT, name="学生", unit_code="1001", status="1", class_code="C1", arrears=0))
        s.add(Person(id_number=CLASSMATE, name="学生", unit_code="2002", status="1", class_code="C9", arrears=0))
    with db.session() as s:
        d = _decl("resident_suspend", {"class_stop": True, "class_code": "C1",
                                       "members": [STUDENT, CLASSMATE], "stop_after": "202611"})
        apply_effect(s, d, instance.rules.kinds.get("resident_suspend"), WHEN)
        assert s.get(Person, STUDENT).status == "2"
        assert (s.get(Person, CLASSMATE).status, s.get(Person, CLASSMATE).stopped_after) == ("1", None)
        assert d.old_values == {"status": {STUDENT: "1"}}


def test_insuring_a_person_on_file_again_keeps_the_period_it_replaces(instance, db):  # type: ignore[no-untyped-def]
    """A record still insured at 1002 (a master-data person, never stopped) added at 1001 from
    202612: 1002's period is kept to 202611, with the base, insurances and paid-to months then;
    a new person, or one on file insured nowhere, has no period to keep."""
    from sqlalchemy import select

    from exchange.store.models import ClosedPeriod

    moved, fresh, on_file = make_id("19800101", "015"), make_id("19800101", "023"), make_id("19800101", "031")
    with db.session() as s:
        s.add(Person(id_number=moved, name="调入", unit_code="1002", status="1", insurances="310",
                     insured_from="202501", wage_base=4000, last_paid_month="202609",
                     paid_months={"310": "202609"}, arrears=0))
        s.add(Person(id_number=on_file, name="在册", arrears=0))
    with db.session() as s:
        serials = {}
        for number in (moved, fresh, on_file):
            d = _decl("employee_add", {"name": "职工", "change_month": "202612", "wage": 6000,
                                       "insurances": ["310", "510"]}, number)
            s.add(d)
            s.flush()
            apply_effect(s, d, instance.rules.kinds["employee_add"], WHEN)
            serials[number] = d.serial
        [kept] = s.scalars(select(ClosedPeriod)).all()
        assert (kept.id_number, kept.unit_code, kept.insured_from, kept.stopped_after, kept.wage_base,
                kept.insurances, kept.last_paid_month, kept.paid_months, kept.serial) == (
            moved, "1002", "202501", "202611", 4000, "310", "202609", {"310": "202609"}, serials[moved])
        p = s.get(Person, moved)
        assert (p.unit_code, p.insured_from, p.wage_base, p.insurances) == ("1001", "202612", 6000, "310,510")
