"""What the 新参保/续保/调入 receipt notes cost (issue 16 item 3): `exchange process` of a large
城乡居民参保申报表 with this tree, against the same file and database with another tree (by
default /work/main, which writes no note for accepted enrolments).

    python bench/bench_enrolment_notes.py                       # 20,000 rows
    python bench/bench_enrolment_notes.py --rows 50000 --baseline /path/to/other/tree

The community C3001 has one registered head; a third of the people have an archive here
(suspended: 续保), a third in C3002 (stopped: 调入), the rest none (新参保). Each run is a
fresh copy of the same instance, in its own child process; the best of --repeat is shown.
Benchmarks are run by hand; they are not tests.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from _common import person_id, person_name, python_argv, run_child

HERE = Path(__file__).resolve().parent.parent
HEAD = person_id(1)[0]
HEADERS = ["证件类型", "证件号码*", "姓名*", "性别", "民族", "出生日期", "户主身份证号*", "与户主关系",
           "人员类别*", "联系电话", "是否计生补助对象", "班级编号", "备注"]

SETUP = """
import sys
from exchange.accounts import add_unit
from exchange.config import init_instance
from exchange.store.db import open_database
from exchange.store.models import Household, Person
from pathlib import Path
home, head, people = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
instance = init_instance(home)
db = open_database(instance)
with db.session() as s:
    add_unit(instance, s, "C3001", "城厢区凤凰山社区", unit_type="30", password="bench-c")
    add_unit(instance, s, "C3002", "荔城区镇海社区", unit_type="30", password="bench-c2")
with db.session() as s:
    s.add(Household(unit_code="C3001", head_id=head, name="林建国", phone="13905941234", status="active"))
    for line in open(people, encoding="utf-8"):
        number, name, unit, status = line.rstrip("\\n").split("\\t")
        s.add(Person(id_number=number, name=name, unit_code=unit, status=status, arrears=0,
                     household_head=head if unit == "C3001" else None))
"""
PROCESS = """
import sys
from exchange.cli import main
sys.argv = ["exchange", "--home", sys.argv[1], "process", "--unit", "C3001", sys.argv[2]]
main()
"""


def build(root: Path, rows: int) -> tuple[Path, Path]:
    """The workbook and a prepared instance (made with this tree; the schema is the same)."""
    from openpyxl import Workbook

    rnd = random.Random(16)
    people = root / "people.tsv"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("城乡居民参保申报表")
    ws.append(["城乡居民参保申报表"])
    ws.append(HEADERS)
    with people.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            number, _ = person_id(1000 + i)
            name = person_name(rnd)
            if i % 3 == 1:
                fh.write(f"{number}\t{name}\tC3001\t2\n")       # 续保
            elif i % 3 == 2:
                fh.write(f"{number}\t{name}\tC3002\t3\n")       # 调入
            ws.append(["", number, name, "", "", "", HEAD, "", "成年居民", "", "", "", ""])
    book = root / "参保.xlsx"
    wb.save(book)
    home = root / "prepared"
    run_child(python_argv(SETUP, str(home), HEAD, str(people)), env={"PYTHONPATH": str(HERE)})
    return book, home


def once(tree: Path, prepared: Path, book: Path, root: Path) -> tuple[float, dict[str, int], int]:
    home = root / "run"
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(prepared, home)
    run = run_child(python_argv(PROCESS, str(home), str(book)), env={"PYTHONPATH": str(tree)})
    [receipt] = (home / "outbox" / "C3001" / "receipts").glob("*.json")
    data = json.loads(receipt.read_text(encoding="utf-8"))
    return run.seconds, data["counts"], receipt.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        book, prepared = build(root, args.rows)
        for label, tree in (("baseline", args.baseline), ("this tree", HERE)):
            runs = [once(tree, prepared, book, root) for _ in range(args.repeat)]
            seconds = min(r[0] for r in runs)
            _, counts, size = runs[-1]
            print(f"{label:10s} {args.rows:>7,} rows: process {seconds:6.2f} s, accepted "
                  f"{counts['accepted']:,}, JSON receipt {size / 1e6:.1f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
