"""Issue 18 over SFTP, against `exchange serve` in a subprocess: a school with a department and
two classes, a community and an employer, each doing what its type may and refused what it may
not; the school's admin keeping its users with a 用户维护表; a class login enrolling on its own
and receiving its results; a deleted department's login refused."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

import openpyxl
import paramiko
import pytest
from click.testing import CliRunner

from exchange.cli import cli
from exchange.store.db import Database
from exchange.store.models import Person
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import fill_review
from tests.flows.serving import Served, ed25519_key, make_instance, receipts, wait_until

CC = "220102"
CLASS_A = [make_id("20120101", f"{i:03d}", CC) for i in (101, 102)]
CLASS_B = [make_id("20110202", f"{i:03d}", CC) for i in (201, 202)]
NEW_PUPIL = make_id("20180505", "555", CC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("school-sftp")
    instance = make_instance(root / "inst")
    runner = CliRunner()

    def run(*args: str) -> None:
        result = runner.invoke(cli, ["--home", str(instance.home), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output

    run("units", "add", "S4001", "--name", "长春市示范小学", "--type", "40", "--password", "pw-school")
    run("units", "add", "C3001", "--name", "凤凰社区", "--type", "30", "--password", "pw-community")
    run("units", "add", "E1001", "--name", "示例科技有限公司", "--type", "10", "--password", "pw-employer")
    run("units", "centre", "--password", "pw-centre")
    db = Database(instance.database_url)
    with db.session() as s:
        for i, number in enumerate(CLASS_A + CLASS_B):
            s.add(Person(id_number=number, name=f"学生{'甲乙丙丁'[i]}", unit_code="S4001", status="1",
                         class_code="2024-A" if number in CLASS_A else "2024-B", arrears=0))
    service = Served(instance).start()
    service.keys = {}  # type: ignore[attr-defined]
    for login in ("d-grade", "c-a", "c-b"):
        service.keys[login] = ed25519_key(root / f"id_{login}")  # type: ignore[attr-defined]
    service.run = run  # type: ignore[attr-defined]
    yield service
    assert service.stop() == 0, service.output()


def _put(client: paramiko.SFTPClient, path: Path, folder: str = "/inbox") -> dict:
    before = receipts(client)
    client.put(str(path), f"{folder}/{path.name}")
    [new] = wait_until(lambda: [n for n in receipts(client) if n not in before], 30, f"the receipt of {path.name}")
    with client.open(f"/outbox/receipts/{new}") as fh:
        return json.loads(fh.read().decode("utf-8"))


def _codes(receipt: dict) -> list[str]:
    return [e["code"] for e in receipt["file_errors"]] + [e["code"] for r in receipt["rows"] for e in r["errors"]]


def test_each_unit_type_sends_only_its_kinds(served: Served, tmp_path: Path) -> None:
    served.run("templates", "--unit", "C3001")  # type: ignore[attr-defined]
    community = served.sftp("C3001", "pw-community")
    offered = community.listdir("/outbox/templates")
    assert "C3001_户主信息表.xlsx" in offered and "C3001_城乡居民变更申报表.xlsx" in offered
    assert not [n for n in offered if "职工" in n]
    add = make_workbook(tmp_path / "增员.xlsx", ADD_HEADERS, [add_row(make_id("19900101", "131"), "王小明")],
                        title="职工批量新增申报填写表")
    receipt = _put(community, add)
    assert receipt["status"] == "rejected" and _codes(receipt) == ["file.kind_not_allowed"]
    assert "社区" in receipt["file_errors"][0]["message"]
    employer = served.sftp("E1001", "pw-employer")
    enrol = make_workbook(tmp_path / "参保.xlsx", ["证件号码*", "姓名*", "人员类别*", "班级编号"],
                          [[NEW_PUPIL, "孙新", "学生", ""]], title="城乡居民参保申报表")
    assert _codes(_put(employer, enrol)) == ["file.kind_not_allowed"]


def test_school_keeps_its_users_and_a_class_login_works_on_its_own(served: Served, tmp_path: Path) -> None:
    school = served.sftp("S4001", "pw-school")
    users = make_workbook(tmp_path / "用户维护.xlsx", ["操作", "登录名*", "角色", "班级编号", "用户名称"], [
        ["新增", "d-grade", "系", "2024-A,2024-B", "二〇二四级"],
        ["新增", "c-a", "班级", "2024-A", "一班"],
        ["新增", "c-b", "班级", "2024-B", "二班"],
        ["新增", "S4001", "班级", "2024-A", ""]], title="用户维护表")
    receipt = _put(school, users)
    assert receipt["status"] == "partial" and _codes(receipt) == ["account.taken"]
    # The operator adds the class logins' keys (a password the clerk sets is issue 18 item 1's).
    for login, (_, pub) in served.keys.items():  # type: ignore[attr-defined]
        role, classes = {"d-grade": ("department", "2024-A,2024-B"), "c-a": ("class", "2024-A"),
                         "c-b": ("class", "2024-B")}[login]
        served.run("units", "sub-account", "S4001", login, "--role", role, "--classes", classes,  # type: ignore[attr-defined]
                   "--key", str(pub))
    class_a = served.sftp("c-a", key=served.keys["c-a"][0])  # type: ignore[attr-defined]
    assert sorted(class_a.listdir("/outbox")) == ["errors", "receipts", "results", "status",
                                                  "templates"]
    # Its own status workbooks (issue 16, issue 18.6), written when the login was made.
    assert sorted(class_a.listdir("/outbox/status")) == ["参保人员.xlsx", "申报状态.xlsx"]
    templates = class_a.listdir("/outbox/templates")
    assert "S4001_城乡居民参保申报表.xlsx" in templates and "S4001_户主信息表.xlsx" not in templates
    with class_a.open("/outbox/templates/S4001_城乡居民参保申报表.xlsx") as fh:
        wb = openpyxl.load_workbook(io.BytesIO(fh.read()))
    assert "班级" in " ".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)

    # The class login enrols a pupil into its class with 姓名, 证件号码 and class only.
    enrol = make_workbook(tmp_path / "新生.xlsx", ["证件号码*", "姓名*", "人员类别*", "班级编号"],
                          [[NEW_PUPIL, "孙新", "学生", "2024-A"]], title="城乡居民参保申报表")
    receipt = _put(class_a, enrol)
    assert receipt["status"] == "accepted", receipt
    # And stops a pupil of its class; the school's own receipts folder holds none of this.
    stop = make_workbook(tmp_path / "停保.xlsx", ["证件号码*", "姓名*", "暂停原因*", "备注", "班级编号"],
                         [[CLASS_A[0], "学生甲", "转学", "", ""]], title="学生停保")
    assert _put(class_a, stop)["status"] == "accepted"

    # Submitted and decided by the centre; the class login finds its results in its own outbox.
    served.run("batches", "submit", "--unit", "S4001")  # type: ignore[attr-defined]
    centre = served.sftp("_centre", "pw-centre")
    [book] = [n for n in centre.listdir("/outbox/batches") if n.startswith("S4001-")]
    local = tmp_path / book
    centre.get(f"/outbox/batches/{book}", str(local))
    ws = openpyxl.load_workbook(local).worksheets[0]
    headers = [c.value for c in ws[3]]
    serials = [r[headers.index("业务流水号")] for r in ws.iter_rows(min_row=4, values_only=True) if r[0]]
    filled = fill_review(local, "业务流水号", {s: ("通过", "") for s in serials}, tmp_path / "审核.xlsx")
    centre.put(str(filled), "/inbox/审核.xlsx")
    result_name = book.replace(".审核.xlsx", ".审核结果.xlsx")
    wait_until(lambda: result_name in class_a.listdir("/outbox/results"), 30, "the class's results")
    with class_a.open(f"/outbox/results/{result_name}") as fh:
        rows = list(openpyxl.load_workbook(io.BytesIO(fh.read())).worksheets[0].iter_rows(min_row=4, values_only=True))
    text = " ".join(str(v) for r in rows for v in r if v)
    assert "孙新" in text and "学生甲" in text and "学生丙" not in text

    # The department is deleted with the school's workbook; its admin can no longer sign in.
    gone = make_workbook(tmp_path / "注销.xlsx", ["操作", "登录名*", "角色", "班级编号", "用户名称"],
                         [["注销", "d-grade", "", "", ""]], title="用户维护表")
    assert _put(school, gone)["status"] == "accepted"
    with pytest.raises(paramiko.AuthenticationException):
        served.sftp("d-grade", key=served.keys["d-grade"][0])  # type: ignore[attr-defined]
    log = (served.instance.var / "logs" / "exchange.log").read_text(encoding="utf-8")
    assert "login d-grade refused: department_deleted (本系已被删除，请相关部门联系)" in log
    # The class logins keep working: deleting a department leaves its classes alone.
    assert served.sftp("c-b", key=served.keys["c-b"][0]).listdir("/inbox") == []  # type: ignore[attr-defined]
