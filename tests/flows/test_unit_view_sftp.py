"""Issue 16.4 and 16.5 over SFTP against `exchange serve`: the centre sends notices through its
/notices folder and each unit finds only its own; an employer and a community submit on their
word with the 待提交清单 they download (否, stale, partial, 提交确认.txt, withdraw first)."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

import openpyxl
import paramiko
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from exchange import codes as C
from exchange.cli import cli
from exchange.store.db import Database
from exchange.store.models import Batch, Declaration, Household
from exchange.view.confirm import token_of
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import fill_list, submit_on_word
from tests.flows.residents import HEAD, PT, RESIDENT_ADD
from tests.flows.serving import Served, make_instance, receipts, wait_until

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("unit-view-sftp")
    instance = make_instance(root / "inst")
    submit_on_word(instance)
    runner = CliRunner()
    for args in (["units", "add", "E1001", "--name", "示例科技有限公司", "--type", "10", "--password", "pw-e1"],
                 ["units", "add", "E1002", "--name", "另一家公司", "--type", "10", "--password", "pw-e2"],
                 ["units", "add", "C3001", "--name", "凤凰山社区", "--type", "30", "--password", "pw-c"],
                 ["units", "centre", "--password", "pw-centre"]):
        result = runner.invoke(cli, ["--home", str(instance.home), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    db = Database(instance.database_url)
    with db.session() as s:
        s.add(Household(unit_code="C3001", head_id=HEAD, name="林建国", phone="13905941234", status="active"))
    service = Served(instance).start()
    service.db = db  # type: ignore[attr-defined]
    yield service
    assert service.stop() == 0, service.output()
    db.dispose()


def put(client: paramiko.SFTPClient, data: bytes, name: str, folder: str = "/inbox") -> tuple[dict, str]:
    """Upload; the JSON receipt and its text twin."""
    before = receipts(client)
    client.putfo(io.BytesIO(data), f"{folder}/{name}", confirm=False)   # intake may take it at once
    [new] = wait_until(lambda: [n for n in receipts(client) if n not in before and n.endswith(".json")],
                       30, f"the receipt of {name}")
    with client.open(f"/outbox/receipts/{new}") as fh:
        receipt = json.loads(fh.read().decode("utf-8"))
    if folder == "/notices":                     # the centre's receipts are JSON only
        return receipt, ""
    with client.open(f"/outbox/receipts/{new[:-5]}.txt") as fh:
        return receipt, fh.read().decode("utf-8-sig")


def the_list(client: paramiko.SFTPClient) -> openpyxl.Workbook:
    with client.open("/outbox/status/待提交清单.xlsx") as fh:
        return openpyxl.load_workbook(io.BytesIO(fh.read()))


def shows(client: paramiko.SFTPClient, serials: list[int]) -> bool:
    """The list (rewritten by the Refresher within moments of the receipt) shows these pending serials."""
    try:
        return listed(the_list(client))[1] == serials
    except FileNotFoundError:
        return False


def listed(wb: openpyxl.Workbook) -> tuple[str, list[int], int]:
    ws = wb.worksheets[0]
    serials = [ws.cell(r, 1).value for r in range(11, ws.max_row + 1)
               if isinstance(ws.cell(r, 1).value, int)]
    return ws["B5"].value, serials, ws["B6"].value


def filled(wb: openpyxl.Workbook, answer: str = "是", keep: set[int] | None = None) -> bytes:
    out = io.BytesIO()
    fill_list(wb, answer, keep).save(out)
    return out.getvalue()


def pending(served: Served, unit: str) -> list[int]:
    with served.db.session() as s:  # type: ignore[attr-defined]
        return sorted(s.scalars(select(Declaration.serial).where(
            Declaration.unit_code == unit, Declaration.status == "pending")))


def notices(client: paramiko.SFTPClient) -> list[str]:
    try:
        return sorted(n.split("-", 1)[1] for n in client.listdir("/outbox/notices"))
    except FileNotFoundError:
        return []


def test_notices_reach_only_their_addressees(served: Served) -> None:
    centre = served.sftp("_centre", "pw-centre")
    receipt, _ = put(centre, PDF, "[类型30]社区居民参保通知.pdf", "/notices")
    assert receipt["status"] == "accepted" and [r["unit"] for r in receipt["recipients"]] == ["C3001"]
    receipt, _ = put(centre, "收件单位：E1001\n请于月底前完成缴费基数申报。\n".encode("gb18030"),
                     "缴费基数.txt", "/notices")
    assert [r["unit"] for r in receipt["recipients"]] == ["E1001"]
    receipt, _ = put(centre, PDF, "[E1001,E9999]名单.pdf", "/notices")
    assert receipt["file_errors"][0]["code"] == C.NOTICE_UNKNOWN_UNITS
    community, employer, other = (served.sftp(u, p) for u, p in
                                  (("C3001", "pw-c"), ("E1001", "pw-e1"), ("E1002", "pw-e2")))
    assert notices(community) == ["社区居民参保通知.pdf"]
    assert notices(employer) == ["缴费基数.txt"]
    assert notices(other) == []
    with employer.open(f"/outbox/notices/{employer.listdir('/outbox/notices')[0]}") as fh:
        assert "缴费基数申报" in fh.read().decode("gb18030")


def test_community_confirms_its_list(served: Served) -> None:
    client = served.sftp("C3001", "pw-c")
    babies = [make_id("20200707", f"{i}", PT) for i in (771, 772, 773)]
    rows = [["", b, f"林小{'甲乙丙'[i]}", "", "", "", HEAD, "孙子", "儿童", "", "", "", ""] for i, b in enumerate(babies)]
    path = make_workbook(Path(served.instance.home) / "参保.xlsx", RESIDENT_ADD, rows, title="城乡居民参保申报表")
    receipt, text = put(client, path.read_bytes(), "参保.xlsx")
    assert receipt["counts"]["accepted"] == 3, receipt
    assert "不会自动提交，请下载待提交清单" in text and "夜间" not in text
    wait_until(lambda: shows(client, pending(served, "C3001")), 10, "the list")
    old = the_list(client)
    token, serials, persons = listed(old)
    assert persons == 3 and token == token_of("C3001", serials)
    # 否 submits nothing.
    receipt, _ = put(client, filled(the_list(client), "否"), "待提交清单.xlsx")
    assert receipt["file_errors"][0]["code"] == C.SUBMIT_NOT_CONFIRMED
    # Withdraw one before confirming: the list changes, the old one is stale.
    withdraw = make_workbook(Path(served.instance.home) / "回退.xlsx", ["业务流水号", "身份证号", "业务类型"],
                             [[serials[0], "", ""]], title="业务回退表")
    receipt, _ = put(client, withdraw.read_bytes(), "回退.xlsx")
    assert receipt["counts"]["accepted"] == 1
    wait_until(lambda: shows(client, serials[1:]), 10, "the list after withdrawal")
    receipt, _ = put(client, filled(old), "旧清单.xlsx")
    assert receipt["file_errors"][0]["code"] == C.SUBMIT_STALE
    assert pending(served, "C3001") == serials[1:]
    receipt, text = put(client, filled(the_list(client)), "待提交清单.xlsx")
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 2
    assert pending(served, "C3001") == []
    with served.db.session() as s:  # type: ignore[attr-defined]
        batch = s.scalars(select(Batch).where(Batch.unit_code == "C3001")).one()
    assert batch.batch_no in text
    wait_until(lambda: shows(client, []), 10, "the emptied list")
    assert any(batch.batch_no in n for n in client.listdir("/outbox/rosters"))


def test_employer_submits_part_then_the_rest_with_a_one_line_file(served: Served) -> None:
    client = served.sftp("E1001", "pw-e1")
    rows = [add_row(make_id("19810203", seq), "甲乙") for seq in ("501", "503", "505")]
    path = make_workbook(Path(served.instance.home) / "增员.xlsx", ADD_HEADERS, rows, title="职工批量新增申报填写表")
    receipt, _ = put(client, path.read_bytes(), "增员.xlsx")
    assert receipt["counts"]["accepted"] == 3
    wait_until(lambda: shows(client, pending(served, "E1001")), 10, "the list")
    token, serials, _ = listed(the_list(client))
    receipt, _ = put(client, filled(the_list(client), keep=set(serials[:2])), "清单.xlsx")
    assert receipt["counts"]["accepted"] == 2
    assert pending(served, "E1001") == serials[2:]
    # The other unit's list never shows E1001's declarations.
    other = served.sftp("E1002", "pw-e2")
    # (status/ also holds every unit's 申报状态 and 参保人员 books, issue 16.1-2)
    assert ("待提交清单.xlsx" not in other.listdir("/outbox/status")
            or listed(the_list(other))[1] == [])
    wait_until(lambda: shows(client, serials[2:]), 10, "the list after part")
    token = listed(the_list(client))[0]
    receipt, _ = put(client, f"确认提交 {token}\r\n".encode("gb18030"), "提交确认.txt")
    assert receipt["status"] == "accepted" and pending(served, "E1001") == []
