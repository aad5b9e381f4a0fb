"""新参保 / 续保 / 调入, which the system decides, shown wherever a resident enrolment appears: the
receipt, the review workbook, the batch roster, the result workbook, and month by month in
登记情况 — each compared with what the database recorded."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
from click.testing import CliRunner
from sqlalchemy import select, update

from exchange import codes as C
from exchange.cli import cli
from exchange.review.reports import unit_reports
from exchange.review.submit import submit_pending
from exchange.store.models import Batch, Declaration
from tests.conftest import make_id, make_workbook
from tests.flows.helpers import decide_review, process_one, receipt_of
from tests.flows.residents import (HEAD, INSURED_ELSEWHERE, NEWBORN, PT, RESIDENT_ADD,  # noqa: F401
                                   STOPPED_ELSEWHERE, SUSPENDED_HERE, community, drop)

WORDS = {"new": "新参保", "renewal": "续保", "transfer_in": "调入（原单位 C3002）"}
ROWS = [(NEWBORN, "林小宝", "学龄前儿童"), (SUSPENDED_HERE, "林一", "成年居民"),
        (INSURED_ELSEWHERE, "陈三", "成年居民"), (STOPPED_ELSEWHERE, "林二", "成年居民")]


def enrol(number: str, name: str, category: str) -> list[str]:
    return ["", number, name, "", "", "", HEAD, "本人", category, "", "", "", ""]


def _enrol_all(instance: Any, db: Any) -> tuple[Any, dict[str, dict[str, Any]]]:
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, [enrol(*r) for r in ROWS],
         title="城乡居民参保申报表")
    result = process_one(instance, db)
    with db.session() as s:
        decls = {d.id_number: {"serial": d.serial, "row": d.row, "payload": d.payload}
                 for d in s.scalars(select(Declaration))}
    return result, decls


def _label(decl: dict[str, Any]) -> str:
    return f"城乡居民参保申报（{WORDS[decl['payload']['enrolment']]}）"


def _sheet_rows(path: Path) -> list[dict[str, Any]]:
    ws = openpyxl.load_workbook(path).worksheets[0]
    headers = [c.value for c in ws[3]]
    return [dict(zip(headers, (c.value for c in r))) for r in ws.iter_rows(min_row=4)]


def test_receipt_notes_each_enrolment_and_counts_them(instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    result, decls = _enrol_all(instance, db)
    assert {n: d["payload"]["enrolment"] for n, d in decls.items()} == {
        NEWBORN: "new", SUSPENDED_HERE: "renewal", STOPPED_ELSEWHERE: "transfer_in"}
    receipt = receipt_of(instance, result)
    notes = {r["row"]: [n["code"] for n in r.get("notes", [])] for r in receipt["rows"]}
    for d in decls.values():
        assert notes[d["row"]] == [C.NOTE_ENROLMENT[d["payload"]["enrolment"]]]
    failed = [r for r in receipt["rows"] if not r["ok"]]
    assert [e["code"] for r in failed for e in r["errors"]] == [C.PERSON_INSURED_ELSEWHERE]
    text = (instance.unit_outbox("C3001", "receipts") / result.receipt_name).read_text(encoding="utf-8")
    assert "其中新参保 1 人，续保 1 人，调入 1 人。" in text
    row = decls[STOPPED_ELSEWHERE]["row"]
    assert f"第 {row} 行（林二 {STOPPED_ELSEWHERE}）：调入：该人员原在单位 C3002 参保，按调入办理。" in text
    assert f"第 {decls[SUSPENDED_HERE]['row']} 行（林一 {SUSPENDED_HERE}）：续保：" in text
    # validate --json says the same, without importing.
    path = make_workbook(tmp_path / "参保.xlsx", RESIDENT_ADD, [enrol(make_id("20210101", "778", PT), "林小",
                                                                     "学龄前儿童")], title="城乡居民参保申报表")
    out = CliRunner().invoke(cli, ["--home", str(instance.home), "validate", str(path), "--unit", "C3001",
                                   "--json"])
    [row] = json.loads(out.output)["rows"]
    assert row["ok"] and [n["code"] for n in row["notes"]] == [C.NOTE_ENROLMENT_NEW]


def test_review_roster_and_result_say_new_renewal_or_transfer_in(instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    _, decls = _enrol_all(instance, db)
    [batch] = submit_pending(instance, db, unit="C3001", actor="test")
    by_serial = {d["serial"]: d for d in decls.values()}
    # The centre's review workbook: the kind column says what each enrolment is.
    book = instance.unit_outbox("_centre", "batches") / f"{batch.batch_no}.审核.xlsx"
    rows = _sheet_rows(book)
    assert {r["业务流水号"]: r["业务类型"] for r in rows} == {s: _label(d) for s, d in by_serial.items()}
    # The unit's roster (PDF, to stamp): a 参保类型 column and the counts.
    roster = instance.unit_outbox("C3001", "rosters") / f"{batch.batch_no}.申报花名册.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(roster), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "参保类型" in text and "其中新参保 1 人，续保 1 人，调入 1 人。" in text
    for number, name, _ in ROWS:
        lines = [line for line in text.splitlines() if number in line]
        if number not in decls:
            assert lines == []
            continue
        judged = decls[number]["payload"]["enrolment"]
        [line] = lines
        assert name in line and {"new": "新参保", "renewal": "续保", "transfer_in": "调入"}[judged] in line
    # Decided: the unit's result workbook too.
    serials = sorted(by_serial)
    receipt = decide_review(instance, db, book, "业务流水号", {
        serials[0]: ("通过", ""), serials[1]: ("通过", ""), serials[2]: ("不通过", "户口本不清晰")},
        "审核.xlsx")
    assert receipt["status"] == "accepted"
    result = instance.unit_outbox("C3001", "results") / f"{batch.batch_no}.审核结果.xlsx"
    rows = _sheet_rows(result)
    assert {r["业务流水号"]: r["业务类型"] for r in rows} == {s: _label(d) for s, d in by_serial.items()}


def test_registration_counts_month_by_month(home, instance, db, community):  # type: ignore[no-untyped-def]
    _, decls = _enrol_all(instance, db)
    moved = {NEWBORN: datetime(2026, 3, 10), SUSPENDED_HERE: datetime(2026, 3, 31, 23, 59),
             STOPPED_ELSEWHERE: datetime(2026, 11, 1)}
    with db.session() as s:
        for number, when in moved.items():
            s.execute(update(Declaration).where(Declaration.id_number == number).values(created_at=when))
    out = CliRunner().invoke(cli, ["--home", str(home), "report", "registration", "--unit", "C3001",
                                   "--period", "2026", "--by-month", "--json"])
    data = json.loads(out.output)
    months = {m["month"]: m for m in data["months"]}
    assert list(months) == [f"2026{m:02d}" for m in range(1, 13)]
    expected: dict[str, dict[str, int]] = {}
    for number, when in moved.items():
        judged = decls[number]["payload"]["enrolment"]
        expected.setdefault(f"{when:%Y%m}", {}).setdefault(judged, 0)
        expected[f"{when:%Y%m}"][judged] += 1
    for month, row in months.items():
        for item in ("new", "renewal", "transfer_in", "suspended"):
            assert row[item] == expected.get(month, {}).get(item, 0), (month, item)
    assert data["total"] == {"new": 1, "renewal": 1, "transfer_in": 1, "suspended": 0}
    # A rejected enrolment no longer counts.
    with db.session() as s:
        s.execute(update(Declaration).where(Declaration.id_number == NEWBORN).values(status="rejected"))
    again = json.loads(CliRunner().invoke(cli, ["--home", str(home), "report", "registration", "--unit",
                                                "C3001", "--period", "2026-03", "--by-month", "--json"]).output)
    assert again["months"] == [{"month": "202603", "new": 0, "renewal": 1, "transfer_in": 0, "suspended": 0}]
    # The unit's 登记情况 report holds the months of the year, as a PDF and as a workbook.
    with db.session() as s:
        s.execute(update(Declaration).where(Declaration.id_number == NEWBORN).values(status="pending"))
    written = unit_reports(instance, db, unit="C3001", month="202611")
    book = next(w.path for w in written if w.path.name == "202611.登记情况.xlsx")
    wb = openpyxl.load_workbook(book)
    sheet = next(ws for ws in wb.worksheets if ws.title.endswith("登记情况（按月）"))
    body = [[c.value for c in r] for r in sheet.iter_rows(min_row=4)]
    table = {r[1]: r[2:6] for r in body[:-1]}
    assert list(table) == [f"2026{m:02d}" for m in range(1, 12)]
    assert table["202603"] == [1, 1, 0, 0] and table["202611"] == [0, 0, 1, 0]
    assert sum(sum(v) for v in table.values()) == 3 and body[-1][2:6] == [1, 1, 1, 0]
    pdf = book.with_suffix(".pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "登记情况（按月）" in text and "202603" in text
