"""The database files made unwritable while `serve` runs (issue 21 item 12).

`chattr +i` on SQLite's files (what root does to "make them unwritable": permission bits do not
stop root) killed the service with SIGBUS at the next file: SQLite writes its WAL index through a
memory mapping of the -shm file, and the kernel answers a write into the mapping of an immutable
file with SIGBUS. Now the service refuses to use the files, says why in its log, keeps the file,
and judges it once the files can be written again.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange.cli import cli
from exchange.store.db import Database, WriteCheck, unwritable
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.serving import Served, make_instance, wait_until

TITLE = "职工批量新增申报填写表"


def _chattr(flag: str, paths: list[Path]) -> bool:
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True).returncode == 0


@pytest.fixture
def immutable_files(tmp_path: Path):  # type: ignore[no-untyped-def]
    """chattr +i/-i on the given files; skips where chattr cannot (not root, tmpfs, ...)."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    if not _chattr("+i", [probe]):
        pytest.skip("chattr +i is not possible here (needs root and ext4/xfs/btrfs)")
    _chattr("-i", [probe])
    held: list[Path] = []

    def freeze(paths: list[Path]) -> None:
        assert _chattr("+i", paths)
        held.extend(paths)

    def thaw() -> None:
        _chattr("-i", held)
        held.clear()

    yield freeze, thaw
    thaw()


def test_unwritable_is_told_for_each_reason(tmp_path: Path, immutable_files) -> None:  # type: ignore[no-untyped-def]
    freeze, thaw = immutable_files
    path = tmp_path / "x.db"
    assert unwritable(path) is None                       # no such file: nothing to refuse
    path.write_bytes(b"")
    assert unwritable(path) is None
    freeze([path])
    assert unwritable(path) == "not writable"
    assert WriteCheck(path).problem() == f"database file {path} is not writable"
    thaw()
    assert WriteCheck(path).problem() is None


def test_a_process_whose_database_became_immutable_still_exits_cleanly(
        tmp_path: Path, immutable_files) -> None:  # type: ignore[no-untyped-def]
    """Freeing a SQLite connection closes it, and closing writes the WAL index: SIGBUS at exit
    unless Database.dispose() keeps the connections from ever being freed."""
    freeze, _thaw = immutable_files
    path = tmp_path / "x.db"
    script = (
        "import sys\n"
        "from sqlalchemy import text\n"
        "from exchange.store.db import Database\n"
        f"db = Database('sqlite:///{path}')\n"
        "with db.session() as s:\n"
        "    s.execute(text('CREATE TABLE t (x)')); s.execute(text('INSERT INTO t VALUES (1)'))\n"
        "sys.stdin.readline()\n"                   # the test freezes the files meanwhile
        "db.dispose()\n"
        "print('disposed')\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: path.with_name("x.db-shm").exists(), 30, "the database to be written")
    freeze([path, path.with_name("x.db-wal"), path.with_name("x.db-shm")])
    out, err = proc.communicate("go\n", timeout=30)
    assert proc.returncode == 0, err
    assert "disposed" in out and "left for the process's exit" in err


def test_serve_refuses_an_immutable_database_and_goes_on_once_it_is_writable(
        tmp_path: Path, immutable_files) -> None:  # type: ignore[no-untyped-def]
    freeze, thaw = immutable_files
    instance = make_instance(tmp_path / "inst")
    out = CliRunner().invoke(cli, ["--home", str(instance.home), "units", "add", "1001", "--name",
                                   "南通示例公司"], catch_exceptions=False)
    assert out.exit_code == 0
    receipts = instance.unit_outbox("1001", "receipts")
    db_path = Path(Database(instance.database_url).engine.url.database or "")
    served = Served(instance).start()
    try:
        make_workbook(instance.unit_inbox("1001") / "a.xlsx", ADD_HEADERS,
                      [add_row(make_id("19800101", "751"), "甲")], title=TITLE)
        wait_until(lambda: list(receipts.glob("*.json")), 30, "the first receipt")
        files = [db_path, db_path.with_name(db_path.name + "-wal"),
                 db_path.with_name(db_path.name + "-shm")]
        assert all(p.exists() for p in files)
        freeze(files)
        make_workbook(instance.unit_inbox("1001") / "b.xlsx", ADD_HEADERS,
                      [add_row(make_id("19800101", "752"), "乙")], title=TITLE)
        wait_until(lambda: "not writable" in served.output(), 30,
                   "the log to say why the database is not used")
        time.sleep(2)                                     # it keeps trying; it must not die
        assert served.proc is not None and served.proc.poll() is None, served.output()[-3000:]
        assert len(list(receipts.glob("*.json"))) == 1    # nothing answered for b.xlsx
        assert not any(instance.quarantine.rglob("*.xlsx"))
        kept = [p for p in (*instance.unit_inbox("1001").iterdir(), *instance.processing.iterdir())
                if p.name.endswith("b.xlsx")]
        assert len(kept) == 1                             # the file is kept
        thaw()
        found = wait_until(lambda: [p for p in receipts.glob("*b.回执.json")], 40,
                           "b.xlsx's receipt once the database can be written")
        assert json.loads(found[0].read_text(encoding="utf-8"))["status"] == "accepted"
        freeze(files)               # stopping while they cannot be written: no SIGBUS at exit
        code = served.stop()
    finally:
        thaw()
        if served.proc is not None and served.proc.poll() is None:
            served.stop()
    assert code == 0, served.output()[-3000:]
    assert "its connections are left for the process's exit" in served.output()
