"""Issue 15's reader rows and issue 21's reading items, through the pipeline: every file that
made a reader panic, abort or allocate without bound is refused with a receipt saying which limit
and quarantined; a reading worker that dies mid-parse costs its file only, and another unit's
valid file is imported right after. `exchange validate` and `exchange master load` answer the same
files without a traceback. Files are read by content, never by extension.

Limits are lowered in the instance's config.toml so the files stay a few KB; the same files at
full size are in bench/reliability.py --hostile.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from exchange import codes as C
from exchange.cli import cli
from exchange.config import Instance
from exchange.intake.scan import process_inbox
from exchange.messages import file_message
from exchange.read.sandbox import TEST_HOOKS_ENV, TEST_MARKER
from exchange.store.models import Declaration, FileRecord
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.hostile_files import (column_letters, corner_cells_xlsx, cut_records_xls,
                                       inflating_strings_xlsx, large_png, one_line_csv,
                                       repeated_cells_ods, repeated_rows_ods, zip_of_large_pngs)
from tests.flows.helpers import process_one, receipt_of

# Reading and refusing files, before anything is stored: the database is incidental here (a file's
# row and its receipt), and the flows that store on PostgreSQL run on both backends elsewhere.
# SQLite only keeps the suite's time for what differs between the backends.
pytestmark = pytest.mark.backends("sqlite")

TITLE = "职工批量新增申报填写表"
SMALL = {"max_shared_strings_mb": 1, "max_line_kb": 4, "read_seconds": 5}


def limited(home: Path, **limits: int) -> Instance:
    """The instance again, with [limits] keys changed in its config.toml."""
    config = home / "config.toml"
    text = config.read_text(encoding="utf-8")
    for key, value in limits.items():
        text, found = re.subn(rf"(?m)^{key} = \d+", f"{key} = {value}", text)
        assert found == 1, key
    config.write_text(text, encoding="utf-8")
    return Instance(home)


def valid_file(path: Path, seq: str = "501") -> Path:
    return make_workbook(path, ADD_HEADERS, [add_row(make_id("19800101", seq), "甲")], title=TITLE)


def quarantined_with(instance: Instance, db: Any, code: str, params: dict[str, Any]) -> dict:
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["status"] == "quarantined"
    assert [(e["code"], e["message"]) for e in receipt["file_errors"]] == [
        (code, file_message(code, params))]
    assert len(list(instance.quarantine.rglob("*.*"))) == 1
    assert not any(instance.unit_inbox(result.unit).iterdir())
    return receipt


HOSTILE: list[tuple[str, Callable[[Path], Path], str, dict[str, Any], str]] = [
    ("cut.xls", cut_records_xls, C.FILE_UNREADABLE, {"reason": "reader_crashed"}, "读取程序"),
    ("corner-2.xlsx", lambda p: corner_cells_xlsx(p, 1), C.FILE_TOO_LARGE,
     {"what": "column_count", "limit": 200, "cell": "XFD1048576"}, "列数"),
    ("corner-26.xlsx", lambda p: corner_cells_xlsx(p, 25), C.FILE_TOO_LARGE,   # the first far cell
     {"what": "column_count", "limit": 200, "cell": column_letters(16360) + "1048552"}, "列数"),
    ("corner-200.xlsx", lambda p: corner_cells_xlsx(p, 199), C.FILE_TOO_LARGE,
     {"what": "column_count", "limit": 200, "cell": column_letters(16186) + "1048378"}, "列数"),
    ("far-row.xlsx", lambda p: corner_cells_xlsx(p, 1, column=14), C.FILE_TOO_LARGE,
     {"what": "row_count", "limit": 500000, "cell": "N1048576"}, "数据行数"),
    ("strings.xlsx", lambda p: inflating_strings_xlsx(p, 1.5), C.FILE_TOO_LARGE,
     {"what": "shared_strings", "limit": "1 MB"}, "共享字符串表"),
    ("line.csv", lambda p: one_line_csv(p, 8), C.FILE_TOO_LARGE,
     {"what": "line_length", "limit": "4 KB"}, "CSV 单行长度"),
    (f"{make_id('19800101', '511')}.png", large_png, C.FILE_HOSTILE, {"what": "pixels"}, "像素"),
    ("photos.zip", zip_of_large_pngs, C.FILE_HOSTILE, {"what": "pixels"}, "像素"),
    ("cells.ods", repeated_cells_ods, C.FILE_TOO_LARGE, {"what": "column_count", "limit": 200},
     "列数"),
    ("rows.ods", repeated_rows_ods, C.FILE_TOO_LARGE, {"what": "read_memory", "limit": "256 MB"},
     "所需内存"),
]


@pytest.mark.parametrize("name, build, code, params, words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_and_quarantined(home, instance, db, name, build, code, params,
                                                   words):  # type: ignore[no-untyped-def]
    small = limited(home, **SMALL)
    build(small.unit_inbox("1001") / name)
    receipt = quarantined_with(small, db, code, params)
    assert words in receipt["file_errors"][0]["message"]
    with db.session() as s:
        assert s.scalars(select(FileRecord.file_code)).all() == [code]


def hostile_csv(path: Path, action: str) -> Path:
    path.write_bytes(TEST_MARKER + action.encode() + "\n身份证号,姓名\n1,2\n".encode())
    return path


@pytest.mark.parametrize("action, code, params, words", [
    ("abort", C.FILE_UNREADABLE, {"reason": "reader_crashed"}, "异常终止"),
    ("kill", C.FILE_UNREADABLE, {"reason": "reader_crashed"}, "异常终止"),
    ("allocate", C.FILE_TOO_LARGE, {"what": "read_memory", "limit": "256 MB"}, "所需内存"),
    ("hang", C.FILE_TOO_LARGE, {"what": "read_time", "limit": "5 s"}, "所需时间"),
], ids=["abort", "kill", "allocate", "hang"])
def test_a_worker_dying_mid_parse_costs_its_file_only(
        home, instance, db, monkeypatch, action, code, params, words):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    small = limited(home, **SMALL)
    hostile_csv(small.unit_inbox("1001") / "hostile.csv", action)
    receipt = quarantined_with(small, db, code, params)
    assert words in receipt["file_errors"][0]["message"]
    valid_file(small.unit_inbox("1002") / "add.xlsx")
    after = receipt_of(small, process_one(small, db))
    assert after["status"] == "accepted" and after["counts"]["accepted"] == 1
    with db.session() as s:
        assert [d.unit_code for d in s.scalars(select(Declaration))] == ["1002"]


def run(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


@pytest.mark.parametrize("name, build, code", [
    ("corner.xlsx", lambda p: corner_cells_xlsx(p, 1), C.FILE_TOO_LARGE),
    ("cut.xls", cut_records_xls, C.FILE_UNREADABLE),
    ("abort.csv", lambda p: hostile_csv(p, "abort"), C.FILE_UNREADABLE),
], ids=["corner", "cut-xls", "abort"])
def test_validate_and_master_load_answer_hostile_files(
        home, instance, db, tmp_path, monkeypatch, name, build, code):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    path = build(tmp_path / name)
    result = run(home, "validate", str(path), "--unit", "1001", "--json")
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["status"] == "rejected" and [e["code"] for e in out["file_errors"]] == [code]
    result = run(home, "master", "load", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {code}: ") and "Traceback" not in result.output
    # and the commands still work for the next file
    assert run(home, "validate", str(valid_file(tmp_path / "ok.xlsx")), "--unit", "1001",
               "--json").exit_code == 0


# Issue 21 items 1-3: by content, never by extension -------------------------------------------
@pytest.mark.parametrize("fmt, name", [("xlsx", "psnAdd.xls"), ("xls", "psnAdd.xlsx")])
def test_a_workbook_renamed_instead_of_saved_as_is_read(instance, db, fmt, name):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS,
                  [add_row(make_id("19800101", "521"), "甲")], title=TITLE, fmt=fmt)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 1


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("to, named", [("xls", "xlsx"), ("xlsx", "xls"), ("ods", "ods"),
                                       ("ods", "xlsx")])
def test_a_file_libreoffice_saved_and_renamed_is_read(instance, db, tmp_path, to, named):  # type: ignore[no-untyped-def]
    """Saved by LibreOffice as xls, xlsx or its own OpenDocument format (.ods), and perhaps
    renamed to another extension afterwards."""
    source = valid_file(tmp_path / "src" / "book.xlsx", "531")
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", to, "--outdir", str(tmp_path / "lo-out"), str(source)],
                   check=True, capture_output=True, timeout=120)
    shutil.copy(tmp_path / "lo-out" / f"book.{to}", instance.unit_inbox("1001") / f"psnAdd.{named}")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 1


@pytest.mark.parametrize("content", [b"\r\n", b"\n", b",,,\r\n", "\ufeff\r\n".encode("utf-8")],
                         ids=["crlf", "lf", "commas", "bom"])
def test_a_csv_saved_from_an_empty_sheet_is_empty(instance, db, content):  # type: ignore[no-untyped-def]
    (instance.unit_inbox("1001") / "empty.csv").write_bytes(content)
    receipt = receipt_of(instance, process_one(instance, db))
    assert [e["code"] for e in receipt["file_errors"]] == [C.FILE_EMPTY]
    assert receipt["status"] == "rejected"


def test_a_damaged_jpg_is_an_unreadable_photo(instance, db, persons):  # type: ignore[no-untyped-def]
    number = persons["insured"]
    (instance.unit_inbox("1001") / f"{number}.jpg").write_bytes(b"\x00JFIF damaged" + bytes(3000))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "photo" and receipt["status"] == "rejected"
    assert [(r["row"], [e["code"] for e in r["errors"]]) for r in receipt["rows"]] == [
        (1, [C.PHOTO_UNREADABLE])]
    assert len(list(instance.archive.rglob("*.jpg"))) == 1 and not any(instance.quarantine.rglob("*.*"))


@pytest.mark.parametrize("name, content", [
    ("扫描件.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),             # the demo's
    ("notes.zip", None),
], ids=["image-named-xlsx", "zip-without-images"])
def test_a_file_that_is_neither_workbook_nor_photo_is_quarantined(instance, db, name, content):  # type: ignore[no-untyped-def]
    path = instance.unit_inbox("1001") / name
    if content is None:
        import zipfile

        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "not a photo")
    else:
        path.write_bytes(content)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "quarantined"
    assert [(e["code"], e["message"]) for e in receipt["file_errors"]] == [
        (C.FILE_UNREADABLE, file_message(C.FILE_UNREADABLE, {"reason": "not_workbook"}))]


def test_every_hostile_file_among_valid_ones_in_one_pass(home, instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    """One pass over the inboxes reads each next file early, while the one before it is judged
    (Readers.read_early). Every hostile file of the table above between valid files of two
    units, in one pass: each is refused for its own reason, and no valid file for another's."""
    from exchange.read.sandbox import Readers

    taken: list[bool] = []
    early_reader = Readers._early_reader

    def spied(self, path):  # type: ignore[no-untyped-def]
        worker = early_reader(self, path)
        taken.append(worker is not None)
        return worker

    monkeypatch.setattr(Readers, "_early_reader", spied)
    small = limited(home, **SMALL)
    expected: dict[str, tuple[str, str | None]] = {}
    when = 1_700_000_000
    for n, (name, build, code, _params, _words) in enumerate(HOSTILE):
        for unit, file_name, make, status, file_code in (
                ("1002", f"add-{n}.xlsx", lambda p, n=n: valid_file(p, f"{600 + n}"),
                 "accepted", None),
                ("1001", name, build, "quarantined", code)):
            path = make(small.unit_inbox(unit) / file_name)
            when += 10
            os.utime(path, (when, when))            # the pass takes them oldest first
            expected[file_name] = (status, file_code)
    results = process_inbox(small, db)
    assert {r.name: ("quarantined" if r.quarantined else r.status,
                     r.file_error.code if r.file_error else None) for r in results} == expected
    assert [r.name for r in results] == list(expected)
    assert sum(taken) >= len(HOSTILE)          # the valid ones, at least, were read early
