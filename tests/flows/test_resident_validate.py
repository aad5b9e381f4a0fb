"""`exchange validate --json` speaks the same contract for the resident kinds, changing nothing."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from exchange import codes as C
from exchange.cli import cli
from exchange.store.models import Declaration, Household
from tests.conftest import make_id, make_workbook
from tests.flows.residents import (HEAD, HOUSEHOLD, NEWBORN, PT, RESIDENT_ADD, SUSPEND, community,  # noqa: F401
                                   school)


def validate(home: Path, path: Path, unit: str) -> dict:
    result = CliRunner().invoke(cli, ["--home", str(home), "validate", str(path), "--unit", unit, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_validate_json_resident_add(home, instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    rows = [["", NEWBORN, "林小宝", "", "", "", HEAD, "孙子", "儿童", "", "", "", ""],
            ["", make_id("20190101", "908", PT), "林小", "", "", "", make_id("19500101", "909", PT), "", "",
             "", "", "", ""]]
    out = validate(home, make_workbook(tmp_path / "参保.xlsx", RESIDENT_ADD, rows, title="城乡居民参保申报表"), "C3001")
    assert set(out) == {"kind", "status", "file_errors", "counts", "rows"}
    assert (out["kind"], out["status"]) == ("resident_add", "partial")
    assert out["counts"] == {"total": 2, "accepted": 1, "failed": 1, "duplicate": 0}
    assert [(e["column"], e["code"]) for e in out["rows"][1]["errors"]] == [
        ("人员类别", C.REQUIRED), ("户主身份证号", C.HOUSEHOLD_MISSING)]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 0


def test_validate_json_household_registers_nothing(home, instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    head = make_id("19700909", "910", PT)
    out = validate(home, make_workbook(tmp_path / "户主.xlsx", HOUSEHOLD, [[head, "陈国强", "13905941111", ""]],
                                       title="户主信息表"), "C3001")
    assert (out["kind"], out["status"]) == ("household", "accepted")
    assert out["rows"][0]["notes"][0]["code"] == C.NOTE_HOUSEHOLD_DONE
    with db.session() as s:
        assert s.get(Household, ("C3001", head)) is None


def test_validate_json_class_stop(home, instance, db, school, tmp_path):  # type: ignore[no-untyped-def]
    out = validate(home, make_workbook(tmp_path / "停保.xlsx", SUSPEND, [["", "", "毕业", "", "2024-02"]],
                                       title="学生停保"), "S2201")
    assert (out["kind"], out["status"]) == ("resident_suspend", "accepted")
    assert out["rows"] == [{"row": 4, "ok": True, "errors": [], "notes": [
        {"column": "班级编号", "code": C.NOTE_CLASS_STOP,
         "message": "班级停保：班级“2024-02”的 2 名在保学生一并暂停参保。"}]}]
