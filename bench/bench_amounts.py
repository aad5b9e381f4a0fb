"""Amounts due of a whole register: N persons (default 1,000,000) over 12 months, timed.

    python bench/bench_amounts.py                      # 1,000,000 persons, SQLite
    python bench/bench_amounts.py --pg                 # SQLite, then a private PostgreSQL cluster
    python bench/bench_amounts.py --pg-url postgresql+psycopg://user@host/postgres --no-sqlite

The register (80% employees with one to three insurances, bases 2,800–15,600, varied insured-from
and stopped months; 20% residents with a 人员类别 and 计生补助 flag in `extra`) is inserted in
bulk first (not timed), with an approved 缴费基数申报 for every tenth employee (a base change from
a month of 2026, the old base in old_values). A rate change in July is loaded as master data.
The measured child then reads every person into columns (`exchange.amounts.register.person_frame`)
and the base changes (`base_changes`), splits each changed person's months at the change
(`split_at_changes`), computes every employee's amounts for the 12 months of the year (per
person, month and insurance, unit and person part, rounded as rates.toml says:
`employee_dues_frame`) with the per unit, month and
insurance sums, and every resident's amount for the year (`resident_dues_frame`). Its time
includes start-up; its peak RSS is its own. Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import machine, person_id, python_argv, run_child  # noqa: E402
from bench_master import backend_options, chosen_backends, database_urls, new_instance  # noqa: E402

from sqlalchemy import insert  # noqa: E402

from exchange.store import bulk  # noqa: E402
from exchange.store.db import open_database  # noqa: E402
from exchange.store.models import Declaration, LoadedRate, Person  # noqa: E402

UNITS = [f"{1001 + i}" for i in range(2000)]
CHUNK = 50_000

MEASURE = """
import json, sys, time
t0 = time.perf_counter()
from exchange.config import Instance
from exchange.store.db import open_database
from exchange.amounts.register import AMOUNT_COLUMNS, base_changes, person_frame, rates_of
from exchange.amounts.dues import (employee_dues_frame, months_between, resident_dues_frame,
                                   split_at_changes, yuan)
instance = Instance(sys.argv[1]); db = open_database(instance)
t1 = time.perf_counter()
with db.session() as s:
    rates = rates_of(instance.rules, s)
    frame = person_frame(s, columns=("id_number", *AMOUNT_COLUMNS), ordered=False,
                         resident_insurance=rates.resident_insurance)
    t15 = time.perf_counter()
    changes = base_changes(instance.rules, s)
t2 = time.perf_counter()
dues = employee_dues_frame(rates, split_at_changes(frame, changes), months_between("202601", "202612"))
t3 = time.perf_counter()
residents = resident_dues_frame(rates, frame, 2026)
t4 = time.perf_counter()
print(json.dumps({"persons": len(frame), "base_changes": len(changes), "start": t1 - t0, "read": t2 - t1, "changes": t2 - t15, "employees": t3 - t2,
                  "residents": t4 - t3, "unit_rows": len(dues.units),
                  "employee_total": str(yuan(int(dues.persons["unit_fen"].sum() + dues.persons["person_fen"].sum()))),
                  "resident_total": str(yuan(int(residents.sum())))}))
"""


def fill(url: str, home: Path, count: int) -> float:
    """Insert the register in bulk; returns the seconds it took (not part of the figure)."""
    instance = new_instance(home, url)
    db = open_database(instance)
    rnd = random.Random(17)
    names = ["id_number", "person_no", "name", "unit_code", "status", "insurances", "wage_base",
             "insured_from", "stopped_after", "last_paid_month", "arrears", "extra", "updated_at"]
    now = datetime.now().replace(microsecond=0)
    started = time.perf_counter()
    with db.session() as s:
        s.add(LoadedRate(scheme="employee", code="310", start="202607", unit_rate=Decimal("0.075"),
                         person_rate=Decimal("0.025"), unit_amount=0, person_amount=0, amount=0))
        for lo in range(0, count, CHUNK):
            rows = []
            for i in range(lo, min(count, lo + CHUNK)):
                resident = i % 5 == 0
                rows.append((
                    person_id(i)[0], f"P{i:08d}", "某某", rnd.choice(UNITS),
                    rnd.choice(("1", "1", "1", "1", "3")),
                    "390" if resident else rnd.choice(("310,510", "310", "310,330,510")),
                    None if resident else rnd.randrange(2800, 15601),
                    rnd.choice(("202001", "202603", "202609")),
                    rnd.choice((None, None, None, "202605")), "202512", 0,
                    {"category": rnd.choice(("11", "12", "21", "22", "31", "32")),
                     "family_planning": rnd.choice(("1", "0", "0"))} if resident else None, now))
            bulk.insert_rows(s, Person.__table__, names, rows)  # type: ignore[arg-type]
        # A base change declared and approved for every tenth employee, from a month of 2026
        # (the old base kept in old_values, as the wage effect keeps it): the year splits there.
        changes = []
        for i in range(1, count, 10):
            if i % 5 == 0:
                continue                                  # a resident
            changes.append({
                "unit_code": UNITS[i % len(UNITS)], "kind": "wage", "id_number": person_id(i)[0],
                "name": "某某", "status": "approved", "fingerprint": f"w{i}",
                "payload": {"start_month": f"2026{1 + i % 12:02d}", "wage": 3000 + i % 9000},
                "old_values": {"wage_base": 2800 + i % 9000}, "created_at": now, "decided_at": now})
            if len(changes) == CHUNK:
                s.execute(insert(Declaration), changes)
                changes = []
        if changes:
            s.execute(insert(Declaration), changes)
    seconds = time.perf_counter() - started
    db.dispose()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    backend_options(ap)
    ap.add_argument("--repeat", type=int, default=1, help="measure N times, keep the best")
    args = ap.parse_args()
    backends = chosen_backends(args)
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    root = Path(tempfile.mkdtemp(prefix="bench-amounts-"))
    try:
        with database_urls(backends, args.pg_url) as url_for:
            for backend in backends:
                measure(backend, url_for(backend, "bench_amounts"), root, args.rows, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(backend: str, url: str, root: Path, rows: int, repeat: int) -> None:
    home = root / f"inst-{backend}"
    print(f"{backend}: inserting {rows:,} persons ...", flush=True)
    print(f"  inserted in {fill(url, home, rows):.1f} s", flush=True)
    runs = []
    for _ in range(repeat):
        run = run_child(python_argv(MEASURE, str(home)))
        runs.append((run, json.loads(run.stdout.decode().strip().splitlines()[-1])))
    run, figures = min(runs, key=lambda r: r[0].seconds)
    print(f"  {backend}: {run.seconds:.1f} s wall (start-up {figures['start']:.1f} s, read "
          f"{figures['read']:.1f} s, of which base changes {figures['changes']:.1f} s, employees x 12 months {figures['employees']:.1f} s, "
          f"residents {figures['residents']:.1f} s), peak RSS {run.peak_mb:.0f} MB", flush=True)
    print(f"  {figures['persons']:,} persons, {figures['base_changes']:,} base changes, {figures['unit_rows']:,} unit/month/insurance "
          f"rows, employees {figures['employee_total']} yuan, residents "
          f"{figures['resident_total']} yuan", flush=True)

if __name__ == "__main__":
    main()
