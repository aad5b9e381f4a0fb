"""Timings of the documents of issue 6: a PDF roster, a review workbook, a pre-filled template.

    python bench/bench_rosters.py                  # 1,000 and 10,000 rows
    python bench/bench_rosters.py --rows 1000,50000

Each size is timed in-process (the font is registered once, before timing). Run by hand; not a test.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import person_id, person_name  # noqa: E402

from exchange.kinds.load import load_rules  # noqa: E402
from exchange.outputs.review_book import ReviewLine, write_review_book  # noqa: E402
from exchange.outputs.rosters import Column, Roster, Section, cjk_font, render_roster  # noqa: E402
from exchange.outputs.templates import build_template, save_workbook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,10000")
    args = parser.parse_args()
    rules = load_rules(ROOT / "rules")
    cjk_font()
    rng = random.Random(6)
    print(f"{'rows':>7} {'roster s':>9} {'pages':>6} {'PDF KB':>7} {'review s':>9} {'template s':>11}")
    for n in (int(x) for x in args.rows.split(",")):
        people = [(person_id(i)[0], person_name(rng)) for i in range(n)]
        wages = [rng.randint(2800, 15600) for _ in range(n)]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            columns = [Column("姓名", 20), Column("身份证号", 40, fixed=True),
                       Column("变更日期", 18, "center", fixed=True),
                       Column("缴费工资", 20, "right", total=True), Column("参保险种", 42),
                       Column("业务流水号", 20, "right")]
            rows = [[name, number, "202612", wage, "职工基本医疗保险、生育保险", i + 1]
                    for i, ((number, name), wage) in enumerate(zip(people, wages))]
            t = time.perf_counter()
            stats = render_roster(Roster([Section("职工增加申报花名册", ["单位编号：1001"], columns, rows)]),
                                  folder / "r.pdf")
            roster_s = time.perf_counter() - t
            lines = [ReviewLine(i + 1, "职工增加申报", number, name, f"缴费工资：{wage}", "a.xlsx 第 4 行",
                                datetime.now()) for i, ((number, name), wage) in enumerate(zip(people, wages))]
            t = time.perf_counter()
            write_review_book(folder / "b.xlsx", centre="医保中心", batch_no="1001-20261122-001",
                              unit_code="1001", unit_name="示例", submitted_at=datetime.now(), lines=lines)
            review_s = time.perf_counter() - t
            kind = rules.kinds["wage"]
            staff = [{"person_no": f"P{i:06d}", "id_number": number, "name": name, "staff_no": None}
                     for i, (number, name) in enumerate(people)]
            t = time.perf_counter()
            save_workbook(build_template(rules, kind, "1001", "示例", rows=staff, protect=True),
                          folder / "t.xlsx")
            template_s = time.perf_counter() - t
            print(f"{n:>7} {roster_s:>9.2f} {stats.pages:>6} {(folder / 'r.pdf').stat().st_size // 1024:>7} "
                  f"{review_s:>9.2f} {template_s:>11.2f}")


if __name__ == "__main__":
    main()
