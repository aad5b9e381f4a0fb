"""How long after the last restart the last receipt comes, when `serve` is killed again and again.

Issue 21 item 9: after eight `kill -9` of serve in 34 s under a 1,000-file load, one claimed file
waited 672 s after the last restart (a file renamed into var/processing but not yet recorded
waited a whole lease). Run:

    python3 bench/kill_restart.py [--files 300] [--kills 8] [--database URL]

It drops FILES small workbooks into six units' inboxes, starts one node, kills it with SIGKILL
KILLS times at random moments (--gap: 1-7 s after it serves, about the issue's pace; restarting
it each time), then lets the last start finish, and prints how long after that start the last
receipt came and whether every file has exactly one receipt and its rows
(tests/flows/cluster.check_outcome: a file quarantined as a poison file shows there). Default
database: SQLite.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange.accounts import add_unit  # noqa: E402
from exchange.store.db import open_database  # noqa: E402
from tests.flows.cluster import (Node, check_outcome, configure, drop_shared,  # noqa: E402
                                 receipts_of, write_add_file)

UNITS = [f"40{i:02d}" for i in range(1, 7)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--kills", type=int, default=8)
    ap.add_argument("--database", default="sqlite:///var/exchange.db")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--gap", type=float, nargs=2, default=(1.0, 7.0), metavar=("MIN", "MAX"),
                    help="seconds between a start and the next kill")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kill-restart-") as tmp:
        home = Path(tmp) / "inst"
        instance = configure(home, args.database, settle_seconds=0.2)
        db = open_database(instance)
        with db.session() as s:
            for u in UNITS:
                add_unit(instance, s, u, f"测试单位{u}", password=f"pw-{u}")
        plans = [write_add_file(Path(tmp) / "files" / f"add-{i:04d}.xlsx", UNITS[i % len(UNITS)],
                                i * 20, 20, bad_every=7) for i in range(args.files)]
        for p in plans:
            drop_shared(instance, p)
        node = Node(instance, "n")
        for _ in range(args.kills):
            node.start(may_die=True)
            time.sleep(rnd.uniform(*args.gap))
            node.kill()
        last_start = time.monotonic()
        node.start()
        try:
            end = last_start + args.timeout
            while len(receipts_of(instance, UNITS)) < len(plans) and time.monotonic() < end:
                time.sleep(0.2)
            waited = time.monotonic() - last_start
        finally:
            node.stop()
        outcome = check_outcome(instance, db, plans)
        db.dispose()
        print(f"{args.files} files, {args.kills} kills: last receipt {waited:.1f} s after the last "
              f"start; receipts {outcome.receipts}/{outcome.files}; problems: "
              f"{outcome.problems[:5] or 'none'}")


if __name__ == "__main__":
    main()
