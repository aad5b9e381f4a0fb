"""The unit's view (issue 16): how long one unit's 申报状态.xlsx and 参保人员.xlsx take to write.

    python bench/bench_view.py                           # 50,000 persons, 100,000 declarations
    python bench/bench_view.py --persons 5000 --declarations 10000 --units 1000

One unit with N persons on file (employees with one or two insurances, bases, paid months, some
arrears; with --residents all residents, as a community's) and M declarations (employee_add rows with a payload as the pipeline stores it):
20% pending, 20% submitted in batches of 1,000, 50% decided within the window (one in ten
rejected with a reason), 10% withdrawn. Inserted in bulk first (not timed). Then, in this
process: status.write and people.write, each timed (wall and CPU) and the books' sizes. With
`--units K`: K small units (10 persons, 20 declarations each) marked changed at once, rewritten by
`refresh_units` on a pool of [view].workers threads, as after a nightly submission.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from exchange.accounts import add_unit  # noqa: E402
from exchange.config import init_instance  # noqa: E402
from exchange.store.db import open_database  # noqa: E402
from exchange.store.models import Batch, Declaration, Person  # noqa: E402
from exchange.view import people, status  # noqa: E402
from exchange.view.refresh import refresh_units  # noqa: E402

CHUNK = 20_000


def person_id(i: int) -> str:
    from exchange.checks.ids import check_char

    first = f"320602{19600101 + (i % 28) + 100 * (i // 28 % 12) + 10000 * (i // 336 % 40)}{i % 1000:03d}"
    return first + check_char(first)


def fill(db, unit: str, persons: int, declarations: int, offset: int = 0,  # type: ignore[no-untyped-def]
         residents: bool = False) -> None:
    rnd = random.Random(unit)
    now = datetime.now().replace(microsecond=0)
    ids = [f"{unit[-4:]}{i:014d}" if offset else person_id(i) for i in range(persons)]
    with db.session() as s:
        for i in range(0, persons, CHUNK):
            s.execute(insert(Person), [{
                "id_number": n, "person_no": f"P{unit}{j:07d}", "name": "张三", "sex": "1",
                "birth_date": "1980-01-01", "unit_code": unit, "status": "1",
                "insurances": "390" if residents else rnd.choice(["310", "310,510"]),
                "extra": {"category": "11"} if residents else None,
                "last_paid_month": "202610", "arrears": rnd.choice([0, 0, 0, 120.5]),
                "wage_base": rnd.randrange(2800, 15600), "insured_from": "201501",
                "paid_months": {"310": "202610"}} for j, n in enumerate(ids[i:i + CHUNK], start=i)])
        batches = []
        for b in range(declarations // 1000 + 1):
            batch = Batch(batch_no=f"{unit}-{b:05d}", unit_code=unit, count=1000, created_at=now)
            s.add(batch)
            batches.append(batch)
        s.flush()
        rows = []
        for k in range(declarations):
            r = k / max(declarations, 1)
            state = "pending" if r < .2 else "submitted" if r < .4 else "withdrawn" if r >= .9 else \
                ("rejected" if k % 10 == 0 else "approved")
            rows.append({
                "unit_code": unit, "kind": "employee_add", "id_number": None, "name": "李四",
                "status": state, "fingerprint": f"{unit}-{k}",
                "payload": {"id_number": f"X{k}", "name": "李四", "education": "21", "post": "01",
                            "month": "202612", "wage": 5200 + k % 1000, "insurances": "310,510",
                            "phone": "13912345678", "address": "南通市崇川区"},
                "row": 4 + k % 5000, "created_at": now - timedelta(days=2),
                "batch_id": batches[k // 1000].id if state in ("submitted", "approved", "rejected") else None,
                "submitted_at": now - timedelta(days=1) if state != "pending" else None,
                "decided_at": now if state in ("approved", "rejected", "withdrawn") else None,
                "decision_reason": "缴费工资低于下限" if state == "rejected" else None,
                "reviewer": "张审核" if state in ("approved", "rejected") else None})
            if len(rows) == CHUNK:
                s.execute(insert(Declaration), rows)
                rows = []
        if rows:
            s.execute(insert(Declaration), rows)


def timed(what: str, fn) -> None:  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    path = fn()
    print(f"  {what:<28} {time.perf_counter() - w:6.2f} s wall  {time.process_time() - c:6.2f} s CPU"
          f"  {path.stat().st_size / 1e6:6.1f} MB" if path else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=50_000)
    ap.add_argument("--declarations", type=int, default=100_000)
    ap.add_argument("--units", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--residents", action="store_true",
                    help="a community: every person a resident (390), dues per year")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = init_instance(Path(tmp) / "inst")
        db = open_database(instance)
        with db.session() as s:
            add_unit(instance, s, "9001", "基准单位", password="pw-9001")
        started = time.perf_counter()
        fill(db, "9001", args.persons, args.declarations, residents=args.residents)
        print(f"{args.persons:,} persons, {args.declarations:,} declarations inserted in "
              f"{time.perf_counter() - started:.1f} s")
        with db.session() as s:
            timed("status.write (申报状态)", lambda: status.write(instance, s, "9001"))
            timed("people.write (参保人员)", lambda: people.write(instance, s, "9001"))
        with db.session() as s:
            w = time.perf_counter()
            status.write(instance, s, "9001")
            people.write(instance, s, "9001")
            print(f"  both, one session            {time.perf_counter() - w:6.2f} s wall")
        if args.units:
            codes = [f"U{i:05d}" for i in range(args.units)]
            with db.session() as s:
                for code in codes:
                    add_unit(instance, s, code, f"单位{code}", password="pw-unit-1")
            for i, code in enumerate(codes):
                fill(db, code, 10, 20, offset=1)
            for workers in sorted({1, args.workers}):
                w, c = time.perf_counter(), time.process_time()
                with ThreadPoolExecutor(workers) as pool:
                    written = refresh_units(instance, db, codes, pool)
                wall = time.perf_counter() - w
                print(f"  {args.units:,} units on {workers} thread(s): {wall:6.2f} s wall "
                      f"({wall / args.units * 1000:.1f} ms a unit), {time.process_time() - c:.2f} s CPU, "
                      f"{len(written)} books")
        db.dispose()


if __name__ == "__main__":
    main()
