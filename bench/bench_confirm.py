"""Timings of issue 16.5: a unit's 待提交清单 written, then sent back and submitted.

    python bench/bench_confirm.py                 # 1,000 and 10,000 pending declarations
    python bench/bench_confirm.py --rows 1000,50000

A temp instance on SQLite with submission = "unit_confirms"; the pending employee_add
declarations are inserted directly (their import is bench_process.py's). Timed in-process:
`confirm.write` (query, amounts due, workbook, atomic rename) and the list sent back with
确认提交 = 是 through `process_inbox` (read in the sandbox, token checked, one batch, roster
PDF and review workbook). Run by hand; not a test.
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


PROFILE = "--profile" in sys.argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--profile", action="store_true", help="cProfile the confirmation")
    args = parser.parse_args()
    rng = random.Random(16)
    print(f"{'pending':>8} {'write s':>8} {'list KB':>8} {'confirm s':>10} {'submitted':>10}")
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
            print(f"{n:>8,} {write_s:>8.2f} {size_kb:>8,} {confirm_s:>10.2f} "
                  f"{result.counts.accepted:>10,}")
            db.dispose()


if __name__ == "__main__":
    main()
