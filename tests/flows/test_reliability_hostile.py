"""Hostile input under load: bombs, huge sheets and garbage are refused with receipts in bounded
memory by two `exchange serve` nodes on PostgreSQL, while valid files dropped at the same time
are all imported. The bounds checked here are each node's peak RSS (VmHWM, the process's own)
and the peak of its RSS plus its reading workers' (exchange.read.sandbox), sampled every 50 ms.
The reader rows of issue 15 (tests/flows/hostile_files.py) are among the hostile files.

The row limit is lowered to 5,000 so the "huge sheet" stays quick to build; bench/reliability.py
--hostile drops a real 1,000,000-row sheet against the default 500,000.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from exchange.accounts import add_unit
from exchange.read.sandbox import TEST_HOOKS_ENV, TEST_MARKER
from exchange.store.db import open_database
from tests.flows.cluster import (Node, Planned, billion_laughs_xlsx, check_outcome, configure,
                                 drop_shared, garbage, lying_zip_bomb_xlsx, many_rows_csv,
                                 many_rows_xlsx, person_id, pixel_bomb_png, receipts_of,
                                 rescan_every, wait_until, write_add_file, zip_bomb_xlsx)
from tests.flows.hostile_files import (corner_cells_xlsx, cut_records_xls, inflating_strings_xlsx,
                                       large_png, one_line_csv, zip_of_large_pngs)

UNITS = ["4001", "4002", "4003", "4004"]
MAX_ROWS = 5000
PEAK_RSS_BOUND_MB = 400        # per node; an idle node sits near 180 MB
# Per node with its reading workers (sampled, summed): issue 15 set 300 MB. Every judging node
# holds polars (issue 19, the one rule engine and the money code: no pandas); measured 216-250 MB
# on 2 loaded cores (285-313 MB while the money code still imported pandas).
TREE_RSS_BOUND_MB = 300


def _hostile(folder: Path) -> list[Planned]:
    folder.mkdir(parents=True, exist_ok=True)
    plans = []

    def add(unit: str, name: str, build, status: str, code: str | None) -> None:  # type: ignore[no-untyped-def]
        path = folder / name
        build(path)
        plans.append(Planned(unit, name, path, expect_status=status, expect_code=code))

    add("4001", "bomb.xlsx", lambda p: zip_bomb_xlsx(p, 400), "refused", "file.hostile")
    add("4002", "lying-bomb.xlsx", lambda p: lying_zip_bomb_xlsx(p, 400), "refused", None)
    add("4003", "laughs.xlsx", billion_laughs_xlsx, "refused", "file.hostile")
    add("4004", f"{person_id(900_001)}.png", pixel_bomb_png, "refused", None)
    add("4001", "rows.csv", lambda p: many_rows_csv(p, MAX_ROWS + 1000), "refused", "file.too_large")
    add("4002", "rows.xlsx", lambda p: many_rows_xlsx(p, MAX_ROWS + 1000), "refused", "file.too_large")
    # The reader rows of issue 15: each refused by a cheap check or by the reading sandbox.
    add("4001", "cut.xls", cut_records_xls, "refused", "file.unreadable")
    add("4002", "corner-2.xlsx", lambda p: corner_cells_xlsx(p, 1), "refused", "file.too_large")
    add("4003", "corner-26.xlsx", lambda p: corner_cells_xlsx(p, 25), "refused", "file.too_large")
    add("4004", "corner-200.xlsx", lambda p: corner_cells_xlsx(p, 199), "refused", "file.too_large")
    add("4001", "strings.xlsx", lambda p: inflating_strings_xlsx(p, 1.5), "refused", "file.too_large")
    add("4002", "line.csv", lambda p: one_line_csv(p, 8), "refused", "file.too_large")
    add("4003", f"{person_id(900_002)}.png", large_png, "refused", "file.hostile")
    add("4004", "photos.zip", zip_of_large_pngs, "refused", "file.hostile")
    # Reading workers that abort or are killed mid-parse (the sandbox's test hooks, see below).
    add("4001", "abort.csv", lambda p: p.write_bytes(TEST_MARKER + b"abort\na,b\n"), "refused",
        "file.unreadable")
    add("4003", "kill.csv", lambda p: p.write_bytes(TEST_MARKER + b"kill\na,b\n"), "refused",
        "file.unreadable")
    for i, unit in enumerate(UNITS):
        plans += garbage(folder / unit, unit, 8, seed=i)
    return plans


def test_hostile_files_are_refused_in_bounded_memory_while_valid_ones_flow(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")          # inherited by the nodes, for their workers
    instance = configure(tmp_path / "inst", pg_url, settle_seconds=0.3, lease_seconds=30,
                         max_rows=MAX_ROWS, max_shared_strings_mb=1, max_line_kb=4)
    rescan_every(instance, 2)
    db = open_database(instance)
    with db.session() as s:
        for u in UNITS:
            add_unit(instance, s, u, f"测试单位{u}", password=f"pw-{u}")
    hostile = _hostile(tmp_path / "hostile")
    valid = [write_add_file(tmp_path / "valid" / f"add-{u}-{k}.xlsx", u, 10_000 * (1 + i) + 200 * k,
                            150, 30)
             for i, u in enumerate(UNITS) for k in range(5)]
    # Interleaved: each unit's valid files queue behind and between its hostile ones.
    plans = [p for pair in zip(hostile, valid) for p in pair] + hostile[len(valid):] + valid[len(hostile):]
    nodes = [Node(instance, name) for name in "ab"]
    try:
        for node in nodes:
            node.start()
        started = time.monotonic()
        for p in plans:
            drop_shared(instance, p)
        wait_until(lambda: len(receipts_of(instance, UNITS)) >= len(plans), 300,
                   "a receipt for every file", every=0.2)
        elapsed = time.monotonic() - started
    finally:
        codes = [node.stop() for node in nodes if node.running()]
    assert codes == [0, 0], [n.output()[-3000:] for n in nodes]
    outcome = check_outcome(instance, db, plans)
    assert outcome.problems == []
    assert outcome.declarations == sum(len(p.accepted_ids) for p in valid)
    peaks = [mb for n in nodes for mb in n.peak_mb]
    trees = [mb for n in nodes for mb in n.tree_peak_mb]
    assert max(peaks) < PEAK_RSS_BOUND_MB, peaks
    assert max(trees) < TREE_RSS_BOUND_MB, trees
    db.dispose()
    print(f"{len(hostile)} hostile + {len(valid)} valid files, last receipt after {elapsed:.1f}s, "
          f"peak RSS per node {', '.join(f'{mb:.0f}' for mb in peaks)} MB, with its reading "
          f"workers {', '.join(f'{mb:.0f}' for mb in trees)} MB")
