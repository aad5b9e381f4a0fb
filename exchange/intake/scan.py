"""Process what waits: leftovers of a crash first, then every settled file in the unit inboxes."""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import stat
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from exchange.config import CENTRE, Instance
from exchange.intake.claim import (Claim, adoptable, adopted, claimed, parse_work_name, takeable,
                                   taken_over)
from exchange.names import ignored
from exchange.node import node_name
from exchange.results import FileResult
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.work import SUB_PREFIX

log = logging.getLogger("exchange.intake")


@dataclass(frozen=True)
class Waiting:
    """A complete file waiting in an inbox that intake takes."""
    mtime: float
    unit: str                    # the unit code, or CENTRE for inbox/_centre/
    path: Path
    login: str | None = None     # from a school's sub-account folder inbox/<unit>/@<login>/

    @property
    def folder(self) -> str:
        """The inbox folder as the watcher names it: a unit, CENTRE, or "<unit>/@<login>"."""
        return f"{self.unit}/{SUB_PREFIX}{self.login}" if self.login else self.unit


def waiting_work(instance: Instance, settle_seconds: float = 0.0) -> list[Waiting]:
    """Every complete file waiting in any inbox that `serve`, `exchange process` and the
    rescan take, oldest first: inbox/<unit>/, the sub-account folders inbox/<unit>/@<login>/
    and the centre's inbox/_centre/ and inbox/_centre/notices/.

    A file changed within `settle_seconds` may still be arriving over a shared folder: it waits.
    """
    if not instance.inbox.is_dir():
        return []
    now = time.time()
    found: list[Waiting] = []
    for unit_dir in unit_folders(instance):
        found += [Waiting(mtime, unit_dir.name, path)
                  for mtime, path in settled_files(unit_dir, settle_seconds, now)]
        for sub in _sub_account_folders(unit_dir):
            login = sub.name[len(SUB_PREFIX):]
            found += [Waiting(mtime, unit_dir.name, path, login)
                      for mtime, path in settled_files(sub, settle_seconds, now)]
    centre = instance.unit_inbox(CENTRE)
    if centre.is_dir():
        for folder in (centre, centre / "notices"):     # notices: exchange.view.notices
            found += [Waiting(mtime, CENTRE, path)
                      for mtime, path in settled_files(folder, settle_seconds, now)]
    return sorted(found, key=lambda w: (w.mtime, w.unit, w.path.name))


def fair_order(waiting: list[Waiting]) -> list[Waiting]:
    """Oldest first within each unit, the units taking turns: every unit's first file (oldest
    first), then every unit's second, and so on."""
    turn: dict[str, int] = {}
    ranked = []
    for w in waiting:                                   # oldest first already
        turn[w.unit] = turn.get(w.unit, -1) + 1
        ranked.append((turn[w.unit], w))
    return [w for _, w in sorted(ranked, key=lambda r: r[0])]   # stable: oldest first per turn


def waiting_files(instance: Instance, settle_seconds: float = 0.0) -> Iterator[tuple[str, Path]]:
    """(unit, path) of every complete file in a unit's own inbox, oldest first."""
    for w in waiting_work(instance, settle_seconds):
        if w.unit != CENTRE and not w.login:
            yield w.unit, w.path


def unit_folders(instance: Instance) -> Iterator[Path]:
    """inbox/<unit>/ folders (not _centre, not hidden)."""
    for unit_dir in instance.inbox.iterdir():
        if unit_dir.is_dir() and not unit_dir.name.startswith((".", "_")):
            yield unit_dir


def _sub_account_folders(unit_dir: Path) -> Iterator[Path]:
    for sub in unit_dir.iterdir():
        if sub.is_dir() and sub.name.startswith(SUB_PREFIX) and len(sub.name) > len(SUB_PREFIX):
            yield sub


def settled_files(folder: Path, settle_seconds: float, now: float) -> Iterator[tuple[float, Path]]:
    """(mtime, path) of the complete files in `folder`: not ignored names, quiet long enough,
    and open for writing by no process of this host (a copy into a shared folder that stalls
    longer than settle_seconds keeps its file open: it was claimed half written, and the rest
    written into the claimed file was never read). A symbolic link is yielded as itself, never
    followed: the pipeline refuses it (file.hostile) with a receipt."""
    try:
        paths = list(folder.iterdir())
    except FileNotFoundError:
        return
    for path in paths:
        try:
            st = path.lstat()
            link = stat.S_ISLNK(st.st_mode)
            if not (link or stat.S_ISREG(st.st_mode)) or ignored(path.name):
                continue
        except FileNotFoundError:
            continue
        if now - st.st_mtime >= settle_seconds and (link or not being_written(path)):
            yield st.st_mtime, path


# The signal the kernel sends a lease's holder when someone opens the file meanwhile: SIGIO by
# default, whose default action ends the process. A copy or an upload opening the file for writing
# in the moment intake held its lease killed `serve` ("I/O possible"; the test suite's threads hit
# it in one run of three). SIGURG is ignored unless a handler is set, and nothing here sets one.
LEASE_BREAK_SIGNAL = signal.SIGURG


def being_written(path: Path) -> bool:
    """Whether another process of this host holds `path` open for writing (a copy not finished):
    a read lease (F_SETLEASE) is only granted on a file no one has open for writing. It is
    released at once; an open for writing in that moment waits for the release, and the break's
    signal is one nothing acts on (LEASE_BREAK_SIGNAL). Where leases cannot be taken (another
    owner without CAP_LEASE, a file system without them) the settle time alone decides."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, LEASE_BREAK_SIGNAL)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EBUSY)
    else:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


# With `force`, a file renamed into var/processing but never recorded by a process that may still
# run is adopted once it is this old (the claimer records it within moments); without, once a
# whole lease has passed (see intake.claim.adoptable for the files adopted at once).
ADOPT_AFTER_SECONDS = 30.0
# A claim taken this many times (claimed, then taken over from holders that died while working
# on it) is first judged alone in a child process (dies_alone): when the child dies too, the
# file is quarantined with a receipt (C.FILE_UNREADABLE, reason "crashed"), so a file that kills
# its node cannot stop the exchange; when the child judges it, the holders died of something
# else (an operator's kill -9, a power cut) and the file is judged as usual. At LAST_TAKE it is
# quarantined without asking: it kills the node where the child survives it.
MAX_TAKES = 3
LAST_TAKE = 10


def recover(instance: Instance, db: Database, *, force: bool = False) -> list[FileResult]:
    """Finish files a stopped worker left unplaced; safe when every node runs it at once.

    Claimed but unfinished: processed again from the start, since nothing of it was committed
    (from its MAX_TAKES-th take, when its holders died twice while judging it, quarantined
    instead if a child process judging it alone dies too: `_poison`).
    Finished but not placed: placed. Which files may be taken, and when, is `takeable()`:
    never a live local process's, at once a dead one's, another host's once its lease has run
    out (at once with `force`, the operator's `exchange process`); the database then gives each
    file to exactly one node (`taken_over`).
    """
    results: list[FileResult] = []
    with db.session() as s:
        unplaced = Q.unplaced_files(s)
    for seen in unplaced:
        if not takeable(seen, datetime.now(), force):
            continue
        from exchange.outputs.answers import place, stage_dir
        from exchange.pipeline import process_claim, refuse_crashed

        with taken_over(instance, db, seen) as job:
            if job is None:
                continue
            takes = seen.attempts + (seen.node != node_name())
            if seen.status != "claimed":
                log.warning("unit=%s file=%s id=%s: finished but not placed, placing",
                            job.unit, job.name, job.file_id)
                place(instance, db, job, seen.status == "quarantined", stage_dir(instance, job))
            elif not job.work_path.is_file():
                log.error("unit=%s file=%s id=%s: claimed but its bytes are gone from %s",
                          job.unit, job.name, job.file_id, job.work_path)
            elif takes >= MAX_TAKES and (death := _poison(instance, job, takes, seen.node)):
                log.error("unit=%s file=%s id=%s: its holders stopped while judging it %d times "
                          "(last %s), %s; quarantined", job.unit, job.name, job.file_id,
                          takes - 1, seen.node, death)
                results.append(refuse_crashed(instance, db, job))
            else:
                log.warning("unit=%s file=%s id=%s: unfinished claim of %s, processing again",
                            job.unit, job.name, job.file_id, seen.node)
                results.append(process_claim(instance, db, job))
    results.extend(_adopt_unregistered(instance, db, force))
    return results


def _poison(instance: Instance, job: Claim, takes: int, holder: str | None) -> str | None:
    """Why a file taken `takes` times (MAX_TAKES or more) is to be quarantined, or None."""
    if takes >= LAST_TAKE:
        return "the last take"
    log.warning("unit=%s file=%s id=%s: its holders stopped while judging it %d times (last %s); "
                "judging it alone in a child process first", job.unit, job.name, job.file_id,
                takes - 1, holder)
    death = dies_alone(instance, job)
    if death is None:
        log.warning("unit=%s file=%s id=%s: the child judged it: not the file's fault",
                    job.unit, job.name, job.file_id)
        return None
    return f"and a child judging it alone was {death}"


def dies_alone(instance: Instance, work: Claim) -> str | None:
    """Judge a claimed file without importing (`exchange validate`) in a child process: how the
    child ended abnormally (a signal, or outlasting the lease), or None when it judged the
    file. Asked of a file whose holders died while judging it (MAX_TAKES): was it
    the file, or something else that stopped them?"""
    import subprocess

    from exchange.children import python_argv, python_env

    command = python_argv("-c", "from exchange.cli import main; main()", "--home",
                          str(instance.home), "validate", str(work.work_path), "--unit", work.unit,
                          "--json")
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=python_env(),
                              timeout=instance.settings.intake.lease_seconds)
    except subprocess.TimeoutExpired:
        return f"still judging it after {instance.settings.intake.lease_seconds} s"
    if done.returncode < 0:
        import signal

        return f"ended by {signal.Signals(-done.returncode).name}"
    return None


def _adopt_unregistered(instance: Instance, db: Database, force: bool) -> list[FileResult]:
    results: list[FileResult] = []
    if not instance.processing.is_dir():
        return results
    settle = ADOPT_AFTER_SECONDS if force else instance.settings.intake.lease_seconds
    for work in sorted(instance.processing.iterdir()):
        if parse_work_name(work) is None:
            continue
        try:
            # A rename sets ctime: how long ago the claimer moved it here.
            if not work.is_file() or not adoptable(db, work, time.time() - work.stat().st_ctime,
                                                   settle):
                continue
        except FileNotFoundError:
            continue
        with db.session() as s:
            if Q.registered(s, work.name):
                continue
        from exchange.pipeline import process_claim

        with adopted(instance, db, work) as job:
            if job is not None:
                results.append(process_claim(instance, db, job))
    return results


def process_file(instance: Instance, db: Database, path: Path, unit: str) -> FileResult | None:
    """Claim one file from a unit's inbox and process it as the unit's; None when another worker
    claimed it, or another node is judging a file of the same unit (see intake.claim.claimed)."""
    from exchange.pipeline import process_claim

    with claimed(instance, db, path, unit) as work:
        if work is None:
            return None
        return process_claim(instance, db, work)


def process_inbox(instance: Instance, db: Database, *, settle_seconds: float = 0.0,
                  unit: str | None = None, on_result: Callable[[FileResult], None] | None = None,
                  on_busy: Callable[[str, Path], None] | None = None,
                  folder: str | None = None, sub_accounts_only: bool = False,
                  budget_seconds: float | None = None) -> list[FileResult]:
    """Claim and process every waiting unit file (optionally of one unit, its sub-account
    folders included; or of one `folder` as `Waiting.folder` names it). Not the centre's.

    Units take turns: each unit's oldest file, then each one's next (`fair_order`), so one
    unit's many files (or slow ones: a hostile file may take the reading worker's whole
    minute) never hold up another's. With `budget_seconds` no new file is claimed once that
    long has passed since the first (at least one file is done): the caller comes back.

    Safe on several nodes at once: each file is claimed by one of them, and a file whose unit
    another node is judging now is left for later and reported to `on_busy(unit, path)`.
    exchange.pipeline (about 0.2 s of imports) is loaded once there is a file to judge. The
    pass reads jobs/ once for its receipts' next step (exchange.view.confirm.one_pass).
    """
    results: list[FileResult] = []
    passing = False
    waiting = fair_order([w for w in waiting_work(instance, settle_seconds)
                          if not (w.unit == CENTRE or (unit and w.unit != unit)
                                  or (folder and w.folder != folder)
                                  or (sub_accounts_only and not w.login))])
    started = time.monotonic()
    with ExitStack() as in_pass:
        for i, w in enumerate(waiting):
            if budget_seconds is not None and results and \
                    time.monotonic() - started > budget_seconds:
                break
            from exchange.pipeline import process_claim
            from exchange.view.confirm import one_pass

            if not passing:                  # the pass's first file
                in_pass.enter_context(one_pass())
                passing = True
            with claimed(instance, db, w.path, w.unit, on_busy, w.login) as job:
                if job is None:
                    continue
                if w.login:
                    log.info("unit=%s login=%s file=%s: claimed from the sub-account folder",
                             w.unit, w.login, w.path.name)
                if i + 1 < len(waiting):         # a worker reads the next while this is judged
                    instance.readers.read_early(waiting[i + 1].path)
                result = process_claim(instance, db, job)
            results.append(result)
            if on_result:
                on_result(result)
    return results


@dataclass
class Pass:
    """What one pass over every inbox did."""
    files: list[FileResult]      # unit files (their own inboxes and sub-account folders)
    centre: list[dict]           # centre files: their receipts


def process_waiting(instance: Instance, db: Database, *, settle_seconds: float = 0.0,
                    unit: str | None = None, on_result: Callable[[FileResult], None] | None = None,
                    on_busy: Callable[[str, Path], None] | None = None) -> Pass:
    """Every waiting file of every inbox (`waiting_work`): the units' first, then the
    centre's; with `unit`, only that unit's (`unit` CENTRE: only the centre's)."""
    files = [] if unit == CENTRE else process_inbox(
        instance, db, settle_seconds=settle_seconds, unit=unit, on_result=on_result,
        on_busy=on_busy)
    centre: list[dict] = []
    if unit in (None, CENTRE):
        from exchange.intake.centre import process_centre_inbox

        centre = process_centre_inbox(instance, db, settle_seconds=settle_seconds)
    return Pass(files, centre)
