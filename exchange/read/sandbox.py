"""Every untrusted file is parsed here: in a sandboxed worker process, never in the service.

DESIGN §7 and issue 15. Native readers (calamine, Pillow, the csv module over a 99 MB line) can
panic, abort or allocate without bound on a malformed file; in the service's own process that
took the intake down with them. So sniffing (guard.sniff), workbook and CSV reading
(read.tables, read.slices) and photo decoding (read.images) run in a small pool of long-lived
worker processes, reused across files: a thousand small files cost a thousand round trips on a
socket, not a thousand process starts (a worker starts in about 0.15 s).

Each worker confines itself at start, with limits the OS enforces:
- RLIMIT_DATA = [limits] reader_memory_mb (heap and anonymous mappings: Python's arenas, Rust's
  and Pillow's buffers), RLIMIT_NOFILE, no core files, RLIMIT_FSIZE (it writes nothing but its
  own stderr log); glibc's malloc arenas capped at two (MALLOC_ARENA_MAX), and memory handed
  back to the OS after every file (malloc_trim), so an idle worker stays small;
- RLIMIT_CPU: [limits] read_seconds of CPU per file (the soft limit is moved on at each file);
- no network where the kernel lets an unprivileged process have its own network namespace
  (unshare(CLONE_NEWUSER | CLONE_NEWNET)): a reader has nothing to reach.
The parent watches each request too: the worker's resident size (psutil) against
reader_memory_mb and the wall-clock time spent on the file against read_seconds; past either,
the worker is killed.

A worker that panics (pyo3's PanicException), aborts (SIGABRT: Rust's allocator failing under
RLIMIT_DATA), is killed (SIGKILL, the kernel's OOM killer), or passes a limit costs that file a
FileRejected with the limit named — `file.too_large` (read_memory, read_time) or
`file.unreadable` (reader_crashed) — and the pool starts a new worker for the next file. The
pipeline writes the receipt and quarantines the file as for any other refusal.

A worker is `python -c "...sandbox._worker_main()"` started with subprocess, not a
multiprocessing.Process: that would re-import the service's __main__ (the `exchange` script, or
pytest) in every worker. The channel is multiprocessing's own Connection over a socketpair
(pickled messages, its own framing, short writes handled): the parent asks (`open`, `book`,
`sheet`, `rows`, `photos`, `photo`, `done`) and the worker answers one message each. After
answering, the worker reads on while the pipeline works, READ_STEP rows at a time, until it holds
ROWS_AHEAD rows or the next request comes; each step is pickled as it is read, and `rows` is
answered with every step held (and whether the sheet ends there). So a request seldom waits for
a step in progress or for pickling, the two processes keep both cores busy, and memory stays flat
for any number of rows (100,000 rows: the parent's waits 2.5 s -> 1.1 s, ~0.6 s of it
start-up). A small file costs one round trip: `open` sniffs it, opens it and answers with its
first sheet's rows; `done` is not waited for (its answer is read when the worker is next taken
from the pool).

A pass over the inboxes has the next file read early (`Readers.read_early`, `early`) by another
worker while the pipeline judges the one before it: a small workbook or CSV is read whole and
kept, and the `open` of the same file after its claim is answered from it. The parent waited
~3.5 ms a small file for its workers, ~1.5 ms since; 1,000 small files take 4-23% less time
(issue 19, bench/README.md). What an early read meets is told for that file only.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
import logging
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from exchange import codes as C
from exchange.children import python_argv, python_env, stop_child
from exchange.config import COLLECTOR_THRESHOLDS, Limits
from exchange.errors import FileRejected
from exchange.kinds.spec import PhotoRules
from exchange.read.guard import Sniffed
from exchange.read.tables import STREAM_SHEET_BYTES, TABLE_FORMATS, Book, Row, Sheet

if TYPE_CHECKING:
    from exchange.metrics import Metrics

log = logging.getLogger("exchange.read.sandbox")

READ_STEP = 500              # rows read between looks for the parent's next request (~10 ms)
ROWS_AHEAD = 8000            # rows a worker holds read ahead: ~1.2 MB pickled, a wide template
TICK = 0.1                   # seconds between looks at a busy worker's size and clock
OPEN_FILES = 64              # a reader opens the file, a zip member or two
STDERR_BYTES = 4 << 20       # a worker's stderr log (Rust's panic messages) is bounded
STOP_GRACE = 5.0
# The next file read early (`Readers.read_early`), while the parent judges the one before it: a
# file at most this large on disk, and of at most this many rows; a larger one is read in turn.
EARLY_BYTES = 1 << 20
EARLY_ROWS = 5000
# Test hooks (tests/flows/test_sandbox.py): with this variable set in the environment of the
# process that starts the pool, a file beginning with TEST_MARKER + an action makes its worker
# abort, be killed, hang, or allocate without bound while it reads. Nothing happens otherwise.
TEST_HOOKS_ENV = "EXCHANGE_SANDBOX_TEST_HOOKS"
TEST_MARKER = b"EXCHANGE-SANDBOX-TEST:"
# glibc's malloc keeps at most two arenas (one per thread by default, never handed back);
# blocks of 4 MiB and more are mapped on their own, and more than 1 MiB free at the heap's top
# goes back (both fixed: glibc would otherwise raise them as blocks are freed). Reading 500,000
# rows, the worker and the error-book helper held ~73 MB together without them, ~65 with them;
# a 128 KiB mapping bar, ~63 MB, but a 100,000-row `validate` took ~0.5 s longer (pages mapped
# and faulted in again for every slice).
# A Rust panic says what and where in one line, without a backtrace.
WORKER_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * 1024),
              "MALLOC_TRIM_THRESHOLD_": str(1024 * 1024), "RUST_BACKTRACE": "0"}
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000


# The worker's side -------------------------------------------------------------------------------
def _confine(limits: Limits) -> None:
    """OS limits on this process, set once at start (see the module's docstring)."""
    memory = limits.reader_memory_mb << 20
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (STDERR_BYTES, STDERR_BYTES))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a full log fails the write, not the worker
    # Stopping is the service's: Ctrl-C, or systemd's SIGTERM to the whole control group, must
    # not end a worker mid-file (its file would be refused as if the reader had crashed). The
    # service finishes the file in hand; the worker ends when its channel closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    libc = _libc()
    if libc is not None:
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            os.write(2, b"exchange reader: no network namespace of its own here\n")
    import csv

    csv.field_size_limit(limits.max_line_kb * 1024)
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limits.bomb_photo_pixels    # Pillow's own guard, a backstop


@functools.cache
def _libc() -> Any:
    """The C library, found once (find_library runs ldconfig: milliseconds each time)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


class _Reader:
    """What a worker holds of the file in hand, and the answers to the parent's requests."""

    def __init__(self, limits: Limits, hooks: bool) -> None:
        self.limits, self.hooks = limits, hooks
        self.stack = ExitStack()
        self.path: Path | None = None
        self.hook: bytes | None = None
        self.sheets: Iterator[Sheet] | None = None
        self.rows: Iterator[Row] | None = None
        # The next steps of rows, read ahead; the last may be what stopped the reading.
        self.ahead: deque[bytes | BaseException] = deque()
        self.held = 0                    # rows in `ahead`
        self.read_all = False            # the sheet's last step (or what stopped it) is ahead
        self.entries: list[Any] = []
        self.early: _Early | None = None  # the next file, read early (op_early)

    def op_open(self, path: str, stream_above: int | None) -> tuple[Sniffed, Any]:
        """The file sniffed; a workbook or CSV also opened (when `stream_above` is given), its
        first sheet's first rows sent with the answer: a small file in one round trip."""
        early, self.early = self.early, None
        if early is not None and stream_above == early.stream_above and early.same(path):
            self._begin(path)
            self.sheets = iter([Sheet(name, iter(rows), set(hidden))
                                for name, rows, hidden in early.sheets])
            return early.sniffed, (early.format, early.meta, self.op_sheet())
        sniffed = self._sniff(path)
        if stream_above is not None and sniffed.format in TABLE_FORMATS:
            return sniffed, self.op_book(sniffed.format, sniffed.largest_sheet, stream_above)
        return sniffed, None

    def op_early(self, path: str, key: tuple[int, ...], stream_above: int) -> None:
        """Read the small workbook or CSV at `path` whole now, while the parent works on the
        file before it, and keep it for the next `open` if that is the same file: the `key`
        the parent saw (inode, size and time of change: the claim renames it into
        var/processing); any other `open` drops it. Nothing is kept of a file that has changed
        since, is marked for a test hook, has more than EARLY_ROWS rows, or that a reader
        refuses: its `open` reads it in turn, and answers in its turn."""
        self.early = None
        try:
            sniffed = self._sniff(path)
            if self.hook is not None or sniffed.format not in TABLE_FORMATS:
                return
            from exchange.read.tables import open_book

            with open_book(Path(path), sniffed, self.limits, stream_above) as book:
                sheets, rows = [], 0
                for sheet in book.sheets:
                    got = list(itertools.islice(sheet.rows, EARLY_ROWS + 1 - rows))
                    rows += len(got)
                    if rows > EARLY_ROWS:
                        return
                    sheets.append((sheet.name, got, sorted(sheet.hidden)))
                early = _Early(key, stream_above, sniffed, book.format, book.meta, sheets)
            if early.same(path):       # not changed while it was read
                self.early = early
        except FileRejected as exc:
            if exc.params.get("reason") == "reader_crashed":
                raise                    # a panic: this worker is replaced (see _worker_main)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - a vanished file, say: its `open` will tell
            return
        finally:
            self.op_done()

    def _sniff(self, path: str) -> Sniffed:
        from exchange.read.guard import sniff

        self._begin(path)
        if self.hooks:
            with self.path.open("rb") as fh:
                head = fh.readline(100)
            if head.startswith(TEST_MARKER):
                self.hook = head[len(TEST_MARKER):].strip()
        return sniff(Path(path), self.limits)

    def _begin(self, path: str) -> None:
        """A new file in hand: the last one closed, read_seconds of CPU from now."""
        self.op_done()
        self.path = Path(path)
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        resource.setrlimit(resource.RLIMIT_CPU, (int(used) + self.limits.read_seconds + 1,
                                                 resource.RLIM_INFINITY))

    def op_book(self, fmt: str, largest_sheet: int, stream_above: int
                ) -> tuple[str, dict[str, str], tuple[str, list[Row], bool] | None]:
        """The book's format and _meta, and its first sheet as op_sheet gives it."""
        from exchange.read.tables import open_book

        assert self.path is not None
        book = self.stack.enter_context(open_book(self.path, Sniffed(fmt, largest_sheet),
                                                  self.limits, stream_above))
        self.sheets = book.sheets
        return book.format, book.meta, self.op_sheet()

    def op_sheet(self) -> tuple[str, list[bytes], bool, list[int]] | None:
        """The next visible sheet's name, its first rows as op_rows gives them, and its hidden
        rows (known once the first rows are read; the sheet in hand is dropped)."""
        self._drop_rows()
        sheet = next(self.sheets, None) if self.sheets is not None else None
        if sheet is None:
            return None
        self.rows = sheet.rows
        rows, last = self.op_rows()
        return sheet.name, rows, last, sorted(sheet.hidden)

    def op_rows(self) -> tuple[list[bytes], bool]:
        """Every row read ahead (at least a step, read now if none is held), and whether the
        sheet ends with them. What stopped the reading is raised in its turn."""
        self._fire_hook()
        if not self.ahead:
            self._read_step()
        rows: list[bytes] = []
        while self.ahead and not isinstance(self.ahead[0], BaseException):
            rows.append(self.ahead.popleft())
        if not rows and self.ahead:
            raise self.ahead.popleft()
        self.held = 0
        return rows, self.read_all and not self.ahead

    def read_ahead(self, asked: Callable[[], bool]) -> None:
        """The next steps, read while the parent works on the last rows, until ROWS_AHEAD are
        held or the parent `asked` for something."""
        while (self.rows is not None and not self.read_all and self.held < ROWS_AHEAD
               and not asked()):
            self._read_step()

    def _read_step(self) -> None:
        """READ_STEP more rows of the sheet in hand (or what stopped it: handed over in its
        turn); a step shorter than READ_STEP is the sheet's last."""
        if self.rows is None or self.read_all:
            return
        try:
            step = list(itertools.islice(self.rows, READ_STEP))
        except BaseException as exc:
            self.ahead.append(exc)
            self.read_all = True
            return
        self.ahead.append(pickle.dumps(step, pickle.HIGHEST_PROTOCOL))
        self.held += len(step)
        self.read_all = len(step) < READ_STEP

    def op_photos(self, name: str, fmt: str) -> list[str]:
        from exchange.read.images import entries

        assert self.path is not None
        self._fire_hook()
        self.entries = entries(self.path, name, fmt, self.limits)
        return [e.name for e in self.entries]

    def op_photo(self, index: int, rules: PhotoRules) -> Any:
        from exchange.read.images import decode

        return decode(self.entries[index], rules, self.limits)

    def op_done(self) -> None:
        if self.path is None:
            return
        self._drop_rows()
        self.sheets, self.entries, self.path, self.hook = None, [], None, None
        self.stack.close()
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)          # what this file needed goes back to the OS

    def _drop_rows(self) -> None:
        rows, self.rows, self.read_all, self.held = self.rows, None, False, 0
        self.ahead.clear()
        close = getattr(rows, "close", None)
        if close is not None:
            close()

    def _fire_hook(self) -> None:
        hook, self.hook = self.hook, None
        if hook == b"abort":
            os.abort()
        elif hook == b"kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif hook == b"hang":
            time.sleep(3600)
        elif hook == b"spin":
            while True:
                pass
        elif hook == b"allocate":
            hoard = [bytearray(1 << 20) for _ in range(1 << 20)]
            del hoard


@dataclass(frozen=True)
class _Early:
    """A small file read whole before its `open` (op_early)."""
    key: tuple[int, ...]
    stream_above: int
    sniffed: Sniffed
    format: str
    meta: dict[str, str]
    sheets: list[tuple[str, list[Row], list[int]]]     # name, rows, hidden rows

    @staticmethod
    def key_of(path: str) -> tuple[int, ...]:
        st = os.stat(path)
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def same(self, path: str) -> bool:
        try:
            return _Early.key_of(path) == self.key
        except OSError:
            return False


def _worker_main() -> None:
    """A worker's life: its channel is the descriptor named on the command line; the first
    message sets its limits. Then it answers requests until the parent goes away."""
    import gc

    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    conn = Connection(int(sys.argv[1]))
    limits, hooks = conn.recv()
    _confine(limits)
    reader = _Reader(limits, hooks)
    while True:
        try:
            op, *args = conn.recv()
        except (EOFError, OSError):
            return                          # the parent has gone
        try:
            conn.send(("ok", getattr(reader, "op_" + op)(*args)))
        except FileRejected as exc:
            # A panic caught at the reading boundary (read.tables) is answered like any refusal,
            # but the worker is replaced all the same: nothing of its state is trusted after one.
            crashed = exc.params.get("reason") == "reader_crashed"
            conn.send(("retire" if crashed else "rejected", exc))
            if crashed:
                return
        except MemoryError:
            reader.ahead.clear()
            conn.send(("retire", _memory_refusal(limits)))
            return
        except BaseException:  # a panic in calamine or Pillow, or a bug: this worker is done
            import traceback

            traceback.print_exc()
            conn.send(("retire", FileRejected(C.FILE_UNREADABLE, reason="reader_crashed")))
            return
        reader.read_ahead(conn.poll)


def _memory_refusal(limits: Limits) -> FileRejected:
    return FileRejected(C.FILE_TOO_LARGE, what="read_memory", limit=f"{limits.reader_memory_mb} MB")


def _time_refusal(limits: Limits) -> FileRejected:
    return FileRejected(C.FILE_TOO_LARGE, what="read_time", limit=f"{limits.read_seconds} s")


# The parent's side -------------------------------------------------------------------------------
class _Worker:
    def __init__(self, limits: Limits, hooks: bool) -> None:
        mine, theirs = socket.socketpair()
        # What the worker says on stderr goes to a file with no name (O_TMPFILE): nothing is
        # left in the temp folder when this process is killed before it could stop the worker.
        self.stderr = tempfile.TemporaryFile(prefix="exchange-reader-")
        with mine, theirs:
            self.process = subprocess.Popen(
                python_argv("-c", "from exchange.read.sandbox import _worker_main; _worker_main()",
                            str(theirs.fileno())),
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self.stderr, env=python_env(**WORKER_ENV), start_new_session=True)
            self.conn = Connection(mine.detach())
        self.conn.send((limits, hooks))
        self._ps: Any = None
        self.killed_for: str | None = None
        self.ended: str | None = None    # why it ended before its time (for the pool's counters)
        self.broken = False
        self.owed = 0                    # answers to `done` not yet read (see settle)

    @property
    def pid(self) -> int:
        return self.process.pid

    def receive(self, limits: Limits, seconds: float) -> Any:
        """The worker's next answer; killed past `seconds` or past reader_memory_mb (then the
        receive fails as for any death)."""
        deadline = time.monotonic() + seconds
        while not self.conn.poll(TICK):
            if self.rss() > limits.reader_memory_mb << 20:
                self.kill("memory")
            elif time.monotonic() > deadline:
                self.kill("time")
        return self.conn.recv()

    def finish(self) -> None:
        """Tell the worker the file is done, without waiting: it closes the file and gives
        memory back while the pipeline writes the receipt."""
        try:
            self.conn.send(("done",))
            self.owed += 1
        except OSError:
            self.broken = True

    def settle(self, limits: Limits) -> bool:
        """Read the answers owed; False when the worker died meanwhile (no file's fault)."""
        try:
            while self.owed:
                status, _ = self.receive(limits, limits.read_seconds)
                self.owed -= 1
                if status == "retire":       # it gave up on a file read early, and has ended
                    self.broken, self.ended = True, "gave_up"
        except (EOFError, OSError):
            self.broken = True
        return not self.broken and self.alive()

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        import psutil

        try:
            if self._ps is None:
                self._ps = psutil.Process(self.pid)
            return int(self._ps.memory_info().rss)
        except psutil.Error:
            return 0

    def kill(self, why: str) -> None:
        self.killed_for = why
        if self.alive():
            self.process.kill()

    def stop(self) -> None:
        """Close the channel (an idle worker ends at once) and reap; kill if it lingers."""
        stop_child(self.process, self.conn, STOP_GRACE)
        self.stderr.close()

    def stderr_tail(self) -> str:
        """The last lines the worker wrote (a panic's message, a traceback's end), on one line."""
        try:
            fd = self.stderr.fileno()
            tail = os.pread(fd, 600, max(0, os.fstat(fd).st_size - 600))
        except (OSError, ValueError):       # ValueError: closed
            return ""
        lines = tail.decode("utf-8", "replace").strip().splitlines()
        return " | ".join(line.strip() for line in lines[-4:])

    def death(self, limits: Limits, name: str) -> FileRejected:
        """Why the worker died, as the file's refusal; logged with what it wrote."""
        self.broken = True
        try:
            code: int | None = self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            code = None
        tail = self.stderr_tail()
        if self.killed_for == "time" or code == -signal.SIGXCPU:
            refusal, self.ended = _time_refusal(limits), "time"
        elif self.killed_for == "memory" or "memory allocation of" in tail:
            # ours, or Rust's allocator under RLIMIT_DATA
            refusal, self.ended = _memory_refusal(limits), "memory"
        else:       # a signal from outside (the kernel's OOM killer, an operator), a segfault
            refusal = FileRejected(C.FILE_UNREADABLE, reason="reader_crashed")
            self.ended = "signal" if code is not None and code < 0 else "crash"
        log.warning("reading worker %s died on %s (exit %s%s): %s; last words: %s",
                    self.pid, name, code, f", killed for {self.killed_for}"
                    if self.killed_for else "", refusal, tail or "-")
        return refusal


class Upload:
    """One file in a worker's hands: `sniffed`, then its `book()` or its photos. Made by
    Readers.upload(); every request is watched for the worker's size and time."""

    def __init__(self, pool: "Readers", worker: _Worker, path: Path, stream_above: int) -> None:
        self.pool, self.worker, self.path = pool, worker, path
        self.limits = pool.limits
        self.stream_above = stream_above
        self.spent = 0.0
        self.sniffed = Sniffed("csv")
        self.opened: Any = None            # the book's head, when opened with the sniffing

    def call(self, op: str, *args: Any) -> Any:
        """Ask the worker and wait for its answer, watching its size and the file's time."""
        w, limits = self.worker, self.limits
        if w.broken:
            raise FileRejected(C.FILE_UNREADABLE, reason="reader_crashed")
        started = time.monotonic()
        deadline = started + limits.read_seconds - self.spent
        try:
            w.conn.send((op, *args))
            # First what it owes (the last file closed; this file read early, read_early): a
            # worker that gave up on the early read has ended, and that answer is this file's.
            answers, w.owed = 1 + w.owed, 0
            for _ in range(answers):
                status, value = w.receive(limits, deadline - time.monotonic())
                if status == "retire":
                    break
        except (EOFError, OSError) as exc:
            raise w.death(limits, self.path.name) from exc
        finally:
            self.spent += time.monotonic() - started
        if status == "ok":
            return value
        if status == "retire":           # a panic or MemoryError: the worker has ended itself
            w.broken, w.ended = True, "gave_up"
            log.warning("reading worker %s gave up on %s: %s; last words: %s", w.pid,
                        self.path.name, value, w.stderr_tail() or "-")
        raise value

    def book(self) -> Book:
        """The workbook or CSV as sheets of rows, each further sheet and chunk asked for as
        needed (a small file came whole with the answer to `open`)."""
        opened, self.opened = self.opened, None
        if opened is None:
            opened = self.call("book", self.sniffed.format, self.sniffed.largest_sheet,
                               self.stream_above)
        fmt, meta, first = opened
        return Book(fmt, self._sheets(first), meta)

    def _sheets(self, head: tuple[str, list[bytes], bool, list[int]] | None) -> Iterator[Sheet]:
        while head is not None:
            name, rows, last, hidden = head
            yield Sheet(name, self._rows(rows, last), set(hidden))
            head = self.call("sheet")

    def _rows(self, rows: list[bytes], last: bool) -> Iterator[Row]:
        while True:
            for step in rows:
                yield from pickle.loads(step)
            if last:
                return
            rows, last = self.call("rows")

    def photos(self, name: str) -> list[str]:
        """The photos of a photo upload (the file, or a zip's members), all checked first."""
        return list(self.call("photos", name, self.sniffed.format))

    def photo(self, index: int, rules: PhotoRules) -> Any:
        """images.Decoded of the index-th photo."""
        return self.call("photo", index, rules)


class Readers:
    """A pool of up to [limits] reader_workers reading workers, started as needed and reused."""

    def __init__(self, limits: Limits,
                 metrics: "Callable[[], Metrics] | None" = None) -> None:
        self.limits = limits
        self.metrics = metrics           # called only when a worker ends early (the import of
                                         # prometheus-client is not for `validate`)
        self._ended: list[str] = []      # why workers ended early, counted as restarts when replaced
        self.hooks = bool(os.environ.get(TEST_HOOKS_ENV))
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._early: dict[_Worker, tuple[int, ...]] = {}   # a worker's file read early (key)
        self._free = threading.Condition()
        # Workers end with the pool (or at exit: they are daemons, and see their pipe close).
        self._finalizer = weakref.finalize(self, _stop_all, self._all)

    @contextmanager
    def upload(self, path: Path, book: bool = True,
               stream_above: int = STREAM_SHEET_BYTES) -> Iterator[Upload]:
        """A worker holding `path`, sniffed (FileRejected for what sniffing refuses); a workbook
        or CSV opened at once unless `book` is False (a photo upload). Sheets with more than
        `stream_above` bytes of XML are read a slice at a time."""
        worker = self._take(self._early_reader(path))
        up = Upload(self, worker, path, stream_above)
        try:
            up.sniffed, up.opened = up.call("open", str(path), stream_above if book else None)
            yield up
        finally:
            if not worker.broken:
                worker.finish()
            self._give_back(worker)

    def read_early(self, path: Path, stream_above: int = STREAM_SHEET_BYTES) -> None:
        """Have a worker read `path` (a small workbook or CSV) now, while the caller works on
        the file before it: the upload of the same file, renamed by its claim, is then answered
        at once. Only by an idle worker, or one started for it; nothing waits for it.

        What an early read meets is told for that file only: its own upload goes to the same
        worker and reads what it owes within the file's read_seconds, so a worker that died or
        hangs on it refuses that file as if it had been opened then. Another file's upload
        takes such a worker last, and finds it as one that died between files."""
        try:
            key = _Early.key_of(str(path))
        except OSError:
            return
        if key[2] > EARLY_BYTES:
            return
        with self._free:
            worker = self._idle_without_early()
            if worker is None:
                if len(self._all) >= self.limits.reader_workers:
                    return
                worker = _Worker(self.limits, self.hooks)
                self._all.append(worker)
            try:
                worker.conn.send(("early", str(path), key, stream_above))
                worker.owed += 1
                self._early[worker] = key
            except OSError:
                worker.broken = True
            self._idle.append(worker)
            self._free.notify()

    def _early_reader(self, path: Path) -> "_Worker | None":
        """The worker that read `path` early, if it is this file unchanged."""
        if not self._early:
            return None
        try:
            key = _Early.key_of(str(path))
        except OSError:
            return None
        with self._free:
            return next((w for w, k in self._early.items() if k == key), None)

    def start(self) -> None:
        """Start a worker now, if none is, without waiting for it: its start-up (~0.15 s)
        overlaps whatever the caller does before the first file."""
        with self._free:
            if not self._all:
                worker = _Worker(self.limits, self.hooks)
                self._all.append(worker)
                self._idle.append(worker)

    def close(self) -> None:
        self._finalizer()

    def _take(self, preferred: "_Worker | None" = None) -> _Worker:
        with self._free:
            if preferred is not None and preferred in self._idle and not preferred.broken:
                self._idle.remove(preferred)
                self._early.pop(preferred, None)
                return preferred         # what it owes is read with the file's time (call)
            while True:
                # Workers holding a file read early are taken last: a new worker is started
                # first, if the pool may grow.
                full = len(self._all) >= self.limits.reader_workers
                taken = self._idle_without_early() or (self._idle.pop(0) if full and self._idle
                                                       else None)
                if taken is not None:
                    self._early.pop(taken, None)          # its early read is dropped
                    if taken.settle(self.limits):
                        return taken
                    self._retire(taken)
                elif not full:
                    break
                else:
                    self._free.wait()
            worker = _Worker(self.limits, self.hooks)
            self._all.append(worker)
            if self._ended and self.metrics is not None:
                self.metrics().reader_restarted(self._ended.pop(0))
            return worker

    def _idle_without_early(self) -> "_Worker | None":
        """The idle worker given back last that holds no file read early, taken off the list."""
        for i in range(len(self._idle) - 1, -1, -1):
            if self._idle[i] not in self._early:
                return self._idle.pop(i)
        return None

    def _give_back(self, worker: _Worker) -> None:
        with self._free:
            if worker.broken or not worker.alive():
                self._retire(worker)
            else:
                self._idle.append(worker)
            self._free.notify()

    def _retire(self, worker: _Worker) -> None:
        if worker in self._all:
            self._all.remove(worker)
        self._early.pop(worker, None)
        if worker.ended is None and not worker.alive():
            worker.ended = "crash"           # died between files (seen when taken again)
        if worker.ended is not None:
            self._ended.append(worker.ended)
            if self.metrics is not None and worker.ended in ("memory", "time", "signal"):
                self.metrics().reader_killed(worker.ended)
        worker.stop()


def _stop_all(workers: list[_Worker]) -> None:
    for worker in list(workers):
        try:
            worker.stop()
        except Exception:  # at exit: a worker already gone
            pass
    workers.clear()


__all__ = ["Readers", "Upload", "TEST_HOOKS_ENV", "TEST_MARKER"]
