"""`exchange serve`: the intake worker, inbox watchers, the SFTP server and the scheduler.

Start order: rules/ and jobs/*.toml are validated first (a bad file stops the start before
anything listens); then the worker, whose first task is crash recovery and a full pass; the monitoring
endpoint (when [monitoring].port is set: live from here, ready once SFTP listens); then the
watcher, SFTP and the scheduler. Stop order: no new work in (SFTP, watcher, scheduler), then
the worker finishes the file in hand.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from exchange.config import Instance
from exchange.node import node_name
from exchange.intake.watch import InboxWatcher, IntakeWorker
from exchange.logs import ContextFormatter, setup_logging
from exchange.monitor.health import Health, database_checks, service_checks
from exchange.monitor.http import MonitorServer
from exchange.monitor.state import StateCollector
from exchange.schedule.scheduler import JobScheduler
from exchange.schedule.spec import JobSpec, load_jobs
from exchange.sftp.auth import Authenticator
from exchange.sftp.lockout import DatabaseLockout, LockoutPolicy
from exchange.sftp.server import SftpService, Upload
from exchange.store.db import Database, open_database
from exchange.view.refresh import Refresher

log = logging.getLogger("exchange.serve")


class Service:
    """Everything `serve` runs, with start() and stop() so tests can drive it in-process too."""

    def __init__(self, instance: Instance, db: Database | None = None, *,
                 sftp_port: int | None = None, jobs: list[JobSpec] | None = None) -> None:
        self.instance = instance
        self.jobs = load_jobs(instance) if jobs is None else jobs
        self.own_db = db is None
        self.db = db or open_database(instance)
        self.worker = IntakeWorker(instance, self.db)
        self.refresher = Refresher(instance, self.db)     # the units' status workbooks
        self.watcher = InboxWatcher(instance, self.worker)
        policy = LockoutPolicy.from_settings(instance.settings.sftp)
        sftp = instance.settings.sftp
        self.auth = Authenticator(self.db, DatabaseLockout(self.db, policy),
                                  max_checks=sftp.max_password_checks,
                                  wait_seconds=sftp.login_grace_seconds,
                                  accounts=instance.settings.accounts,
                                  metrics=instance.metrics)
        self.sftp = SftpService(instance, self.auth, on_upload=self._uploaded, port=sftp_port)
        self.scheduler = JobScheduler(instance, self.db, self.jobs,
                                      overrides={"rescan": self._rescan_job})
        self.stopped = threading.Event()
        self.monitor: MonitorServer | None = None
        monitoring = instance.settings.monitoring
        if monitoring.port:
            metrics = instance.metrics
            metrics.info.info({"node": node_name()})
            metrics.register_once(StateCollector(instance))
            self.monitor = MonitorServer(monitoring.host, monitoring.port, metrics.registry,
                                         ready=self.health, live=lambda: self.worker.alive)

    def health(self, pool: concurrent.futures.Executor | None = None) -> Health:
        """Ready: the database answers at the schema's head, the worker runs, SFTP listens."""
        return Health(tuple(database_checks(self.db, pool) + service_checks(self)))

    def _uploaded(self, upload: Upload) -> None:
        self.worker.notify(upload.real)

    def _rescan_job(self, instance: Instance, db: Database, **options: Any) -> str:
        # Processing belongs to the worker thread: queue the pass and wait for its outcome.
        return self.worker.rescan().result()

    def start(self) -> None:
        self.instance.ensure_folders()
        self.refresher.start()
        self.worker.start()
        if self.monitor is not None:     # live at once; ready once SFTP listens too
            self.monitor.start()
        self.worker.rescan(startup=True)
        self.watcher.start()
        self.sftp.start()
        self.scheduler.start()
        log.info("unit=- file=-: serving %s: sftp %s:%d, %d job(s)", self.instance.home,
                 self.sftp.host, self.sftp.port, len(self.scheduler.specs))

    def _stop_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()

    def stop(self) -> None:
        """Also safe after a start that failed half-way (say, the SFTP port was taken)."""
        log.info("unit=- file=-: stopping")
        for step in (self.sftp.stop, self.watcher.stop, lambda: self.scheduler.shutdown(wait=False),
                     self.worker.stop, self.refresher.stop, self._stop_monitor):
            try:
                step()
            except Exception:  # the remaining parts must still stop
                log.exception("unit=- file=-: error while stopping")
        if self.own_db:
            self.db.dispose()
        self.stopped.set()
        log.info("unit=- file=-: stopped")


def serve(instance: Instance, *, sftp_port: int | None = None) -> None:
    """Run until SIGTERM or Ctrl-C, then shut down cleanly."""
    # A bad rules/ or jobs/*.toml stops here, before anything starts: with broken rules every
    # file was quarantined, its unit told the file was corrupt.
    instance.rules
    jobs = load_jobs(instance)
    setup_logging(instance)
    service = Service(instance, jobs=jobs, sftp_port=sftp_port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            # A second signal: leave now; what was in hand is finished on the next start.
            log.warning("unit=- file=-: %s again, exiting without waiting", name)
            os._exit(1)
        log.info("unit=- file=-: %s received", name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.start()
        while not stop.wait(1.0):
            pass
    finally:
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["Service", "serve", "setup_logging", "ContextFormatter"]  # the last two: exchange.logs
