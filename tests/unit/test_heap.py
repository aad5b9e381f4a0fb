"""exchange.heap: the collector set aside for a large file, and restored after."""
from __future__ import annotations

import gc

from exchange.heap import many_objects, tidy


def test_nested_uses_share_one_setting_and_the_last_restores_it() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    with many_objects():
        assert not gc.isenabled() and gc.get_freeze_count() > before
        with many_objects():                  # another worker's large file
            assert not gc.isenabled()
        assert not gc.isenabled()             # the first is still at work
        tidy()
    assert gc.isenabled() and gc.get_freeze_count() == before


def test_cycles_made_between_chunks_are_collected_by_tidy() -> None:
    class Node:
        pass

    with many_objects():
        a, b = Node(), Node()
        a.other, b.other = b, a               # type: ignore[attr-defined]
        del a, b
        assert any(type(o) is Node for o in gc.get_objects(generation=0))
        tidy()
        assert not any(type(o) is Node for o in gc.get_objects())


def test_the_collector_is_restored_when_the_work_fails() -> None:
    before = gc.get_freeze_count()
    try:
        with many_objects():
            raise ValueError("a refused file")
    except ValueError:
        pass
    assert gc.isenabled() and gc.get_freeze_count() == before
