"""Master data loads upsert by ID in bulk: new persons inserted, known ones updated column by
column, insurances and paid months merged."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from exchange.master import load_master
from exchange.store.models import Person
from tests.conftest import make_id

HEADERS = "个人编号,身份证号,姓名,性别,单位编号,参保状态,险种,最大缴费月份,欠费金额,缴费基数\n"
A, B, C = make_id("19800101", "101"), make_id("19810202", "202"), make_id("19820303", "303")


def _load(instance, db, tmp_path: Path, name: str, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(HEADERS + body, encoding="utf-8")
    report = load_master(instance, db, path)
    assert report.file_error is None and report.refused == []
    return report


def test_second_load_updates_only_the_columns_it_fills(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = _load(instance, db, tmp_path, "a.csv",
                  f"P1,{A},甲,1,1001,参保,310,202609,0,5000\n"
                  f"P2,{B},乙,1,1001,参保,310,202609,0,6000\n")
    assert (first.created, first.updated) == (2, 0)
    again = _load(instance, db, tmp_path, "b.csv",
                  f",{A},甲,,,,510,202611,,\n"                    # only insurance and month
                  f"P2,{B},乙二,,1002,暂停,,,12.5,7000\n"           # other columns, no insurance
                  f"P3,{C},丙,2,1001,参保,310,202610,0,4000\n")
    assert (again.created, again.updated) == (1, 2)
    with db.session() as s:
        people = {p.id_number: p for p in s.scalars(select(Person))}
    a, b, c = people[A], people[B], people[C]
    assert (a.person_no, a.unit_code, a.wage_base, a.insurances) == ("P1", "1001", 5000, "310,510")
    assert a.paid_months == {"310": "202609", "510": "202611"} and a.last_paid_month == "202611"
    assert (b.name, b.unit_code, b.status, float(b.arrears), b.wage_base) == ("乙二", "1002", "2", 12.5, 7000)
    assert b.insurances == "310" and b.paid_months == {"310": "202609"}
    assert (c.name, c.sex, c.insurances, float(c.arrears)) == ("丙", "2", "310", 0.0)
    assert a.updated_at is not None and c.updated_at is not None


def _people(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return {p.id_number: p for p in s.scalars(select(Person))}


def test_one_load_inserts_new_and_updates_known_persons(instance, db, persons, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    known = persons["insured"]          # on file: 310 and 510 paid to 202610, staff number A01
    report = _load(instance, db, tmp_path, "mixed.csv",
                   f"P9,{A},甲,1,1001,参保,310,202611,,5000\n"
                   f",{known},李四,,1002,,生育保险,202612,,\n"
                   f"P8,{B},乙,2,1001,暂停,,,3.5,\n")
    assert (report.created, report.updated, report.loaded) == (2, 1, 3)
    people = _people(db)
    k = people[known]
    assert (k.person_no, k.unit_code, k.staff_no, k.wage_base) == ("P0001", "1002", "A01", 6000)
    assert k.insurances == "310,510" and k.last_paid_month == "202612"
    assert k.paid_months == {"310": "202610", "510": "202612"}
    a, b = people[A], people[B]
    assert (a.person_no, a.insurances, a.paid_months, float(a.arrears)) == ("P9", "310", {"310": "202611"}, 0.0)
    assert (b.status, b.insurances, b.paid_months, float(b.arrears)) == ("2", None, None, 3.5)


def test_new_persons_with_and_without_arrears_in_one_file(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _load(instance, db, tmp_path, "arrears.csv",
          f"P1,{A},甲,1,1001,参保,310,202609,,5000\n"
          f"P2,{B},乙,1,1001,参保,310,202609,12.5,6000\n")
    people = _people(db)
    assert (float(people[A].arrears), float(people[B].arrears)) == (0.0, 12.5)


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_written(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    awkward = ['"a\tb"', '"c\nd"', "e\\f", "\\N", '"g""h"']
    from exchange.store.models import Unit

    with db.session() as s:             # units a persons row names must be registered
        s.add_all([Unit(code="e\\f", name="甲", arrears=0), Unit(code="\\N", name="乙", arrears=0)])
    body = "".join(f"{no},{number},甲,,{unit},参保,310,202610,0,\n" for no, number, unit in (
        (awkward[0], A, awkward[2]), (awkward[1], B, awkward[3]), (awkward[4], C, "")))
    _load(instance, db, tmp_path, "awkward.csv", body)
    people = _people(db)
    assert (people[A].person_no, people[A].unit_code) == ("a\tb", "e\\f")
    assert (people[B].person_no, people[B].unit_code) == ("c\nd", "\\N")
    assert (people[C].person_no, people[C].unit_code) == ('g"h', None)
    # Known now: the same values go through the update path.
    _load(instance, db, tmp_path, "awkward-again.csv",
          f"{awkward[1]},{A},甲,,{awkward[3]},,,,,\n{awkward[0]},{B},乙,,{awkward[2]},,,,,\n")
    people = _people(db)
    assert (people[A].person_no, people[A].unit_code) == ("c\nd", "\\N")
    assert (people[B].person_no, people[B].unit_code, people[B].name) == ("a\tb", "e\\f", "乙")
    assert people[C].unit_code is None and people[A].paid_months == {"310": "202610"}


def test_person_in_several_chunks_merges_as_in_one(instance, db, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.master as master

    monkeypatch.setattr(master, "CHUNK", 2)
    report = _load(instance, db, tmp_path, "spread.csv",
                   f"P1,{A},甲,1,1001,参保,310,202609,0,5000\n"
                   f",{B},乙,,,,310,202609,,\n"
                   f",{A},甲,,,,510,202611,,\n"           # A again, next chunk: an update
                   f",{A},甲,,,,320,202610,,\n"          # and in the same chunk once more
                   f",{C},丙,,,,,,,\n")
    assert (report.created, report.updated, report.loaded) == (3, 1, 5)
    a = _people(db)[A]
    assert (a.name, a.unit_code, a.insurances, a.last_paid_month) == ("甲", "1001", "310,510,320", "202611")
    assert a.paid_months == {"310": "202609", "510": "202611", "320": "202610"}


def test_file_refused_part_way_loads_nothing(instance, db, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.master as master

    monkeypatch.setattr(master, "CHUNK", 10)
    rows = "".join(f"P{i},{make_id('19800101', f'{i:03d}')},甲,1,1001,参保,310,202609,0,5000\n"
                   for i in range(60))                     # six chunks written, then a row
    wide = ",".join(["x"] * (instance.settings.limits.max_columns + 5))    # that refuses the file
    path = tmp_path / "broken.csv"
    path.write_text(HEADERS + rows + wide + "\n", encoding="utf-8")
    report = load_master(instance, db, path)
    assert report.file_error is not None and report.file_error[0] == "file.too_large"
    assert (report.loaded, report.created) == (0, 0)
    assert _people(db) == {}


UNIT_HEADERS = "单位编号,单位名称,统一社会信用代码,单位类型,经办人姓名,经办人手机\n"


def test_known_units_are_updated_with_what_the_file_fills(instance, db, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.master as master
    from exchange.store.models import Unit

    monkeypatch.setattr(master, "CHUNK", 2)     # a chunk's updates still pending as the next reads

    path = tmp_path / "units.csv"
    path.write_text(UNIT_HEADERS + "3001,甲公司,91320600MA1XXXXX0X,企业,周经办,13900000000\n"
                    "3002,乙公司,,企业,吴经办,13900000001\n", encoding="gb18030")
    assert (load_master(instance, db, path).created, load_master(instance, db, path).updated) == (2, 2)
    with db.session() as s:
        before = {u.code: (u.updated_at, u.unit_type) for u in s.scalars(select(Unit))}
    path.write_text(UNIT_HEADERS + "3001,甲公司（更名）,,,,\n"          # only the name given
                    "3002,乙公司,,机关,郑经办,\n"                         # other columns
                    "3003,丙公司,,,,\n", encoding="gb18030")
    report = load_master(instance, db, path)
    assert (report.created, report.updated, report.refused) == (1, 2, [])
    with db.session() as s:
        units = {u.code: u for u in s.scalars(select(Unit))}
    a, b, c = units["3001"], units["3002"], units["3003"]
    assert (a.name, a.credit_code, a.contact_name, a.contact_mobile) == \
        ("甲公司（更名）", "91320600MA1XXXXX0X", "周经办", "13900000000")   # as written
    assert (b.name, b.contact_name, b.contact_mobile) == ("乙公司", "郑经办", "13900000001")
    assert a.unit_type == before["3001"][1] and b.unit_type not in (None, before["3002"][1])
    assert c.name == "丙公司" and float(c.arrears) == 0
    assert a.updated_at >= before["3001"][0] and b.updated_at >= before["3002"][0]


def test_a_lookup_filled_down_past_the_persons_leaves_blank_rows(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """缴费基数 looked up by a formula copied down past the persons, as Excel saves it: the rows
    below them hold nothing but #N/A and are blank rows; a person whose lookup found nothing
    is refused with `cell.formula_error`, not loaded with a blank 缴费基数."""
    import re
    import zipfile

    import openpyxl

    from exchange import codes as codes

    path = tmp_path / "persons.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(HEADERS.strip().split(","))
    wb.active.append(["P1", A, "甲", "1", "1001", "参保", "310", "202609", 0, 5000])
    wb.active.append(["P2", B, "乙", "1", "1001", "参保", "310", "202609", 0, 6000])
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    error = '<c r="J{r}" t="e"><f>VLOOKUP(B{r},基数!A:B,2,0)</f><v>#N/A</v></c>'
    sheet, n = re.subn(rb'<c r="J3"[^>]*>.*?</c>', error.format(r=3).encode(), parts["xl/worksheets/sheet1.xml"])
    assert n == 1
    below = "".join(f'<row r="{r}">' + error.format(r=r) + "</row>" for r in range(4, 40))
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"</sheetData>", below.encode() + b"</sheetData>")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    report = load_master(instance, db, path)
    assert report.file_error is None and (report.created, report.refused_count) == (1, 1)
    [(row, findings)] = report.refused
    assert row == 3 and [(f.column, f.code) for f in findings] == [("缴费基数", codes.FORMULA_ERROR)]
    assert "#N/A" in findings[0].message and set(_people(db)) == {A}


def test_units_file_refuses_codes_units_add_would_refuse(instance, db, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A units file is the centre's SFTP upload: a code that is a path, a reserved name, holds a
    space, or differs from a known code (or an earlier row's) only by case is refused row by
    row; nothing is written outside the instance, the good rows load."""
    from exchange.store.models import Unit

    outside = tmp_path / "escaped"          # outbox/../../escaped
    path = tmp_path / "units.csv"
    path.write_text(UNIT_HEADERS + "../../escaped,逃逸单位,,,,\n_centre,冒充中心,,,,\n"
                    "D 5001,空格单位,,,,\n3001,新单位,,,,\n3001b,乙,,,,\n3001B,丙,,,,\n"
                    "1001,南通示例科技有限公司,,,,\n", encoding="utf-8")
    report = load_master(instance, db, path)
    refused = {row: [(f.column, f.code, f.params.get("why"), f.params.get("twin")) for f in fs]
               for row, fs in report.refused}
    assert refused == {2: [("单位编号", "unit.code_invalid", "unit_code_form", None)],
                       3: [("单位编号", "unit.code_invalid", "unit_code_reserved", None)],
                       4: [("单位编号", "unit.code_invalid", "unit_code_form", None)],
                       7: [("单位编号", "unit.code_invalid", None, "3001b")]}
    assert "只是大小写不同" in report.refused[-1][1][0].message
    assert "系统保留的名称" in report.refused[1][1][0].message
    assert (report.created, report.updated) == (2, 1)
    with db.session() as s:
        assert set(s.scalars(select(Unit.code))) == {"1001", "1002", "3001", "3001b"}
    # A twin of a unit already registered, in a later file.
    path.write_text(UNIT_HEADERS + "3001B,丙,,,,\n", encoding="utf-8")
    [(row, [finding])] = load_master(instance, db, path).refused
    assert (row, finding.params["twin"]) == (2, "3001b")
    assert not outside.exists() and not (home / "outbox" / "_centre" / "templates").exists()


def test_unit_folders_are_never_outside_the_instance(instance) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth: a code that got into the database some other way cannot name a
    folder outside inbox/ and outbox/."""
    from exchange.errors import ExchangeError

    for code in ("../../x", "..", "", "a/b", "a\\b", "x\0"):
        with pytest.raises(ExchangeError, match="cannot name a folder"):
            instance.unit_outbox(code, "status")
        with pytest.raises(ExchangeError, match="cannot name a folder"):
            instance.unit_inbox(code)
    assert instance.unit_outbox("_centre", "receipts") == instance.home / "outbox" / "_centre" / "receipts"


def test_persons_row_naming_no_unit_is_refused(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.csv"
    path.write_text(HEADERS + f"P1,{A},甲,1,NOUNIT,参保,310,202609,0,5000\n"
                    f"P2,{B},乙,1,_centre,参保,310,202609,0,5000\n"
                    f"P3,{C},丙,1,,参保,310,202609,0,5000\n", encoding="utf-8")
    report = load_master(instance, db, path)
    assert [(row, [(f.column, f.code) for f in fs]) for row, fs in report.refused] == [
        (2, [("单位编号", "unit.unknown")]), (3, [("单位编号", "unit.unknown")])]
    assert "“NOUNIT”不是已登记的单位" in report.refused[0][1][0].message
    assert set(_people(db)) == {C}


def test_same_person_twice_in_a_file_is_flagged_unless_the_rows_add_insurances(instance, db, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two rows of one ID that contradict each other (another unit, the same insurance, or no
    insurance on either) refuse the later with duplicate.in_file naming the earlier; rows that
    add insurances still merge, across chunks too."""
    import exchange.master as master

    monkeypatch.setattr(master, "CHUNK", 2)
    path = tmp_path / "p.csv"
    path.write_text(HEADERS + f"P1,{A},甲,1,1001,参保,310,202609,0,5000\n"
                    f"P1,{A},甲,1,1002,终止,510,202609,0,6000\n"         # another unit
                    f"P1,{A.lower()},甲,1,1001,终止,310,202610,0,6000\n"  # 310 again (x in lowercase)
                    f"P1,{A},甲,1,1001,参保,510,202611,0,5000\n"         # adds 510: merged
                    f"P2,{B},乙,1,1001,参保,,,0,5000\n"
                    f"P2,{B},乙,1,,暂停,,,0,5000\n", encoding="utf-8")   # neither names one
    report = load_master(instance, db, path)
    refused = [(row, f.code, f.params["first_row"]) for row, fs in report.refused for f in fs]
    assert refused == [(3, "duplicate.in_file", 2), (4, "duplicate.in_file", 2),
                       (7, "duplicate.in_file", 6)]
    assert "本文件第 2 行已经出现" in report.refused[0][1][0].message
    people = _people(db)
    a, b = people[A], people[B]
    assert (a.unit_code, a.status, a.wage_base, a.insurances) == ("1001", "1", 5000, "310,510")
    assert a.paid_months == {"310": "202609", "510": "202611"} and b.status == "1"
