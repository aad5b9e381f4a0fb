"""The columnar rule engine against the per-row one, in this process (issue 19): no reading, no
database, only judging.

    python bench/bench_columnar.py                    # 1,000 files of 10 rows; 100,000 rows
    python bench/bench_columnar.py --repeat 5 --small 1000 --large 100000 --chunk 5000
    python bench/bench_columnar.py --check            # also compare the two engines' findings

The rows are bench_process.py's employee_add rows (14 columns, 5% bad: bad check character, ID
stored as a number, name with a space, wage out of bounds, unknown 文化程度 code, same person
twice); one person in ten is on file (stopped here or elsewhere, some paid months, some arrears)
so the rules about a record have work. Two cases, each judged by both engines:
  small  N files of 10 rows, each file its own chunk (a FileRun and its memo, or a FileRepeats,
         per file), the per-chunk cost that 1,000 small files pay 1,000 times;
         and again with the cells of --batch files judged by one query (judge_chunks), the
         row rules still per file;
  large  one file of M rows in chunks of C rows (one FileRepeats for the file).
  old       exchange.checks.cells.parse_rows with the in-file repeat (FileRun.parse), then the
            kind's row checks and person.pending for each row (FileRun.judge), the chunk's
            persons looked up in a dict;
  columnar  exchange.checks.columnar.judge_cells (findings and frame), FileRepeats, and
            columnar_rows.judge_rows over the chunk's persons as frames (persons_frame,
            paid_frame) with the kind's row rules and person_pending.
`duplicate.imported` is left out of both (the old engine fingerprints only rows whose person
was imported before: none here). Prints the best of --repeat runs of each. Benchmarks are run
by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine, person_id  # noqa: E402
from bench_process import BAD_KINDS, row_values, spoil  # noqa: E402

from exchange import codes as C  # noqa: E402
from exchange.checks.cells import new_memo  # noqa: E402
from exchange.checks.columnar import judge_cells, judge_chunks  # noqa: E402
from exchange.checks.columnar_rows import (ROW_RULES, Facts, FileRepeats, declarations_frame,  # noqa: E402
                                           judge_rows, paid_frame, persons_frame)
from exchange.checks.context import CheckContext, PersonRecord, UnitRecord  # noqa: E402
from exchange.checks.rows import ABOUT_RECORDS, ROW_CHECKS  # noqa: E402
from exchange.kinds.load import load_rules  # noqa: E402
from exchange.judge import FileRun, Options  # noqa: E402

RULES = load_rules(Path(__file__).resolve().parents[1] / "rules")
SPEC = RULES.kinds["employee_add"]
TODAY = date(2026, 11, 22)
UNIT = UnitRecord("1001", "南通示例科技有限公司")
CHECKS = [n for n in SPEC.checks if n in ROW_RULES]
Rows = list[tuple[int, tuple[Any, ...]]]


def make_rows(n: int, seed: int = 8) -> Rows:
    """bench_process.py's rows: 5% bad of realistic kinds; sheet rows numbered from 4."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        row = row_values(i, rnd)
        if i % 20 == 19:
            spoil(row, BAD_KINDS[(i // 20) % len(BAD_KINDS)], i, rnd)
        out.append((i + 4, tuple(row)))
    return out


def make_people(n: int, seed: int = 9) -> dict[str, PersonRecord]:
    """One person in ten of the rows is on file: stopped, here or elsewhere; some paid months."""
    rnd = random.Random(seed)
    people = {}
    for i in range(0, n, 10):
        number = person_id(i)[0]
        people[number] = PersonRecord(
            number, "某某", unit_code=rnd.choice(("1001", "1002", None)), status="2",
            last_paid_month=rnd.choice((None, "202001", "201912")),
            paid_months=rnd.choice(({}, {"310": "202001"}, {"510": "201901", "310": ""})),
            arrears=rnd.choice((Decimal(0), Decimal(0), Decimal("12.50"))))
    return people


def chunks(rows: Rows, size: int) -> list[Rows]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _chunk_people(chunk: Rows, people: dict[str, PersonRecord]) -> dict[str, PersonRecord]:
    """What Q.persons answers for a chunk: the records of its IDs (as text cells)."""
    return {c[0]: people[c[0]] for _, c in chunk if c[0].__class__ is str and c[0] in people}


def old_engine(files: list[list[Rows]], people: dict[str, PersonRecord]) -> list[dict]:
    out = []
    for file in files:
        run = object.__new__(FileRun)           # FileRun's parse and judge, without a database
        run.kind, run.rules, run.unit = SPEC, RULES, UNIT
        run.opts = Options(importing=False, today=TODAY)
        run.first_row, run.person_field, run.memo = {}, SPEC.person_field, new_memo(SPEC.columns)
        run.checks = [ROW_CHECKS[n] for n in CHECKS]
        run.checks_off_file = [ROW_CHECKS[n] for n in CHECKS if n not in ABOUT_RECORDS]
        found: dict[int, list] = {}
        for chunk in file:
            ctx = CheckContext(RULES, SPEC, UNIT, TODAY, persons=_chunk_people(chunk, people))
            for p in run.parse(chunk):
                found[p.outcome_row] = run.judge(p, ctx)
        out.append(found)
    return out


def columnar_engine(files: list[list[Rows]], people: dict[str, PersonRecord], batch: int = 1
                    ) -> list[dict]:
    """`batch` > 1: the cells of that many one-chunk files judged by one query (judge_chunks),
    the row rules per file."""
    out = []
    names = [*CHECKS, "person_pending"]
    pending = declarations_frame([])
    ahead: list = []
    for n, file in enumerate(files):
        if batch > 1 and not ahead:
            ahead = judge_chunks([f[0] for f in files[n:n + batch]], SPEC.columns, RULES.tables,
                                 TODAY)
        repeats = FileRepeats(SPEC.person_field)
        found: dict[int, list] = {}
        for chunk in file:
            judged = ahead.pop(0) if batch > 1 else \
                judge_cells(chunk, SPEC.columns, RULES.tables, TODAY)
            frame = judged.frame()
            for number, findings in zip(judged.rows, judged.findings()):
                found[number] = findings
            for number, first_row in repeats.findings(frame).iter_rows():
                found[number].append(("duplicate", first_row))
            mine = _chunk_people(chunk, people)
            facts = Facts(frame, SPEC, RULES, TODAY, UNIT, persons_frame(mine), paid_frame(mine),
                          pending=pending)
            for number, findings in judge_rows(facts, names).items():
                found[number].extend(findings)
        out.append(found)
    return out


def _flat(found: list[dict]) -> list[dict]:
    """Findings as comparable tuples (an in-file repeat as the old engine makes it)."""
    out = []
    for file in found:
        out.append({row: sorted(
            (C.DUPLICATE_IN_FILE, None, None, (("first_row", f[1]),)) if isinstance(f, tuple)
            else (f.code, f.column, f.field, tuple(sorted(f.params.items(), key=str)))
            for f in fs) for row, fs in file.items()})
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="small files (10 rows each)")
    parser.add_argument("--large", type=int, default=100_000, help="rows of the large file")
    parser.add_argument("--chunk", type=int, default=5000, help="chunk rows of the large file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="compare the engines' findings")
    parser.add_argument("--batch", type=int, default=50,
                        help="small files whose cells share one query (columnar, batched)")
    args = parser.parse_args()
    print(machine())
    cases = []
    if args.small:
        rows = make_rows(args.small * 10, seed=3)
        cases.append((f"{args.small:,} files of 10 rows", [[f] for f in chunks(rows, 10)],
                      make_people(args.small * 10)))
    if args.large:
        cases.append((f"{args.large:,} rows, chunks of {args.chunk:,}",
                      [chunks(make_rows(args.large), args.chunk)], make_people(args.large)))
    columnar_engine(cases[0][1][:3], cases[0][2])         # imports, regex compilation
    for label, files, people in cases:
        old, old_found = timed(lambda: old_engine(files, people), args.repeat)
        new, new_found = timed(lambda: columnar_engine(files, people), args.repeat)
        if args.check:
            assert _flat(new_found) == _flat(old_found), f"{label}: the engines differ"
        print(f"{label:<32} old {old:7.3f} s   columnar {new:7.3f} s   "
              f"ratio {new / old:5.2f}   (best of {args.repeat})", flush=True)
        if len(files) > 1 and args.batch > 1:
            many, many_found = timed(lambda: columnar_engine(files, people, args.batch),
                                     args.repeat)
            if args.check:
                assert _flat(many_found) == _flat(old_found), f"{label}: batched differs"
            print(f"{'  cells of ' + str(args.batch) + ' files per query':<32} "
                  f"{'':15} columnar {many:7.3f} s   ratio {many / old:5.2f}", flush=True)


if __name__ == "__main__":
    main()
