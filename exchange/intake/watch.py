"""Watched inboxes: watchdog events and finished uploads feed one worker thread through a queue.

Watch events only enqueue. The worker keeps, per inbox folder, the time its last event came; a
folder is processed once it has been quiet for [intake].settle_seconds (a shared-folder copy
sends events while it writes). Files whose own mtime is still within the settle time are left
by intake.scan and looked at again later. Temp and lock names (exchange.names.ignored) never trigger.
All processing, rescans and crash recovery run on this one thread, so a file is never handled
twice by one node, and stopping waits for the current file only.
"""
from __future__ import annotations

import logging
import queue
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from exchange.config import CENTRE, Instance
from exchange.errors import DatabaseBusy
from exchange.intake.centre import GIVEN_UP, NOTICES, handle_centre_file, process_centre_inbox
from exchange.intake.scan import (being_written, process_inbox, process_waiting, recover,
                                  settled_files, waiting_work)
from exchange.names import ignored
from exchange.results import FileResult
from exchange.store.db import Database
from exchange.work import SUB_PREFIX

log = logging.getLogger("exchange.watch")

# process_centre_inbox names its work files centre-<%Y%m%d%H%M%S%f>-<name>.
CENTRE_WORK = re.compile(r"^centre-\d{20}-(?P<name>.+)$")
RETRY_SECONDS = 10.0   # after an error (database away, disk full) a folder is tried again
BUSY_RETRY_SECONDS = 1.0   # another node holds the unit: its file is usually done in a moment
RECOVERY = ""              # a due "folder": recovery alone (a full pass met a busy database)
# A folder's turn: no new file of it is claimed after this long, while other folders are due.
# A unit's usual burst (tens of small files) fits in one turn; a file that costs the reading
# worker its whole minute (a hostile one) lets the other units' files go next.
FOLDER_TURN_SECONDS = 5.0


def recover_centre(instance: Instance, db: Database, *, force: bool = False,
                   on_receipt: Callable[[dict], None] | None = None) -> int:
    """Finish centre files a stopped process left in var/processing.

    Centre files have no lease; one renamed in longer ago than the lease time is taken, or
    every one when `force` (a single node: SQLite; the operator's `exchange process`), and at
    once one this process gave up on while the database was busy (centre.GIVEN_UP); never one
    a live process holds (handle_centre_file). Master data loads are upserts and review
    decisions apply once, so handling a file again is harmless.
    """
    if not instance.processing.is_dir():
        return 0
    cutoff = time.time() - instance.settings.intake.lease_seconds
    done = 0
    for work in sorted(instance.processing.glob("centre-*")):
        match = CENTRE_WORK.match(work.name)
        if match is None or not work.is_file():
            continue
        if not force and work.name not in GIVEN_UP and work.stat().st_ctime > cutoff:
            continue
        log.warning("unit=_centre file=%s: unfinished centre file, handling again", match["name"])
        receipt = handle_centre_file(instance, db, work, match["name"])
        if receipt is None:
            continue                 # another process holds it
        done += 1
        if on_receipt is not None:
            on_receipt(receipt)
    return done


class _Stopping(Exception):
    """Raised from process_inbox's per-file callback to stop after the current file."""


@dataclass(frozen=True)
class _Touch:
    folder: str                  # unit code or CENTRE
    at: float


@dataclass(frozen=True)
class _Rescan:
    done: Future = field(default_factory=Future)
    recover: bool = False
    startup: bool = False


_STOP = object()


class IntakeWorker:
    """The one thread that processes inbox files; everything else talks to it through `notify`."""

    def __init__(self, instance: Instance, db: Database, settle_seconds: float | None = None) -> None:
        self.instance, self.db = instance, db
        self.settle = (instance.settings.intake.settle_seconds if settle_seconds is None
                       else settle_seconds)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._due: dict[str, float] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="intake-worker", daemon=True)
        # Once closed, nothing more is queued: a request that would never be answered is
        # answered at once instead (a scheduler thread waiting on it must not hang the exit).
        self._gate = threading.Lock()
        self._closed = False
        self.processed = 0
        # A file was given up on while the database was busy: the folder's retry takes it
        # (recovery, at once for this process's own) instead of leaving it to the rescan.
        self._recover_due = False

    # Called from other threads ---------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """The worker thread runs (health checks)."""
        return self._thread.is_alive()

    def notify(self, path: Path) -> None:
        """Something changed at `path`; only files directly in an inbox folder count."""
        folder = self.folder_of(path)
        if folder is not None:
            self._submit(_Touch(folder, time.monotonic()))

    def rescan(self, *, recover: bool = True, startup: bool = False) -> "Future[str]":
        """Queue a full pass over every inbox, after crash recovery when `recover`.

        `startup`: no other worker of this instance runs yet, so on SQLite (one node) centre
        leftovers are taken at once instead of after the lease time.
        """
        request = _Rescan(recover=recover, startup=startup)
        if not self._submit(request):
            request.done.set_result("stopped")
        return request.done

    def stop(self, timeout: float | None = None) -> None:
        """Finish the file in hand, then end; files still waiting stay for the next start."""
        self._stopping.set()
        self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._close()

    def _submit(self, item: Any) -> bool:
        with self._gate:
            if self._closed:
                return False
            self._queue.put(item)
            return True

    def _close(self) -> None:
        with self._gate:
            self._closed = True
            left = self._drain()
        for item in left:
            if isinstance(item, _Rescan) and not item.done.done():
                item.done.set_result("stopped")

    def folder_of(self, path: Path) -> str | None:
        try:
            rel = path.relative_to(self.instance.inbox)
        except ValueError:
            return None
        if len(rel.parts) not in (2, 3) or ignored(rel.name):
            return None
        folder = rel.parts[0]
        if folder.startswith(".") or (folder.startswith("_") and folder != CENTRE):
            return None
        if len(rel.parts) == 3:
            # A school's sub-account folder: inbox/<school>/@<login>/<file>.
            sub = rel.parts[1]
            if folder == CENTRE and sub == NOTICES:        # the centre's notices to units
                return CENTRE
            if folder == CENTRE or not sub.startswith(SUB_PREFIX) or len(sub) < 2:
                return None
            return f"{folder}/{sub}"
        return folder

    # The worker thread -------------------------------------------------------------------------
    def _run(self) -> None:
        log.info("unit=- file=-: intake worker started (settle %.1fs)", self.settle)
        try:
            self._loop()
        finally:
            self._close()
            log.info("unit=- file=-: intake worker stopped")

    def _loop(self) -> None:
        while True:
            timeout = None
            if self._due:
                timeout = max(0.0, min(self._due.values()) - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if isinstance(item, _Touch):
                self._due[item.folder] = max(self._due.get(item.folder, 0.0), item.at + self.settle)
            elif isinstance(item, _Rescan):
                self._full_pass(item)
            if self._stopping.is_set():
                break
            now = time.monotonic()
            for folder in [f for f, due in self._due.items() if due <= now]:
                if self._stopping.is_set():
                    break
                del self._due[folder]
                try:
                    self._process_folder(folder)
                except _Stopping:
                    break
                except DatabaseBusy as exc:      # logged where it happened; no trace needed
                    log.warning("unit=%s file=-: database busy (%s); retrying in %.0fs", folder,
                                exc, RETRY_SECONDS)
                    self._due[folder] = time.monotonic() + RETRY_SECONDS
                    self._recover_due = True
                    self.instance.metrics.database_retry("folder")
                except Exception:
                    log.exception("unit=%s file=-: processing failed; retrying in %.0fs", folder,
                                  RETRY_SECONDS)
                    self._due[folder] = time.monotonic() + RETRY_SECONDS

    def _drain(self) -> list[Any]:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _after_file(self, result: FileResult) -> None:
        self.processed += 1
        if self._stopping.is_set():
            raise _Stopping

    def _unit_busy(self, unit: str, path: Path) -> None:
        """Another node is judging a file of this unit: look again shortly, not at the rescan."""
        self._due[self.folder_of(path) or unit] = time.monotonic() + BUSY_RETRY_SECONDS

    def _process_folder(self, folder: str) -> int:
        done = 0
        if self._recover_due:
            self._recover_due = False
            done += len(recover(self.instance, self.db)) + recover_centre(self.instance, self.db)
        if folder == RECOVERY:
            return done
        if folder == CENTRE:
            done += len(process_centre_inbox(self.instance, self.db, settle_seconds=self.settle))
        else:
            started = time.monotonic()
            done += len(process_inbox(self.instance, self.db, settle_seconds=self.settle,
                                      folder=folder, on_result=self._after_file,
                                      on_busy=self._unit_busy, budget_seconds=FOLDER_TURN_SECONDS))
            if time.monotonic() - started > FOLDER_TURN_SECONDS and folder not in self._due and \
                    next(settled_files(self.instance.inbox / folder, self.settle, time.time()), None):
                # Its turn ended with files left: due again, after the folders due now.
                self._due[folder] = time.monotonic()
        self._recheck(folder)
        return done

    def _recheck(self, folder: str) -> None:
        """Files left because they changed too recently, or are still being written, get looked
        at when they have settled."""
        inbox = self.instance.inbox / folder
        latest = None
        try:
            for path in inbox.iterdir():
                if ignored(path.name) or not path.is_file():
                    continue
                # A file still open for writing is as good as just changed (scan.being_written).
                mtime = time.time() if being_written(path) else path.stat().st_mtime
                latest = mtime if latest is None else max(latest, mtime)
        except FileNotFoundError:
            return
        if latest is None:
            return
        age = time.time() - latest
        if age < self.settle:
            due = time.monotonic() + (self.settle - age) + 0.05
            self._due[folder] = max(self._due.get(folder, 0.0), due)

    def _full_pass(self, request: _Rescan) -> None:
        try:
            outcome = rescan_pass(self.instance, self.db, settle_seconds=self.settle,
                                  recover_first=request.recover, startup=request.startup,
                                  on_result=self._after_file)
            for unit_dir in self.instance.inbox.iterdir():
                if unit_dir.is_dir() and (folder := self.folder_of(unit_dir / "x")) is not None:
                    self._recheck(folder)
        except _Stopping:
            request.done.set_result("stopped")
            return
        except DatabaseBusy as exc:
            # What was given up on is taken again at the retry, not at the next rescan.
            log.warning("unit=- file=-: rescan met a busy database, or a full disk (%s); "
                        "retrying in %.0fs", exc, RETRY_SECONDS)
            self._recover_due = True
            self._due[RECOVERY] = time.monotonic() + RETRY_SECONDS
            for waiting in waiting_work(self.instance):
                self._due.setdefault(waiting.folder, time.monotonic() + RETRY_SECONDS)
            request.done.set_exception(exc)
            return
        except Exception as exc:
            log.exception("unit=- file=-: rescan failed")
            request.done.set_exception(exc)
            return
        request.done.set_result(outcome)


def rescan_pass(instance: Instance, db: Database, *, settle_seconds: float,
                recover_first: bool = True, startup: bool = False,
                on_result: Callable[[FileResult], None] | None = None) -> str:
    """Crash leftovers first, then every settled file in the unit and centre inboxes."""
    recovered = 0
    if recover_first:
        # recover() takes a dead local process's claims at once, another host's after its lease.
        recovered = len(recover(instance, db))
        recovered += recover_centre(instance, db, force=startup and db.is_sqlite)
    done = process_waiting(instance, db, settle_seconds=settle_seconds, on_result=on_result)
    files, centre = len(done.files), len(done.centre)
    outcome = f"recovered {recovered}, processed {files} unit file(s) and {centre} centre file(s)"
    if recovered or files or centre:
        log.info("unit=- file=-: rescan: %s", outcome)
    return outcome


class _Handler(FileSystemEventHandler):
    def __init__(self, worker: IntakeWorker) -> None:
        self.worker = worker

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        # A rename's destination is the file that appeared; its source has gone.
        target = getattr(event, "dest_path", "") or event.src_path
        self.worker.notify(Path(target if isinstance(target, str) else target.decode()))


class InboxWatcher:
    """watchdog on inbox/ (recursive, so new unit folders are seen too)."""

    def __init__(self, instance: Instance, worker: IntakeWorker) -> None:
        self.instance, self.worker = instance, worker
        self._observer = Observer()
        self.failed: str | None = None       # why the inboxes are not watched, when they are not

    def start(self) -> None:
        """Watch the inboxes; when the system will not (inotify's watch or instance limit, one
        watch per unit folder), say so and go on: SFTP uploads are announced by the server
        itself, and files put there otherwise wait for the rescan job."""
        self.instance.inbox.mkdir(parents=True, exist_ok=True)
        try:
            self._observer.schedule(_Handler(self.worker), str(self.instance.inbox), recursive=True)
            self._observer.start()
        except OSError as exc:
            self.failed = exc.strerror or str(exc)
            log.error("unit=- file=-: cannot watch %s (%s): files put there other than over SFTP "
                      "wait for the rescan job; raise fs.inotify.max_user_watches and "
                      "max_user_instances (sysctl) and restart", self.instance.inbox, self.failed)
            self._observer.unschedule_all()
            return
        log.info("unit=- file=-: watching %s", self.instance.inbox)

    def stop(self) -> None:
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=5)


__all__ = ["IntakeWorker", "InboxWatcher"]
