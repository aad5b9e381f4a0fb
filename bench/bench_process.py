"""End-to-end `process` and `validate --json` of a large employee_add workbook, against a bare read.

    python bench/bench_process.py                       # 100,000 rows
    python bench/bench_process.py --rows 10000,100000,500000 --repeat 2
    python bench/bench_process.py --shared --repeat 3 --no-openpyxl   # as Excel saves it

For each size: a workbook with 5% bad rows of realistic kinds is written (streamed, openpyxl
write-only: its strings inline) into a temp folder; with `--shared` by XlsxWriter instead, its
strings in a shared-string table as Excel, WPS and LibreOffice save them (what clerks send). Then
each step runs in its own child process, so its wall time includes interpreter start-up and its
peak RSS is its own (a large sheet's reading worker is shown apart: "helper"; "at once" is the
largest sum of the command's and its worker's RSS in one 20 ms sample, the issue's "workers
included"):
  read      python-calamine merely reading every row (iter_rows: a Python object per cell, the
            reader the pipeline uses); fastexcel, where installed (`pip install -e ".[bench]"`),
            reading every sheet into Arrow arrays (calamine too, no Python object per cell: the
            fastest bare read there is); openpyxl read-only for reference;
  process   `exchange process` on a fresh instance (parse, validate, import, receipt, error book);
  validate  `exchange validate FILE --unit 1001 --json` to /dev/null.

    python bench/bench_process.py --store [--pg | --pg-url URL] [--no-sqlite] --repeat 3

`--store`: only `exchange process`, with the time spent in `store.imports.Importer.store` summed in
the child (declarations, audit rows and row errors inserted, their serials read; not the final
commit), on SQLite and/or PostgreSQL (a private cluster, or the server of --pg-url). The child
imports the `exchange` of the folder the script is started from (`python -c` puts it first on
the path): started from another checkout, it measures that checkout's store on the same file.
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Iterator

from _common import (Run, best, exchange_argv, fresh_instance, machine, person_id, person_name,
                     python_argv, run_child)
from bench_master import backend_options, chosen_backends, database_urls, new_instance

HEADERS = ["身份证号*", "姓名*", "性别", "民族", "出生日期", "参加工作日期", "户籍性质", "文化程度*",
           "工作岗位*", "联系电话", "联系地址", "变更日期*", "缴费工资*", "参保险种"]
BAD_KINDS = ("id.checksum", "id.numeric", "name.invalid", "wage.out_of_bounds", "code.unknown",
             "duplicate.in_file")
STREETS = ("人民路", "工农路", "青年中路", "濠河路", "崇川路", "世纪大道", "通富路", "长江中路")
ETHNICITIES = ("汉族", "汉族", "汉族", "汉", "01", "回族", "满族", "壮族")
EDUCATION = ("21", "本科", "21-本科", "大专", "31", "高中", "硕士", "中专")
POSTS = ("01", "02", "技术", "管理", "04", "服务")
HUKOU = (None, "10", "本地城镇", "30", "外地农村")
INSURANCES = (None, None, "310,510", "职工基本医疗保险、生育保险", "310")

READ_CALAMINE = """
import sys, python_calamine as pc
wb = pc.CalamineWorkbook.from_path(sys.argv[1])
n = 0
for name in wb.sheet_names:
    for row in wb.get_sheet_by_name(name).iter_rows():
        n += 1
print(n)
"""
READ_FASTEXCEL = """
import sys, fastexcel
reader = fastexcel.read_excel(sys.argv[1])
n = 0
for name in reader.sheet_names:
    n += reader.load_sheet(name, header_row=None).to_arrow().num_rows
print(n)
"""
# `exchange process` with the time of Importer.store summed (seconds, rows) into BENCH_STORE_FILE.
PROCESS_STORE_TIMED = """
import atexit, os, time
import exchange.store.imports as _p
_store, _spent = _p.Importer.store, [0.0, 0]
def _timed(self, judged, ctx):
    start = time.perf_counter()
    try:
        return _store(self, judged, ctx)
    finally:
        _spent[0] += time.perf_counter() - start
        _spent[1] += len(judged)
_p.Importer.store = _timed
def _write():
    with open(os.environ["BENCH_STORE_FILE"], "w") as fh:
        fh.write(f"{_spent[0]} {_spent[1]}")
atexit.register(_write)
from exchange.cli import main; main()
"""
READ_OPENPYXL = """
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1], read_only=True, data_only=True)
n = 0
for ws in wb.worksheets:
    for row in ws.iter_rows(values_only=True):
        n += 1
print(n)
"""


def row_values(i: int, rnd: random.Random) -> list:
    """One realistic row; which of them are bad is decided by the caller."""
    number, birth = person_id(i)
    sex = "男" if int(number[16]) % 2 else "女"
    return [
        number,
        person_name(rnd),
        rnd.choice((sex, sex, "1" if sex == "男" else "2", None)),
        rnd.choice(ETHNICITIES),
        rnd.choice((None, f"{birth:%Y-%m-%d}", datetime(birth.year, birth.month, birth.day))),
        rnd.choice((None, f"{max(birth.year + 20, 2000)}-07-01", datetime(max(birth.year + 22, 2001), 9, 1))),
        rnd.choice(HUKOU),
        rnd.choice(EDUCATION),
        rnd.choice(POSTS),
        f"1{rnd.choice('3589')}{rnd.randrange(10**9):09d}",
        f"南通市崇川区{rnd.choice(STREETS)}{rnd.randrange(1, 400)}号",
        rnd.choice(("202612", 202612, "2026-12", "2026年12月")),
        rnd.randrange(3000, 15000),
        rnd.choice(INSURANCES),
    ]


def spoil(row: list, kind: str, i: int, rnd: random.Random) -> None:
    if kind == "id.checksum":
        last = row[0][17]
        row[0] = row[0][:17] + ("0" if last != "0" else "1")
    elif kind == "id.numeric":
        row[0] = float(row[0][:17] + "0")          # what Excel keeps of a number-formatted ID
    elif kind == "name.invalid":
        row[1] = row[1][0] + " " + row[1][1:]
    elif kind == "wage.out_of_bounds":
        row[12] = rnd.choice((1200, 99999))
    elif kind == "code.unknown":
        row[7] = rnd.choice(("博士后", "99", "本科生"))
    elif kind == "duplicate.in_file":
        row[0] = person_id(i - 7)[0]                 # the same person a few rows earlier


def generate(path: Path, rows: int, seed: int = 8, shared: bool = False) -> dict[str, int]:
    """Write the workbook with openpyxl write-only (streamed, strings inline), or with `shared`
    by XlsxWriter (strings in a shared-string table, as Excel, WPS and LibreOffice save them);
    returns how many bad rows of each kind."""
    rnd = random.Random(seed)
    head = [["职工批量新增申报填写表  单位编号：1001"], ["填表说明：带*为必填项；身份证号请设置为文本格式"], HEADERS]
    bad = {k: 0 for k in BAD_KINDS}

    def data() -> Iterator[list]:
        yield from head
        for i in range(rows):
            row = row_values(i, rnd)
            if i % 20 == 19:                                  # 5% of the rows
                kind = BAD_KINDS[(i // 20) % len(BAD_KINDS)]
                spoil(row, kind, i, rnd)
                bad[kind] += 1
            yield row

    if shared:
        import xlsxwriter

        book = xlsxwriter.Workbook(str(path), {"default_date_format": "yyyy-mm-dd"})
        sheet = book.add_worksheet("Sheet1")
        for r, row in enumerate(data()):
            sheet.write_row(r, 0, row)
        book.close()
        return bad
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    for row in data():
        ws.append(row)
    wb.save(path)
    return bad


def measure(size: int, root: Path, repeat: int, openpyxl_ref: bool, shared: bool = False
            ) -> dict[str, Run | float]:
    path = workbook(size, root, shared)
    out: dict[str, Run | float] = {}
    out["read"] = best([run_child(python_argv(READ_CALAMINE, str(path))) for _ in range(repeat)])
    if importlib.util.find_spec("fastexcel") is not None:
        out["fastexcel"] = best([run_child(python_argv(READ_FASTEXCEL, str(path))) for _ in range(repeat)])
    if openpyxl_ref:
        out["openpyxl"] = best([run_child(python_argv(READ_OPENPYXL, str(path)))])
    processes, validates = [], []
    for n in range(repeat):
        for old in root.glob(f"inst-{size}-{n}*"):
            shutil.rmtree(old)
        instance, db = fresh_instance(root, f"inst-{size}-{n}")
        db.dispose()
        shutil.copy2(path, instance.unit_inbox("1001") / path.name)
        processes.append(run_child(exchange_argv("--home", str(instance.home), "process")))
        line = processes[-1].stdout.decode("utf-8", "replace").strip()
        print(f"    {line[:160]}", flush=True)
        instance, db = fresh_instance(root, f"inst-{size}-{n}-v")
        db.dispose()
        validates.append(run_child(exchange_argv("--home", str(instance.home), "validate", str(path),
                                                 "--unit", "1001", "--json"), keep_stdout=False))
    out["process"], out["validate"] = best(processes), best(validates)
    out["bytes"] = path.stat().st_size
    return out


def workbook(size: int, root: Path, shared: bool = False) -> Path:
    path = root / f"psnAdd-{size}{'-shared' if shared else ''}.xlsx"
    if path.exists():                                 # --keep: the same file as last time
        print(f"  reusing {path}", flush=True)
    else:
        print(f"  generating {size:,} rows ...", flush=True)
        bad = generate(path, size, shared=shared)
        print(f"  {path.stat().st_size / 1e6:.1f} MB, bad rows {sum(bad.values()):,} {bad}", flush=True)
    return path


def store_main(args: argparse.Namespace, sizes: list[int], root: Path) -> None:
    backends = chosen_backends(args)
    lines = []
    with database_urls(backends, args.pg_url) as url_for:
        for size in sizes:
            print(f"{size:,} rows", flush=True)
            for backend in backends:
                urls = [url_for(backend, f"bench_store_{size}") for _ in range(args.repeat)]
                store, run = measure_store(size, root, backend, urls)
                lines.append((size, backend, store, run))
    print()
    print(f"{'rows':>9} {'database':<10} {'store s':>8} {'process s':>9} {'RSS proc':>8}")
    for size, backend, store, run in lines:
        print(f"{size:>9,} {backend:<10} {store:>8.2f} {run.seconds:>9.2f} {run.peak_mb:>6.0f}MB")


def measure_store(size: int, root: Path, backend: str, urls: list[str]) -> tuple[float, Run]:
    """`exchange process` of the workbook on a fresh instance per URL: best store time and run."""
    path = workbook(size, root)
    best_store, runs = float("inf"), []
    for n, url in enumerate(urls):
        home = root / f"store-{backend}-{size}-{n}"
        instance = new_instance(home, url)
        shutil.copy2(path, instance.unit_inbox("1001") / path.name)
        with tempfile.NamedTemporaryFile("r") as spent:
            runs.append(run_child(python_argv(PROCESS_STORE_TIMED, "--home", str(home), "process"),
                                  env={"BENCH_STORE_FILE": spent.name}))
            seconds, rows = spent.read().split()
        best_store = min(best_store, float(seconds))
        print(f"    {backend}: store {float(seconds):.2f} s for {int(rows):,} rows judged, "
              f"process {runs[-1].seconds:.2f} s", flush=True)
        shutil.rmtree(home, ignore_errors=True)
    return best_store, best(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="100000", help="comma-separated sizes (default 100000)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per step; the fastest counts")
    ap.add_argument("--no-openpyxl", action="store_true", help="skip the openpyxl reference read")
    ap.add_argument("--keep", type=Path, help="keep the generated files and instances here")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--store", action="store_true", help="only the store step of `process`")
    ap.add_argument("--shared", action="store_true",
                    help="strings in a shared-string table, as Excel saves them (written by XlsxWriter)")
    backend_options(ap)
    args = ap.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.rows.split(",")]
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-process-"))
    root.mkdir(parents=True, exist_ok=True)
    if args.store:
        try:
            store_main(args, sizes, root)
        finally:
            if args.keep is None:
                shutil.rmtree(root, ignore_errors=True)
        return
    results = {}
    try:
        for size in sizes:
            print(f"{size:,} rows", flush=True)
            results[size] = measure(size, root, args.repeat, not args.no_openpyxl, args.shared)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"{'rows':>9} {'MB':>6} {'read s':>7} {'fastexcel s':>11} {'openpyxl s':>10} {'process s':>9} "
          f"{'validate s':>10} {'proc/read':>9} {'val/read':>8} {'proc/fast':>9} {'val/fast':>8} "
          f"{'RSS read':>8} {'RSS proc':>8} {'RSS val':>8} {'helper':>8} {'at once':>8}")
    table = []
    for size, r in results.items():
        read, proc, val = r["read"], r["process"], r["validate"]
        opx, fast = r.get("openpyxl"), r.get("fastexcel")
        assert isinstance(read, Run) and isinstance(proc, Run) and isinstance(val, Run)
        opx_s = opx.seconds if isinstance(opx, Run) else float("nan")
        fast_s = fast.seconds if isinstance(fast, Run) else float("nan")
        fastest = min(read.seconds, fast_s) if isinstance(fast, Run) else read.seconds
        print(f"{size:>9,} {r['bytes'] / 1e6:>6.1f} {read.seconds:>7.2f} {fast_s:>11.2f} {opx_s:>10.2f} "
              f"{proc.seconds:>9.2f} {val.seconds:>10.2f} {proc.seconds / read.seconds:>8.2f}x "
              f"{val.seconds / read.seconds:>7.2f}x {proc.seconds / fastest:>8.2f}x "
              f"{val.seconds / fastest:>7.2f}x {read.peak_mb:>6.0f}MB {proc.peak_mb:>6.0f}MB "
              f"{val.peak_mb:>6.0f}MB {max(proc.helper_mb, val.helper_mb):>6.0f}MB "
              f"{max(proc.together_mb, val.together_mb):>6.0f}MB")
        table.append({"rows": size, "bytes": r["bytes"], "read_s": read.seconds, "read_mb": read.peak_mb,
                      "fastexcel_s": fast.seconds if isinstance(fast, Run) else None,
                      "openpyxl_s": opx.seconds if isinstance(opx, Run) else None,
                      "openpyxl_mb": opx.peak_mb if isinstance(opx, Run) else None,
                      "process_s": proc.seconds, "process_mb": proc.peak_mb,
                      "validate_s": val.seconds, "validate_mb": val.peak_mb,
                      "helper_mb": max(proc.helper_mb, val.helper_mb),
                      "together_mb": max(proc.together_mb, val.together_mb)})
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "at": f"{datetime.now():%Y-%m-%d %H:%M}",
                                         "figures": table}, indent=1))


if __name__ == "__main__":
    main()
