"""Claiming a dropped file: one atomic rename into var/processing, then a row in `files`.

The rename is the claim: of two nodes renaming the same file, one gets FileNotFoundError.
The database row carries the lease that lets another node finish a dead node's work.

Several nodes (PostgreSQL, one shared folder tree) use `claimed()` and `taken_over()`, which
hold a `Lease` while the file is worked on: the row's lease is renewed in the background, and
advisory locks on a dedicated connection mark the unit (its files are judged one at a time,
in order, by one node) and the file (no other node may take it while this one lives).

Who sent the file is decided here, once, and travels with the Claim as data
(exchange.work.Sender): the sub-account login its var/processing name carries, that login's
classes, and the outbox its answers go to.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from exchange.config import Instance
from exchange.errors import DatabaseBusy
from exchange.names import safe_name, storable_name
from exchange.node import node_host, node_name, owner_alive
from exchange.store import queries as Q
from exchange.store.db import FILE_LOCK, UNIT_LOCK, Database, transient, trouble
from exchange.store.models import FileRecord
from exchange.work import SUB_PREFIX, Claim, sender_of

SEPARATOR = "__"
# A name in var/processing: <12 hex>-<claimer's pid>[@<login>]__<unit>__<original name>
# (names made before the pid was added lack "-<pid>").
_WORK_HEAD = re.compile(r"^[0-9a-f]{12}(?:-(?P<pid>\d+))?(?:@(?P<login>.+))?$")

log = logging.getLogger("exchange.intake")


def sha256_of(path: Path) -> str:
    """The file's digest; a symbolic link's is that of the name it points to: never followed
    (a link to /dev/zero would be read for ever)."""
    if path.is_symlink():
        return hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def work_path_for(instance: Instance, unit: str, name: str, login: str | None = None) -> Path:
    """A fresh name in var/processing that tells the unit, the original name, the sub-account
    login it came from if any, and which process renamed it there (see `adoptable`)."""
    instance.processing.mkdir(parents=True, exist_ok=True)
    head = f"{uuid.uuid4().hex[:12]}-{os.getpid()}" + (f"{SUB_PREFIX}{login}" if login else "")
    return instance.processing / f"{head}{SEPARATOR}{unit}{SEPARATOR}{safe_name(name)}"


def claim(instance: Instance, db: Database, path: Path, unit: str,
          work: Path | None = None) -> Claim | None:
    """Move `path` out of the inbox and record it; None when another worker took it first."""
    work = work or work_path_for(instance, unit, path.name)
    try:
        os.rename(path, work)
    except FileNotFoundError:
        return None
    try:
        return register(instance, db, work, unit, path.name)
    except DBAPIError as exc:
        if not transient(exc):
            raise
        # Renamed but not recorded: recovery adopts it (intake.scan._adopt_unregistered).
        log.warning("unit=%s file=%s: database busy while claiming (%s); left in %s", unit,
                    path.name, trouble(exc), work)
        raise DatabaseBusy(trouble(exc)) from exc


def register(instance: Instance, db: Database, work: Path, unit: str, name: str) -> Claim:
    now = datetime.now().replace(microsecond=0)
    with db.session() as s:
        file_id = Q.add_file(
            s, unit_code=unit, name=storable_name(name), sha256=sha256_of(work),
            size=work.lstat().st_size, status="claimed", node=node_name(), work_path=str(work),
            received_at=now, lease_until=now + timedelta(seconds=instance.settings.intake.lease_seconds))
        return Claim(file_id, unit, name, work, now, sender_of(instance, s, unit, login_of_work(work)))


def parse_work_name(work: Path) -> tuple[str, str] | None:
    """(unit, original name) from a processing file name, or None for a foreign file."""
    parts = work.name.split(SEPARATOR, 2)
    return (parts[1], parts[2]) if len(parts) == 3 and _WORK_HEAD.match(parts[0]) else None


def _work_head(work: Path) -> "re.Match[str] | None":
    return _WORK_HEAD.match(work.name.split(SEPARATOR, 1)[0])


def login_of_work(work: Path) -> str | None:
    """The sub-account login a claimed file came from, if it came from one."""
    head = _work_head(work)
    return head["login"] if head else None


def claimer_pid(work: Path) -> int | None:
    """The process that renamed a file into var/processing (None for an old-style name)."""
    head = _work_head(work)
    return int(head["pid"]) if head and head["pid"] else None



def lease_end(instance: Instance) -> datetime:
    return datetime.now().replace(microsecond=0) + timedelta(seconds=instance.settings.intake.lease_seconds)


_held: set[str] = set()             # var/processing names this process's threads work on now
_held_lock = threading.Lock()


def held_here(work_path: str | None) -> bool:
    with _held_lock:
        return Path(work_path or "").name in _held


class Lease:
    """This node's hold on one file while it works on it (see the module's docstring).

    Use as a context manager; on PostgreSQL `hold(file_id)` starts renewing the row's lease
    every third of `[intake] lease_seconds`, so a file that takes longer than the lease is never
    taken from a live node. Leaving the block stops the renewals and drops the locks.
    """

    def __init__(self, instance: Instance, db: Database) -> None:
        self.instance, self.db = instance, db
        self.node = node_name()
        self.locks = db.locks()
        self.file_id: int | None = None
        self.works: list[str] = []           # names in var/processing held (see held_here)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def lock_unit(self, unit: str) -> bool:
        return self.locks.try_lock(UNIT_LOCK, unit)

    def lock_work(self, work: Path) -> bool:
        if not self.locks.try_lock(FILE_LOCK, work.name):
            return False
        with _held_lock:
            _held.add(work.name)
        self.works.append(work.name)
        return True

    def hold(self, file_id: int) -> None:
        self.file_id = file_id
        if self.db.is_sqlite:
            # One node: whether a claim's holder lives is told by its process id (owner_alive),
            # and a second writer would only contend with the import for SQLite's one lock.
            return
        self._beat = threading.Thread(target=self._renew, name=f"lease-{file_id}", daemon=True)
        self._beat.start()

    def _renew(self) -> None:
        assert self.file_id is not None
        interval = max(self.instance.settings.intake.lease_seconds / 3, 0.2)
        while not self._stop.wait(interval):
            try:
                with self.db.session() as s:
                    held = Q.renew_lease(s, self.file_id, self.node, lease_end(self.instance))
                    placed = not held and s.scalar(
                        select(FileRecord.stored_path).where(FileRecord.id == self.file_id))
            except Exception as exc:  # noqa: BLE001 - a busy or unreachable database: try again
                log.warning("file id=%s: lease not renewed (%s)", self.file_id, exc)
                continue
            if not held:
                if not placed:
                    log.error("file id=%s: lease lost to another node", self.file_id)
                return

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        with _held_lock:
            _held.difference_update(self.works)
        self.locks.release()

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


@contextmanager
def claimed(instance: Instance, db: Database, path: Path, unit: str,
            on_busy: Callable[[str, Path], None] | None = None,
            login: str | None = None) -> Iterator[Claim | None]:
    """Claim `path` (from a sub-account's folder: `login`) and hold it while the block runs.

    None when another worker renamed it first, or when another node is working on a file of
    the same unit: then `on_busy(unit, path)` is told, so the caller can look again soon.
    """
    with Lease(instance, db) as lease:
        if not lease.lock_unit(unit):
            if on_busy is not None:
                on_busy(unit, path)
            yield None
            return
        work = work_path_for(instance, unit, path.name, login)
        lease.lock_work(work)                    # a fresh name: nobody else can hold it
        job = claim(instance, db, path, unit, work)
        if job is not None:
            lease.hold(job.file_id)
        yield job


def takeable(seen: Q.Unplaced, now: datetime, force: bool = False) -> bool:
    """May this node try to take `seen` over? (`taken_over` decides.)

    Never from a live process on this host; at once from a dead one, or from this process
    when none of its threads holds it any more (given up while the database was busy); from
    another host once the lease has run out, or at once with `force` (an operator's `exchange
    process`). On PostgreSQL a live holder anywhere also keeps its file lock, which
    `taken_over` respects.
    """
    alive = owner_alive(seen.node)
    if alive:
        return False
    if force or alive is False:
        return True
    if seen.node == node_name():
        return not held_here(seen.work_path)
    return seen.lease_until is None or seen.lease_until < now


def adoptable(db: Database, work: Path, age: float, settle: float) -> bool:
    """May recovery adopt `work`, renamed into var/processing `age` seconds ago but never
    recorded? (`adopted` decides.)

    At once when the process that renamed it has ended (its id is in the name; a dead process
    of this host), or is this process and none of its threads holds it any more (it gave up
    while the database was busy or the disk full). On PostgreSQL at once too: a live claimer
    on any node holds the lock on the name from before the rename until the file is recorded,
    and `adopted` must take that lock. Otherwise once `settle` seconds have passed.
    """
    pid = claimer_pid(work)
    if pid == os.getpid():
        return not held_here(str(work))
    if db.is_postgres or (pid is not None and owner_alive(f"{node_host()}-{pid}") is False):
        return True
    return age >= settle


@contextmanager
def taken_over(instance: Instance, db: Database, seen: Q.Unplaced) -> Iterator[Claim | None]:
    """Become the holder of an unplaced file; None when another node holds or took it.

    The database decides: a compare-and-set on the holder and lease that were read, so of
    several nodes recovering at once exactly one gets each file.
    """
    with Lease(instance, db) as lease:
        # Nodes may mount the shared tree at different paths: only the name is common.
        work = instance.processing / Path(seen.work_path or "").name
        unfinished = seen.status == "claimed"
        if (unfinished and not lease.lock_unit(seen.unit)) or not lease.lock_work(work):
            yield None
            return
        with db.session() as s:
            # A take from a holder that is gone counts (intake.scan.MAX_TAKES); taking back a
            # claim this process let go of (the database was busy, the disk full) does not.
            won = Q.take_over(s, seen, lease.node, lease_end(instance),
                              count=seen.node != lease.node)
            sender = sender_of(instance, s, seen.unit, login_of_work(work)) if won else None
        if sender is None:
            yield None
            return
        lease.hold(seen.file_id)
        yield Claim(seen.file_id, seen.unit, seen.name, work, seen.received_at, sender)


@contextmanager
def adopted(instance: Instance, db: Database, work: Path) -> Iterator[Claim | None]:
    """Register a file a dead worker renamed into var/processing but never recorded.

    It is renamed once more first, so of several nodes adopting it only one succeeds; on
    PostgreSQL a live claimer still holds the lock on its name and the file is left alone.
    """
    parsed = parse_work_name(work)
    with Lease(instance, db) as lease:
        if parsed is None or not lease.lock_unit(parsed[0]) or not lease.lock_work(work):
            yield None
            return
        with db.session() as s:
            if Q.registered(s, work.name):   # recorded by its claimer since it was looked at
                yield None
                return
        unit, name = parsed
        fresh = work_path_for(instance, unit, name, login_of_work(work))
        lease.lock_work(fresh)
        try:
            os.rename(work, fresh)
        except FileNotFoundError:
            yield None
            return
        log.warning("unit=%s file=%s: unregistered file in processing, taking it", unit, name)
        job = register(instance, db, fresh, unit, name)
        lease.hold(job.file_id)
        yield job

