"""The CLI in-process: validate --json contract, process, units, master load, help everywhere."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from exchange.cli import cli
from exchange.store.models import Declaration, Person, Unit
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

ROOT = Path(__file__).resolve().parents[2]
TITLE = "职工批量新增申报填写表"


def run(home: Path, *args: str):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    return result


def test_validate_json_contract_changes_nothing(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19800101", "601"), "甲"), add_row(make_id("19800101", "603"), "乙 乙"),
            add_row(320602198001016039, "丙")]
    path = make_workbook(tmp_path / "v.xlsx", ADD_HEADERS, rows, title=TITLE)
    result = run(home, "validate", str(path), "--unit", "1001", "--json")
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert set(out) == {"kind", "status", "file_errors", "counts", "rows"}
    assert out["kind"] == "employee_add" and out["status"] == "partial" and out["file_errors"] == []
    assert out["counts"] == {"total": 3, "accepted": 1, "failed": 2, "duplicate": 0}
    assert [(r["row"], r["ok"]) for r in out["rows"]] == [(4, True), (5, False), (6, False)]
    assert out["rows"][0]["errors"] == []
    assert [(e["column"], e["code"]) for e in out["rows"][1]["errors"]] == [("姓名", "name.invalid")]
    assert out["rows"][2]["errors"][0]["code"] == "id.numeric"
    assert set(out["rows"][1]["errors"][0]) == {"column", "code", "message"}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 0
    assert path.exists() and not any(instance.unit_outbox("1001", "receipts").iterdir())


def test_validate_json_names_footer_rows_only_when_there_are_some(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    """The contract's keys stay as they are; a form's 合计 and 制表人 rows add `footer_rows`."""
    rows = [add_row(make_id("19800101", "611"), "甲"), ["合计：1人"], [], ["制表人：王芳"]]
    path = make_workbook(tmp_path / "v.xlsx", ADD_HEADERS, rows, title=TITLE)
    out = json.loads(run(home, "validate", str(path), "--unit", "1001", "--json").output)
    assert set(out) == {"kind", "status", "file_errors", "counts", "rows", "footer_rows"}
    assert out["footer_rows"] == [5, 7] and out["status"] == "accepted"
    assert out["counts"] == {"total": 1, "accepted": 1, "failed": 0, "duplicate": 0}


def test_validate_json_file_error_still_exits_zero(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "junk.xlsx"
    path.write_bytes(b"\x00\x01garbage" * 100)
    result = run(home, "validate", str(path), "--unit", "1001", "--json")
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["status"] == "rejected" and out["rows"] == []
    assert out["file_errors"][0]["code"] == "file.unreadable"
    assert out["counts"] == {"total": 0, "accepted": 0, "failed": 0, "duplicate": 0}


def test_validate_sees_duplicates_of_imported_rows(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    path = make_workbook(tmp_path / "d.xlsx", ADD_HEADERS, [add_row(make_id("19800101", "611"), "甲")],
                         title=TITLE)
    assert run(home, "process", "--unit", "1001", str(path)).exit_code == 0
    out = json.loads(run(home, "validate", str(path), "--unit", "1001", "--json").output)
    assert out["status"] == "accepted"
    assert out["counts"] == {"total": 1, "accepted": 0, "failed": 0, "duplicate": 1}
    assert out["rows"][0]["ok"] is True and out["rows"][0]["duplicate"] is True


def test_process_prints_one_line_per_file(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    path = make_workbook(tmp_path / "p.xlsx", ADD_HEADERS, [add_row(make_id("19800101", "621"), "甲")],
                         title=TITLE)
    result = run(home, "process", "--unit", "1001", str(path))
    assert result.exit_code == 0
    assert re.search(r"^1001/p\.xlsx: accepted kind=employee_add accepted=1 failed=0 duplicate=0 receipt=",
                     result.output, re.M)
    assert run(home, "process").output.strip() == "no files waiting"


def test_units_add_creates_folders_and_login(home, instance):  # type: ignore[no-untyped-def]
    result = run(home, "units", "add", "2001", "--name", "测试单位", "--password", "pw")
    assert result.exit_code == 0 and "unit 2001 ready" in result.output
    assert (home / "inbox" / "2001").is_dir() and (home / "outbox" / "2001" / "receipts").is_dir()
    # The clerk's first login finds the templates of an employer's kinds, titled for the unit.
    templates = sorted(p.name for p in (home / "outbox" / "2001" / "templates").iterdir())
    assert "2001_职工批量新增申报填写表.xlsx" in templates and len(templates) >= 5
    assert f"({len(templates)} templates in outbox/2001/templates/)" in result.output
    title = openpyxl.load_workbook(home / "outbox" / "2001" / "templates" / templates[0]).worksheets[0]["A1"].value
    assert "2001" in title and "测试单位" in title
    listing = run(home, "units", "list").output
    assert "2001\t测试单位\tpassword" in listing


def test_master_load_persons_and_units(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    units = make_workbook(tmp_path / "units.csv", ["单位编号*", "单位名称*", "统一社会信用代码", "单位类型", "经办人姓名", "经办人手机"],
                          [["3001", "新单位", "91320600MA1XXXXX0X", "企业", "周经办", "13900000000"],
                           ["", "缺编号", "", "", "", ""]], title="", title_rows=0, fmt="csv-gb18030")
    out = run(home, "master", "load", str(units)).output
    assert "units: loaded 1 rows (1 new, 0 updated), refused 1" in out
    assert "row 3: required" in out
    a, b = make_id("19800101", "631"), make_id("19800101", "633")
    persons = make_workbook(tmp_path / "persons.xlsx",
                            ["个人编号", "身份证号*", "姓名*", "性别", "出生日期", "单位编号", "参保状态", "险种",
                             "最大缴费月份", "欠费金额", "缴费基数"],
                            [["P1", a, "甲", "男", "1980-01-01", "3001", "参保", "310", "202610", "0", 5000],
                             ["P1", a, "甲", "男", "1980-01-01", "3001", "参保", "510", "202609", "0", 5000],
                             ["P2", b, "乙", "", "", "3001", "暂停", "", "", "12.5", ""],
                             ["P3", "123", "丙", "", "", "3001", "", "", "", "", ""]], title="参保人员信息")
    out = run(home, "master", "load", str(persons)).output
    assert "persons: loaded 3 rows (2 new, 0 updated), refused 1" in out
    assert "row 7: id.format" in out
    # Loading again is an update, not a duplicate.
    assert "(0 new, 2 updated)" in run(home, "master", "load", str(persons)).output
    with db.session() as s:
        p = s.get(Person, a)
        assert p.paid_months == {"310": "202610", "510": "202609"} and p.insurances == "310,510"
        assert s.get(Person, b).status == "2" and float(s.get(Person, b).arrears) == 12.5
        assert s.get(Unit, "3001").name == "新单位"


def test_master_load_reads_past_an_exports_totals_and_signatures(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    a = make_id("19800101", "641")
    persons = make_workbook(tmp_path / "persons.xlsx", ["身份证号*", "姓名*", "单位编号", "缴费基数"],
                            [[a, "甲", "1001", 5000], ["合计：1人", None, None, 5000],
                             ["制表人：王芳", None, "审核人：李强", None]], title="参保人员信息")
    out = run(home, "master", "load", str(persons)).output
    assert "persons: loaded 1 rows (1 new, 0 updated), refused 0" in out
    assert "rows 5, 6 read past: totals, signatures or notes (2)" in out


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):            # the lazy group imports each module here
        cmd = group.get_command(ctx, name)
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path,cmd", list(_commands(cli)), ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_every_command_has_help_and_an_example(path, cmd) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and (cmd.help or "").strip()
    if not isinstance(cmd, click.Group):
        assert "Example:" in cmd.help, f"{' '.join(path)} has no usage example"
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert f"exchange {' '.join(path)}" in readme, f"README does not mention `exchange {' '.join(path)}`"


def test_the_lazy_table_names_every_command_of_every_module() -> None:
    import importlib
    import pkgutil

    import exchange.cli as package

    defined = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"exchange.cli.{info.name}")
        defined |= {c.name: info.name for c in getattr(module, "COMMANDS", ())}
    assert package.LAZY_COMMANDS == defined


HEAVY = ("reportlab", "apscheduler", "alembic", "paramiko", "watchdog", "prometheus_client",
         "pythonjsonlogger")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules (and openpyxl) a fresh interpreter has loaded once `code` has run."""
    probe = f"{code}\nimport sys\nprint('LOADED', *[m for m in {(*HEAVY, 'openpyxl')!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].split()[1:]


def test_help_and_looking_up_a_command_import_no_heavy_library() -> None:
    """Start-up cost: `exchange --help` and resolving validate/process load only
    the command modules, not PDF, Excel, scheduler, SFTP, watcher or migration libraries."""
    assert _loaded_after("from exchange.cli import cli\n"
                         "import click\n"
                         "ctx = click.Context(cli)\n"
                         "cli.get_command(ctx, 'validate'); cli.get_command(ctx, 'process')") == []
    assert _loaded_after("from click.testing import CliRunner\n"
                         "from exchange.cli import cli\n"
                         "assert CliRunner().invoke(cli, ['--help']).exit_code == 0") == []


def test_validate_on_a_migrated_database_loads_no_heavy_library(home, instance, db, tmp_path):  # type: ignore[no-untyped-def]
    """The schema check of a database already at head reads alembic_version without alembic."""
    path = make_workbook(tmp_path / "v.xlsx", ADD_HEADERS, [add_row(make_id("19800101", "641"), "甲")],
                         title=TITLE)
    args = ["--home", str(home), "validate", str(path), "--unit", "1001", "--json"]
    loaded = _loaded_after(f"from exchange.cli import cli\ncli.main({args!r}, standalone_mode=False)")
    assert loaded == []                   # the error workbook's writer is for `process` only


def test_chinese_text_lives_only_in_messages_and_rules() -> None:
    """Unit-facing words live in messages.py or rules/; parsing grammar is marked as such.

    Sample generators (demo.py, *_samples.py) write the data a clerk would type: exempt.
    """
    import ast

    cjk = re.compile(r"[\u4e00-\u9fff]")
    offenders = []
    for path in (ROOT / "exchange").rglob("*.py"):
        if path.name in ("messages.py", "demo.py") or path.name.endswith("_samples.py"):
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and n.body and isinstance(n.body[0], ast.Expr)
                      and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and cjk.search(node.value):
                if id(node) in docstrings or "# input grammar" in lines[node.lineno - 1]:
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:40]}")
    assert offenders == []


def test_demo_processes_samples_and_shows_the_outputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "demo"           # a folder that is not an instance yet: demo makes one
    result = run(home, "demo")
    assert result.exit_code == 0, result.output
    assert (home / "config.toml").is_file() and (home / "rules" / "kinds").is_dir()
    assert "psnAdd.xlsx" in result.output and "partial" in result.output
    assert re.search(r"submitted batch: .*D1001-\d{8}-001\..*\.pdf", result.output)
    # The photos the community uploaded wait on the centre's photo review workbook.
    assert re.search(r"photo review: +.*_centre/photos/ZP-D3001-\d{8}-001\.照片审核\.xlsx", result.output)
    receipts = list((home / "outbox" / "D1001" / "receipts").glob("*.json"))
    assert len(receipts) == 4
    assert list((home / "outbox" / "D1001" / "errors").glob("*.xlsx"))
    assert (home / "inbox" / "D1001" / "~$psnAdd.xlsx").exists()      # lock file left alone
    again = run(home, "demo")
    assert re.search(r"psnAdd\.xlsx\s*│ employee_add\s*│ partial\s*│ 0\s*│ 7\s*│ 2", again.output)


def test_a_command_outside_an_instance_says_so_and_creates_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`exchange --home EMPTY process` names the folder and `exchange init`, writes no folder
    or database there, and exits 2 (a config error), not with a traceback."""
    import subprocess
    import sys

    home = tmp_path / "empty"
    home.mkdir()
    done = subprocess.run([sys.executable, "-c", "from exchange.cli import main; main()",
                           "--home", str(home), "process"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"exchange init {home}" in done.stderr and "Traceback" not in done.stderr
    assert list(home.iterdir()) == []



def test_units_add_refuses_codes_that_name_no_folder_and_an_empty_name(home, instance, db):  # type: ignore[no-untyped-def]
    """The rule master data follows too: a path, a space, the reserved _centre, a code that
    differs from a registered one only by case; and a unit without a name."""
    from exchange.errors import ExchangeError

    refused = {"../x": "invalid unit code '../x'", "D 5001": "invalid unit code 'D 5001'",
               "_centre": "invalid unit code '_centre'",
               "a1001": None}
    assert run(home, "units", "add", "A1001", "--name", "甲", "--password", "Abcdefgh12").exit_code == 0
    refused["a1001"] = "invalid unit code 'a1001': unit A1001 exists"
    for code, why in refused.items():
        with pytest.raises(ExchangeError, match=re.escape(why)):
            run(home, "units", "add", code, "--name", "乙", "--password", "Abcdefgh12")
    with pytest.raises(ExchangeError, match="the name must not be empty"):
        run(home, "units", "add", "2001", "--name", "  ", "--password", "Abcdefgh12")
    with db.session() as s:
        assert set(s.scalars(select(Unit.code))) == {"1001", "1002", "A1001"}
    assert sorted(p.name for p in (home / "inbox").iterdir()) == ["1001", "1002", "A1001", "_centre"]


def test_an_unknown_unit_named_to_submit_or_templates_is_an_error(home, instance, db):  # type: ignore[no-untyped-def]
    """`batches submit --unit NOPE` said "nothing pending" and `templates --unit NOPE` "no
    templates written", both exit 0: a typo looked like a quiet night."""
    stray = home / "stray.csv"
    stray.write_text("x", encoding="utf-8")
    for args in (("batches", "submit", "--unit", "NOPE"), ("templates", "--unit", "NOPE"),
                 ("process", "--unit", "NOPE", str(stray))):    # made inbox/NOPE, files waiting
        done = subprocess.run([sys.executable, "-c", "from exchange.cli import main; main()",
                               "--home", str(home), *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.strip() == "error: unknown unit 'NOPE' (see `exchange units list`)"
    assert run(home, "batches", "submit", "--unit", "1001").output.strip() == \
        "nothing pending for unit 1001"
    assert not (home / "inbox" / "NOPE").exists()


def test_process_finishes_a_centre_file_a_failed_run_left_in_processing(home, instance, db):  # type: ignore[no-untyped-def]
    """A centre file left in var/processing (the disk was full while it was handled): the
    next `exchange process` takes it, as its failure message promised; it answered "no files
    waiting". One a live process holds (a running service handling it) is left to it."""
    import fcntl
    import os

    work = instance.processing / "centre-20261208053111834684-units.csv"
    work.parent.mkdir(parents=True, exist_ok=True)
    work.write_text("单位编号,单位名称\n3001,新单位\n", encoding="utf-8")
    fd = os.open(work, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)         # held by "another process"
        assert run(home, "process").output.strip() == "no files waiting" and work.exists()
    finally:
        os.close(fd)
    out = run(home, "process").output.strip().splitlines()
    assert out == [f"_centre/units.csv: accepted kind=units receipt={home / 'outbox' / '_centre' / 'receipts'}"]
    assert not work.exists()
    with db.session() as s:
        assert s.get(Unit, "3001").name == "新单位"
