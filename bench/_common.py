"""Shared bench helpers: temp instances, realistic IDs and names, timed children with peak RSS.

Each measured step runs in its own child process. Its peak resident memory is the VmHWM the
child reads from /proc/self/status as it exits (HWM_PRELUDE): wait4's ru_maxrss would not do,
since Linux carries the parent's high-water mark across the fork and exec that start a child.
"""
from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Sequence

from exchange.checks.ids import check_char

REGIONS = ("320602", "320611", "320612", "320621", "320623", "320681", "320682", "320684")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国文辉玉兰红梅志强海燕晓东立新春雨子涵浩然欣怡宇轩梓萱思远雅婷俊杰佳怡"
BIRTH_START = date(1962, 1, 1)
BIRTH_SPAN = 14_000          # days: births from 1962 to 2000


def make_id(birth: date, seq: int, region: str) -> str:
    first = f"{region}{birth:%Y%m%d}{(seq * 131 + 7) % 1000:03d}"
    return first + check_char(first)


def person_id(i: int) -> tuple[str, date]:
    """A valid, unique ID for every i below len(REGIONS) * BIRTH_SPAN * 1000."""
    birth = BIRTH_START + timedelta(days=i % BIRTH_SPAN)
    rest = i // BIRTH_SPAN
    return make_id(birth, rest // len(REGIONS), REGIONS[rest % len(REGIONS)]), birth


def person_name(rnd: random.Random) -> str:
    return rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2, 2))))


def fresh_instance(root: Path, name: str = "inst"):  # type: ignore[no-untyped-def]
    """A new instance folder with one unit 1001; returns (Instance, Database)."""
    from exchange.accounts import add_unit
    from exchange.config import init_instance
    from exchange.store.db import open_database

    home = root / name
    instance = init_instance(home)
    db = open_database(instance)
    with db.session() as s:
        add_unit(instance, s, "1001", "南通示例科技有限公司", password="bench-1001")
    return instance, db


# Run first in every measured child: at exit, write this process's own VmHWM (KiB) to the file
# named by BENCH_HWM_FILE.
HWM_PRELUDE = """
import atexit as _atexit, os as _os
def _bench_hwm():
    with open("/proc/self/status") as _fh:
        _kib = next(_l.split()[1] for _l in _fh if _l.startswith("VmHWM:"))
    with open(_os.environ["BENCH_HWM_FILE"], "w") as _out:
        _out.write(_kib)
_atexit.register(_bench_hwm)
"""


def python_argv(code: str, *args: str) -> list[str]:
    """A fresh interpreter running `code` (after HWM_PRELUDE) with `args`."""
    return [sys.executable, "-c", HWM_PRELUDE + code, *args]


@dataclass
class Run:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: bytes
    helper_mb: float = 0.0       # the largest peak of the child's own children (the reading workers)
    together_mb: float = 0.0     # the child and its children at once (RSS summed, sampled)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        try:
            tasks = list(Path(f"/proc/{todo.pop()}/task").glob("*/children"))
        except OSError:             # it ended while we looked
            continue
        for task in tasks:
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def _hwm_kib(pid: int) -> int:
    return _status_kib(pid, "VmHWM:")


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(argv: Sequence[str], *, keep_stdout: bool = True,
              env: dict[str, str] | None = None) -> Run:
    """Run argv to completion; wall time, the child's own peak RSS (HWM_PRELUDE), the largest
    its own children reached (sampled every 20 ms from /proc while they run), and the largest
    sum of the child's and its children's RSS seen in one sample (what the machine gave them
    at once: a worker that has ended no longer counts beside its parent's later peak).

    Output goes to temp files rather than pipes, so nothing but wait4 reaps the child.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as hwm:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out if keep_stdout else subprocess.DEVNULL,
                                stderr=err, env={**os.environ, **(env or {}), "BENCH_HWM_FILE": hwm.name})
        helper_kib = together_kib = 0
        while True:            # sample the child's children (a helper process) as they run
            pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            kids = _descendants(proc.pid)
            helper_kib = max([helper_kib, *map(_hwm_kib, kids)])
            together_kib = max(together_kib, sum(_status_kib(p, "VmRSS:") for p in [proc.pid, *kids]))
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode("utf-8", "replace")[-4000:])
            raise SystemExit(f"child failed ({proc.returncode}): {' '.join(argv)}")
        out.seek(0)
        peak = hwm.read().strip()
        if not peak:
            raise SystemExit(f"child wrote no VmHWM (no HWM_PRELUDE?): {' '.join(argv)}")
        return Run(seconds, int(peak) / 1024, proc.returncode, out.read(), helper_kib / 1024,
                   together_kib / 1024)


def exchange_argv(*args: str) -> list[str]:
    """The `exchange` CLI in a fresh interpreter (the same one running the bench)."""
    return python_argv("from exchange.cli import main; main()", *args)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {mem} RAM, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def best(runs: list[Run]) -> Run:
    """Fastest run's time, with the highest peak memory seen over all runs."""
    fastest = min(runs, key=lambda r: r.seconds)
    return Run(fastest.seconds, max(r.peak_mb for r in runs), fastest.returncode, fastest.stdout,
               max(r.helper_mb for r in runs), max(r.together_mb for r in runs))
