"""The view's refresh bookkeeping (exchange.view.refresh): a burst of changes is one rewrite,
a unit that keeps changing is still rewritten, a unit being written is not handed out twice,
[view] is validated, and the Refresher writes on its pool, never on the caller's thread."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from exchange.config import load_settings
from exchange.errors import ConfigError
from exchange.view import refresh
from exchange.view.refresh import ALL, Refresher, ViewState


def test_a_burst_is_due_once_after_the_debounce() -> None:
    state = ViewState()
    for _ in range(50):
        state.changed(["1001"])
    state.changed(["1002"])
    assert state.take(debounce=60) == []                   # still settling
    assert sorted(state.take(debounce=0)) == ["1001", "1002"]
    assert state.take(debounce=0) == []                    # taken once


def test_a_unit_that_never_settles_is_still_due(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(refresh.time, "monotonic", lambda: clock[0])
    state = ViewState()
    for _ in range(2 * refresh.MAX_DELAY_PERIODS):  # a change every second, debounce 2 s
        state.changed(["1001"])
        assert state.take(debounce=2) == []
        clock[0] += 1
    state.changed(["1001"])
    assert state.take(debounce=2) == ["1001"]      # 10 s after its first change


def test_a_busy_unit_waits_and_every_unit_is_one_mark() -> None:
    state = ViewState()
    state.changed(["1001", "1002"])
    assert state.take(0, busy={"1001"}) == ["1002"]
    assert state.take(0) == ["1001"]
    state.changed(None)
    assert state.take(0) == [ALL]


def test_view_settings_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[view]\nresult_days = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[view\].result_days: must be positive"):
        load_settings(config)
    config.write_text("[view]\nworkers = 64\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[view\].workers: at most 32"):
        load_settings(config)
    config.write_text("[view]\ndebounce_seconds = 0.5\nresult_days = 7\n", encoding="utf-8")
    assert (load_settings(config).view.debounce_seconds, load_settings(config).view.result_days) == (0.5, 7)


def test_refresher_writes_on_its_pool_not_on_the_marking_thread(instance, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    threads: list[str] = []
    done = threading.Event()

    def fake_refresh(instance, db, unit):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        done.set()
        return []

    monkeypatch.setattr(refresh, "refresh_unit", fake_refresh)
    refresher = Refresher(instance, db)
    refresher.debounce = 0.5                # a burst under a busy CI machine stays one burst
    refresher.start()
    try:
        started = time.monotonic()
        for _ in range(20):
            instance.changed(["1001"])
        assert time.monotonic() - started < 0.5            # marking never waits for a rewrite
        assert done.wait(10)
        deadline = time.monotonic() + 5
        while not refresher.idle() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        refresher.stop()
    assert threads and all(t.startswith("view") for t in threads)
    assert threading.current_thread().name not in threads and len(threads) <= 2
