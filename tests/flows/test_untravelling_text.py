"""Text that cannot travel (issue 15.3): every control character and noncharacter is refused
where cells are parsed (text.control, per cell), CR LF becomes LF, and no writer downstream —
submission, review, results, the nightly jobs — can fail on such text, even when it is already
in the database."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import xlsxwriter
from pypdf import PdfReader
from sqlalchemy import select, update

from exchange import codes as C
from exchange.intake.centre import process_centre_inbox
from exchange.intake.scan import process_inbox
from exchange.schedule.registry import all_jobs
from exchange.store.models import Batch, Declaration, Person, Unit
from exchange.text import UNTRAVELLING, untravelling_chars
from tests.conftest import ADD_HEADERS, add_row, make_id
from tests.flows.helpers import fill_review, receipt_of

SURROGATES = re.compile("[\ud800-\udfff]")
# Every character that cannot travel and that a file can carry (a lone surrogate cannot be
# encoded in any workbook or CSV; it is checked on the writers below and in tests/unit).
CARRIED = [ch for ch in untravelling_chars() if not SURROGATES.match(ch)]
# What an xlsx can hold: Excel writes C0 controls as _xHHHH_ escapes; U+FFFE/U+FFFF it cannot.
IN_XLSX = [ch for ch in CARRIED if ch not in "\ufffe\uffff"]
# What a CSV carries: all but NUL (the reader takes a file with NUL near its start, or with
# many controls below tab, for binary; a few are a clerk's cells, refused one by one).
IN_CSV = [ch for ch in CARRIED if ch != "\x00"]
# What the database can hold (PostgreSQL refuses NUL in text): for the stored-text steps.
IN_DB = [ch for ch in CARRIED if ch != "\x00"]


def _rows(chars: list[str], seq0: int) -> list[list[object]]:
    rows = [add_row(make_id("19880808", f"{seq0 + i:03d}"), address=f"南通{ch}路") for i, ch in enumerate(chars)]
    rows.append(add_row(make_id("19880808", f"{seq0 + len(chars):03d}"), name="周八",
                        address="崇川区\r\n濠河路1号"))     # a line break typed in Excel: kept as LF
    return rows


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    wb = xlsxwriter.Workbook(str(path))           # as Excel stores controls: _xHHHH_ escapes
    ws = wb.add_worksheet()
    ws.write_string(0, 0, "职工批量新增申报填写表")
    for j, h in enumerate(ADD_HEADERS):
        ws.write_string(2, j, h)
    for i, row in enumerate(rows, start=3):
        for j, v in enumerate(row):
            ws.write_string(i, j, str(v)) if isinstance(v, str) else ws.write(i, j, v)
    wb.close()
    return path


def _csv(path: Path, rows: list[list[object]]) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([["职工批量新增申报填写表"], ADD_HEADERS, *rows])
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return path


def _check_import(instance, db, result, chars: list[str]) -> None:  # type: ignore[no-untyped-def]
    receipt = receipt_of(instance, result)
    assert receipt["counts"]["accepted"] == 1 and receipt["counts"]["failed"] == len(chars)
    first = min(r["row"] for r in receipt["rows"])
    for r in receipt["rows"]:
        ch = chars[r["row"] - first]
        assert [(e["column"], e["code"]) for e in r["errors"]] == [("联系地址", C.TEXT_CONTROL)], r
        assert f"U+{ord(ch):04X}" in r["errors"][0]["message"]
    # The error workbook holds every refused row (the clerk's cell kept, as Excel's escape).
    book = openpyxl.load_workbook(instance.unit_outbox("1001", "errors") / receipt["error_workbook"])
    codes = [row[-1] for row in book.worksheets[0].iter_rows(min_row=4, values_only=True)]
    assert codes == [C.TEXT_CONTROL] * len(chars)
    text = (instance.unit_outbox("1001", "receipts") / result.receipt_name).read_text(encoding="utf-8-sig")
    # Each row line names its character (the lines above them name the commonest problem once).
    rows_text = text[text.index("逐行说明"):]
    assert rows_text.count("U+") == min(len(chars), instance.settings.intake.receipt_row_lines)


def test_every_untravelling_character_is_refused_then_no_step_fails_on_stored_text(
        instance, db, persons, tmp_path):  # type: ignore[no-untyped-def]
    inbox = instance.unit_inbox("1001")
    # 1. Import: an xlsx and a CSV, one character per row; every such row refused per cell.
    _xlsx(inbox / "增员.xlsx", _rows(IN_XLSX, 100))
    [result] = process_inbox(instance, db)
    _check_import(instance, db, result, IN_XLSX)
    _csv(inbox / "增员.csv", _rows(IN_CSV, 300))
    [result] = process_inbox(instance, db)
    _check_import(instance, db, result, IN_CSV)
    with db.session() as s:
        decls = s.scalars(select(Declaration).where(Declaration.status == "pending")).all()
        assert sorted(d.payload["address"] for d in decls) == ["崇川区\n濠河路1号"] * 2

    # 2. Text that got in before these checks (or by hand): every character in the records.
    dirty = "".join(IN_DB)
    with db.session() as s:
        s.execute(update(Unit).where(Unit.code == "1001").values(name="南通\x1b示例\x85公司\ufdd0"))
        s.execute(update(Person).where(Person.id_number == persons["insured"]).values(name="李\x07四\x9f"))
        for d in s.scalars(select(Declaration)).all():
            d.payload = {**d.payload, "address": dirty}
            d.name = "周\x0b八\uffff"

    # 3. Nightly submission: roster PDF and the centre's review workbook, characters replaced.
    jobs = all_jobs()
    assert jobs["submit_batches"](instance, db).startswith("submitted 2 declaration(s)")
    with db.session() as s:
        batch_no = s.scalars(select(Batch.batch_no)).one()
    book = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    sheet = openpyxl.load_workbook(book).worksheets[0]
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert not any(UNTRAVELLING.search(c) for c in cells)
    assert any("周\ufffd八\ufffd" in c for c in cells) and any("\ufffd示例\ufffd公司\ufffd" in c for c in cells)
    roster = instance.unit_outbox("1001", "rosters") / f"{batch_no}.申报花名册.pdf"
    assert "周" in "".join(p.extract_text() for p in PdfReader(str(roster)).pages)

    # 4. The centre's workbook back, as Excel saves it: a reason holding ESC is refused per row.
    with db.session() as s:
        serials = sorted(s.scalars(select(Declaration.serial)).all())
    filled = fill_review(book, "业务流水号", {serials[0]: ("不通过", "REASON-WITH-ESC"),
                                             serials[1]: ("不通过", "学历证明不全")}, tmp_path / "back.xlsx")
    _replace_in_zip(filled, b"REASON-WITH-ESC", b"\xe5\x8e\x9f_x001B_\xe5\x9b\xa0")   # 原<ESC>因
    (instance.unit_inbox("_centre") / "审核.xlsx").write_bytes(filled.read_bytes())
    [receipt] = process_centre_inbox(instance, db)
    assert receipt["counts"]["rejected"] == 1 and receipt["counts"]["refused"] == 1
    [refusal] = receipt["rows"]
    assert (refusal["serial"], refusal["errors"][0]["code"]) == (serials[0], C.TEXT_CONTROL)
    assert "不通过原因" in refusal["errors"][0]["message"] and "U+001B" in refusal["errors"][0]["message"]
    result_book = instance.unit_outbox("1001", "results") / f"{batch_no}.审核结果.xlsx"
    cells = [c for row in openpyxl.load_workbook(result_book).worksheets[0].iter_rows(values_only=True)
             for c in row if isinstance(c, str)]
    assert not any(UNTRAVELLING.search(c) for c in cells) and any("学历证明不全" in c for c in cells)

    # 5. The other nightly jobs write templates, rosters, reports and the digest.
    for name in ("refresh_templates", "monthly_rosters", "unit_reports", "centre_digest"):
        assert isinstance(jobs[name](instance, db), str), name
    for path in (instance.home / "outbox").rglob("*.xlsx"):
        for ws in openpyxl.load_workbook(path).worksheets:
            for row in ws.iter_rows(values_only=True):
                assert not any(isinstance(c, str) and UNTRAVELLING.search(c) for c in row
                               if "errors" not in path.parts), path
    for path in (instance.home / "outbox").rglob("*.pdf"):
        assert PdfReader(str(path)).pages, path
    for path in (instance.home / "outbox").rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def _replace_in_zip(path: Path, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(path) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data.replace(old, new))
