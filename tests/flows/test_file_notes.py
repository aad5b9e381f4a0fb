"""What a receipt says of the whole file beyond its rows: a column the form has not (a clerk's
停保日期 beside the stop form's columns) is told, not silently dropped; a stop file says to which
month its people are insured and from which they stop (the current month, never the clerk's)."""
from __future__ import annotations

import csv
import json
from datetime import date, timedelta

from click.testing import CliRunner

from exchange.cli import cli
from exchange.intake.scan import process_inbox
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import process_one, receipt_of

STOP = ["个人编号", "身份证号*", "姓名*", "停保原因", "备注"]


def _months() -> tuple[str, str]:
    today = date.today()
    following = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return f"{today.year}年{today.month}月", f"{following.year}年{following.month}月"


def _receipt_text(instance, result) -> str:  # type: ignore[no-untyped-def]
    return (instance.unit_outbox(result.unit, "receipts") / result.receipt_name).read_text("utf-8-sig")


def test_a_stop_date_column_is_told_and_the_stop_month_stated(instance, db, persons
                                                              ):  # type: ignore[no-untyped-def]
    """The clerk adds 停保日期 (and a 序号 on the left): the stops are imported, the receipt says
    the column was not read and when the insurance really ends."""
    make_workbook(instance.unit_inbox("1001") / "减少.xlsx", ["序号", *STOP, "停保日期"],
                  [[1, "P0001", persons["insured"], "李四", "", "离职", "2026-03-15"]],
                  title="职工批量减少申报填写表")
    result = process_one(instance, db)
    assert result.counts.accepted == 1
    paid_to, stops = _months()
    assert [w["code"] for w in result.warnings] == ["note.ignored_columns"]
    assert result.warnings[0]["message"] == (
        "注意：第 G 列「停保日期」不是《职工批量减少申报填写表》的列，其中填写的内容没有导入（1 行有内容，"
        "如第 4 行）。如需办理这些内容，请使用相应的申报表。")
    assert [n["code"] for n in result.notes] == ["note.stop_month"]
    text = _receipt_text(instance, result)
    assert f"本文件减少的 1 人缴费至 {paid_to}，自 {stops}起停保" in text
    assert "第 G 列「停保日期」" in text and "序号" not in text.split("处理结果")[1]
    twin = receipt_of(instance, result)
    assert [w["code"] for w in twin["warnings"]] == ["note.ignored_columns"]
    assert [n["code"] for n in twin["notes"]] == ["note.stop_month"]


def test_an_empty_extra_column_and_a_row_number_column_say_nothing(instance, db
                                                                  ):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ["序号", *ADD_HEADERS, "核对人"],
                  [[1, *add_row(make_id("19900101", "131"), "王小明"), None]],
                  title="职工批量新增申报填写表")
    result = process_one(instance, db)
    assert result.counts.accepted == 1
    assert result.warnings == [] and result.notes == []       # an add: no stop month either


def test_a_gb18030_csv_with_a_column_of_its_own_is_told(instance, db):  # type: ignore[no-untyped-def]
    path = instance.unit_inbox("1001") / "增员.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*ADD_HEADERS, "联系人电话"])
        for seq, phone in (("131", "13800000000"), ("242", ""), ("353", "13900000000")):
            w.writerow([*add_row(make_id("19900101", seq), "王小明"), phone])
    [result] = process_inbox(instance, db)
    assert result.counts.accepted == 3
    [warning] = result.warnings
    column = chr(ord("A") + len(ADD_HEADERS))
    assert f"第 {column} 列「联系人电话」" in warning["message"] and "（2 行有内容，如第 2 行）" in warning["message"]


def test_validate_json_carries_both(home, instance, db, persons, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "减少.xlsx"
    make_workbook(path, [*STOP, "停保时间"], [["P0001", persons["insured"], "李四", "", "", "202603"]],
                  title="职工批量减少申报填写表")
    out = CliRunner().invoke(cli, ["--home", str(home), "validate", str(path), "--unit", "1001", "--json"],
                             catch_exceptions=False)
    answer = json.loads(out.output)
    assert [w["code"] for w in answer["warnings"]] == ["note.ignored_columns"]
    assert [n["code"] for n in answer["notes"]] == ["note.stop_month"]
