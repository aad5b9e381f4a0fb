"""The operator's mistakes stop `serve` and `process` at start with one plain line: broken rules,
a port out of range, a worker limit no reader can start under, a job that never fires, a typo
in a region switch, an instance whose var/ cannot be written (exploratory test r3, r13).

Before, `serve` started with broken rules and quarantined every unit's file with a receipt
telling the unit its file was corrupt; the others were tracebacks or silence.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.serving import make_instance

ROOT = Path(__file__).resolve().parents[2]


def exchange(home: Path, *args: str, setup: str = "") -> subprocess.CompletedProcess[str]:
    """The console script (`setup`: Python run first, to break something on purpose)."""
    code = f"{setup}\nfrom exchange.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, "--home", str(home), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def _edit(path: Path, pattern: str, value: str) -> None:
    text, n = re.subn(pattern, value, path.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert n == 1, pattern
    path.write_text(text, encoding="utf-8")


def _plain(done: subprocess.CompletedProcess[str], status: int, line: str) -> None:
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().splitlines() == [line]


def test_broken_rules_stop_serve_and_process_before_any_file_is_judged(tmp_path: Path) -> None:
    instance = make_instance(tmp_path / "inst")
    wage = instance.rules_dir / "kinds" / "wage.toml"
    wage.write_text(wage.read_text(encoding="utf-8") + "garbage = [\n", encoding="utf-8")
    instance.unit_inbox("1001").mkdir(parents=True)
    waiting = instance.unit_inbox("1001") / "new.csv"
    waiting.write_text("身份证号,姓名\n", encoding="utf-8")
    for command in ("serve", "process"):
        done = exchange(instance.home, command)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"config error: {wage}:") and "Traceback" not in done.stderr
    assert waiting.exists() and not (instance.var / "ssh_host_ed25519_key").exists()
    assert not instance.quarantine.exists() or not any(instance.quarantine.rglob("*.csv"))


@pytest.mark.parametrize("pattern,value,line", [
    (r"^port = \d+", "port = 99999", "config error: config.toml [sftp].port: expected 1-65535, got 99999"),
    (r"^reader_memory_mb = \d+", "reader_memory_mb = 1",
     "config error: config.toml [limits].reader_memory_mb: at least 64 (a reading worker needs "
     "that much to start), got 1"),
    (r"^read_seconds = \d+", "read_seconds = 1",
     "config error: config.toml [limits].read_seconds: at least 2, got 1"),
])
def test_a_setting_no_service_can_run_with_is_a_config_error(tmp_path: Path, pattern: str, value: str,
                                                             line: str) -> None:
    instance = make_instance(tmp_path / "inst")
    _edit(instance.home / "config.toml", pattern, value)
    _plain(exchange(instance.home, "serve"), 2, line)


def test_a_job_that_never_fires_stops_serve_naming_the_file(tmp_path: Path) -> None:
    instance = make_instance(tmp_path / "inst")
    job = instance.jobs_dir / "submit_batches.toml"
    _edit(job, r"^cron = .*$", 'cron = "0 2 31 2 *"')
    _plain(exchange(instance.home, "serve"), 2,
           f"config error: {job}: cron: '0 2 31 2 *' never fires (no such day)")


def test_a_typo_in_a_region_switch_listing_kinds_is_a_config_error(tmp_path: Path) -> None:
    instance = make_instance(tmp_path / "inst")
    region = instance.rules_dir / "region.toml"
    _edit(region, r"^arrears_block = .*$", 'arrears_block = ["employee_stp", "resident_renewal"]')
    done = exchange(instance.home, "process")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"config error: {region} arrears_block: 'employee_stp' is not a kind "
                                  "(known: class_info, ")


def test_an_unwritable_var_ends_serve_and_process_with_one_line(tmp_path: Path) -> None:
    """A read-only var/ (as the kernel says it, EROFS): serve's log file, process's database."""
    instance = make_instance(tmp_path / "inst")
    log = instance.var / "logs" / "exchange.log"
    refuse_log = ("import errno, exchange.serve as s\n"
                  "def refuse(instance):\n"
                  f"    raise OSError(errno.EROFS, 'Read-only file system', {str(log)!r})\n"
                  "s.setup_logging = refuse")
    _plain(exchange(instance.home, "serve", setup=refuse_log), 1,
           f"error: cannot write {log}: Read-only file system; nothing was refused, files wait "
           "until it is fixed")
    db = instance.var / "exchange.db"
    refuse_db = ("import sqlite3, exchange.store.db as d\n"
                 "class Refuse(d.WriteCheck):\n"
                 "    def problem(self):\n"
                 "        return f'database file {self.path} is not writable'\n"
                 "d.WriteCheck = Refuse")
    _plain(exchange(instance.home, "process", setup=refuse_db), 1,
           f"error: database unavailable: database file {db} is not writable: not used until it "
           "can be written again; nothing was refused, files wait until it is fixed")
