"""The service in-process: the scheduled rescan goes through the intake worker's queue."""
from __future__ import annotations

import errno
import os
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from exchange.schedule.spec import load_jobs
from exchange.serve import Service
from exchange.store.models import JobRun
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.serving import wait_until


def _no_events(service: Service) -> None:
    service.watcher.start = lambda: None      # type: ignore[method-assign]


def _watch_limit_reached(service: Service) -> None:
    """inotify's watches are per user (8,192 on older kernels) and one per unit folder."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")
    service.watcher._observer.schedule = refuse  # type: ignore[method-assign]


@pytest.mark.parametrize("unwatched", [_no_events, _watch_limit_reached],
                         ids=["no-events", "watch-limit"])
def test_scheduled_rescan_runs_on_the_worker_and_is_recorded(instance, db, unwatched, caplog) -> None:  # type: ignore[no-untyped-def]
    """No events (only the rescan can find the file), or none to be had: a service whose
    inboxes cannot be watched still starts, says why, and takes files at each rescan."""
    rescan = next(s for s in load_jobs(instance) if s.id == "rescan")
    every_second = replace(rescan, every=timedelta(seconds=1))
    service = Service(instance, db, sftp_port=0, jobs=[every_second])
    unwatched(service)
    service.start()
    try:
        assert service.health().ready
        service.worker.rescan(recover=False).result(timeout=30)   # after the start-up pass
        path = make_workbook(instance.unit_inbox("1001") / "missed.xlsx", ADD_HEADERS,
                             [add_row(make_id("19800101", "661"), "甲")], title="职工批量新增申报填写表")
        old = time.time() - 60
        os.utime(path, (old, old))

        def scheduled_runs() -> list[tuple[str, str | None]]:
            with db.session() as s:
                return [(r.fire_key, r.outcome) for r in s.scalars(select(JobRun).where(
                    JobRun.job == "rescan", JobRun.outcome.like("%processed 1 unit%")))]

        runs = wait_until(scheduled_runs, 15, "a scheduled rescan to process the file")
    finally:
        service.stop()
    assert not runs[0][0].startswith("manual") and runs[0][0].endswith("+08:00")
    assert len(list(instance.unit_outbox("1001", "receipts").glob("*missed*.json"))) == 1
    if unwatched is _watch_limit_reached:
        assert service.watcher.failed == "inotify watch limit reached"
        assert any("cannot watch" in r.getMessage() and "max_user_watches" in r.getMessage()
                   for r in caplog.records if r.levelname == "ERROR")


def test_a_rescan_asked_for_after_stop_is_answered_at_once(instance, db) -> None:  # type: ignore[no-untyped-def]
    from exchange.intake.watch import IntakeWorker

    worker = IntakeWorker(instance, db)
    worker.start()
    assert worker.rescan().result(timeout=30).startswith("recovered 0")
    worker.stop()
    # A scheduler thread firing during shutdown must not wait forever (it would hold the exit).
    assert worker.rescan().result(timeout=1) == "stopped"
    never_started = IntakeWorker(instance, db)
    never_started.stop()
    assert never_started.rescan().result(timeout=1) == "stopped"
