"""Two nodes importing at the same moment: what the database guarantees, and what the receipt says.

Files of one unit are judged one at a time across nodes (tests/flows/test_claims.py); files of
two units may be judged at once, and when both declare the same new person the partial unique
index uq_declarations_open_person lets only one of them import it.
"""
from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from exchange.intake.scan import process_inbox
from exchange.results import FileResult
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Declaration
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

TITLE = "职工批量新增申报填写表"


def _race(instance, db, monkeypatch) -> list[FileResult]:  # type: ignore[no-untyped-def]
    person = make_id("19791212", "321")
    for unit in ("1001", "1002"):
        make_workbook(instance.unit_inbox(unit) / f"{unit}.xlsx", ADD_HEADERS,
                      [add_row(person, "周同")], title=TITLE)
    # Both nodes have judged their rows (the person has no open declaration yet) before either
    # inserts: the moment two nodes race for one person.
    both_judged = threading.Barrier(2)
    original = Q.add_declarations

    waited: set[int] = set()

    def add_after_both_judged(s: Any, rows: list[dict[str, Any]]) -> list[int]:
        if threading.get_ident() not in waited:      # only the first judging of each node races
            waited.add(threading.get_ident())
            both_judged.wait(30)
        return original(s, rows)

    monkeypatch.setattr(Q, "add_declarations", add_after_both_judged)
    results: list[FileResult] = []

    def node(unit: str) -> None:
        own = Database(instance.database_url)
        try:
            results.extend(process_inbox(instance, own, unit=unit))
        finally:
            own.dispose()

    threads = [threading.Thread(target=node, args=(u,)) for u in ("1001", "1002")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_same_person_declared_by_two_units_at_once_is_imported_once(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    results = _race(instance, db, monkeypatch)
    assert sorted(r.unit for r in results) == ["1001", "1002"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1
    assert sorted(r.counts.accepted for r in results) == [0, 1]
    assert all(len(list(instance.unit_outbox(u, "receipts").glob("*.json"))) == 1
               for u in ("1001", "1002"))


def test_the_unit_that_loses_the_race_is_told_person_pending(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    results = _race(instance, db, monkeypatch)
    loser = next(r for r in results if r.counts.accepted == 0)
    receipt = json.loads(next(instance.unit_outbox(loser.unit, "receipts").glob("*.json"))
                         .read_text(encoding="utf-8"))
    assert receipt["status"] == "rejected"
    assert [e["code"] for r in receipt["rows"] for e in r["errors"]] == ["person.pending"]
