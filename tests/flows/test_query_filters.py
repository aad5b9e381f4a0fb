"""`exchange declarations`, `batches`, `errors`: the query pages' conditions — kind (业务种类,
业务标识) by name or label, state as the pages say it, a date range as a clerk types it, the
person — each answer compared with the database filtered here by hand."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import openpyxl
from click.testing import CliRunner
from sqlalchemy import select, update

from exchange.cli import cli
from exchange.store.models import Batch, Declaration, RowError
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.residents import (HEAD, INSURED_ELSEWHERE, NEWBORN, RESIDENT_ADD,  # noqa: F401
                                   STOPPED_ELSEWHERE, SUSPENDED_HERE, community)

NOV, DEC = datetime(2026, 11, 15, 10, 30), datetime(2026, 12, 2, 9, 0)
WORKERS = [(make_id("19900101", "131"), "王小明"), (make_id("19910202", "242"), "赵小红")]


def run(home: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def as_json(home: Path, *args: str) -> Any:
    result = run(home, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def enrol(number: str, name: str) -> list[str]:
    return ["", number, name, "", "", "", HEAD, "本人", "成年居民", "", "", "", ""]


def _stamp(db: Any, unit: str, when: datetime) -> None:
    """As if the unit's files had come on `when` (the log too), its batch a day later."""
    with db.session() as s:
        s.execute(update(Declaration).where(Declaration.unit_code == unit).values(created_at=when))
        s.execute(update(RowError).where(RowError.unit_code == unit).values(created_at=when))
        s.execute(update(Batch).where(Batch.unit_code == unit).values(
            created_at=when.replace(day=when.day + 1)))


def _setup(home: Path, instance: Any, db: Any, tmp_path: Path) -> None:
    """1001 declares two employees (and one wrong ID) in November; the community C3001 enrols
    a newborn, a renewal and a transfer-in (and one person insured elsewhere) in December."""
    wrong = WORKERS[0][0][:-1] + ("1" if WORKERS[0][0][-1] != "1" else "2")
    book = make_workbook(tmp_path / "增员.xlsx", ADD_HEADERS,
                         [add_row(n, name) for n, name in WORKERS] + [add_row(wrong, "错号")],
                         title="职工批量新增申报填写表")
    assert run(home, "process", "--unit", "1001", str(book)).exit_code == 0
    path = make_workbook(tmp_path / "参保.xlsx", RESIDENT_ADD,
                [enrol(NEWBORN, "林小宝"), enrol(SUSPENDED_HERE, "林一"),
                 enrol(STOPPED_ELSEWHERE, "林二"), enrol(INSURED_ELSEWHERE, "陈三")],
                title="城乡居民参保申报表")
    assert run(home, "process", "--unit", "C3001", str(path)).exit_code == 0
    assert run(home, "batches", "submit", "--unit", "1001").exit_code == 0
    _stamp(db, "1001", NOV)
    _stamp(db, "C3001", DEC)


def _serials(db: Any, keep: Callable[[Declaration], bool]) -> list[int]:
    with db.session() as s:
        return sorted(d.serial for d in s.scalars(select(Declaration)) if keep(d))


def _found(home: Path, *args: str) -> list[int]:
    return sorted(r["serial"] for r in as_json(home, "declarations", *args))


def test_declarations_by_kind_state_dates_person_and_enrolment(home, instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    _setup(home, instance, db, tmp_path)
    residents = _serials(db, lambda d: d.kind == "resident_add")
    workers = _serials(db, lambda d: d.kind == "employee_add")
    assert len(residents) == 3 and len(workers) == 2
    # 业务种类 by name, label or the template's title.
    assert _found(home, "--kind", "resident_add") == residents
    assert _found(home, "--kind", "城乡居民参保申报") == residents
    assert _found(home, "--kind", "职工批量新增申报填写表") == workers
    # 申报日期 as a clerk types it: a day, a month, ranges whose ends are included.
    assert _found(home, "--since", "2026-12-01") == residents
    assert _found(home, "--since", "20261202", "--until", "20261202") == residents
    assert _found(home, "--since", "20261203") == []
    assert _found(home, "--until", "2026-11") == workers
    assert _found(home, "--until", "2026-11-14") == []
    assert _found(home, "--period", "202611") == workers
    assert _found(home, "--period", "2026", "--since", "2026/11/15", "--until", "2026年11月") == workers
    # The state as the pages name it (1001's were submitted; C3001's wait).
    assert _found(home, "--state", "待提交") == _serials(db, lambda d: d.status == "pending") == residents
    assert _found(home, "--status", "已提交") == _found(home, "--state", "待审核") == workers
    assert _found(home, "--state", "submitted", "--kind", "resident_add") == []
    # The person by ID or name; the unit.
    assert _found(home, "--person", "林一") == _serials(db, lambda d: d.id_number == SUSPENDED_HERE)
    assert _found(home, "--person", WORKERS[1][0].lower()) == _serials(db, lambda d: d.name == "赵小红")
    assert _found(home, "--unit", "C3001", "--kind", "employee_add") == []
    # 新参保 / 续保 / 调入 (Changchun's 新参保查询 and 续保查询), with the JSON saying which.
    for enrolment, number in (("new", NEWBORN), ("renewal", SUSPENDED_HERE), ("transfer_in", STOPPED_ELSEWHERE)):
        rows = as_json(home, "declarations", "--enrolment", enrolment, "--since", "2026-12")
        assert [(r["id_number"], r["enrolment"]) for r in rows] == [(number, enrolment)]
    table = run(home, "declarations", "--unit", "C3001").output
    assert "renewal" in table and "transfer_in" in table and "3 declaration(s)" in table


def test_batches_by_kind_person_and_submission_dates(home, instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    _setup(home, instance, db, tmp_path)
    assert run(home, "batches", "submit", "--unit", "C3001").exit_code == 0
    with db.session() as s:
        s.execute(update(Batch).where(Batch.unit_code == "C3001").values(created_at=datetime(2026, 12, 3, 20)))
        numbers = {b.unit_code: b.batch_no for b in s.scalars(select(Batch))}

    def found(*args: str) -> list[str]:
        return [r["batch_no"] for r in as_json(home, "batches", "list", *args)]
    assert found() == [numbers["C3001"], numbers["1001"]]
    assert found("--kind", "城乡居民参保申报") == [numbers["C3001"]]
    assert found("--kind", "employee_add", "--unit", "C3001") == []
    assert found("--person", "赵小红") == [numbers["1001"]]
    assert found("--person", STOPPED_ELSEWHERE) == [numbers["C3001"]]
    assert found("--since", "2026-12-01") == [numbers["C3001"]]
    assert found("--until", "2026-11-30") == [numbers["1001"]]
    assert found("--period", "2026-11", "--state", "submitted") == [numbers["1001"]]


def test_error_log_by_business_type_and_period_and_its_export(home, instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    _setup(home, instance, db, tmp_path)
    with db.session() as s:
        logged = [(e.kind, e.created_at, e.name, e.code) for e in s.scalars(select(RowError).order_by(RowError.id))]
    assert {k for k, *_ in logged} == {"employee_add", "resident_add"}

    def expect(keep: Callable[[tuple[Any, ...]], bool]) -> list[tuple[str, str]]:
        return [(name, code) for kind, at, name, code in logged if keep((kind, at))]
    got = as_json(home, "errors", "--kind", "城乡居民参保申报")
    assert [(e["name"], e["code"]) for e in got] == expect(lambda t: t[0] == "resident_add") != []
    got = as_json(home, "errors", "--since", "2026-11-01", "--until", "2026-11-30")
    assert [(e["name"], e["code"]) for e in got] == expect(lambda t: t[1].month == 11) != []
    assert as_json(home, "errors", "--kind", "resident_add", "--period", "202611") == []
    # 错误日志 导出Excel by 业务标识 and 起始日期/截止日期: the workbook holds exactly those rows.
    target = tmp_path / "错误日志.xlsx"
    out = run(home, "errors", "--kind", "resident_add", "--since", "2026-12", "--until", "2026-12-31",
              "--export", str(target)).output
    rows = expect(lambda t: t[0] == "resident_add" and t[1].month == 12)
    assert out.strip() == f"wrote {len(rows)} entr{'y' if len(rows) == 1 else 'ies'} to {target}"
    sheet = openpyxl.load_workbook(target).worksheets[0]
    body = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert [(r[6], r[8]) for r in body] == rows
    assert {r[2] for r in body} == {"城乡居民参保申报"} and {r[0][:10] for r in body} == {"2026-12-02"}


def test_conditions_a_clerk_mistypes_are_refused_with_the_option_named(home, instance, db):  # type: ignore[no-untyped-def]
    cases = [(("declarations", "--since", "2026-13"), "--since"),
             (("declarations", "--until", "20261232"), "--until"),
             (("declarations", "--since", "2026-12-02", "--until", "2026-12-01"), "range is empty"),
             (("declarations", "--state", "已审"), "unknown state"),
             (("batches", "list", "--kind", "职工"), "unknown kind"),
             (("errors", "--kind", "nonsense", "--export", "x.xlsx"), "unknown kind")]
    for args, word in cases:
        result = CliRunner().invoke(cli, ["--home", str(home), *args])
        assert result.exit_code == 2 and word in result.output, (args, result.output)


def test_declarations_export_is_the_query_as_a_workbook_or_csv(home, instance, db, community, tmp_path):  # type: ignore[no-untyped-def]
    """Changchun's 新参保查询 with 下载报表: the rows of the query, labelled as the pages did."""
    _setup(home, instance, db, tmp_path)
    target = tmp_path / "新参保.xlsx"
    out = run(home, "declarations", "--enrolment", "new", "--since", "2026-12-01", "--until", "2026-12-31",
              "--export", str(target), "--limit", "1").output
    with db.session() as s:
        [d] = [d for d in s.scalars(select(Declaration)) if (d.payload or {}).get("enrolment") == "new"]
    assert out.strip() == f"wrote 1 declaration(s) to {target}"
    sheet = openpyxl.load_workbook(target).worksheets[0]
    header = [c.value for c in sheet[1]]
    [row] = [dict(zip(header, (c.value for c in r))) for r in sheet.iter_rows(min_row=2)]
    assert (row["业务流水号"], row["证件号码"], row["姓名"], row["业务类型"], row["状态"], row["参保类型"],
            row["申报时间"], row["单位编号"]) == (d.serial, d.id_number, d.name, "城乡居民参保申报", "待提交",
                                           "新参保", "2026-12-02 09:00:00", "C3001")
    assert sheet.cell(2, header.index("证件号码") + 1).data_type == "s"
    # Every match, whatever --limit says; CSV with a BOM for Excel.
    target = tmp_path / "全部.csv"
    run(home, "declarations", "--since", "2026-11", "--export", str(target), "--limit", "1")
    with target.open(encoding="utf-8-sig") as fh:
        lines = fh.read().splitlines()
    assert len(lines) - 1 == len(_serials(db, lambda d: True)) == 5
    refused = CliRunner().invoke(cli, ["--home", str(home), "declarations", "--export", str(tmp_path / "x.txt")])
    assert refused.exit_code == 2 and "--export" in refused.output


def test_a_wrong_date_is_blamed_on_its_own_option(home, instance, db):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["--home", str(home), "errors", "--period", "2026",
                                      "--since", "2026-02-30"])
    assert result.exit_code == 2 and "--since" in result.output and "--period" not in result.output
