"""Debian's `prometheus` scraping a running node: start `exchange serve` with [monitoring] on,
drop a few files, start Prometheus against the node, and print the answer of a query.

    apt-get install prometheus          # Debian 12: Prometheus 2.42
    python bench/prometheus_demo.py [--files 20]

Everything runs in a temp folder on free loopback ports and is stopped at the end. Run by hand;
not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

from _common import exchange_argv, machine
from bench_small_files import free_port, make_files, new_instance, receipts

QUERIES = (
    "sum by (kind, status) (exchange_files_processed_total)",
    "sum by (outcome) (exchange_rows_total)",
    "histogram_quantile(0.9, sum by (le) (rate(exchange_file_receipt_seconds_bucket[1m])))",
    "exchange_files_waiting",
)


def wait_for(probe, seconds: float, what: str):  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20)
    args = ap.parse_args()
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("no prometheus on PATH (Debian: apt-get install prometheus)")
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {machine()}")
    print(subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    root = Path(tempfile.mkdtemp(prefix="bench-prometheus-"))
    units = ["1001", "1002"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        instance = new_instance(root, "inst", units)
        metrics_port, prom_port = free_port(), free_port()
        config = instance.home / "config.toml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            "# port = 9464", f"port = {metrics_port}"), encoding="utf-8")
        node_log = (root / "serve.log").open("wb")
        procs.append(subprocess.Popen(exchange_argv("--home", str(instance.home), "serve", "--port",
                                                    str(free_port())), stdout=node_log, stderr=node_log))
        wait_for(lambda: b"serving " in (root / "serve.log").read_bytes(), 60, "exchange serve")
        (root / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: exchange\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{metrics_port}']\n        labels: {{node: node-a}}\n",
            encoding="utf-8")
        prom_log = (root / "prometheus.log").open("wb")
        procs.append(subprocess.Popen(
            [binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=prom_log, stderr=prom_log))
        wait_for(lambda: query(prom_port, "up") and query(prom_port, "up")[0]["value"][1] == "1",
                 60, "Prometheus to scrape the node (up == 1)")
        staged = make_files(root / "staged", args.files, units)
        start = time.monotonic()
        for unit, path in staged:
            os.rename(path, instance.unit_inbox(unit) / path.name)
        wait_for(lambda: receipts(instance, units) == len(staged), 120, "the receipts")
        print(f"{len(staged)} files: receipts in {time.monotonic() - start:.1f} s")
        want = float(len(staged))
        wait_for(lambda: sum(float(r["value"][1]) for r in query(prom_port, QUERIES[0])) == want,
                 30, "Prometheus to see every file")
        time.sleep(2)
        for expr in QUERIES:
            print(f"\n> {expr}")
            for r in query(prom_port, expr):
                labels = ", ".join(f"{k}={v}" for k, v in sorted(r["metric"].items()))
                print(f"  {{{labels}}}  {r['value'][1]}")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(root, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
