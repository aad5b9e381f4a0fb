"""The rule engine's judging in this process: the columnar engine (issue 19) against the per-row
one while it exists (it prints only the columnar engine once the old one is gone).

    python bench/bench_columnar.py                      # 1,000 chunks of 10 rows; 100,000 rows
    python bench/bench_columnar.py --small 1000 --size 10 --rows 100000 --chunk 5000 --repeat 3

employee_add rows as bench_process.py makes them (5% bad: check character, ID stored as a
number, name with a space, wage out of bounds, unknown 文化程度, the same person twice), in the
kind's column order; a fifth of the persons on file (insured here, elsewhere or stopped, some
with paid months). Judged as a file is, chunk by chunk:
  old       exchange.checks.cells.parse_rows, the in-file repeat and the kind's row checks
            with `person.pending` as pipeline.FileRun.parse and FileRun.judge apply them;
  columnar  judge_cells, FileRepeats, then judge_rows of the kind's checks and person_pending
            with the chunk's persons as frames.
"Small": many files of a few rows, each its own chunk with its own state (a new memo, a new
FileRepeats), as 1,000 small files are; `--batch N`: again, the cells of N files at a time
judged by one query (judge_chunks), the rest per file; "large": one file in chunks. The
repeats judge the same rows (a memo that keeps every cell answers the later ones, IDs too) or,
with `--fresh`, each its own persons' rows, as each day's files bring new IDs, names and phones
(the warm-up judges other rows still). No database: the persons
are given. Best of --repeat. Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]      # this checkout's `exchange`, then bench/

from _common import machine, person_id                                       # noqa: E402
from bench_process import BAD_KINDS, HEADERS, row_values, spoil                 # noqa: E402

from exchange import codes as C                                               # noqa: E402
from exchange.checks.columnar import judge_cells, judge_chunks                # noqa: E402
from exchange.checks.columnar_rows import (Facts, FileRepeats, judge_rows, paid_frame,  # noqa: E402
                                           persons_frame)
from exchange.checks.context import CheckContext, PersonRecord, UnitRecord    # noqa: E402
from exchange.checks.finding import Finding                                   # noqa: E402
from exchange.kinds.load import load_rules                                    # noqa: E402

try:                                 # the per-row engine, until the columnar one replaces it
    from exchange.checks.cells import new_memo, parse_rows
    from exchange.checks.rows import ABOUT_RECORDS, ROW_CHECKS
except ImportError:
    parse_rows = None                # type: ignore[assignment]

RULES = load_rules(HERE.parent / "rules")
KIND = RULES.kinds["employee_add"]
TODAY = date(2026, 11, 22)
UNIT = UnitRecord("1001", "单位")


def make_rows(count: int, seed: int = 8, start: int = 0) -> list[tuple[Any, ...]]:
    """bench_process's rows (5% bad), their cells in the kind's column order; the persons
    numbered from `start`."""
    rnd = random.Random(seed)
    where = {h.rstrip("*"): i for i, h in enumerate(HEADERS)}
    order = [where[c.header] for c in KIND.columns]
    out = []
    for i in range(start, start + count):
        row = row_values(i, rnd)
        if i % 20 == 19:
            spoil(row, BAD_KINDS[(i // 20) % len(BAD_KINDS)], i, rnd)
        out.append(tuple(row[j] for j in order))
    return out


def make_persons(count: int, seed: int = 9) -> dict[str, PersonRecord]:
    """A fifth of the rows' persons on file: insured here, elsewhere, or stopped."""
    rnd = random.Random(seed)
    people = {}
    for i in range(0, count, 5):
        number = person_id(i)[0]
        people[number] = PersonRecord(
            number, "张三", unit_code=rnd.choice(("1001", "1002", None)),
            status=rnd.choice(("1", "2")), paid_months=rnd.choice(({}, {"310": "202612"})),
            last_paid_month=rnd.choice((None, "202001")),
            arrears=rnd.choice((Decimal(0), Decimal("12.5"))))
    return people


def _chunk_persons(people: dict[str, PersonRecord], cells: list[tuple[Any, ...]]
                   ) -> dict[str, PersonRecord]:
    return {c[0]: people[c[0]] for c in cells if isinstance(c[0], str) and c[0] in people}


class Old:
    """parse_rows, the in-file repeat and the row checks as FileRun.parse and FileRun.judge."""

    def __init__(self) -> None:
        self.memo = new_memo(KIND.columns)
        self.first_row: dict[Any, int] = {}
        self.checks = [ROW_CHECKS[n] for n in KIND.checks]
        self.off_file = [ROW_CHECKS[n] for n in KIND.checks if n not in ABOUT_RECORDS]

    def chunk(self, rows: list[tuple[int, tuple[Any, ...]]], people: dict[str, PersonRecord]
              ) -> int:
        ctx = CheckContext(RULES, KIND, UNIT, TODAY, persons=people)
        found = 0
        for (number, _), (values, findings) in zip(rows, parse_rows(
                rows, KIND.columns, RULES.tables, TODAY, self.memo)):
            key = values.get("id_number")
            if key is not None:
                if key in self.first_row:
                    findings.append(Finding(number, C.DUPLICATE_IN_FILE,
                                            params={"first_row": self.first_row[key]}))
                else:
                    self.first_row[key] = number
            on_file = key is not None and key in ctx.persons
            for check in self.checks if on_file else self.off_file:
                findings.extend(check(number, values, ctx))
            found += len(findings)
        return found


class New:
    """judge_cells, FileRepeats and judge_rows, as the pipeline wires them; `judged`: the
    chunk's cells judged already (judge_chunks, with other small files' chunks)."""

    def __init__(self) -> None:
        self.repeats = FileRepeats(KIND.person_field)
        self.names = [*KIND.checks, "person_pending"]

    def chunk(self, rows: list[tuple[int, tuple[Any, ...]]], people: dict[str, PersonRecord],
              judged: Any = None) -> int:
        judged = judged if judged is not None else \
            judge_cells(rows, KIND.columns, RULES.tables, TODAY)
        frame = judged.frame()
        found = sum(len(f) for f in judged.findings())
        found += len(self.repeats.findings(frame))
        facts = Facts(frame, KIND, RULES, TODAY, UNIT, persons_frame(people), paid_frame(people))
        return found + sum(len(f) for f in judge_rows(facts, self.names).values())


def small(engine: Callable[[], Any], chunks: list[list[tuple[int, tuple[Any, ...]]]],
          people: dict[str, PersonRecord]) -> tuple[float, int]:
    """Each chunk a file of its own: fresh state per chunk."""
    found, start = 0, time.perf_counter()
    for rows in chunks:
        found += engine().chunk(rows, _chunk_persons(people, [c for _, c in rows]))
    return time.perf_counter() - start, found


def batched(chunks: list[list[tuple[int, tuple[Any, ...]]]], people: dict[str, PersonRecord],
            batch: int) -> tuple[float, int]:
    """As `small`, the cells of `batch` files at a time judged by one query (judge_chunks)."""
    found, start = 0, time.perf_counter()
    for at in range(0, len(chunks), batch):
        group = chunks[at:at + batch]
        for rows, judged in zip(group, judge_chunks(group, KIND.columns, RULES.tables, TODAY)):
            found += New().chunk(rows, _chunk_persons(people, [c for _, c in rows]), judged)
    return time.perf_counter() - start, found


def large(engine: Callable[[], Any], rows: list[tuple[int, tuple[Any, ...]]], size: int,
          people: dict[str, PersonRecord]) -> tuple[float, int]:
    run, found, start = engine(), 0, time.perf_counter()
    for at in range(0, len(rows), size):
        part = rows[at:at + size]
        found += run.chunk(part, _chunk_persons(people, [c for _, c in part]))
    return time.perf_counter() - start, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="small files (default 1000)")
    parser.add_argument("--size", type=int, default=10, help="rows of a small file (default 10)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the large file")
    parser.add_argument("--chunk", type=int, default=5000, help="the large file's chunk rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fresh", action="store_true",
                        help="each repeat judges other persons' rows (IDs, names, phones new)")
    parser.add_argument("--batch", type=int, default=0,
                        help="also judge the small files' cells this many files a query")
    args = parser.parse_args()

    engines: dict[str, Callable[[], Any]] = {"columnar": New}
    if parse_rows is not None:
        engines = {"old": Old, **engines}
    else:
        print("the per-row engine is gone: the columnar engine only")
    print(machine())
    count = max(args.rows, args.small * args.size)
    rounds = args.repeat if args.fresh else 1
    blocks = [make_rows(count, start=r * count) for r in range(rounds)]
    people = make_persons(rounds * count)
    numbered = [[(i + 4, c) for i, c in enumerate(cells)] for cells in blocks]
    chunks = [[[(4 + j, c) for j, c in enumerate(cells[k * args.size:(k + 1) * args.size])]
               for k in range(args.small)] for cells in blocks]
    warm = [[(4 + j, c) for j, c in enumerate(row)]
            for row in [make_rows(args.size, seed=1, start=rounds * count + 20 * k)
                        for k in range(20)]]
    for name, engine in engines.items():          # warm: imports, compiled regexes, tables
        small(engine, warm, people)

    def best(measure: Callable[[int], tuple[float, int]]) -> tuple[float, int]:
        times, found = zip(*(measure(r % rounds) for r in range(args.repeat)))
        return min(times), found[0]

    for name, engine in engines.items():
        seconds, found = best(lambda r: small(engine, chunks[r], people))
        print(f"{name:9} {args.small:,} chunks of {args.size} rows: best {seconds:.2f} s, "
              f"{1000 * seconds / args.small:.2f} ms a chunk ({found:,} findings)", flush=True)
    if args.batch > 1:
        seconds, found = best(lambda r: batched(chunks[r], people, args.batch))
        print(f"{'batched':9} {args.small:,} chunks of {args.size} rows, the cells of "
              f"{args.batch} a query: best {seconds:.2f} s, "
              f"{1000 * seconds / args.small:.2f} ms a chunk ({found:,} findings)", flush=True)
    for name, engine in engines.items():
        seconds, found = best(lambda r: large(engine, numbered[r][:args.rows], args.chunk, people))
        print(f"{name:9} {args.rows:,} rows in chunks of {args.chunk:,}: best {seconds:.2f} s "
              f"({found:,} findings)", flush=True)


if __name__ == "__main__":
    main()
