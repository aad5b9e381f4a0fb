"""Jobs on APScheduler (3.x BackgroundScheduler) and the once-across-nodes rule.

A firing first inserts JobRun(job, fire_key=<scheduled time, ISO>); the unique key lets exactly
one node insert it, and the others skip that firing. Manual runs get a key of their own.

While a job runs, its node renews the row's lease (`lease_until`). A node that stops mid-run
(killed, the machine lost) leaves the row unfinished; every scheduler looks for such rows every
RESUME_SECONDS and at its start, and runs the job again where the node is gone: on this host
when its process is dead, on another once the lease has run out. One node takes each (a
compare-and-set on the row); a run a later firing has superseded is closed as abandoned
instead. Jobs are written to be run again (a batch submission picks up what is still pending,
and writes the documents of the batches it numbered). A run by hand (`exchange jobs run`) is
resumed alike when its process was killed (it was left "running" for ever, and a killed
submission's batches had no review workbook until the next night), never when its operator
stopped it with Ctrl-C (closed as interrupted); one of a job no scheduler here runs is closed
as abandoned.
"""
from __future__ import annotations

import functools
import logging
import threading
from datetime import datetime, timedelta, tzinfo
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from exchange.config import Instance
from exchange.node import node_name, owner_alive
from exchange.schedule.registry import JobFn, all_jobs
from exchange.schedule.spec import JobSpec, timezone_of
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import JobRun

log = logging.getLogger("exchange.schedule")

JOB_LEASE = timedelta(minutes=5)     # a running job's hold on its firing ...
RENEW_SECONDS = 60.0                 # ... renewed this often while it runs
RESUME_SECONDS = 60                  # how often a scheduler looks for runs whose node stopped
MANUAL = "manual-"                   # fire keys of runs by hand
INTERRUPTED = "interrupted (Ctrl-C)"


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


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
            now = _now()
            run = JobRun(job=job_id, fire_key=fire_key[:64], node=node_name(), started_at=now,
                         lease_until=now + JOB_LEASE)
            s.add(run)
            s.flush()
            run_id = run.id
    except IntegrityError:
        log.info("unit=- file=-: job %s at %s already taken by another node", job_id, fire_key)
        return None
    return _run_held(db, run_id, job_id, fire_key, call)


def _run_held(db: Database, run_id: int, job_id: str, fire_key: str, call: Callable[[], Any],
              note: str = "") -> str:
    """Run `call()` for the job_runs row `run_id`, renewing its lease meanwhile; record the
    outcome (after `note`)."""
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(db, run_id, stop), daemon=True,
                               name=f"job-lease-{job_id}")
    renewer.start()
    try:
        outcome = str(call() or "done")
    except Exception as exc:
        log.exception("unit=- file=-: job %s failed", job_id)
        outcome = f"failed: {type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        # Ctrl-C on a run by hand: the operator stopped it, so no service runs it again.
        _finish(db, run_id, job_id, fire_key, note + INTERRUPTED)
        raise
    finally:
        stop.set()
        renewer.join()
    return _finish(db, run_id, job_id, fire_key, note + outcome)


def _finish(db: Database, run_id: int, job_id: str, fire_key: str, outcome: str) -> str:
    with db.session() as s:
        done = s.get(JobRun, run_id)
        if done is not None:
            done.finished_at = _now()
            done.outcome = outcome[:2000]
    log.info("unit=- file=-: job %s (%s): %s", job_id, fire_key, outcome)
    return outcome


def _renew(db: Database, run_id: int, stop: threading.Event) -> None:
    while not stop.wait(RENEW_SECONDS):
        try:
            with db.session() as s:
                if not Q.renew_job_run(s, run_id, node_name(), _now() + JOB_LEASE):
                    return           # finished, or taken over after the lease ran out
        except Exception as exc:     # a busy database: the next renewal tries again
            log.warning("unit=- file=-: job run %s: lease not renewed (%s)", run_id, exc)


def gone(run: JobRun, now: datetime) -> bool:
    """Whether an unfinished run's process is gone: dead on this host, or its lease run out."""
    alive = owner_alive(run.node)
    return not (alive or alive is None and (run.lease_until or run.started_at + JOB_LEASE) >= now)


def abandoned_runs(db: Database, now: datetime | None = None) -> list[JobRun]:
    """Scheduled runs left unfinished by a node that is gone: a dead process of this host, or
    on another host a lease run out. This process's own runs are never among them."""
    now = now or _now()
    with db.session() as s:
        unfinished = s.scalars(select(JobRun).where(JobRun.finished_at.is_(None))
                               .order_by(JobRun.id)).all()
        s.expunge_all()
    return [run for run in unfinished if run.node != node_name() and gone(run, now)]


def resume_abandoned(db: Database, calls: dict[str, Callable[[], Any]]) -> list[str]:
    """Run again each abandoned run of the jobs in `calls` (job id -> the job's call) that no
    later run of the same job has superseded, and close the superseded ones; the outcomes of
    the runs this node took over."""
    outcomes = []
    for run in abandoned_runs(db):
        if run.job not in calls:
            if run.fire_key.startswith(MANUAL):
                _close_manual(db, run)
            continue
        now = _now()
        with db.session() as s:
            # Superseded: a later firing of the job (its own resumption will be looked at in
            # turn), or a run of it that finished after this one started (a run by hand, or
            # another abandoned run resumed just now).
            later = s.scalar(select(JobRun.id).where(
                JobRun.job == run.job, JobRun.id != run.id,
                or_(and_(JobRun.id > run.id, ~JobRun.fire_key.startswith(MANUAL)),
                    JobRun.finished_at >= run.started_at)).limit(1))
            closing = f"abandoned: node {run.node} stopped, and the job has run since"
            taken = Q.take_job_run(s, run, node_name(), now + JOB_LEASE,
                                   closed_at=now if later is not None else None, outcome=closing)
        if not taken or later is not None:
            continue
        log.warning("unit=- file=-: job %s (%s): node %s stopped while running it; running it again",
                    run.job, run.fire_key, run.node)
        outcomes.append(_run_held(db, run.id, run.job, run.fire_key, calls[run.job],
                                  note=f"resumed after node {run.node} stopped: "))
    return outcomes


def _close_manual(db: Database, run: JobRun) -> None:
    """A run by hand whose process ended before it did (killed, the machine lost), of a job no
    scheduler here runs (not in jobs/, or disabled): closed as abandoned."""
    now = _now()
    with db.session() as s:
        closed = Q.take_job_run(s, run, node_name(), now, closed_at=now,
                                outcome=f"abandoned: the process that ran it by hand ({run.node}) ended "
                                        f"before it finished")
    if closed:
        log.warning("unit=- file=-: job %s (%s): run by hand on %s, which ended before it "
                    "finished; closed as abandoned", run.job, run.fire_key, run.node)


def run_now(instance: Instance, db: Database, spec: JobSpec | None, name: str,
            fn: JobFn | None = None) -> str | None:
    """A run by hand (`exchange jobs run`): recorded under a key no schedule uses."""
    registered = all_jobs()
    job_fn = fn or registered[spec.name if spec else name]
    options = dict(spec.options) if spec else {}
    key = f"{MANUAL}{datetime.now().isoformat(timespec='microseconds')}"
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
        # Runs a stopped node left unfinished: looked for now, then every RESUME_SECONDS.
        self.scheduler.add_job(self.resume, trigger=IntervalTrigger(seconds=RESUME_SECONDS),
                               id="_resume", name="resume abandoned runs",
                               next_run_time=datetime.now(self.tz))
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("unit=- file=-: job %s scheduled, next run %s", job.id,
                     job.next_run_time.isoformat(timespec="seconds") if job.next_run_time else "-")

    def fire(self, spec: JobSpec) -> str | None:
        now = datetime.now(self.tz)
        window = timedelta(seconds=spec.misfire_grace_seconds + 60)
        fired = latest_fire_time(self.triggers[spec.id], now, window)
        key = (fired or now.replace(microsecond=0)).isoformat()
        return run_recorded(self.db, spec.id, key, functools.partial(self._call, spec))

    def _call(self, spec: JobSpec) -> str:
        fn = self.overrides.get(spec.name) or self.registered[spec.name]
        with self.instance.metrics.job_run(spec.id):
            return fn(self.instance, self.db, **spec.options)

    def resume(self) -> list[str]:
        """Run again the firings of this scheduler's jobs that a stopped node left unfinished."""
        try:
            return resume_abandoned(self.db, {spec.id: functools.partial(self._call, spec)
                                              for spec in self.specs})
        except Exception:       # a busy database: looked for again in RESUME_SECONDS
            log.exception("unit=- file=-: looking for abandoned job runs failed")
            return []

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


__all__ = ["JobScheduler", "abandoned_runs", "gone", "resume_abandoned", "run_recorded", "run_now",
           "latest_fire_time"]
