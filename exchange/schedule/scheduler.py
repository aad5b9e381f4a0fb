"""Jobs on APScheduler (3.x BackgroundScheduler) and the once-across-nodes rule.

A firing first inserts JobRun(job, fire_key=<scheduled time, ISO>); the unique key lets exactly
one node insert it, and the others skip that firing. Manual runs get a key of their own.
"""
from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta, tzinfo
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.exc import IntegrityError

from exchange.config import Instance
from exchange.intake.claim import node_name
from exchange.schedule.registry import JobFn, all_jobs
from exchange.schedule.spec import JobSpec, timezone_of
from exchange.store.db import Database
from exchange.store.models import JobRun

log = logging.getLogger("exchange.schedule")


def latest_fire_time(trigger: BaseTrigger, now: datetime, window: timedelta) -> datetime | None:
    """The trigger's last fire time at or before `now` (looking back `window` at most).

    APScheduler 3 does not tell a job which firing it runs for; this recomputes it from the
    trigger, which gives every node the same answer for the same firing.
    """
    latest = None
    fire = trigger.get_next_fire_time(None, now - window)
    for _ in range(100_000):
        if fire is None or fire > now:
            break
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest


def run_recorded(db: Database, job_id: str, fire_key: str, call: Any) -> str | None:
    """Claim the firing in job_runs, run `call()`, record the outcome; None when another node
    already took this firing."""
    try:
        with db.session() as s:
            run = JobRun(job=job_id, fire_key=fire_key[:64], node=node_name(),
                         started_at=datetime.now().replace(microsecond=0))
            s.add(run)
            s.flush()
            run_id = run.id
    except IntegrityError:
        log.info("unit=- file=-: job %s at %s already taken by another node", job_id, fire_key)
        return None
    try:
        outcome = str(call() or "done")
    except Exception as exc:
        log.exception("unit=- file=-: job %s failed", job_id)
        outcome = f"failed: {type(exc).__name__}: {exc}"
    with db.session() as s:
        done = s.get(JobRun, run_id)
        if done is not None:
            done.finished_at = datetime.now().replace(microsecond=0)
            done.outcome = outcome[:2000]
    log.info("unit=- file=-: job %s (%s): %s", job_id, fire_key, outcome)
    return outcome


def run_now(instance: Instance, db: Database, spec: JobSpec | None, name: str,
            fn: JobFn | None = None) -> str | None:
    """A run by hand (`exchange jobs run`): recorded under a key no schedule uses."""
    registered = all_jobs()
    job_fn = fn or registered[spec.name if spec else name]
    options = dict(spec.options) if spec else {}
    key = f"manual-{datetime.now().isoformat(timespec='microseconds')}"
    return run_recorded(db, spec.id if spec else name, key,
                        lambda: job_fn(instance, db, **options))


class JobScheduler:
    """The enabled jobs of jobs/*.toml on one BackgroundScheduler.

    `overrides` replaces a job's function inside `serve` (the rescan goes through the intake
    worker's queue there instead of processing on a scheduler thread).
    """

    def __init__(self, instance: Instance, db: Database, specs: list[JobSpec],
                 overrides: dict[str, JobFn] | None = None) -> None:
        self.instance, self.db = instance, db
        self.tz: tzinfo = timezone_of(instance)
        self.specs = [s for s in specs if s.enabled]
        self.registered = all_jobs()
        self.overrides = overrides or {}
        self.triggers: dict[str, BaseTrigger] = {}
        self.scheduler = BackgroundScheduler(timezone=self.tz, job_defaults={
            "coalesce": True, "max_instances": 1})

    def start(self) -> None:
        for spec in self.specs:
            trigger = spec.trigger(self.tz)
            self.triggers[spec.id] = trigger
            self.scheduler.add_job(functools.partial(self.fire, spec), trigger=trigger, id=spec.id,
                                   name=spec.id, misfire_grace_time=spec.misfire_grace_seconds)
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("unit=- file=-: job %s scheduled, next run %s", job.id,
                     job.next_run_time.isoformat(timespec="seconds") if job.next_run_time else "-")

    def fire(self, spec: JobSpec) -> str | None:
        now = datetime.now(self.tz)
        window = timedelta(seconds=spec.misfire_grace_seconds + 60)
        fired = latest_fire_time(self.triggers[spec.id], now, window)
        key = (fired or now.replace(microsecond=0)).isoformat()
        fn = self.overrides.get(spec.name) or self.registered[spec.name]
        return run_recorded(self.db, spec.id, key, lambda: fn(self.instance, self.db, **spec.options))

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


__all__ = ["JobScheduler", "run_recorded", "run_now", "latest_fire_time"]
