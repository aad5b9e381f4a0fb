"""A school's sub-accounts: department and class logins, held to their classes."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from exchange import codes as C
from exchange.accounts import DEFAULT_PASSWORD, add_sub_account, verify_password
from exchange.cli import cli
from exchange.intake.claim import claim
from exchange.intake.subaccounts import (claim_as, login_of_work, process_sub_account_inboxes,
                                         sub_account_inbox, sub_account_outbox)
from exchange.pipeline import process_claim
from exchange.store.models import Account, AuditEntry, Declaration
from tests.conftest import make_id
from tests.flows.helpers import receipt_of, triples
from tests.flows.residents import (CC, HOUSEHOLD, OWED, PARENT, RESIDENT_ADD, STUDENTS_01,  # noqa: F401
                                   STUDENTS_02, SUSPEND, TRANSFER, drop, school)


def run(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def test_sub_account_commands(home, instance, db, school):  # type: ignore[no-untyped-def]
    out = run(home, "units", "sub-account", "S2201", "c2024-01", "--role", "class", "--classes", "2024-01")
    assert out.exit_code == 0, out.output
    assert "login c2024-01 (class of S2201, classes 2024-01) ready: inbox/S2201/@c2024-01/" in out.output
    assert f"password set to the default {DEFAULT_PASSWORD}" in out.output
    assert sub_account_inbox(instance, "S2201", "c2024-01").is_dir()
    out = run(home, "units", "sub-account", "S2201", "d-grade", "--role", "department",
              "--classes", "2024-01, 2024-02", "--password", "Dept-pw1")
    assert out.exit_code == 0 and "default" not in out.output
    with db.session() as s:
        cls, dept = s.get(Account, "c2024-01"), s.get(Account, "d-grade")
        assert (cls.role, cls.scope, dept.role, dept.scope) == ("class", "2024-01", "department", "2024-01,2024-02")
        assert cls.password_hash.startswith("$argon2") and verify_password(cls.password_hash, DEFAULT_PASSWORD)
        assert verify_password(dept.password_hash, "Dept-pw1")
    # 密码还原: back to the initial password, or to a given one.
    assert run(home, "units", "reset-password", "d-grade").output.splitlines()[0] == \
        f"login d-grade: password reset to the default {DEFAULT_PASSWORD}"
    run(home, "units", "reset-password", "c2024-01", "--password", "New-pw2")
    with db.session() as s:
        assert verify_password(s.get(Account, "d-grade").password_hash, DEFAULT_PASSWORD)
        assert verify_password(s.get(Account, "c2024-01").password_hash, "New-pw2")
    listing = run(home, "units", "accounts", "S2201").output.splitlines()
    # Both were reset: each must choose its own password at the next login (issue 18.1).
    assert listing == ["S2201\tS2201\tunit\t*\tpassword",
                       "c2024-01\tS2201\tclass\t2024-01\tpassword\tmust change password",
                       "d-grade\tS2201\tdepartment\t2024-01,2024-02\tpassword\tmust change password"]


def test_sub_account_refusals(home, instance, db, school):  # type: ignore[no-untyped-def]
    def error(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--home", str(home), "units", "sub-account", *args])
        assert result.exit_code != 0
        return str(result.exception)

    assert "one class" in error("S2201", "c1", "--role", "class", "--classes", "2024-01,2024-02")
    assert "no unit" in error("S9999", "c1", "--role", "class", "--classes", "2024-01")
    assert "is a unit code" in error("S2201", "S2202", "--role", "class", "--classes", "2024-01")
    assert "invalid login" in error("S2201", "../x", "--role", "class", "--classes", "2024-01")
    assert "invalid class" in error("S2201", "c1", "--role", "class", "--classes", "20/24")
    run(home, "units", "sub-account", "S2202", "c-other", "--role", "class", "--classes", "2024-01")
    assert "belongs to S2202" in error("S2201", "c-other", "--role", "class", "--classes", "2024-01")


def test_class_account_declares_only_for_its_class(instance, db, school):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-01", role="class", classes=["2024-01"])
    folder = "@c2024-01"
    drop(instance, "S2201", "停保.xlsx", SUSPEND, [
        [STUDENTS_01[0], "王小一", "转学", "", ""],            # own class
        ["", "", "毕业", "", "2024-02"]], title="学生停保", folder=folder)   # another class
    drop(instance, "S2201", "新生.xlsx", RESIDENT_ADD, [
        ["", make_id("20170101", "511", CC), "孙一", "", "", "", PARENT, "子", "学生", "", "", "2024-01", ""],
        ["", make_id("20170101", "512", CC), "孙二", "", "", "", PARENT, "子", "学生", "", "", "2024-02", ""]],
        title="城乡居民参保申报表", folder=folder)
    drop(instance, "S2201", "户主.xlsx", HOUSEHOLD, [[make_id("19800101", "513", CC), "孙父", "13800000000", ""]],
         title="户主信息表", folder=folder)
    results = {r.name: r for r in process_sub_account_inboxes(instance, db)}
    assert set(results) == {"停保.xlsx", "新生.xlsx", "户主.xlsx"}
    assert triples(receipt_of(instance, results["停保.xlsx"])) == [(5, "班级编号", C.CLASS_OUT_OF_SCOPE)]
    assert triples(receipt_of(instance, results["新生.xlsx"])) == [(5, "班级编号", C.CLASS_OUT_OF_SCOPE)]
    # A school keeps no household register (rules/region.toml households): refused whole.
    assert results["户主.xlsx"].status == "rejected"
    assert results["户主.xlsx"].file_error.code == C.FILE_KIND_NOT_ALLOWED
    # Receipts and error workbooks go to the login's own outbox, none to the school's parts
    # (a class account reads only its own students); the audit names the login.
    own = sub_account_outbox(instance, "S2201", "c2024-01")
    for result in results.values():
        assert (own / "receipts" / result.receipt_name).is_file()
        assert result.error_book_name is None or (own / "errors" / result.error_book_name).is_file()
    assert [list(instance.unit_outbox("S2201", part).iterdir()) for part in ("receipts", "errors")] == [[], []]
    with db.session() as s:
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "import")))
        assert actors == {"c2024-01"}
        assert s.query(Declaration).count() == 2


def test_department_account_holds_several_classes(instance, db, school):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "dept", role="department", classes=["2024-01", "2024-02"])
    drop(instance, "S2201", "转班.xlsx", TRANSFER, [[STUDENTS_01[0], "王小一", "2024-02"],
                                                   [STUDENTS_02[0], "李小一", "2024-01"]],
         title="学生转班表", folder="@dept")
    [result] = process_sub_account_inboxes(instance, db)
    assert receipt_of(instance, result)["status"] == "accepted"


def test_login_travels_with_the_claimed_file(instance, db, school):  # type: ignore[no-untyped-def]
    """A file claimed from a sub-account folder and processed later (after a crash, say) is
    still judged as that login."""
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-01", role="class", classes=["2024-01"])
    path = drop(instance, "S2201", "停保.xlsx", SUSPEND, [[STUDENTS_02[0], "李小一", "转学", "", ""]],
                title="学生停保", folder="@c2024-01")
    job = claim_as(instance, db, path, "S2201", "c2024-01")
    assert job is not None and login_of_work(job.work_path) == "c2024-01"
    result = process_claim(instance, db, job)              # nobody tells it the login
    receipt = receipt_of(instance, result)
    assert triples(receipt) == [(4, "证件号码", C.CLASS_OUT_OF_SCOPE)]
    assert receipt["rows"][0]["errors"][0]["message"] == \
        "本账号只能为所辖班级（2024-01）申报：该学生所在的班级不在所辖范围内（2024-02）。"


def test_process_prints_the_receipt_in_the_sub_accounts_outbox(home, instance, db, school):  # type: ignore[no-untyped-def]
    """`exchange process` names the receipt where it was written: a class account's file is
    answered in the login's own outbox, also when it was claimed before a crash."""
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-01", role="class", classes=["2024-01"])
    rows = [[STUDENTS_01[0], "王小一", "转学", "", ""]]
    left = drop(instance, "S2201", "left.xlsx", SUSPEND, rows, title="学生停保", folder="@c2024-01")
    assert claim_as(instance, db, left, "S2201", "c2024-01") is not None   # then the node stopped
    drop(instance, "S2201", "new.xlsx", SUSPEND, rows, title="学生停保", folder="@c2024-01")
    out = run(home, "process")
    assert out.exit_code == 0, out.output
    printed = {line.split(":")[0]: Path(line.rsplit(" receipt=", 1)[1])
               for line in out.output.splitlines()}
    assert set(printed) == {"S2201/left.xlsx", "S2201/new.xlsx"}
    own = sub_account_outbox(instance, "S2201", "c2024-01", "receipts")
    for receipt in printed.values():
        assert receipt.parent == own and receipt.is_file()
    assert list(instance.unit_outbox("S2201", "receipts").iterdir()) == []


def test_unknown_sub_account_folder_may_declare_for_nothing(instance, db, school):  # type: ignore[no-untyped-def]
    drop(instance, "S2201", "停保.xlsx", SUSPEND, [[STUDENTS_01[0], "王小一", "转学", "", ""]],
         title="学生停保", folder="@nobody")
    [result] = process_sub_account_inboxes(instance, db)
    assert triples(receipt_of(instance, result)) == [(4, "证件号码", C.CLASS_OUT_OF_SCOPE)]


def test_caller_may_name_the_login(instance, db, school):  # type: ignore[no-untyped-def]
    """The SFTP service knows the login of an upload: process_claim(actor=...) applies its scope."""
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-02", role="class", classes=["2024-02"])
    path = drop(instance, "S2201", "停保.xlsx", SUSPEND, [[OWED, "王小三", "转学", "", ""]], title="学生停保")
    job = claim(instance, db, path, "S2201")
    assert triples(receipt_of(instance, process_claim(instance, db, job, actor="c2024-02"))) == [
        (4, "证件号码", C.ARREARS), (4, "证件号码", C.CLASS_OUT_OF_SCOPE)]
    # The school's own login, or an explicit scope, decide as told.
    path = drop(instance, "S2201", "停保2.xlsx", SUSPEND, [[STUDENTS_01[0], "王小一", "转学", "", ""]],
                title="学生停保")
    job = claim(instance, db, path, "S2201")
    assert receipt_of(instance, process_claim(instance, db, job, actor="S2201"))["status"] == "accepted"


def test_a_sub_accounts_templates_hold_only_its_classes(home, instance, db, school):  # type: ignore[no-untyped-def]
    """The school's pre-filled templates list every student; a class account's list only its
    class, in its own outbox, written when the login is made and by every refresh."""
    import openpyxl

    from exchange.outputs.templates import refresh_templates, template_name

    out = run(home, "units", "sub-account", "S2201", "c2024-02", "--role", "class", "--classes", "2024-02")
    assert out.exit_code == 0 and "outbox/S2201/@c2024-02/" in out.output
    suspend = instance.rules.kinds["resident_suspend"]
    name = template_name(suspend, "S2201")
    own = sub_account_outbox(instance, "S2201", "c2024-02", "templates") / name

    def ids(path: Path) -> set[str]:
        ws = openpyxl.load_workbook(path).worksheets[0]
        return {r[0] for r in ws.iter_rows(min_row=4, values_only=True) if r[0]}

    assert ids(own) == set(STUDENTS_02)
    own.unlink()
    written = refresh_templates(instance, db, unit="S2201", kinds=["resident_suspend"])
    assert sorted(p.relative_to(instance.unit_outbox("S2201")).as_posix() for p in written) == \
        sorted([f"templates/{name}", f"@c2024-02/templates/{name}"])
    assert ids(own) == set(STUDENTS_02)
    assert ids(instance.unit_outbox("S2201", "templates") / name) >= set(STUDENTS_01) | set(STUDENTS_02)


def test_templates_are_of_the_kinds_each_login_may_send(home, instance, db, school):  # type: ignore[no-untyped-def]
    """A class login has no 单位信息变更表 (the unit's own data, refused from it as of no class),
    and a unit whose type changed loses the templates of kinds it may no longer send: a unit
    made without a type, then a school by master data, kept the employer's four, which the
    intake refused naming the templates folder that offered them."""
    from exchange.outputs.templates import refresh_templates, template_name
    from exchange.store.models import Unit

    kinds = instance.rules.kinds
    out = run(home, "units", "sub-account", "S2201", "c2024-02", "--role", "class", "--classes", "2024-02")
    assert out.exit_code == 0
    own = sub_account_outbox(instance, "S2201", "c2024-02", "templates")
    names = {p.name for p in own.iterdir()}
    assert template_name(kinds["resident_suspend"], "S2201") in names
    assert template_name(kinds["unit_change"], "S2201") not in names
    refresh_templates(instance, db, unit="S2201")
    assert template_name(kinds["unit_change"], "S2201") not in {p.name for p in own.iterdir()}
    assert template_name(kinds["unit_change"], "S2201") in {
        p.name for p in instance.unit_outbox("S2201", "templates").iterdir()}

    with db.session() as s:
        s.get(Unit, "S2201").unit_type = "10"             # as if made without a type
    refresh_templates(instance, db, unit="S2201")
    folder = instance.unit_outbox("S2201", "templates")
    employer = template_name(kinds["employee_add"], "S2201")
    assert employer in {p.name for p in folder.iterdir()}
    (folder / "我的草稿.xlsx").write_bytes(b"a clerk's own file")
    with db.session() as s:
        s.get(Unit, "S2201").unit_type = "40"             # master data: a school
    refresh_templates(instance, db, unit="S2201")
    names = {p.name for p in folder.iterdir()}
    assert employer not in names and template_name(kinds["wage"], "S2201") not in names
    assert template_name(kinds["class_transfer"], "S2201") in names and "我的草稿.xlsx" in names


def test_process_takes_every_inbox_serve_takes(home, instance, db, school):  # type: ignore[no-untyped-def]
    """Issue 21 item 17: `exchange process` said "no files waiting" while files waited in
    inbox/_centre/ and in sub-account folders; it takes them as `serve` does."""
    from tests.conftest import make_workbook

    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-01", role="class", classes=["2024-01"])
    drop(instance, "S2201", "停保.xlsx", SUSPEND, [[STUDENTS_01[0], "王小一", "转学", "", ""]],
         title="学生停保", folder="@c2024-01")
    number = make_id("19800101", "632")
    make_workbook(instance.unit_inbox("_centre") / "persons.xlsx",
                  ["个人编号", "身份证号*", "姓名*", "单位编号", "参保状态", "险种"],
                  [["P9", number, "甲", "1001", "参保", "310"]], title="参保人员信息")
    out = run(home, "process")
    assert out.exit_code == 0, out.output
    assert "no files waiting" not in out.output
    assert "S2201/停保.xlsx: accepted" in out.output
    assert "_centre/persons.xlsx: accepted" in out.output
    [sub_receipt] = sub_account_outbox(instance, "S2201", "c2024-01", "receipts").glob("*停保*.json")
    assert '"status": "accepted"' in sub_receipt.read_text(encoding="utf-8")
    assert list(instance.unit_outbox("_centre", "receipts").glob("*persons*.json"))
    assert not any(p.is_file() for p in instance.inbox.rglob("*"))
    assert run(home, "process").output.strip() == "no files waiting"
