"""What judging a large file makes per chunk is freed by reference counting, not left in
reference cycles: the processes that judge files run the cyclic collector seldom
(exchange.config.COLLECTOR_THRESHOLDS), so a cycle holding a chunk's data stays for a good part
of the file (issue 19: a 500,000-row file's peak memory)."""
from __future__ import annotations

import gc
from typing import Any, Callable

from exchange.checks.columnar import _compile
from exchange.store import queries as Q
from exchange.store.db import Database
from tests.conftest import make_id
from tests.unit.test_columnar import RULES, TODAY


def cyclic_garbage(make: Callable[[], Any]) -> tuple[list[Any], Any]:
    """The objects `make()` left in reference cycles (unreachable, found by the collector), and
    what it returned."""
    gc.collect()
    gc.disable()
    try:
        made = make()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return list(gc.garbage), made
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def long_texts(objects: list[Any], longer_than: int) -> list[str]:
    """The strings longer than `longer_than` the objects refer to (a dict's keys too: the
    collector does not list the string keys of a dict among its referents)."""
    return [x for o in objects
            for x in ([*o.keys(), *o.values()] if isinstance(o, dict)
                      else gc.get_referents(o))
            if isinstance(x, str) and len(x) > longer_than]


def test_record_lookups_keep_no_cycle_holding_their_values(db: Database,
                                                           persons: dict[str, str]) -> None:
    ids = [make_id("19800101", f"{i:03d}") for i in range(1000)] + list(persons.values())

    def look_up() -> dict[str, Any]:
        with db.session() as s:
            Q.open_declarations(s, ids)
            return Q.persons(s, ids)

    look_up()                                 # the statements compiled and cached once
    garbage, found = cyclic_garbage(look_up)
    assert set(found) == set(persons.values())
    assert long_texts(garbage, 5000) == []    # the ids (~22 KB as JSON) are in no cycle


def test_compiling_a_kind_keeps_no_cycle_holding_its_expressions() -> None:
    columns = RULES.kinds["employee_add"].columns
    garbage, plans = cyclic_garbage(lambda: [_compile(j, col, RULES.tables, TODAY)
                                             for j, col in enumerate(columns)])
    assert len(plans) == len(columns) and all(plan.outputs for plan in plans)
    assert long_texts(garbage, 1000) == []    # no serialised subexpression in a cycle


def test_a_cycle_holding_a_long_text_is_seen() -> None:
    def make() -> None:
        holder: dict[str, Any] = {"text": "x" * 6000, "y" * 7000: 1}
        holder["self"] = holder

    garbage, _ = cyclic_garbage(make)
    assert sorted(long_texts(garbage, 5000)) == ["x" * 6000, "y" * 7000]
