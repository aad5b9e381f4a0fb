"""Bulk writes (executemany on SQLite, COPY on PostgreSQL) store rows exactly as Core does."""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, Text, cast as sql_cast, insert, select

from exchange.store import bulk
from exchange.store.models import Person
from tests.conftest import make_id

PERSONS = cast(Table, Person.__table__)
NAMES = ["id_number", "name", "person_no", "unit_code", "class_code", "paid_months", "extra",
         "arrears", "wage_base", "updated_at"]
AWKWARD = ["tab\there", "line\nbreak\r\n", "back\\slash", "\\N", "", "引号\"'", None]
AT = datetime(2026, 11, 23, 8, 30)


def _values(i: int, text: Any) -> dict[str, Any]:
    k = i % 100                      # rows 0.. and 100.. hold the same values
    return {"id_number": make_id("19800101", f"{i:03d}"), "name": "甲", "person_no": text,
            "unit_code": text, "class_code": "\\." if k % 2 else None,
            "paid_months": {"310": "202610", "k\t\\\"": text} if k % 3 else None,
            "extra": {"note": text, "list": [1, None, "\n"]}, "arrears": 12.5 if k % 2 else 0,
            "wage_base": k * 1000 or None, "updated_at": AT}


def _stored(db, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    """The rows as the database holds them (JSON columns as their text), in the given order,
    without their IDs."""
    columns = [sql_cast(c, Text) if c.name in ("paid_months", "extra") else c
               for c in (PERSONS.c[k] for k in NAMES)]
    with db.session() as s:
        by_id = {r[0]: tuple(r[1:]) for r in s.execute(select(*columns))}
    return [by_id[r["id_number"]] for r in rows]


def test_insert_rows_stores_what_core_stores(db) -> None:  # type: ignore[no-untyped-def]
    core = [_values(i, text) for i, text in enumerate(AWKWARD)]
    fast = [_values(i, text) for i, text in enumerate(AWKWARD, start=100)]
    with db.session() as s:
        s.execute(insert(PERSONS), core)
        bulk.insert_rows(s, PERSONS, NAMES, [tuple(r[k] for k in NAMES) for r in fast])
    assert _stored(db, fast) == _stored(db, core)
    with db.session() as s:
        people = {p.id_number: p for p in s.scalars(select(Person))}
    for r in fast:
        p = people[r["id_number"]]
        assert (p.person_no, p.unit_code, p.class_code, p.paid_months, p.extra, p.updated_at) == (
            r["person_no"], r["unit_code"], r["class_code"], r["paid_months"], r["extra"], AT)


def test_update_rows_sets_the_named_columns_of_each_key(db) -> None:  # type: ignore[no-untyped-def]
    rows = [_values(i, "old") for i in range(len(AWKWARD))]
    with db.session() as s:
        s.execute(insert(PERSONS), rows)
    later = datetime(2026, 12, 1)
    names = ["person_no", "paid_months", "wage_base", "updated_at"]
    with db.session() as s:
        bulk.update_rows(s, PERSONS, "id_number", names, [
            (text, {"310": text} if text else None, None, later, r["id_number"])
            for text, r in zip(AWKWARD, rows)])
    with db.session() as s:
        people = {p.id_number: p for p in s.scalars(select(Person))}
    for text, r in zip(AWKWARD, rows):
        p = people[r["id_number"]]
        assert (p.person_no, p.paid_months, p.wage_base, p.updated_at) == (
            text, {"310": text} if text else None, None, later)
        assert (p.unit_code, p.name, p.extra) == ("old", r["name"], r["extra"])   # untouched


def test_overlapped_update_is_done_when_the_block_ends(db) -> None:  # type: ignore[no-untyped-def]
    rows = [_values(i, "old") for i in range(3)]
    with db.session() as s:
        s.execute(insert(PERSONS), rows)
    with db.session() as s, bulk.overlapped(s):
        bulk.update_rows(s, PERSONS, "id_number", ["unit_code"], [("new", rows[0]["id_number"])])
        bulk.update_rows(s, PERSONS, "id_number", ["unit_code"], [("next", rows[1]["id_number"])])
    with db.session() as s:
        assert sorted(s.scalars(select(Person.unit_code))) == ["new", "next", "old"]


def test_failed_overlapped_update_rolls_back_and_frees_the_connection(db) -> None:  # type: ignore[no-untyped-def]
    import psycopg
    from sqlalchemy.exc import IntegrityError

    rows = [_values(i, "old") for i in range(2)]
    with db.session() as s:
        s.execute(insert(PERSONS), rows)
    with pytest.raises((IntegrityError, psycopg.errors.IntegrityError)):
        with db.session() as s, bulk.overlapped(s):
            bulk.update_rows(s, PERSONS, "id_number", ["unit_code"], [("new", rows[0]["id_number"])])
            bulk.update_rows(s, PERSONS, "id_number", ["name"], [(None, rows[1]["id_number"])])
    with pytest.raises(RuntimeError):
        with db.session() as s, bulk.overlapped(s):
            bulk.update_rows(s, PERSONS, "id_number", ["unit_code"], [("new", rows[0]["id_number"])])
            raise RuntimeError("the caller stops while the update runs")
    for _ in range(3):       # every pooled connection is back to normal
        with db.session() as s:
            assert sorted(s.scalars(select(Person.unit_code))) == ["old", "old"]
