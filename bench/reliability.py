"""Several `exchange serve` nodes on one PostgreSQL database under a burst of files and kills.

    python3 bench/reliability.py                       # 1,000 files, 3 nodes, 2 kills
    python3 bench/reliability.py --hostile             # plus bombs, a 1,000,000-row sheet, garbage,
                                                       # and the reader rows of issue 15
    python3 bench/reliability.py --files 300 --nodes 2 --kills 1 --pg-url postgresql+psycopg://...

A private PostgreSQL cluster is started from the installed binaries (tests/pgserver.py) unless
--pg-url names a server where the URL's user may create databases. One instance folder is the
shared tree of every node (inbox/, outbox/, var/), as on a network share. Files are dropped at
once: some over the shared folder (temp name, then rename), the rest over SFTP to every node.
While they are processed, a node holding a file is killed with SIGKILL and restarted, --kills
times. At the end every node stops with SIGTERM and the checks of tests/flows/cluster.py run:
one receipt per file, one declaration and one import audit entry per accepted row, one placed
`files` row per file, no partial outbox file, nothing left in inboxes or var/processing.
Peak RSS is each node process's own (VmHWM), and each node's with its reading workers added
(sampled every 50 ms). Exit status 1 when a check fails.
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import machine  # noqa: E402

from exchange.accounts import add_unit  # noqa: E402
from exchange.store.db import open_database  # noqa: E402
from exchange.store.models import FileRecord  # noqa: E402
from tests.flows.cluster import (ADD_HEADERS, ADD_TITLE, Node, Planned, billion_laughs_xlsx,  # noqa: E402
                                 check_outcome, configure, drop_sftp, drop_shared, garbage,
                                 lying_zip_bomb_xlsx, person_id, pixel_bomb_png, receipts_of,
                                 rescan_every, wait_until, write_add_file, zip_bomb_xlsx)
from tests.flows.hostile_files import (corner_cells_xlsx, cut_records_xls,  # noqa: E402
                                       inflating_strings_xlsx, large_png, one_line_csv,
                                       zip_of_large_pngs)
from tests.pgserver import LocalCluster  # noqa: E402


# The huge sheet's people are nobody else's: it must be refused for its size alone.
BIG_FIRST_ID = 5_000_000


def password(unit: str) -> str:
    return f"bench-{unit}"


def million_row_xlsx(path: Path, rows: int) -> None:
    """A plain one-sheet workbook written as XML directly (openpyxl would take minutes)."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

    def cells(r: int, values: list[object]) -> str:
        out = []
        for j, v in enumerate(values):
            ref = f"{chr(65 + j)}{r}"
            if isinstance(v, int):
                out.append(f'<c r="{ref}"><v>{v}</v></c>')
            elif v != "":
                out.append(f'<c r="{ref}" t="inlineStr"><is><t>{v}</t></is></c>')
        return f'<row r="{r}">{"".join(out)}</row>'

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
            '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'))
        zf.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            f'{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        zf.writestr("xl/workbook.xml", (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" xmlns:r="{rel}">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        zf.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            f'{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'))
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}"><sheetData>'
                     .encode())
            fh.write(cells(1, [ADD_TITLE]).encode())
            fh.write(cells(2, list(ADD_HEADERS)).encode())
            batch = []
            for i in range(rows):
                batch.append(cells(i + 3, [person_id(BIG_FIRST_ID + i), "张三", "", "汉族", "", "", "", "21", "01",
                                           "13912345678", "南通市", "202612", 5000, ""]))
                if len(batch) == 5000:
                    fh.write("".join(batch).encode())
                    batch = []
            fh.write("".join(batch).encode())
            fh.write(b"</sheetData></worksheet>")


def hostile_set(folder: Path, units: list[str], garbage_files: int, big_rows: int) -> list[Planned]:
    folder.mkdir(parents=True, exist_ok=True)
    plans: list[Planned] = []

    def add(name: str, build, code: str | None) -> None:  # type: ignore[no-untyped-def]
        path = folder / name
        build(path)
        plans.append(Planned(units[len(plans) % len(units)], name, path, expect_status="refused",
                             expect_code=code))

    add("million.xlsx", lambda p: million_row_xlsx(p, big_rows), "file.too_large")
    add("bomb.xlsx", lambda p: zip_bomb_xlsx(p, 1000), "file.hostile")
    add("lying-bomb.xlsx", lambda p: lying_zip_bomb_xlsx(p, 1000), None)
    add("laughs.xlsx", billion_laughs_xlsx, "file.hostile")
    add(f"{person_id(9_000_001)}.png", pixel_bomb_png, None)
    # The reader rows of issue 15 at full size: each refused by a cheap check in front of the
    # readers, or by the reading sandbox (exchange.read.sandbox) where no check could foresee it.
    add("cut.xls", cut_records_xls, "file.unreadable")                  # calamine panics
    for corners in (1, 25, 199):                                        # calamine aborts / 6 GB
        add(f"corner-{corners + 1}.xlsx", lambda p, c=corners: corner_cells_xlsx(p, c),
            "file.too_large")
    add("strings.xlsx", lambda p: inflating_strings_xlsx(p, 120), "file.too_large")
    add("strings-under-limit.xlsx", lambda p: inflating_strings_xlsx(p, 38), None)
    add("line.csv", lambda p: one_line_csv(p, 99 * 1024), "file.too_large")
    add(f"{person_id(9_000_002)}.png", large_png, "file.hostile")      # 39 MP
    add("photos.zip", zip_of_large_pngs, "file.hostile")               # 40 of them
    per_unit = max(1, garbage_files // len(units))
    for i, u in enumerate(units):
        plans += garbage(folder / u, u, per_unit, seed=i)
    return plans


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000, help="valid files to drop (default 1000)")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--units", type=int, default=12)
    ap.add_argument("--kills", type=int, default=2, help="SIGKILLs during the run (default 2)")
    ap.add_argument("--sftp-share", type=float, default=0.4, help="share of files sent over SFTP")
    ap.add_argument("--rows", default="10,200", help="rows per file: min,max (default 10,200)")
    ap.add_argument("--hostile", action="store_true",
                    help="also drop bombs, a 1,000,000-row sheet and a stream of garbage files")
    ap.add_argument("--garbage", type=int, default=200, help="garbage files with --hostile")
    ap.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the huge sheet")
    ap.add_argument("--lease", type=int, default=10, help="[intake] lease_seconds")
    ap.add_argument("--pg-url", help="a PostgreSQL server (admin URL); default: a private cluster")
    ap.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = ap.parse_args()
    rnd = random.Random(20261122)
    lo, hi = (int(x) for x in args.rows.split(","))

    work = Path(tempfile.mkdtemp(prefix="exchange-reliability-"))
    cluster = None
    admin_url = args.pg_url
    if not admin_url:
        cluster = LocalCluster()
        admin_url = cluster.start()
    print(f"machine: {machine()}")
    print(f"PostgreSQL: {'private cluster (fsync off)' if cluster else admin_url}; work in {work}")
    import psycopg

    dbname = f"reliability_{int(time.time())}"
    with psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + dbname
    nodes: list[Node] = []
    failed = False
    try:
        instance = configure(work / "inst", url, settle_seconds=0.5, lease_seconds=args.lease)
        rescan_every(instance, 5)
        db = open_database(instance)
        units = [f"5{i:03d}" for i in range(1, args.units + 1)]
        with db.session() as s:
            for u in units:
                add_unit(instance, s, u, f"基准单位{u}", password=password(u))

        t0 = time.perf_counter()
        plans: list[Planned] = []
        first = 0
        for n in range(args.files):
            u = units[n % len(units)]
            rows = rnd.randint(lo, hi)
            plans.append(write_add_file(work / "files" / f"add-{n:04d}.xlsx", u, first, rows,
                                        bad_every=rnd.choice((0, 20, 50))))
            first += rows
        valid = list(plans)
        hostile: list[Planned] = []
        if args.hostile:
            hostile = hostile_set(work / "hostile", units, args.garbage, args.big_rows)
            plans += hostile
        rows_total = sum(len(p.accepted_ids) + p.failed for p in valid)
        print(f"built {len(valid)} valid files ({rows_total:,} rows)"
              + (f" and {len(hostile)} hostile ones" if hostile else "")
              + f" in {time.perf_counter() - t0:.1f} s")

        nodes = [Node(instance, chr(ord("a") + i)) for i in range(args.nodes)]
        for node in nodes:
            node.start()
        print(f"nodes: {args.nodes} `exchange serve` processes, lease {args.lease} s, rescan 5 s")

        rnd.shuffle(plans)
        sftp = [p for p in plans if p in valid and rnd.random() < args.sftp_share]
        shared = [p for p in plans if p not in sftp]
        dropped_at = time.monotonic()
        uploaders = [threading.Thread(target=drop_sftp, args=(node.port, sftp[i::len(nodes)], password))
                     for i, node in enumerate(nodes)]
        for t in uploaders:
            t.start()
        for p in shared:
            drop_shared(instance, p)
        shared_done = time.monotonic() - dropped_at
        for t in uploaders:
            t.join()
        print(f"dropped {len(plans)} files: {len(shared)} over the shared folder in {shared_done:.1f} s, "
              f"{len(sftp)} over SFTP in {time.monotonic() - dropped_at:.1f} s")

        def receipts() -> int:
            return len(receipts_of(instance, units))

        kills = []
        for k in range(args.kills):
            target = len(plans) * (k + 1) // (args.kills + 1)
            victim = nodes[k % len(nodes)]
            wait_until(lambda: receipts() >= target, 1800, f"{target} receipts", every=0.2)

            def holding() -> list[int]:
                with db.session() as s:
                    return list(s.scalars(FileRecord.__table__.select().with_only_columns(
                        FileRecord.id).where(FileRecord.node == victim.node_id,
                                             FileRecord.stored_path.is_(None))))

            try:
                wait_until(holding, 60, f"node {victim.name} to hold a file", every=0.005)
            except AssertionError:
                pass
            held_before = victim.node_id
            victim.kill()
            with db.session() as s:
                held = list(s.scalars(FileRecord.__table__.select().with_only_columns(
                    FileRecord.id).where(FileRecord.node == held_before,
                                         FileRecord.stored_path.is_(None))))
            at = receipts()
            victim.start()
            kills.append((victim.name, at, len(held)))
            print(f"kill {k + 1}: node {victim.name} SIGKILLed at {at} receipts holding "
                  f"{len(held)} file(s); restarted")

        wait_until(lambda: receipts() >= len(plans), 3600, "a receipt for every file", every=0.2)
        elapsed = time.monotonic() - dropped_at
        codes = [node.stop() for node in nodes]
        all_nodes, nodes = nodes, []
        print(f"last receipt {elapsed:.1f} s after the first drop: {len(plans) / elapsed:.1f} files/s, "
              f"{rows_total / elapsed:,.0f} rows/s; nodes stopped with {codes}")

        arrived = receipt_times(instance, units)
        wall_drop = time.time() - (time.monotonic() - dropped_at)
        latencies = sorted(arrived[(p.unit, p.name)] - wall_drop for p in valid
                           if (p.unit, p.name) in arrived)
        print(f"valid files, drop to receipt: median {statistics.median(latencies):.1f} s, "
              f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f} s, max {latencies[-1]:.1f} s")
        if hostile:
            big = next(p for p in hostile if p.name == "million.xlsx")
            print(f"the {args.big_rows:,}-row sheet was refused "
                  f"{arrived.get((big.unit, big.name), float('nan')) - wall_drop:.1f} s after the drop")
            # A unit's files are judged in order: its later files wait behind the huge sheet.
            others = sorted(arrived[(p.unit, p.name)] - wall_drop for p in valid
                            if p.unit != big.unit and (p.unit, p.name) in arrived)
            print(f"valid files of the other units: median {statistics.median(others):.1f} s, "
                  f"p95 {others[int(len(others) * 0.95) - 1]:.1f} s, max {others[-1]:.1f} s")
            refused = sorted((arrived.get((p.unit, p.name), float("nan")) - wall_drop, p.name)
                             for p in hostile if not p.name.startswith("garbage-"))
            print("hostile files, drop to receipt (s): " + ", ".join(
                f"{name} {at:.1f}" for at, name in refused))
            judged = judging_times(db, hostile)
            print("hostile files, claimed to receipt (s): " + ", ".join(
                f"{name} {secs:.0f}" for name, secs in judged if not name.startswith("garbage-")))
            print(f"garbage files, claimed to receipt: max {max(s for n, s in judged):.0f} s")
            codes_seen = hostile_codes(instance, units, hostile)
            print("hostile files, codes: " + ", ".join(
                f"{name} {code}" for name, code in codes_seen if not name.startswith("garbage-")))
        takeovers = sum(path.read_text("utf-8", "replace").count("processing again")
                        for path in instance.home.glob("node-*.log"))
        print(f"kills survived: {len(kills)}; files re-processed after a kill: {takeovers}")
        print("peak RSS per node process (MB): " + "; ".join(
            f"{n.name} " + "/".join(f"{mb:.0f}" for mb in n.peak_mb) for n in all_nodes))
        print("peak RSS per node with its reading workers (MB, sampled every 50 ms): " + "; ".join(
            f"{n.name} " + "/".join(f"{mb:.0f}" for mb in n.tree_peak_mb) for n in all_nodes))
        outcome = check_outcome(instance, db, plans)
        print(f"files {outcome.files}, receipts {outcome.receipts}, rows {outcome.rows:,}, "
              f"accepted {outcome.accepted:,}, failed {outcome.failed:,}, declarations "
              f"{outcome.declarations:,}")
        db.dispose()
        if outcome.problems or any(codes):
            failed = True
            print("PROBLEMS:")
            for line in outcome.problems[:50]:
                print("  " + line)
        else:
            print("checks: one receipt per file, one declaration and audit entry per accepted row, "
                  "one placed row per file, no partial outbox file, nothing left behind: all passed")
        return 1 if failed else 0
    finally:
        for node in nodes:
            if node.running():
                node.kill()
        if cluster is not None:
            cluster.stop()
        if not args.keep and not failed:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def judging_times(db, plans: list[Planned]) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """(file name, seconds from its claim to its receipt) of each planned file (whole seconds:
    the files table keeps no fractions), the slowest first."""
    from sqlalchemy import select

    wanted = {(p.unit, p.name) for p in plans}
    with db.session() as s:
        rows = s.execute(select(FileRecord.unit_code, FileRecord.name, FileRecord.received_at,
                                FileRecord.finished_at)).all()
    return sorted(((name, (done - got).total_seconds()) for unit, name, got, done in rows
                   if (unit, name) in wanted and done is not None), key=lambda t: -t[1])


def hostile_codes(instance, units: list[str], hostile: list[Planned]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(file name, the code and message of its refusal) of each hostile file."""
    import json

    wanted = {(p.unit, p.name) for p in hostile}
    out = []
    for path in receipts_of(instance, units):
        data = json.loads(path.read_text(encoding="utf-8"))
        if (data["unit"], data["file"]) in wanted:
            errors = data["file_errors"] or [{"code": data["status"], "message": ""}]
            out.append((data["file"], f"{errors[0]['code']} ({errors[0]['message']})"))
    return sorted(out)


def receipt_times(instance, units: list[str]) -> dict[tuple[str, str], float]:  # type: ignore[no-untyped-def]
    """(unit, file name) -> when its receipt arrived (the JSON twin's mtime)."""
    import json

    out = {}
    for path in receipts_of(instance, units):
        data = json.loads(path.read_text(encoding="utf-8"))
        out[(data["unit"], data["file"])] = path.stat().st_mtime
    return out


if __name__ == "__main__":
    raise SystemExit(main())
