"""1,000 small files dropped at once: time until every receipt is written.

    python bench/bench_small_files.py                 # 1,000 files of 3-20 rows, 10 units
    python bench/bench_small_files.py --files 200 --no-serve
    python bench/bench_small_files.py --monitoring    # serve with /metrics scraped every second

Two runs, each on a fresh instance, each in its own child process:
  process  the files are renamed into the unit inboxes at once, then `exchange process`
           (exchange.intake.scan.process_inbox) runs until the inboxes are empty;
  serve    `exchange serve` is started first (watchers, periodic rescan, SFTP, scheduler);
           the files are renamed into the inboxes at once, and the clock stops when the last
           receipt appears in the outboxes.
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from _common import exchange_argv, fresh_instance, machine, person_id, person_name, run_child

HEADERS = ["身份证号*", "姓名*", "性别", "民族", "文化程度*", "工作岗位*", "联系电话", "变更日期*", "缴费工资*"]


def make_files(folder: Path, files: int, units: list[str], seed: int = 3) -> list[tuple[str, Path]]:
    """Small employee_add workbooks (3-20 rows, about 3% of them bad), spread over the units."""
    import openpyxl

    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out, next_person = [], 0
    for n in range(files):
        unit = units[n % len(units)]
        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("Sheet1")
        ws.append([f"职工批量新增申报填写表  单位编号：{unit}"])
        ws.append(HEADERS)
        for _ in range(rnd.randint(3, 20)):
            number, _birth = person_id(next_person)
            next_person += 1
            wage = rnd.choice((99999,) if rnd.random() < 0.03 else (4000, 5200, 8800))
            ws.append([number, person_name(rnd), None, "汉族", "21", "01",
                       f"139{rnd.randrange(10**8):08d}", "202612", wage])
        path = folder / f"psnAdd-{n:04d}.xlsx"
        wb.save(path)
        out.append((unit, path))
    return out


def new_instance(root: Path, name: str, units: list[str]):  # type: ignore[no-untyped-def]
    from exchange.accounts import add_unit

    instance, db = fresh_instance(root, name)
    with db.session() as s:
        for unit in units[1:]:
            add_unit(instance, s, unit, f"单位{unit}", password=f"pw-{unit}")
    db.dispose()
    return instance


def drop(staged: list[tuple[str, Path]], instance) -> None:  # type: ignore[no-untyped-def]
    """Rename every file into its unit's inbox: all arrive within milliseconds."""
    for unit, path in staged:
        os.rename(path, instance.unit_inbox(unit) / path.name)


def receipts(instance, units: list[str]) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for u in units for p in instance.unit_outbox(u, "receipts").glob("*.json"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_process(root: Path, staged: list[tuple[str, Path]], units: list[str]) -> tuple[float, float, int]:
    instance = new_instance(root, "inst-process", units)
    drop(staged, instance)
    run = run_child(exchange_argv("--home", str(instance.home), "process"), keep_stdout=False)
    return run.seconds, run.peak_mb, receipts(instance, units)


def scrape_every_second(port: int, stop: threading.Event, seen: list[float]) -> None:
    """What Prometheus would do (at a 1 s interval, 15 times its default rate)."""
    import urllib.request

    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read().decode()
        except OSError:
            continue
        seen.append(sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                        if line.startswith("exchange_files_processed_total{")))


def run_serve(root: Path, staged: list[tuple[str, Path]], units: list[str], timeout: float,
              monitoring: bool = False) -> tuple[float, float, int]:
    instance = new_instance(root, "inst-serve", units)
    scraper, stop, seen = None, threading.Event(), []   # type: ignore[var-annotated]
    if monitoring:
        port = free_port()
        config = instance.home / "config.toml"
        config.write_text(config.read_text(encoding="utf-8").replace("# port = 9464", f"port = {port}"),
                          encoding="utf-8")
        scraper = threading.Thread(target=scrape_every_second, args=(port, stop, seen), daemon=True)
    log = root / "serve.log"
    hwm = root / "serve.hwm"
    with log.open("wb") as out:
        proc = subprocess.Popen(exchange_argv("--home", str(instance.home), "serve", "--port", str(free_port())),
                                stdout=out, stderr=out, env={**os.environ, "BENCH_HWM_FILE": str(hwm)})
        try:
            deadline = time.monotonic() + 60
            while b"serving " not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("exchange serve did not start:\n" + log.read_text(errors="replace")[-3000:])
                time.sleep(0.1)
            if scraper is not None:
                scraper.start()
            start = time.perf_counter()
            drop(staged, instance)
            done, deadline = 0, time.monotonic() + timeout
            while done < len(staged) and time.monotonic() < deadline:
                time.sleep(0.1)
                done = receipts(instance, units)
            seconds = time.perf_counter() - start
        finally:
            stop.set()
            if seen:
                print(f"  scraped {len(seen)} times; last: {seen[-1]:.0f} files processed", flush=True)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    peak = int(hwm.read_text().strip()) / 1024 if hwm.exists() and hwm.read_text().strip() else float("nan")
    return seconds, peak, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--no-serve", action="store_true", help="skip the `exchange serve` run")
    ap.add_argument("--timeout", type=float, default=600, help="give up on serve after this many seconds")
    ap.add_argument("--monitoring", action="store_true",
                    help="serve with [monitoring].port set, /metrics scraped every second")
    args = ap.parse_args()
    units = [f"{1001 + i}" for i in range(args.units)]
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    root = Path(tempfile.mkdtemp(prefix="bench-small-"))
    results = []
    try:
        serve_available = (Path(__file__).parents[1] / "exchange" / "serve.py").exists()
        modes = ["process"] + (["serve"] if serve_available and not args.no_serve else [])
        for mode in modes:
            print(f"{mode}: writing {args.files:,} files ...", flush=True)
            staged = make_files(root / f"staged-{mode}", args.files, units)
            seconds, peak, done = (run_process(root, staged, units) if mode == "process"
                                   else run_serve(root, staged, units, args.timeout, args.monitoring))
            print(f"  {mode}: {done:,}/{args.files:,} receipts in {seconds:.1f} s, peak RSS {peak:.0f} MB",
                  flush=True)
            results.append((mode, done, seconds, peak))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"{'run':<8} {'files':>6} {'receipts':>8} {'seconds':>8} {'peak RSS':>9}")
    for mode, done, seconds, peak in results:
        print(f"{mode:<8} {args.files:>6,} {done:>8,} {seconds:>8.1f} {peak:>7.0f}MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
