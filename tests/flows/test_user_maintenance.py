"""用户维护表: a school's admin keeps its department and class users itself (Changchun 用户管理),
at its level or below; 注销 leaves a name never used again; the operator's CLI has the same rules."""
from __future__ import annotations

import logging
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from exchange import codes as C
from exchange.accounts import DEFAULT_PASSWORD, add_sub_account, verify_password
from exchange.cli import cli
from exchange.intake.subaccounts import process_sub_account_inboxes, sub_account_outbox
from exchange.sftp.auth import Authenticator
from exchange.sftp.lockout import LockoutPolicy, MemoryLockout
from exchange.store.models import Account, AuditEntry, Declaration
from tests.flows.helpers import process_one, receipt_of, triples
from tests.flows.residents import drop, school  # noqa: F401

USERS = ["操作", "登录名*", "角色", "班级编号", "用户名称"]
TITLE = "用户维护表"


def _accounts(db) -> dict[str, tuple[str, str | None, str]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return {a.login: (a.role, a.scope, a.status) for a in s.scalars(
            select(Account).where(Account.unit_code == "S2201", Account.role != "unit"))}


def test_school_admin_keeps_its_users(instance, db, school):  # type: ignore[no-untyped-def]
    drop(instance, "S2201", "用户.xlsx", USERS, [
        ["新增", "d-grade1", "系", "2024-01、2024-02", "一年级组"],  # 、 as clerks list things
        ["", "c2024-01", "班级", "2024-01", "一年级1班"],           # 操作 blank: 新增
        ["新增", "c-two", "班级", "2024-01；2024-02", ""],           # a class user, two classes
        ["新增", "S2202", "班级", "2024-02", ""],                    # a unit code
        ["新增", "c2030", "班级", "2030-01", ""],                    # no such class
        ["修改", "nobody", "", "2024-01", ""],                       # no such user
        ["新增", "c 1", "班级", "2024-01", ""]], title=TITLE)       # not a login name
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert result.kind == "user_maintenance" and result.counts.accepted == 2
    assert triples(receipt) == [(6, "班级编号", C.ACCOUNT_ONE_CLASS), (7, "登录名", C.ACCOUNT_TAKEN),
                                (8, "班级编号", C.CLASS_UNKNOWN), (9, "登录名", C.ACCOUNT_UNKNOWN),
                                (10, "登录名", C.FORMAT_INVALID)]
    notes = [n["message"] for r in receipt["rows"] for n in r.get("notes", [])]
    assert any("d-grade1" in n and "新增" in n and "默认密码" in n for n in notes)
    assert DEFAULT_PASSWORD not in result.receipt_name and all(DEFAULT_PASSWORD not in n for n in notes)
    assert _accounts(db) == {"d-grade1": ("department", "2024-01,2024-02", "active"),
                             "c2024-01": ("class", "2024-01", "active")}
    with db.session() as s:
        assert verify_password(s.get(Account, "c2024-01").password_hash, DEFAULT_PASSWORD)
        assert s.get(Account, "d-grade1").label == "一年级组"
        # Recorded like any declaration, approved at once, never batched; audited as the school.
        decls = s.scalars(select(Declaration).where(Declaration.kind == "user_maintenance")).all()
        assert {d.status for d in decls} == {"approved"} and all(d.batch_id is None for d in decls)
        assert "password" not in str([d.payload for d in decls])
    # The new users have their folders and templates.
    assert (sub_account_outbox(instance, "S2201", "c2024-01", "templates") /
            "S2201_城乡居民参保申报表.xlsx").is_file()

    # Edit, restore a password, 注销; a deleted name is never given again.
    with db.session() as s:
        s.get(Account, "c2024-01").password_hash = "changed-by-user"
    drop(instance, "S2201", "用户2.xlsx", USERS, [
        ["修改", "d-grade1", "", "2024-02", "一年级二组"],
        ["密码还原", "c2024-01", "", "", ""],
        ["注销", "d-grade1", "", "", ""]], title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(6, None, C.DUPLICATE_IN_FILE)]          # d-grade1 twice
    with db.session() as s:
        assert verify_password(s.get(Account, "c2024-01").password_hash, DEFAULT_PASSWORD)
        assert s.get(Account, "d-grade1").scope == "2024-02"
    drop(instance, "S2201", "用户3.xlsx", USERS, [["注销", "d-grade1", "", "", ""]], title=TITLE)
    assert process_one(instance, db).counts.accepted == 1
    assert _accounts(db)["d-grade1"] == ("department", "2024-02", "deleted")
    drop(instance, "S2201", "用户4.xlsx", USERS, [["新增", "d-grade1", "系", "2024-01", ""]], title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "登录名", C.ACCOUNT_TAKEN)]
    assert "注销" in receipt["rows"][0]["errors"][0]["message"]


def test_sub_accounts_keep_users_at_their_level_or_below(instance, db, school):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "d-grade1", role="department", classes=["2024-01", "2024-02"])
        add_sub_account(instance, s, "S2201", "c2023-09", role="class", classes=["2023-09"])
    drop(instance, "S2201", "用户.xlsx", USERS, [
        ["新增", "c2024-02", "班级", "2024-02", ""],                  # below, in its classes
        ["新增", "c2023-x", "班级", "2023-09", ""],                   # another department's class
        ["注销", "c2023-09", "", "", ""],                             # a user outside its classes
        ["注销", "d-grade1", "", "", ""]], title=TITLE, folder="@d-grade1")   # itself
    drop(instance, "S2201", "用户.xlsx", USERS, [
        ["新增", "d-new", "系", "2023-09", ""]], title=TITLE, folder="@c2023-09")   # above a class
    results = {r.unit + r.name + str(i): r for i, r in enumerate(process_sub_account_inboxes(instance, db))}
    found = sorted(t for r in results.values() for t in triples(receipt_of(instance, r)))
    assert found == [(4, "角色", C.ACCOUNT_BEYOND), (5, "班级编号", C.ACCOUNT_BEYOND),
                     (6, "班级编号", C.ACCOUNT_BEYOND), (7, "登录名", C.ACCOUNT_BEYOND)]
    assert _accounts(db)["c2024-02"] == ("class", "2024-02", "active")
    with db.session() as s:
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "login.sub_account",
                                                               AuditEntry.detail.like("%c2024-02%"))))
    assert actors == {"d-grade1"}


def test_operator_cli_and_sign_in_of_a_deleted_department(home: Path, instance, db, school, caplog):  # type: ignore[no-untyped-def]
    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["--home", str(home), "units", *args])

    assert run("sub-account", "S2201", "d-grade1", "--role", "department", "--classes",
               "2024-01,2024-02", "--password", "Dept-pw1", "--label", "一年级组").exit_code == 0
    with db.session() as s:
        assert s.get(Account, "d-grade1").label == "一年级组"
    auth = Authenticator(db, MemoryLockout(LockoutPolicy()))
    assert auth.password("d-grade1", "Dept-pw1") is not None
    out = run("remove-sub-account", "d-grade1")
    assert out.exit_code == 0 and out.output.strip() == "login d-grade1 of S2201 deleted; the name cannot be used again"
    with caplog.at_level(logging.WARNING, logger="exchange.accounts"):
        assert auth.password("d-grade1", "Dept-pw1") is None
    assert "login d-grade1 refused: department_deleted (本系已被删除，请相关部门联系)" in caplog.text
    again = run("sub-account", "S2201", "d-grade1", "--role", "class", "--classes", "2024-01")
    assert again.exit_code != 0 and "never given again" in str(again.exception)
    assert run("reset-password", "d-grade1").exit_code != 0
    assert "d-grade1\tS2201\tdepartment\t2024-01,2024-02\tdeleted " in run("accounts", "S2201").output
