"""Text that cannot travel (issue 15.3), piece by piece: the cell boundary refuses every such
character (lone surrogates included) per cell, CR LF becomes LF, master data refuses the row, and
each writer (openpyxl books, the error book, PDFs, receipts' JSON, CSV, log lines) survives
every such character."""
from __future__ import annotations

import csv
import json
import logging
import unicodedata
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import python_calamine as pc
from openpyxl import Workbook
from sqlalchemy import select

from exchange import codes as C
from exchange.checks.columnar import judge_cells
from exchange.kinds.spec import ColumnSpec
from exchange.master import load_master
from exchange.outputs.error_book import ErrorBookWriter
from exchange.outputs.looks import csv_cell
from exchange.outputs.rosters import Column, Roster, Section, render_roster
from exchange.outputs.workbook import set_text
from exchange.checks.finding import Finding
from exchange.results import RowOutcome
from exchange.store.models import Person
from exchange.text import REPLACEMENT, json_text, log_safe, travel_safe, untravelling_chars
from tests.conftest import make_id

ALL = untravelling_chars()
COLUMNS = (ColumnSpec("note", "备注", "text"), ColumnSpec("name", "姓名", "name", required=True))


def test_the_list_is_every_control_surrogate_and_noncharacter_but_tab_lf_cr() -> None:
    assert "\t" not in ALL and "\n" not in ALL and "\r" not in ALL
    expected = [chr(c) for c in range(0x110000)
                if (unicodedata.category(chr(c)) in ("Cc", "Cs") and chr(c) not in "\t\n\r")
                or 0xFDD0 <= c <= 0xFDEF or (c & 0xFFFE) == 0xFFFE]
    assert ALL == expected and len(ALL) == 62 + 2048 + 32 + 34


def test_every_such_character_in_a_cell_is_refused_with_its_code_point() -> None:
    rows = [(4 + i, (f"备{ch}注", "张三")) for i, ch in enumerate(ALL)]
    parsed = judge_cells(rows, COLUMNS, {}, date(2026, 1, 1)).as_rows()
    for ch, (values, findings) in zip(ALL, parsed):
        assert [(f.column, f.code, f.params) for f in findings] == [
            ("备注", C.TEXT_CONTROL, {"char": f"U+{ord(ch):04X}"})]
        assert "note" not in values and values["name"] == "张三"
        assert f"U+{ord(ch):04X}" in findings[0].message and "「备注」" in findings[0].message


def test_line_breaks_are_normalised_and_a_required_cell_is_refused_not_called_blank() -> None:
    rows = [(4, ("一行\r\n二行\r三行", "李\x1b四")), (5, ("\t制表\t", "王五"))]
    (v1, f1), (v2, f2) = judge_cells(rows, COLUMNS, {}, date(2026, 1, 1)).as_rows()
    assert v1["note"] == "一行\n二行\n三行" and [f.code for f in f1] == [C.TEXT_CONTROL]
    assert f1[0].column == "姓名" and (v2, f2) == ({"note": "制表", "name": "王五"}, [])


def test_line_and_paragraph_separators_are_line_breaks_in_cells_and_underscores_in_names() -> None:
    """U+2028 and U+2029 were kept: an address 南通市\u2028崇川区 reached the review workbook, the
    status book and the JSON receipt, and a file named x\u2028y.xlsx its receipt's 文件： line and
    the outbox names; Notepad, log viewers and older JSON readers break the line there."""
    from exchange.names import safe_name
    from exchange.sftp.view import Denied, check_name

    rows = [(4, ("南通市\u2028崇川区\u2029一路\r\n二号", "张三"))]
    [(values, findings)] = judge_cells(rows, COLUMNS, {}, date(2026, 1, 1)).as_rows()
    assert values["note"] == "南通市\n崇川区\n一路\n二号" and findings == []
    assert safe_name("x\u2028y.xlsx") == "x_y.xlsx" and safe_name("p\u2029q.xlsx") == "p_q.xlsx"
    for name in ("x\u2028y.xlsx", "p\u2029q.xlsx"):
        with pytest.raises(Denied):
            check_name(name)                    # nor does the SFTP view list or take such a name


def test_master_data_refuses_the_row_and_loads_the_others(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = make_id("19800101", "101"), make_id("19810202", "202")
    path = tmp_path / "persons.csv"
    path.write_text("身份证号,姓名,单位编号\n" f"{a},甲\x0b乙,1001\n{b},丙,1001\n", encoding="utf-8")
    report = load_master(instance, db, path)
    [(row, findings)] = report.refused
    assert (row, [(f.column, f.code) for f in findings]) == (2, [("姓名", C.TEXT_CONTROL)])
    with db.session() as s:
        assert s.scalars(select(Person.id_number)).all() == [b]


def test_openpyxl_writers_replace_what_no_workbook_can_hold(tmp_path: Path) -> None:
    ws = Workbook().active
    for i, ch in enumerate(ALL, start=1):
        set_text(ws.cell(i, 1), f"a{ch}b")
        set_text(ws.cell(i, 2), f"={ch}1")             # and the formula guard still holds
    ws.parent.save(tmp_path / "w.xlsx")
    back = openpyxl.load_workbook(tmp_path / "w.xlsx").active
    assert [back.cell(i, 1).value for i in range(1, len(ALL) + 1)] == [f"a{REPLACEMENT}b"] * len(ALL)
    assert {back.cell(i, 2).data_type for i in range(1, len(ALL) + 1)} == {"s"}


def test_the_error_workbook_keeps_controls_as_excel_escapes_and_survives_surrogates(tmp_path: Path) -> None:
    from tests.unit.test_error_book import KIND

    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "单位\ud800", "源\udcff.xlsx")
    base = ("320602198001012473", "张三", "", "汉族", None, "", "", "21", "01", "", "", 202612, 99999, "")
    for i, ch in enumerate(ALL):
        raw = base[:10] + (f"地{ch}址",) + base[11:]
        writer.add(RowOutcome(4 + i, (Finding(4 + i, C.TEXT_CONTROL, "联系地址", "address",
                                              {"char": f"U+{ord(ch):04X}"}),), raw))
    writer.close()
    rows = pc.CalamineWorkbook.from_path(str(tmp_path / "e.xlsx")).get_sheet_by_index(0).to_python()
    for ch, row in zip(ALL, rows[3:]):
        if "\ud800" <= ch <= "\udfff":
            assert row[10] == f"地{REPLACEMENT}址"
        elif ch in "\ufffe\uffff":
            assert row[10] == f"地_x{ord(ch):04X}_址"
        else:
            assert row[10] == f"地{ch}址", hex(ord(ch))


def test_pdf_json_csv_and_log_lines_survive_every_character(tmp_path: Path) -> None:
    text = "".join(ALL)
    render_roster(Roster([Section(f"标题{text}", [f"单位名称：{text}"], [Column("备注", 40)],
                                  [[text]] + [[f"a{ch}b"] for ch in ALL])],
                         date(2026, 1, 1)), tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    # Lone surrogates apart (an adjacent high and low one would read back as a pair): a name of
    # undecodable bytes (surrogateescape) comes back exactly.
    spaced = "-".join(ALL)
    (tmp_path / "r.json").write_text(json_text({"file": spaced}), encoding="utf-8")
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == {"file": spaced}
    with (tmp_path / "r.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow([csv_cell(text)])
    assert (tmp_path / "r.csv").read_text(encoding="utf-8").strip() == REPLACEMENT * len(ALL)
    assert travel_safe(text) == REPLACEMENT * len(ALL) and travel_safe(5) == 5
    line = log_safe("file=a\nb\x1bc\u202ed.xlsx")
    assert line == "file=a\\u000ab\\u001bc\\u202ed.xlsx"
    handler = logging.FileHandler(tmp_path / "x.log", encoding="utf-8", errors="backslashreplace")
    handler.emit(logging.LogRecord("x", logging.INFO, "", 0, log_safe(text), None, None))
    handler.close()
    assert "\n" not in (tmp_path / "x.log").read_text(encoding="utf-8").rstrip("\n")
