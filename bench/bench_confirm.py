"""Timings of issue 16.5: a unit's 待提交清单 written, then sent back and submitted.

    python bench/bench_confirm.py                 # 1,000 and 10,000 pending declarations
    python bench/bench_confirm.py --rows 1000,50000

A temp instance on SQLite with submission = "unit_confirms"; the pending employee_add
declarations are inserted directly (their import is bench_process.py's). Timed in-process:
`confirm.write` (query, amounts due, workbook, atomic rename); a burst of --burst one-row
files through `process_inbox` with serve's Refresher running ([view] debounce_seconds as
configured): each file's intake time, the list's rewrites and when the last is done; then the
list sent back with 确认提交 = 是 through `process_inbox` (read in the sandbox, token checked,
one batch, roster PDF and review workbook). Run by hand; not a test.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openpyxl  # noqa: E402
from _common import person_id, person_name  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from exchange.accounts import add_unit  # noqa: E402
from exchange.config import Instance, init_instance  # noqa: E402
from exchange.intake.scan import process_inbox  # noqa: E402
from exchange.store.db import open_database  # noqa: E402
from exchange.store.models import Declaration  # noqa: E402
from exchange.view import confirm  # noqa: E402
from exchange.view.refresh import Refresher  # noqa: E402
from tests.conftest import ADD_HEADERS, add_row, make_workbook  # noqa: E402


PROFILE = "--profile" in sys.argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--profile", action="store_true", help="cProfile the confirmation")
    parser.add_argument("--burst", type=int, default=10, help="one-row files dropped at once")
    args = parser.parse_args()
    rng = random.Random(16)
    print(f"{'pending':>8} {'write s':>8} {'list KB':>8} {'intake/file s':>14} {'rewrites':>9} "
          f"{'list done s':>12} {'confirm s':>10} {'submitted':>10}")
    for n in (int(x) for x in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "inst"
            init_instance(home)
            region = home / "rules" / "region.toml"
            region.write_text(region.read_text(encoding="utf-8").replace(
                'submission = "nightly"', 'submission = "unit_confirms"'), encoding="utf-8")
            instance = Instance(home)
            db = open_database(instance)
            with db.session() as s:
                add_unit(instance, s, "1001", "示例科技有限公司", password="pw")
            now = datetime.now().replace(microsecond=0)
            rows = []
            for i in range(n):
                number = person_id(i)[0]
                rows.append({"unit_code": "1001", "kind": "employee_add", "id_number": number,
                             "name": person_name(rng), "status": "pending", "fingerprint": f"f{i}",
                             "payload": {"wage": rng.randint(2800, 15600), "change_month": "202612",
                                         "insurances": ["310", "510"]}, "row": i + 4,
                             "created_at": now})
            with db.session() as s:
                s.execute(insert(Declaration), rows)
            t = time.perf_counter()
            with db.session() as s:
                path = confirm.write(instance, s, "1001")
            write_s = time.perf_counter() - t
            assert path is not None
            size_kb = path.stat().st_size // 1024
            intake, rewrites, done_s = burst(instance, db, n, args.burst)
            wb = openpyxl.load_workbook(path)
            wb.worksheets[0]["B4"] = "是"
            wb.save(instance.unit_inbox("1001") / "待提交清单.xlsx")
            t = time.perf_counter()
            if PROFILE:
                import cProfile
                import pstats
                prof = cProfile.Profile()
                prof.enable()
            [result] = process_inbox(instance, db)
            confirm_s = time.perf_counter() - t
            if PROFILE:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            print(f"{n:>8,} {write_s:>8.2f} {size_kb:>8,} {intake:>14.3f} {rewrites:>9} "
                  f"{done_s:>12.2f} {confirm_s:>10.2f} {result.counts.accepted:>10,}")
            db.dispose()


def burst(instance: Instance, db: object, start: int, files: int) -> tuple[float, int, float]:
    """`files` one-row 职工增加 files, each through its own intake pass, with the Refresher
    running: (the slowest file's intake seconds, the list's rewrites, seconds from the last
    file's receipt until the list shows every pending declaration)."""
    instance.view.take()                 # (units add marked the unit: written above already)
    refresher = Refresher(instance, db)  # type: ignore[arg-type]
    refresher.start()
    slowest = 0.0
    try:
        for i in range(files):
            number = person_id(start + i)[0]
            make_workbook(instance.unit_inbox("1001") / f"增员{i}.xlsx", ADD_HEADERS,
                          [add_row(number, "周末")], title="职工批量新增申报填写表")
            t = time.perf_counter()
            [result] = process_inbox(instance, db)  # type: ignore[arg-type]
            slowest = max(slowest, time.perf_counter() - t)
            assert result.counts.accepted == 1, result.status
        t = time.perf_counter()
        while not (refresher.rewrites and refresher.idle()):
            time.sleep(0.01)
        return slowest, refresher.rewrites, time.perf_counter() - t
    finally:
        refresher.stop()


if __name__ == "__main__":
    main()
