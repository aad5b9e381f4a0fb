"""Master data: `exchange master load` of N persons (default 1,000,000), CSV and xlsx, timed.

    python bench/bench_master.py                      # 1,000,000 persons, CSV then xlsx, SQLite
    python bench/bench_master.py --rows 200000 --formats csv
    python bench/bench_master.py --pg                 # SQLite, then a private PostgreSQL cluster
    python bench/bench_master.py --pg-url postgresql+psycopg://user@host/postgres --no-sqlite
    python bench/bench_master.py --units 50000 --formats ""   # a units register only

Each format is loaded twice into a fresh instance: first every person is new (inserts), then the
same file again (every person exists: the upsert's update path). Each load runs in its own
child process (`exchange master load`), so its time includes start-up and its peak RSS is its own.
With --pg the same loads run on PostgreSQL: a private cluster started from the installed
binaries (tests/pgserver.py: fsync off, like the test clusters), or the server of --pg-url, whose
user may create databases; each instance gets a new database, dropped at the end.
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import csv
import random
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import exchange_argv, machine, person_id, person_name, run_child  # noqa: E402

from exchange.accounts import add_unit  # noqa: E402
from exchange.config import Instance  # noqa: E402
from exchange.store.db import open_database  # noqa: E402
from tests.flows.cluster import configure  # noqa: E402
from tests.pgserver import LocalCluster  # noqa: E402

SQLITE_URL = "sqlite:///var/exchange.db"

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


def write_units_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["单位编号", "单位名称", "统一社会信用代码", "单位类型", "经办人姓名", "经办人手机"])
        w.writerows([f"U{i:07d}", f"南通示例单位{i}", "", ("企业", "机关", "事业单位")[i % 3], "周经办",
                     f"139{i:08d}"] for i in range(count))


def write_xlsx(path: Path, count: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("参保人员信息")
    ws.append(["参保人员信息"])
    ws.append(HEADERS)
    for row in person_rows(count):
        ws.append(row)
    wb.save(path)


def new_instance(home: Path, url: str) -> Instance:
    """An empty instance on `url` with unit 1001. A centre's full register is larger than a
    unit's file: the size limit is raised from 100 MB to 1000 MB."""
    shutil.rmtree(home, ignore_errors=True)
    instance = configure(home, url, max_file_mb=1000)
    db = open_database(instance)
    with db.session() as s:
        add_unit(instance, s, "1001", "南通示例科技有限公司", password="bench-1001")
    db.dispose()
    return instance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--formats", default="csv,xlsx")
    ap.add_argument("--keep", type=Path, help="keep the generated files and instances here")
    backend_options(ap)
    ap.add_argument("--units", type=int, default=0, help="also load a units register of N units (CSV)")
    args = ap.parse_args()
    backends = chosen_backends(args)
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-master-"))
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    try:
        with database_urls(backends, args.pg_url) as url_for:
            loads = [("units", "csv", args.units)] if args.units else []
            loads += [("persons", fmt, args.rows) for fmt in args.formats.split(",") if fmt]
            for what, fmt, count in loads:
                path = root / f"{what}-{count}.{fmt}"
                if not path.exists():
                    print(f"generating {count:,} {what} as {fmt} ...", flush=True)
                    write = write_units_csv if what == "units" else write_csv if fmt == "csv" else write_xlsx
                    write(path, count)
                print(f"  {path.stat().st_size / 1e6:.1f} MB", flush=True)
                for backend in backends:
                    url = url_for(backend, f"bench_master_{what}_{fmt}")
                    instance = new_instance(root / f"inst-{backend}-{what}-{fmt}", url)
                    for label in (f"new {what}", "same file again"):
                        run = run_child(exchange_argv("--home", str(instance.home), "master", "load", str(path)))
                        out = run.stdout.decode("utf-8", "replace").strip().splitlines()
                        print(f"  {backend} {label}: {run.seconds:.1f} s, peak RSS {run.peak_mb:.0f} MB  "
                              f"| {out[0] if out else ''}", flush=True)
                        lines.append((backend, fmt, label, count, run.seconds, run.peak_mb))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"{'database':<9} {'format':<6} {'load':<16} {'rows':>10} {'seconds':>8} {'peak RSS':>9}")
    for backend, fmt, label, count, seconds, mb in lines:
        print(f"{backend:<9} {fmt:<6} {label:<16} {count:>10,} {seconds:>8.1f} {mb:>7.0f}MB")
    sys.stdout.flush()


def backend_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--pg", action="store_true", help="also on PostgreSQL (a private cluster)")
    ap.add_argument("--pg-url", help="PostgreSQL admin URL to use instead of a private cluster")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")


def chosen_backends(args: argparse.Namespace) -> list[str]:
    return ([] if args.no_sqlite else ["sqlite"]) + (["postgres"] if args.pg or args.pg_url else [])


@contextmanager
def database_urls(backends: list[str], pg_url: str | None) -> Iterator[Callable[[str, str], str]]:
    """url_for(backend, name): the SQLite URL, or a new PostgreSQL database on the server of
    `pg_url` (else a private cluster started here); databases and cluster go at the end."""
    cluster = None
    admin_url = pg_url
    if "postgres" in backends and not admin_url:
        cluster = LocalCluster()
        admin_url = cluster.start()
        print(f"PostgreSQL: private cluster (fsync off) at {admin_url}")
    databases: list[str] = []

    def url_for(backend: str, name: str) -> str:
        if backend != "postgres":
            return SQLITE_URL
        assert admin_url is not None
        databases.append(f"{name}_{int(time.time())}_{len(databases)}")
        return create_database(admin_url, databases[-1])
    try:
        yield url_for
    finally:
        if admin_url and databases and cluster is None:
            for db_name in databases:
                drop_database(admin_url, db_name)
        if cluster is not None:
            cluster.stop()


def _admin(admin_url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


def create_database(admin_url: str, name: str) -> str:
    """A new, empty database on the server of `admin_url`; its SQLAlchemy URL."""
    with _admin(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    with _admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
