"""Keeping the unit's view current: which units changed, and rewriting their workbooks.

The stage functions that change declarations or records call `instance.changed(units)` (the
import, withdrawal, submission, decisions, master-data loads). `exchange serve` runs a
Refresher: a thread that waits [view].debounce_seconds after a unit's last change (a burst of
changes is one rewrite; a unit that keeps changing is rewritten at least every few debounce
periods), then hands the unit to a pool of [view].workers threads, never to the intake's
thread; a unit is never rewritten twice at once, so an older rewrite cannot land after a newer
one. Outside serve (`exchange process`, `jobs run`, …) the units marked are rewritten at the
end of the command (`flush`). Each workbook is written under a temp name and renamed.

WRITERS write a unit's books, SUB_WRITERS a sub-account's: `write(instance, session, unit)`
and `write(instance, session, unit, login)`, each returning the path written or None. The
待提交清单 (exchange.view.confirm) is one of them: where the region submits on the unit's word,
an import or a submission reaches it the same way, never on the intake's thread.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import select

from exchange.config import Instance
from exchange.schedule.registry import job
from exchange.store.db import Database
from exchange.store.models import Unit
from exchange.view import confirm, people, status
from exchange.view.scope import sub_accounts

log = logging.getLogger("exchange.view")

Writer = Callable[..., "Path | None"]


def prefilled(instance: Instance, s: Any, unit: str) -> Path | None:
    """The unit's pre-filled templates, where the staff they list changed (openpyxl is loaded
    here, not by the pipeline that marks the unit)."""
    from exchange.outputs.templates import refresh_prefilled

    return refresh_prefilled(instance, s, unit)


# confirm.write: the 待提交清单, where the region submits on the unit's word (None elsewhere).
WRITERS: tuple[Writer, ...] = (status.write, people.write, confirm.write, prefilled)
SUB_WRITERS: tuple[Writer, ...] = (status.write, people.write, confirm.write)
ALL = "*"                      # changed(None): every unit
MAX_DELAY_PERIODS = 5          # a unit changing without pause is rewritten at least this often
SUBMISSION_CACHE_SECONDS = 60


class ViewState:
    """The units marked changed (unit -> (first, last) mark time) and who is told of a mark."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dirty: dict[str, tuple[float, float]] = {}
        self.listener: Callable[[], None] | None = None
        self._submissions: tuple[float, list[tuple[str | None, datetime]]] | None = None

    def changed(self, units: Iterable[str] | None) -> None:
        now = time.monotonic()
        with self.lock:
            for unit in [ALL] if units is None else units:
                first = self.dirty.get(unit, (now, now))[0]
                self.dirty[unit] = (first, now)
            listener = self.listener
        if listener is not None:
            listener()

    def take(self, debounce: float = 0.0, busy: Iterable[str] = ()) -> list[str]:
        """The units due: unchanged for `debounce` seconds, or waiting too long; not `busy`."""
        now, held = time.monotonic(), set(busy)
        with self.lock:
            due = [u for u, (first, last) in self.dirty.items() if u not in held and (
                now - last >= debounce or now - first >= debounce * MAX_DELAY_PERIODS)]
            for u in due:
                del self.dirty[u]
        return due

    def wait_hint(self, debounce: float) -> float | None:
        """Seconds until the next unit is due; None when none is marked."""
        now = time.monotonic()
        with self.lock:
            if not self.dirty:
                return None
            return max(0.0, min(min(last + debounce, first + debounce * MAX_DELAY_PERIODS) - now
                                for first, last in self.dirty.values()))

    def submission_times(self, instance: Instance) -> "list[tuple[str | None, datetime]]":
        """confirm.submission_times, computed at most once a minute: a nightly refresh of
        10,000 units reads jobs/ once, not 10,000 times."""
        now = time.monotonic()
        cached = self._submissions
        if cached is None or now - cached[0] > SUBMISSION_CACHE_SECONDS:
            cached = self._submissions = (now, confirm.submission_times(instance))
        return cached[1]


def refresh_unit(instance: Instance, db: Database, unit: str) -> list[Path]:
    """Rewrite `unit`'s view and each of its sub-accounts' views, in one read transaction."""
    written: list[Path] = []
    with db.session() as s:
        for write in WRITERS:
            path = write(instance, s, unit)
            if path is not None:
                written.append(path)
        for login in sub_accounts(s, unit):
            for write in SUB_WRITERS:
                path = write(instance, s, unit, login)
                if path is not None:
                    written.append(path)
    return written


def expand(db: Database, units: Iterable[str]) -> list[str]:
    units = list(units)
    if ALL not in units:
        return units
    with db.session() as s:
        return sorted(s.scalars(select(Unit.code)))


def refresh_units(instance: Instance, db: Database, units: Iterable[str],
                  pool: ThreadPoolExecutor | None = None) -> list[Path]:
    """Rewrite the views of `units` (ALL: every unit), on `pool` when given; a unit that fails
    is logged and the others go on."""
    codes = expand(db, units)
    if pool is None:
        return [p for code in codes for p in _guarded(instance, db, code)]
    return [p for paths in pool.map(lambda code: _guarded(instance, db, code), codes) for p in paths]


def _guarded(instance: Instance, db: Database, unit: str) -> list[Path]:
    started = time.monotonic()
    try:
        written = refresh_unit(instance, db, unit)
    except Exception:
        # The unit's previous books stay in place (written atomically); its next change retries.
        log.exception("unit=%s file=-: could not rewrite the status workbooks", unit)
        return []
    log.info("unit=%s file=-: status workbooks rewritten (%d) in %.2fs", unit, len(written),
             time.monotonic() - started)
    return written


def flush(instance: Instance, db: Database) -> list[Path]:
    """Rewrite now the views of every unit marked changed (the end of a CLI command)."""
    if "view" not in instance.__dict__:        # nothing was marked: the state was never made
        return []
    return refresh_units(instance, db, instance.view.take())


class Refresher:
    """serve's thread that rewrites changed units' views, debounced, on a bounded pool."""

    def __init__(self, instance: Instance, db: Database) -> None:
        self.instance, self.db = instance, db
        settings = instance.settings.view
        self.debounce = settings.debounce_seconds
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="view")
        self.state = instance.view
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.busy: set[str] = set()
        self.busy_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="view-refresher", daemon=True)
        self.rewrites = 0

    def start(self) -> None:
        self.state.listener = self.wake.set
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.state.listener = None
        self.stopping.set()
        self.wake.set()
        if self.thread.is_alive():          # stop() also follows a start that failed early
            self.thread.join(timeout)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def idle(self) -> bool:
        """Nothing marked and nothing being written (tests await this)."""
        with self.busy_lock:
            return not self.busy and self.state.wait_hint(self.debounce) is None

    def _run(self) -> None:
        while not self.stopping.is_set():
            hint = self.state.wait_hint(self.debounce)
            self.wake.wait(timeout=hint if hint is not None else 60.0)
            self.wake.clear()
            with self.busy_lock:
                busy = set(self.busy)
            due = self.state.take(self.debounce, busy)
            try:
                codes = expand(self.db, due)
            except Exception:
                log.exception("unit=- file=-: could not list the units to rewrite")
                self.state.changed(due)
                self.stopping.wait(self.debounce or 1.0)
                continue
            for code in codes:
                with self.busy_lock:
                    if code in self.busy:          # marked again while ALL was expanded
                        self.state.changed([code])
                        continue
                    self.busy.add(code)
                self.pool.submit(self._one, code)

    def _one(self, unit: str) -> None:
        try:
            _guarded(self.instance, self.db, unit)
            self.rewrites += 1
        finally:
            with self.busy_lock:
                self.busy.discard(unit)
            self.wake.set()                         # it may have been marked meanwhile


@job("refresh_status")
def refresh_status_job(instance: Instance, db: Database, unit: str | None = None,
                       **_: Any) -> str:
    """Rewrite the status and people workbooks of every unit (or one): the 审核结果 window
    moves with the days even when nothing changes."""
    written = refresh_units(instance, db, [unit] if unit else [ALL])
    return f"{len(written)} status workbook(s) rewritten"


__all__ = ["ViewState", "Refresher", "WRITERS", "SUB_WRITERS", "refresh_unit", "refresh_units",
           "flush", "refresh_status_job", "ALL"]
