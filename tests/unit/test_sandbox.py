"""The reading sandbox (exchange.read.sandbox): workers reused across files, a large sheet streamed
in chunks with exactly the rows of an in-process read, and a worker that dies, hangs or passes a
limit is that file's refusal, with a fresh worker for the next file.

The first three tests are those of the helper process that read large sheets until issue 15
(tests/unit/test_read_slices.py), with the same assertions against the worker."""
from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import openpyxl
import pytest

from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.metrics import Metrics
from exchange.read.guard import sniff
from exchange.read.sandbox import TEST_HOOKS_ENV, TEST_MARKER, Readers
from exchange.read.tables import STREAM_SHEET_BYTES, open_book
from tests.flows.hostile_files import corner_cells_xlsx, cut_records_xls
from tests.unit.test_read_slices import big_sheet


@pytest.fixture
def readers() -> Iterator[Readers]:
    pool = Readers(Limits(reader_memory_mb=200))
    yield pool
    pool.close()


def small_book(path: Path, value: str = "x") -> Path:
    wb = openpyxl.Workbook()
    wb.active.append([value, 1])
    wb.save(path)
    return path


def rows_of(pool: Readers, path: Path, stream_above: int = 0) -> list[tuple[str, list[Any]]]:
    with pool.upload(path, stream_above=stream_above) as upload:
        return [(sheet.name, list(sheet.rows)) for sheet in upload.book().sheets]


def in_process(path: Path) -> list[tuple[str, list[Any]]]:
    limits = Limits()
    with open_book(path, sniff(path, limits), limits, stream_above=1 << 40) as book:
        return [(sheet.name, list(sheet.rows)) for sheet in book.sheets]


def worker_pid(pool: Readers) -> int:
    [worker] = pool._all
    return worker.pid


def test_one_worker_reads_file_after_file(tmp_path: Path, readers: Readers) -> None:
    pids = set()
    for i in range(5):
        assert rows_of(readers, small_book(tmp_path / f"{i}.xlsx", f"v{i}")) == [
            ("Sheet", [(1, (f"v{i}", 1.0))])]
        pids.add(worker_pid(readers))
    assert len(pids) == 1


def test_a_large_sheet_comes_in_chunks_with_every_row(tmp_path: Path, readers: Readers) -> None:
    big_sheet(tmp_path, 7000)                    # several chunks of rows, several slices
    assert rows_of(readers, tmp_path / "big.xlsx") == in_process(tmp_path / "big.xlsx")


def test_an_abandoned_sheet_stops_its_reader(tmp_path: Path, readers: Readers) -> None:
    big_sheet(tmp_path, 20000)
    with readers.upload(tmp_path / "big.xlsx", stream_above=0) as upload:
        rows = next(upload.book().sheets).rows
        assert next(rows)[0] == 1
        pid = worker_pid(readers)
        started = time.monotonic()
    assert time.monotonic() - started < 2         # told to stop, not waited for to the end
    assert rows_of(readers, small_book(tmp_path / "next.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]
    assert worker_pid(readers) == pid             # the same worker, ready for the next file


def test_a_worker_that_dies_is_a_corrupt_file_not_a_hang(tmp_path: Path, readers: Readers) -> None:
    big_sheet(tmp_path, 30000)                    # more than a chunk and the socket hold
    with pytest.raises(FileRejected) as err:
        with readers.upload(tmp_path / "big.xlsx", stream_above=0) as upload:
            rows = next(upload.book().sheets).rows
            next(rows)
            pid = worker_pid(readers)
            os.kill(pid, signal.SIGKILL)          # the kernel's OOM killer, say
            for _ in rows:
                pass
    assert err.value.code == "file.unreadable"
    assert err.value.params == {"reason": "reader_crashed"}
    assert rows_of(readers, small_book(tmp_path / "next.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]
    assert worker_pid(readers) != pid


def test_a_worker_stopped_and_continued_loses_no_rows(tmp_path: Path, readers: Readers) -> None:
    """Ctrl-Z and fg, or a profiler attaching: each stop cuts the worker's socket writes short."""
    big_sheet(tmp_path, 30000)
    [(_, expected)] = in_process(tmp_path / "big.xlsx")
    with readers.upload(tmp_path / "big.xlsx", stream_above=0) as upload:
        rows = next(upload.book().sheets).rows
        got = [next(rows)]
        pid = worker_pid(readers)
        done = threading.Event()

        def stop_and_continue() -> None:
            try:
                while not done.is_set():
                    os.kill(pid, signal.SIGSTOP)
                    time.sleep(0.002)
                    os.kill(pid, signal.SIGCONT)
                    time.sleep(0.003)
            except ProcessLookupError:            # the worker died: the test fails below
                pass

        bother = threading.Thread(target=stop_and_continue)
        bother.start()
        try:
            for row in rows:
                got.append(row)
                if len(got) % 2000 == 0:
                    time.sleep(0.05)              # a slow caller: the socket fills, writes block
        finally:
            done.set()
            bother.join()
    assert len(got) == len(expected) == 30000
    assert got == expected


def test_a_panic_in_calamine_is_a_damaged_file_and_a_new_worker(tmp_path: Path,
                                                                 readers: Readers) -> None:
    metrics = Metrics()
    readers.metrics = lambda: metrics
    rows_of(readers, small_book(tmp_path / "first.xlsx"))
    pid = worker_pid(readers)
    with pytest.raises(FileRejected) as err:
        rows_of(readers, cut_records_xls(tmp_path / "cut.xls"))
    assert (err.value.code, err.value.params) == ("file.unreadable", {"reason": "reader_crashed"})
    assert rows_of(readers, small_book(tmp_path / "next.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]
    assert worker_pid(readers) != pid
    # A panic is not a limit: the worker gave up by itself and was replaced.
    assert counted(metrics, "exchange_reader_sandbox_kills") == {}
    assert counted(metrics, "exchange_reader_worker_restarts") == {"gave_up": 1.0}


def test_past_the_cheap_checks_the_memory_limit_holds(tmp_path: Path) -> None:
    """Limits wide enough that the corner cell passes the reference check: calamine asks for 17
    billion cells, RLIMIT_DATA refuses, Rust's allocator aborts the worker; the file is refused
    for memory."""
    pool = Readers(Limits(max_columns=16384, max_rows=1_048_576, reader_memory_mb=200))
    try:
        with pytest.raises(FileRejected) as err:
            rows_of(pool, corner_cells_xlsx(tmp_path / "corner.xlsx", 1), stream_above=1 << 40)
        assert (err.value.code, err.value.params) == (
            "file.too_large", {"what": "read_memory", "limit": "200 MB"})
        assert rows_of(pool, small_book(tmp_path / "next.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]
    finally:
        pool.close()


def counted(metrics: Metrics, name: str) -> dict[str, float]:
    """The samples of one labelled counter, by its reason label."""
    return {s.labels["reason"]: s.value for m in metrics.registry.collect() if m.name == name
            for s in m.samples if s.name.endswith("_total")}


@pytest.mark.parametrize("action, code, params, ended", [
    ("abort", "file.unreadable", {"reason": "reader_crashed"}, {"signal"}),
    ("kill", "file.unreadable", {"reason": "reader_crashed"}, {"signal"}),
    # Killed by the watchdog past reader_memory_mb, or its own MemoryError under RLIMIT_DATA
    # first (it then gives up by itself): which comes first depends on the machine's speed.
    ("allocate", "file.too_large", {"what": "read_memory", "limit": "200 MB"},
     {"memory", "gave_up"}),
    ("hang", "file.too_large", {"what": "read_time", "limit": "3 s"}, {"time"}),
    ("spin", "file.too_large", {"what": "read_time", "limit": "3 s"}, {"time"}),
])
def test_a_worker_that_aborts_hangs_or_hoards_costs_the_file_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str, code: str,
        params: dict[str, str], ended: set[str]) -> None:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    metrics = Metrics()
    pool = Readers(Limits(read_seconds=3, reader_memory_mb=200), lambda: metrics)
    try:
        hostile = tmp_path / "hostile.csv"
        hostile.write_bytes(TEST_MARKER + action.encode() + "\n身份证号,姓名\n1,2\n".encode())
        started = time.monotonic()
        with pytest.raises(FileRejected) as err:
            rows_of(pool, hostile)
        assert (err.value.code, err.value.params) == (code, params)
        assert time.monotonic() - started < 10
        assert counted(metrics, "exchange_reader_worker_restarts") == {}
        assert rows_of(pool, small_book(tmp_path / "next.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]
        # What /metrics shows the operator: one worker ended (why: one of `ended`), one started
        # in its place; a kill counted as such, a reader giving up by itself not.
        [(why, restarts)] = counted(metrics, "exchange_reader_worker_restarts").items()
        assert why in ended and restarts == 1.0
        kills = counted(metrics, "exchange_reader_sandbox_kills")
        assert kills == ({} if why == "gave_up" else {why: 1.0})
    finally:
        pool.close()


def test_test_hooks_do_nothing_unless_asked(tmp_path: Path, readers: Readers,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TEST_HOOKS_ENV, raising=False)
    marked = tmp_path / "marked.csv"
    marked.write_bytes(TEST_MARKER + b"abort\na,b\n")
    assert rows_of(readers, marked) == [("csv", [(1, ("EXCHANGE-SANDBOX-TEST:abort",)), (2, ("a", "b"))])]


def test_workers_end_with_their_pool(tmp_path: Path) -> None:
    pool = Readers(Limits())
    rows_of(pool, small_book(tmp_path / "a.xlsx"))
    [worker] = pool._all
    pool.close()
    assert worker.process.poll() is not None


def csv_file(path: Path, value: str) -> Path:
    path.write_bytes(f"身份证号,姓名\n{value},张三\n".encode("gb18030"))
    return path


def claim_rename(path: Path) -> Path:
    """What the claim does to a file between its early read and its upload."""
    moved = path.with_name("claimed-" + path.name)
    os.rename(path, moved)
    return moved


def settled(pool: Readers) -> None:
    """Wait until every worker has answered all it owes (the early reads are done)."""
    for worker in pool._all:
        assert worker.settle(pool.limits)


def test_a_file_read_early_is_answered_from_that_read(tmp_path: Path, readers: Readers) -> None:
    """The next file is read while the one before it is judged; its upload, after the claim
    renamed it, takes what was read. Proof: bytes changed behind the reader's back, keeping the
    file's inode, size and time of change, are not read again."""
    assert rows_of(readers, csv_file(tmp_path / "first.csv", "111")) == [
        ("csv", [(1, ("身份证号", "姓名")), (2, ("111", "张三"))])]
    second = csv_file(tmp_path / "second.csv", "222")
    readers.read_early(second)
    settled(readers)
    before = second.stat()
    second.write_bytes(second.read_bytes().replace(b"222", b"333"))
    os.utime(second, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert rows_of(readers, claim_rename(second), STREAM_SHEET_BYTES) == [
        ("csv", [(1, ("身份证号", "姓名")), (2, ("222", "张三"))])]


def test_a_file_changed_after_its_early_read_is_read_again(tmp_path: Path,
                                                           readers: Readers) -> None:
    second = csv_file(tmp_path / "second.csv", "222")
    readers.read_early(second)
    settled(readers)
    csv_file(second, "2222")                       # saved again before it was claimed
    assert rows_of(readers, claim_rename(second), STREAM_SHEET_BYTES) == [
        ("csv", [(1, ("身份证号", "姓名")), (2, ("2222", "张三"))])]
    # A file read early that never comes costs the next file nothing.
    readers.read_early(csv_file(tmp_path / "gone.csv", "999"))
    assert rows_of(readers, small_book(tmp_path / "other.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]


def test_an_early_read_that_crashes_its_worker_refuses_that_file_only(
        tmp_path: Path, readers: Readers) -> None:
    """calamine panics on the next file while it is read early: the file between is read by
    another worker, and the crashing file is refused when its own turn comes."""
    cut = cut_records_xls(tmp_path / "cut.xls")
    readers.read_early(cut)
    time.sleep(0.5)
    assert rows_of(readers, small_book(tmp_path / "between.xlsx")) == [
        ("Sheet", [(1, ("x", 1.0))])]
    with pytest.raises(FileRejected) as err:
        rows_of(readers, claim_rename(cut), STREAM_SHEET_BYTES)
    assert (err.value.code, err.value.params) == ("file.unreadable", {"reason": "reader_crashed"})
    assert rows_of(readers, small_book(tmp_path / "next.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]


def test_a_worker_that_crashed_on_a_file_read_early_reads_no_other_file(tmp_path: Path) -> None:
    """One worker only: it panics on a file read early that never comes (another node claimed
    it); the next file finds it ended, is read by a new worker, and is not blamed."""
    pool = Readers(Limits(reader_workers=1))
    try:
        pool.read_early(cut_records_xls(tmp_path / "cut.xls"))
        crashed = worker_pid(pool)
        # At once: its answer (it gave up) comes a moment before it has ended.
        assert rows_of(pool, small_book(tmp_path / "other.xlsx")) == [
            ("Sheet", [(1, ("x", 1.0))])]
        assert worker_pid(pool) != crashed
    finally:
        pool.close()


def test_workers_run_this_package_whatever_folder_the_service_runs_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service run from a folder holding another copy of the package (an instance made from
    an older checkout): its workers import the service's own, not that copy."""
    stale = tmp_path / "instance" / "exchange"
    stale.mkdir(parents=True)
    (stale / "__init__.py").write_text("raise ImportError('an older copy of the package')\n")
    monkeypatch.chdir(stale.parent)
    pool = Readers(Limits())
    try:
        assert rows_of(pool, small_book(tmp_path / "a.xlsx")) == [("Sheet", [(1, ("x", 1.0))])]
    finally:
        pool.close()


def test_a_service_killed_with_its_workers_leaves_nothing_in_the_temp_folder(
        tmp_path: Path) -> None:
    """SIGKILL gives the pool no chance to stop its workers: what they wrote to stderr must not
    stay behind as files (a service restarted by its supervisor every night filled /tmp)."""
    import subprocess
    import sys

    temp = tmp_path / "tmp"
    temp.mkdir()
    script = ("import os, signal, sys; from pathlib import Path\n"
              "from exchange.config import Limits; from exchange.read.sandbox import Readers\n"
              "pool = Readers(Limits())\n"
              "with pool.upload(Path(sys.argv[1])) as up: list(up.book().sheets)\n"
              "print(pool._all[0].pid, flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", script, str(small_book(tmp_path / "a.xlsx"))],
                          env={**os.environ, "TMPDIR": str(temp)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    worker = int(done.stdout)
    deadline = time.monotonic() + 10     # the orphaned worker sees its channel close and ends
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(temp.iterdir()) == []


def test_a_large_sheet_past_the_row_limit_is_refused_before_a_row_is_read(tmp_path: Path) -> None:
    big_sheet(tmp_path, 300)
    limits = Limits(max_rows=200)
    with open_book(tmp_path / "big.xlsx", sniff(tmp_path / "big.xlsx", limits), limits,
                   stream_above=0) as book:
        rows = next(book.sheets).rows
        with pytest.raises(FileRejected) as err:
            next(rows)
    assert (err.value.code, err.value.params) == ("file.too_large", {"what": "row_count", "limit": 200})
    limits = Limits(max_rows=270)                 # 300 rows: within the title rows' room
    with open_book(tmp_path / "big.xlsx", sniff(tmp_path / "big.xlsx", limits), limits,
                   stream_above=0) as book:
        assert len(list(next(book.sheets).rows)) == 300


def test_a_stop_signal_to_every_process_does_not_end_a_worker_mid_file(
        tmp_path: Path, readers: Readers) -> None:
    """systemd stops a service with SIGTERM to its whole control group: the service finishes the
    file in hand, so its worker must too (it ends when its channel closes)."""
    big_sheet(tmp_path, 7000)
    with readers.upload(tmp_path / "big.xlsx", stream_above=0) as upload:
        rows = next(upload.book().sheets).rows
        got = [next(rows)]
        os.kill(worker_pid(readers), signal.SIGTERM)
        got += list(rows)
    assert got == in_process(tmp_path / "big.xlsx")[0][1]
    [worker] = readers._all
    readers.close()
    assert worker.process.poll() is not None


def _answer(reader: Any) -> tuple[list[Any], bool]:
    """op_rows's answer as the parent reads it: the pickled steps' rows, and whether it is the
    sheet's last."""
    steps, last = reader.op_rows()
    return [row for step in steps for row in pickle.loads(step)], last


def test_a_worker_reads_a_window_ahead_until_it_is_asked_and_answers_with_all_it_holds() -> None:
    from exchange.read.sandbox import READ_STEP, ROWS_AHEAD, _Reader

    total = ROWS_AHEAD * 2 + READ_STEP * 3 + 5
    rows = [(n, (f"v{n}",)) for n in range(1, total + 1)]
    reader = _Reader(Limits(), hooks=False)
    reader.rows = iter(rows)
    reader.read_ahead(lambda: True)              # a request waiting: nothing read meanwhile
    assert not reader.ahead
    first, last = _answer(reader)                # nothing held: one step read on demand
    assert len(first) == READ_STEP and not last
    reader.read_ahead(lambda: False)
    assert reader.held == ROWS_AHEAD             # a window, not the whole sheet
    reader.read_ahead(lambda: False)
    assert reader.held == ROWS_AHEAD
    polls = []
    reader.op_rows()
    reader.read_ahead(lambda: polls.append(1) or len(polls) > 2)    # asked after two steps
    assert reader.held == 2 * READ_STEP
    reader = _Reader(Limits(), hooks=False)
    reader.rows = iter(rows)
    got, sizes = [], []
    last = False
    while not last:
        answer, last = _answer(reader)
        got += answer
        sizes.append(len(answer))
        reader.read_ahead(lambda: False)
    assert got == rows
    assert sizes[0] == READ_STEP and max(sizes) == ROWS_AHEAD     # one request, the whole window
    assert reader.op_rows() == ([], True) and not reader.ahead


def test_what_stops_a_read_ahead_comes_after_the_rows_before_it() -> None:
    from exchange.read.sandbox import READ_STEP, _Reader

    def rows() -> Iterator[tuple[int, tuple[Any, ...]]]:
        yield from ((n, ("x",)) for n in range(1, READ_STEP * 3 + 1))
        raise FileRejected("file.unreadable", reason="corrupt")

    reader = _Reader(Limits(), hooks=False)
    reader.rows = rows()
    reader.read_ahead(lambda: False)
    got, last = _answer(reader)
    assert len(got) == READ_STEP * 3 and not last
    with pytest.raises(FileRejected):
        reader.op_rows()


def test_a_worker_with_no_sheet_in_hand_does_not_read_ahead() -> None:
    """Nothing to read (before a book, after a file is done): read_ahead returns at once. It
    used to loop on a zero-timeout poll until the next request: every idle worker spun a core."""
    from exchange.read.sandbox import _Reader

    reader = _Reader(Limits(), hooks=False)
    polls = []
    reader.read_ahead(lambda: polls.append(1) or len(polls) > 3)   # bounded if it loops
    assert polls == [] and not reader.ahead


def test_an_idle_worker_uses_no_cpu(tmp_path: Path, readers: Readers) -> None:
    import psutil

    rows_of(readers, small_book(tmp_path / "a.xlsx"))
    [worker] = readers._all
    proc = psutil.Process(worker.process.pid)
    before = sum(proc.cpu_times()[:2])
    time.sleep(1.0)
    assert sum(proc.cpu_times()[:2]) - before < 0.05


@pytest.mark.parametrize("break_", ["\r\n", "\n", "\r", ""])
def test_a_csv_line_of_exactly_max_line_kb_is_read(tmp_path: Path, break_: str) -> None:
    """The bound is on a line's characters; its line break (Excel's CR LF) is not one of them.
    Until 2026-12-07 a line of exactly 1 KB and a CR LF was refused as over 1 KB."""
    limits = Limits(max_line_kb=1)
    path = tmp_path / "line.csv"
    for length, readable in ((1024, True), (1025, False)):
        path.write_text("身份证号,姓名" + (break_ or "\n") + "1," + "x" * (length - 2) + break_,
                        encoding="utf-8", newline="")
        with open_book(path, sniff(path, limits), limits) as book:
            if readable:
                assert [len("".join(r[1])) for r in next(book.sheets).rows][-1] == length - 1
            else:
                with pytest.raises(FileRejected) as err:
                    list(next(book.sheets).rows)
                assert err.value.params == {"what": "line_length", "limit": "1 KB"}
