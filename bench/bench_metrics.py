"""What the metrics cost: the same small files processed with and without the counters, in turn
in one process (CPU time, so that other processes on a shared machine move it less), and the
cost of one scrape with files waiting.

    python bench/bench_metrics.py                    # 300 files x 4 rounds, 1,000 waiting files
    python bench/bench_metrics.py --files 100 --rounds 2

Each round processes the same files twice on fresh instances: once with pipeline.process_claim
as shipped (metrics.metered_claim around it: counted as received, in processing, finished with
kind, status, rows and receipt time) and once with the bare function (`__wrapped__`).
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import machine
from bench_small_files import make_files, new_instance


def process_all(root: Path, name: str, staged: list[tuple[str, Path]], units: list[str],
                metered: bool) -> tuple[float, float]:
    import exchange.pipeline as pipeline
    from exchange.intake.scan import process_inbox
    from exchange.store.db import open_database

    instance = new_instance(root, name, units)
    for unit, path in staged:
        shutil.copy(path, instance.unit_inbox(unit) / path.name)
    db = open_database(instance)
    shipped = pipeline.process_claim
    if not metered:
        pipeline.process_claim = shipped.__wrapped__      # type: ignore[attr-defined]
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        done = process_inbox(instance, db)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        pipeline.process_claim = shipped
        db.dispose()
    assert len(done) == len(staged), (len(done), len(staged))
    return cpu, wall


def scrape_cost(root: Path, waiting: int, units: list[str]) -> float:
    """Seconds for one /metrics body with `waiting` files in the inboxes (median of 20)."""
    from prometheus_client import generate_latest

    from exchange.monitor.state import StateCollector

    instance = new_instance(root, "inst-scrape", units)
    for n in range(waiting):
        (instance.unit_inbox(units[n % len(units)]) / f"w{n:05d}.xlsx").write_bytes(b"x")
    instance.metrics.register_once(StateCollector(instance))
    times = []
    for _ in range(20):
        t = time.perf_counter()
        generate_latest(instance.metrics.registry)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def calls_cost() -> float:
    """Seconds the metered wrapper adds to one file, on its own (median of 5 x 20,000 calls)."""
    import timeit

    from exchange.metrics import Metrics, metered_claim
    from exchange.results import Counts, FileResult

    class Holder:
        metrics = Metrics()

    result = FileResult("1001", "a.xlsx", datetime.now(), kind="employee_add",
                        counts=Counts(12, 11, 1, 0))

    def judged(_instance: object) -> FileResult:
        return result

    metered, holder = metered_claim(judged), Holder()
    n = 20_000
    with_metrics = statistics.median(timeit.repeat(lambda: metered(holder), number=n, repeat=5))
    bare = statistics.median(timeit.repeat(lambda: judged(holder), number=n, repeat=5))
    return (with_metrics - bare) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--waiting", type=int, default=1000)
    args = ap.parse_args()
    units = [f"{1001 + i}" for i in range(args.units)]
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    root = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    try:
        staged = make_files(root / "staged", args.files, units)
        cpu: dict[bool, list[float]] = {True: [], False: []}
        wall: dict[bool, list[float]] = {True: [], False: []}
        process_all(root, "inst-warm-up", staged[:10], units, True)   # imports, caches: not counted
        for r in range(args.rounds):
            for metered in ((False, True) if r % 2 == 0 else (True, False)):
                c, w = process_all(root, f"inst-{r}-{int(metered)}", staged, units, metered)
                cpu[metered].append(c)
                wall[metered].append(w)
                print(f"  round {r + 1} {'metered' if metered else 'bare   '}: cpu {c:.2f} s, "
                      f"wall {w:.2f} s", flush=True)
        ratios = [m / b for m, b in zip(cpu[True], cpu[False])]
        print(f"\n{args.files} files x {args.rounds} rounds: cpu median bare "
              f"{statistics.median(cpu[False]):.2f} s, metered {statistics.median(cpu[True]):.2f} s; "
              f"metered/bare per round: median {statistics.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
        per_file = statistics.median(cpu[False]) / args.files
        calls = calls_cost()
        print(f"the counters of one file on their own: {calls * 1e6:.1f} us, "
              f"{calls / per_file * 100:.3f}% of a file's {per_file * 1000:.1f} ms of cpu")
        print(f"one /metrics scrape with {args.waiting:,} files waiting: "
              f"{scrape_cost(root, args.waiting, units) * 1000:.1f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
