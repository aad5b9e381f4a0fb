"""The query and document commands in-process: batches, declarations, errors, report, templates."""
from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from exchange.cli import cli
from exchange.intake.centre import process_centre_inbox
from exchange.store.models import Declaration
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

# "Today" is read where it is used, not once at import: a run that crosses midnight would
# otherwise expect yesterday's date of what the commands just wrote.
PEOPLE = [(make_id("19900101", "131"), "王小明", 5200), (make_id("19910202", "242"), "赵小红", 6100)]


def run(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def _import(home: Path, tmp_path: Path) -> None:
    path = make_workbook(tmp_path / "增员.xlsx", ADD_HEADERS,
                         [add_row(n, name, wage=w) for n, name, w in PEOPLE],
                         title="职工批量新增申报填写表")
    assert run(home, "process", "--unit", "1001", str(path)).exit_code == 0


def _review(instance, db, approve: str, reject: str) -> None:  # type: ignore[no-untyped-def]
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    for r in range(4, ws.max_row + 1):
        if ws.cell(r, 6).value == approve:
            ws.cell(r, 10).value = "通过"
        elif ws.cell(r, 6).value == reject:
            ws.cell(r, 10).value = "不通过"
            ws.cell(r, 11).value = "身份证复印件不清晰"
    wb.save(instance.unit_inbox("_centre") / "审核.xlsx")
    assert process_centre_inbox(instance, db)[0]["status"] == "accepted"


def test_batches_submit_list_and_show(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    _import(home, tmp_path)
    out = run(home, "batches", "submit", "--json")
    assert out.exit_code == 0
    submitted = json.loads(out.output)
    assert len(submitted) == 1 and submitted[0]["unit"] == "1001" and submitted[0]["count"] == 2
    batch_no = submitted[0]["batch_no"]
    assert batch_no == f"1001-{date.today():%Y%m%d}-001"
    assert all(Path(p).exists() for p in submitted[0]["documents"])
    assert run(home, "batches", "submit").output.strip() == "nothing pending"
    listed = json.loads(run(home, "batches", "list", "--json").output)
    assert [(b["batch_no"], b["status"], b["count"], b["waiting"]) for b in listed] == \
        [(batch_no, "submitted", 2, 2)]
    table = run(home, "batches").output
    assert batch_no in table and "1 batch(es)" in table
    shown = json.loads(run(home, "batches", "show", batch_no, "--json").output)
    assert [d["name"] for d in shown["declarations"]] == ["赵小红", "王小明"]
    missing = CliRunner().invoke(cli, ["--home", str(home), "batches", "show", "nope"])
    assert missing.exit_code != 0
    rewritten = run(home, "batches", "submit", "--documents", batch_no).output
    assert "申报花名册.pdf" in rewritten and "审核.xlsx" in rewritten


def test_declarations_filters_and_json(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    _import(home, tmp_path)
    rows = json.loads(run(home, "declarations", "--unit", "1001", "--json").output)
    assert {(r["name"], r["status"], r["kind"]) for r in rows} == {
        ("王小明", "pending", "employee_add"), ("赵小红", "pending", "employee_add")}
    assert json.loads(run(home, "declarations", "--person", PEOPLE[0][0], "--json").output)[0]["name"] == "王小明"
    assert json.loads(run(home, "declarations", "--person", "赵小红", "--json").output)[0]["name"] == "赵小红"
    assert json.loads(run(home, "declarations", "--status", "submitted", "--json").output) == []
    assert len(json.loads(run(home, "declarations", "--period", f"{date.today():%Y%m}", "--json").output)) == 2
    assert json.loads(run(home, "declarations", "--period", "2001", "--json").output) == []
    bad = CliRunner().invoke(cli, ["--home", str(home), "declarations", "--period", "2026-13"])
    assert bad.exit_code == 2 and "expected a year, a month or a day" in bad.output
    bad = CliRunner().invoke(cli, ["--home", str(home), "declarations", "--kind", "nonsense"])
    assert bad.exit_code == 2
    assert "2 declaration(s)" in run(home, "declarations").output


def test_errors_query_and_export_include_rejections(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    _import(home, tmp_path)
    good = make_id("19800101", "999")
    wrong = good[:-1] + ("1" if good[-1] != "1" else "2")          # a wrong check character
    bad = make_workbook(tmp_path / "坏.xlsx", ADD_HEADERS, [add_row(wrong, "错号")],
                        title="职工批量新增申报填写表")
    run(home, "process", "--unit", "1001", str(bad))
    run(home, "batches", "submit")
    _review(instance, db, "王小明", "赵小红")
    entries = json.loads(run(home, "errors", "--unit", "1001", "--json").output)
    assert sorted(e["code"] for e in entries) == ["id.checksum", "review.rejected"]
    rejected = json.loads(run(home, "errors", "--code", "review", "--json").output)
    assert [(e["name"], e["message"]) for e in rejected] == [("赵小红", "审核不通过：身份证复印件不清晰")]
    assert rejected[0]["file"] == "增员.xlsx" and rejected[0]["kind"] == "职工增加申报"
    assert json.loads(run(home, "errors", "--person", "赵小红", "--json").output)[0]["code"] == "review.rejected"
    assert json.loads(run(home, "errors", "--period", "2001", "--json").output) == []
    xlsx, csv_path = tmp_path / "e.xlsx", tmp_path / "e.csv"
    assert run(home, "errors", "--export", str(xlsx)).output.strip() == f"wrote 2 entries to {xlsx}"
    sheet = openpyxl.load_workbook(xlsx).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["时间", "单位编号", "业务类型"] and sheet.max_row == 3
    run(home, "errors", "--code", "id", "--export", str(csv_path))
    with csv_path.open(encoding="utf-8-sig") as fh:
        lines = list(csv.reader(fh))
    assert len(lines) == 2 and lines[1][8] == "id.checksum"
    wrong = CliRunner().invoke(cli, ["--home", str(home), "errors", "--export", str(tmp_path / "e.txt")])
    assert wrong.exit_code == 2


def test_report_summary_and_documents(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    _import(home, tmp_path)
    run(home, "batches", "submit")
    _review(instance, db, "王小明", "赵小红")
    summary = json.loads(run(home, "report", "summary", "--json").output)
    mine = next(r for r in summary if r["unit"] == "1001")
    assert (mine["approved"], mine["rejected"], mine["batches"], mine["errors"]) == (1, 1, 1, 1)
    assert "南通示例科技有限公司" in run(home, "report").output

    out = run(home, "report", "rosters", "--month", f"{date.today():%Y%m}").output
    roster = instance.unit_outbox("1001", "reports") / f"{date.today():%Y%m}.职工增加申报花名册.pdf"
    assert str(roster) in out
    text = PdfReader(str(roster)).pages[0].extract_text()
    assert "王小明" in text and "赵小红" not in text and "共 1 人" in text and "5200" in text
    assert "no approved declarations" in run(home, "report", "rosters", "--month", "200101").output

    out = run(home, "report", "unit", "--unit", "1001").output
    reports = instance.unit_outbox("1001", "reports")
    for title in ("参保花名册", "当前缴费基数花名册", "应缴信息"):
        assert (reports / f"{date.today():%Y%m%d}.{title}.pdf").exists(), title
    insured = PdfReader(str(reports / f"{date.today():%Y%m%d}.参保花名册.pdf")).pages[0].extract_text()
    assert "王小明" in insured and "赵小红" not in insured
    log = PdfReader(str(reports / f"{date.today():%Y%m}.错误日志.pdf")).pages[0].extract_text()
    assert "身份证复印件不清晰" in log and "共 1 条" in log
    assert (reports / f"{date.today():%Y%m}.错误日志.xlsx").exists()

    out = run(home, "report", "digest").output
    digest = instance.unit_outbox("_centre", "reports") / f"{date.today().isoformat()}.每日汇总.pdf"
    assert str(digest) in out
    text = PdfReader(str(digest)).pages[0].extract_text()
    assert "1001" in text and "审核通过" in text and "共 1 个单位" in text


def test_templates_command_and_jobs_run(home, instance, db, persons, tmp_path):  # type: ignore[no-untyped-def]
    out = run(home, "templates", "--unit", "1001", "--kind", "wage").output.strip().splitlines()
    assert out == [str(instance.unit_outbox("1001", "templates") / "1001_职工批量工资申报填写表.xlsx")]
    custom = run(home, "templates", "--out", str(tmp_path / "t"), "--kind", "employee_add").output
    assert (tmp_path / "t" / "1002" / "1002_职工批量新增申报填写表.xlsx").exists(), custom
    assert CliRunner().invoke(cli, ["--home", str(home), "templates", "--kind", "x"]).exit_code == 2
    _import(home, tmp_path)
    ran = run(home, "jobs", "run", "submit_batches")
    assert ran.exit_code == 0 and "submitted 2 declaration(s) in 1 batch(es)" in ran.output
    with db.session() as s:
        assert set(s.scalars(select(Declaration.status))) == {"submitted"}
    for name in ("refresh_templates", "monthly_rosters", "unit_reports", "centre_digest"):
        result = run(home, "jobs", "run", name)
        assert result.exit_code == 0 and "wrote" in result.output, (name, result.output)


def test_csv_export_neutralises_cells_a_spreadsheet_would_run(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    # Names and IDs that look like formulas, one only after the full-width ＝ is read as "=".
    rows = [add_row("＝1+1", "＝4+4"), add_row("-320602198001012473", "@SUM(A1)"),
            add_row(make_id("19800101", "771"), "+86号"), add_row("＋1", "-张")]
    bad = make_workbook(tmp_path / "=HYPERLINK(1).xlsx", ADD_HEADERS, rows, title="职工批量新增申报填写表")
    run(home, "process", "--unit", "1001", str(bad))
    csv_path = tmp_path / "e.csv"
    assert run(home, "errors", "--export", str(csv_path)).output.startswith("wrote ")
    with csv_path.open(encoding="utf-8-sig") as fh:
        cells = [c for line in list(csv.reader(fh))[1:] for c in line]
    assert cells and not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    for shown in ("'=4+4", "'=1+1", "'@SUM(A1)", "'-320602198001012473", "'+86号", "'+1", "'-张",
                  "'=HYPERLINK(1).xlsx"):
        assert shown in cells, shown


def test_an_id_stored_as_a_number_reads_as_excel_showed_it_everywhere(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    shown = "3.20602E+17"                   # Excel's General format, default column width
    path = make_workbook(tmp_path / "数字.xlsx", ADD_HEADERS, [add_row(320602199708083100, "张三")],
                         title="职工批量新增申报填写表")
    validate = json.loads(run(home, "validate", str(path), "--unit", "1001", "--json").output)
    assert shown in validate["rows"][0]["errors"][0]["message"]
    run(home, "process", "--unit", "1001", str(path))
    receipts = instance.unit_outbox("1001", "receipts")
    text = next(receipts.glob("*.txt")).read_text(encoding="utf-8-sig")
    receipt = json.loads(next(receipts.glob("*.json")).read_text(encoding="utf-8"))
    assert shown in text and f"（张三 {shown}）" in text
    assert receipt["rows"][0]["id_number"] == shown and shown in receipt["rows"][0]["errors"][0]["message"]
    book = openpyxl.load_workbook(instance.unit_outbox("1001", "errors") / receipt["error_workbook"])
    assert book.worksheets[0]["A4"].value == shown and book.worksheets[0]["A4"].data_type == "s"
    [entry] = json.loads(run(home, "errors", "--json").output)
    assert entry["id_number"] == shown and shown in entry["message"]
