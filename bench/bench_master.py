"""Master data: `exchange master load` of N persons (default 1,000,000), CSV and xlsx, timed.

    python bench/bench_master.py                      # 1,000,000 persons, CSV then xlsx
    python bench/bench_master.py --rows 200000 --formats csv

Each format is loaded twice into a fresh instance: first every person is new (inserts), then the
same file again (every person exists: the upsert's update path). Each load runs in its own
child process (`exchange master load`), so its time includes start-up and its peak RSS is its own.
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import csv
import random
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from _common import exchange_argv, fresh_instance, machine, person_id, person_name, run_child

HEADERS = ["个人编号", "身份证号*", "姓名*", "性别", "出生日期", "单位编号", "参保状态", "险种",
           "最大缴费月份", "欠费金额", "缴费基数", "户主身份证号", "班级编号"]
UNITS = [f"{1001 + i}" for i in range(200)]


def person_rows(count: int, seed: int = 1):  # type: ignore[no-untyped-def]
    rnd = random.Random(seed)
    for i in range(count):
        number, birth = person_id(i)
        yield [f"P{i:08d}", number, person_name(rnd), "1" if int(number[16]) % 2 else "2",
               f"{birth:%Y-%m-%d}", rnd.choice(UNITS), rnd.choice(("参保", "参保", "参保", "暂停", "终止")),
               rnd.choice(("310,510", "310", "职工基本医疗保险,生育保险")),
               rnd.choice(("202609", "202610", "202611")), rnd.choice(("0", "0", "0", "120.50")),
               rnd.randrange(3000, 15000), "", ""]


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        w.writerows(person_rows(count))


def write_xlsx(path: Path, count: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("参保人员信息")
    ws.append(["参保人员信息"])
    ws.append(HEADERS)
    for row in person_rows(count):
        ws.append(row)
    wb.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--formats", default="csv,xlsx")
    ap.add_argument("--keep", type=Path, help="keep the generated files and instances here")
    args = ap.parse_args()
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-master-"))
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    try:
        for fmt in args.formats.split(","):
            path = root / f"persons-{args.rows}.{fmt}"
            if not path.exists():
                print(f"generating {args.rows:,} persons as {fmt} ...", flush=True)
                (write_csv if fmt == "csv" else write_xlsx)(path, args.rows)
            print(f"  {path.stat().st_size / 1e6:.1f} MB", flush=True)
            shutil.rmtree(root / f"inst-{fmt}", ignore_errors=True)
            instance, db = fresh_instance(root, f"inst-{fmt}")
            db.dispose()
            # A centre's full register is larger than a unit's file: raise the size limit (100 MB).
            config = instance.home / "config.toml"
            config.write_text(config.read_text(encoding="utf-8").replace(
                "max_file_mb = 100 ", "max_file_mb = 1000"), encoding="utf-8")
            for label in ("new persons", "same file again"):
                run = run_child(exchange_argv("--home", str(instance.home), "master", "load", str(path)))
                out = run.stdout.decode("utf-8", "replace").strip().splitlines()
                print(f"  {label}: {run.seconds:.1f} s, peak RSS {run.peak_mb:.0f} MB  | {out[0] if out else ''}",
                      flush=True)
                lines.append((fmt, label, run.seconds, run.peak_mb))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"{'format':<6} {'load':<16} {'persons':>10} {'seconds':>8} {'peak RSS':>9}")
    for fmt, label, seconds, mb in lines:
        print(f"{fmt:<6} {label:<16} {args.rows:>10,} {seconds:>8.1f} {mb:>7.0f}MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
