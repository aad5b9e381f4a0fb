"""Writing the error workbook (错误工作簿) alone: N failed employee_add rows, time and peak RSS.

    python bench/bench_error_book.py                          # 5,000 and 100,000 failed rows
    python bench/bench_error_book.py --rows 5000 --repeat 3
    python bench/bench_error_book.py --against HEAD~3         # also the writer of an older commit

The failed rows are the kinds bench_process.py plants (bad check character, ID stored as a
number, name with a space, wage out of bounds, unknown 文化程度 code, same person twice), their
cells as python-calamine gives them (strings, floats, datetimes, blanks). Each measurement runs
in its own child process: the outcomes are made a thousand at a time, untimed, and only the
writer's constructor, `add()` and `close()` are timed (wall and CPU). "ErrorBook" is what the
pipeline uses: past SPILL_ROWS rows a helper process writes the book, so its CPU is this
process's (pickling the rows) and its wall time includes waiting for the helper at close; its
peak RSS is this process's, not the helper's. "outcomes only" imports the
writer and makes the outcomes without writing them: the memory floor. `--against REV` loads
exchange/outputs/error_book.py as it was at REV (with today's helpers around it) into a child of
its own, to compare. Every book written is read back with python-calamine (rows and `_meta`)
before its figures count.
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from _common import Run, best, machine, python_argv, run_child
from bench_process import BAD_KINDS, row_values, spoil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BATCH = 1000

CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
from bench_error_book import child
print(json.dumps(child(*sys.argv[1:])))
"""


def outcomes(count: int, seed: int = 8) -> Iterator[Any]:
    """`count` failed RowOutcomes of employee_add, messages rendered (as the receipt has them)."""
    from exchange.checks.finding import Finding
    from exchange.results import RowOutcome

    rnd = random.Random(seed)
    for n in range(count):
        i = n * 20 + 19                                   # the rows bench_process.py spoils
        kind = BAD_KINDS[n % len(BAD_KINDS)]
        raw = row_values(i, rnd)
        if isinstance(raw[4], str):                       # calamine: dates as datetimes or text
            raw[4] = datetime.strptime(raw[4], "%Y-%m-%d")
        raw[12] = float(raw[12])                          # and every number as a float
        spoil(raw, kind, i, rnd)
        if isinstance(raw[12], int):
            raw[12] = float(raw[12])
        row = n + 4
        if kind == "duplicate.in_file":
            findings = [Finding(row, kind, None, None, {"first_row": row - 7})]
        else:
            column, field = {"id.checksum": ("身份证号", "id_number"), "id.numeric": ("身份证号", "id_number"),
                             "name.invalid": ("姓名", "name"), "wage.out_of_bounds": ("缴费工资", "wage"),
                             "code.unknown": ("文化程度", "education")}[kind]
            value = raw[{"id_number": 0, "name": 1, "wage": 12, "education": 7}[field]]
            findings = [Finding(row, kind, column, field, {"value": value, "month": "2026年12月",
                                                           "low": 4494, "high": 22470})]
            if n % 7 == 0:                                # a few rows fail twice
                findings.append(Finding(row, "code.unknown", "岗位", "post", {"value": raw[8]}))
        for f in findings:
            _ = f.message
        yield RowOutcome(row, tuple(findings), tuple(raw))


def child(count: str, out: str, module: str = "") -> dict[str, float]:
    """Write `count` failed rows to `out` with the writer in `module` (a file; "" = today's);
    "none" makes the outcomes and writes nothing."""
    import importlib.util
    import itertools
    import time

    from exchange.kinds.load import load_rules

    kind = load_rules(REPO / "rules").kinds["employee_add"]
    rows = outcomes(int(count))
    if module and module not in ("none", "helper"):
        spec = importlib.util.spec_from_file_location("error_book_then", module)
        assert spec and spec.loader
        book = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(book)
    else:
        import exchange.outputs.error_book as book
    if module == "none":                    # the floor: the same imports and outcomes, no book
        for _ in rows:
            pass
        return {"wall": 0.0, "cpu": 0.0}
    wall = cpu = 0.0

    def timed(step: Any, *args: Any) -> Any:
        nonlocal wall, cpu
        w0, c0 = time.perf_counter(), time.process_time()
        result = step(*args)
        wall, cpu = wall + time.perf_counter() - w0, cpu + time.process_time() - c0
        return result

    def add_all(batch: list[Any]) -> None:
        for outcome in batch:
            writer.add(outcome)

    make = book.ErrorBook if module == "helper" else book.ErrorBookWriter
    writer = timed(make, Path(out), kind, "1001", "南通示例科技有限公司", "psnAdd.xlsx")
    while batch := list(itertools.islice(rows, BATCH)):
        timed(add_all, batch)
    timed(writer.close)
    return {"wall": wall, "cpu": cpu}


def read_back(path: Path, count: int) -> None:
    """The book opens in our reader with every row and its `_meta`."""
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_path(str(path))
    rows = wb.get_sheet_by_name(wb.sheet_names[0]).to_python()
    meta = {str(k): v for k, v, *_ in wb.get_sheet_by_name("_meta").to_python()}
    assert len(rows) == count + 3, (path, len(rows))
    assert meta.get("source") == "error_book" and meta.get("kind") == "employee_add", meta


def old_module(rev: str, root: Path) -> Path:
    text = subprocess.run(["git", "show", f"{rev}:exchange/outputs/error_book.py"], cwd=REPO,
                          check=True, capture_output=True, text=True).stdout
    path = root / f"error_book_{rev.replace('/', '_').replace('~', '_')}.py"
    path.write_text(text, encoding="utf-8")
    return path


def measure(count: int, module: str, root: Path, repeat: int) -> tuple[Run, dict[str, float], int]:
    runs, times = [], []
    out = root / f"errors-{count}-{Path(module).stem if module else 'now'}.xlsx"
    for _ in range(repeat):
        out.unlink(missing_ok=True)
        run = run_child(python_argv(CHILD.format(bench=str(BENCH)), str(count), str(out), module))
        runs.append(run)
        times.append(json.loads(run.stdout))
    size = 0
    if module != "none":
        read_back(out, count)
        size = out.stat().st_size
    return best(runs), min(times, key=lambda t: t["cpu"]), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="5000,100000", help="comma-separated failed-row counts")
    ap.add_argument("--repeat", type=int, default=1, help="runs per step; the fastest counts")
    ap.add_argument("--against", metavar="REV", help="also time error_book.py as it was at this git revision")
    args = ap.parse_args()
    counts = [int(s.replace("_", "")) for s in args.rows.split(",")]
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-error-book-") as tmp:
        root = Path(tmp)
        writers = {"outcomes only": "none", "now": "", "ErrorBook": "helper"}
        if args.against:
            writers[args.against] = str(old_module(args.against, root))
        print(f"{'failed rows':>11} {'writer':>14} {'write s':>8} {'cpu s':>7} {'peak RSS':>9} {'file MB':>8}")
        for count in counts:
            for name, module in writers.items():
                run, t, size = measure(count, module, root, args.repeat)
                if module == "none":
                    shown = f"{'-':>8} {'-':>7} {run.peak_mb:>7.0f}MB {'-':>8}"
                else:
                    shown = f"{t['wall']:>8.2f} {t['cpu']:>7.2f} {run.peak_mb:>7.0f}MB {size / 1e6:>8.2f}"
                print(f"{count:>11,} {name:>14} {shown}", flush=True)


if __name__ == "__main__":
    main()
