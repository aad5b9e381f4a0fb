"""Issue 16's leftovers over real SFTP, OpenSSH `sftp -b` against `exchange serve`: a school's
class login downloads its own 待提交清单 (its class only), confirms it, and only its class is
submitted, while the school's list follows; the 汇总 says how pending declarations are
submitted in the receipt's words; two notices of one name on one day both reach the class, and
one sent again is not doubled."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from exchange.cli import cli
from exchange.store.db import Database
from exchange.store.models import Declaration, Person
from exchange.view.confirm import token_of
from tests.conftest import make_id, make_workbook
from tests.flows.helpers import fill_list, submit_on_word
from tests.flows.serving import Served, ed25519_key, make_instance, wait_until
from tests.flows.test_serve_sftp import openssh_batch
from tests.flows.view_books import lines, table

CC = "220102"
CLASS_A = [make_id("20120101", f"{i:03d}", CC) for i in (111, 112)]
CLASS_B = [make_id("20110202", f"{i:03d}", CC) for i in (211, 212)]
NEW_PUPIL = make_id("20180505", "565", CC)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LOGINS = ("S4001", "c-b", "_centre")

pytestmark = pytest.mark.skipif(shutil.which("sftp") is None,
                                reason="OpenSSH sftp client not installed (.ci/run installs openssh-client)")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("submit-list-sftp")
    instance = make_instance(root / "inst")
    submit_on_word(instance)
    keys = {login: ed25519_key(root / f"id_{login.strip('_')}") for login in LOGINS}

    def run(*args: str) -> None:
        result = CliRunner().invoke(cli, ["--home", str(instance.home), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output

    run("units", "add", "S4001", "--name", "长春市示范小学", "--type", "40", "--key", str(keys["S4001"][1]))
    run("units", "centre", "--key", str(keys["_centre"][1]))
    db = Database(instance.database_url)
    with db.session() as s:
        for i, number in enumerate(CLASS_A + CLASS_B):
            s.add(Person(id_number=number, name=f"学生{'甲乙丙丁'[i]}", unit_code="S4001", status="1",
                         class_code="2024-A" if number in CLASS_A else "2024-B", arrears=0))
    run("units", "sub-account", "S4001", "c-b", "--role", "class", "--classes", "2024-B",
        "--key", str(keys["c-b"][1]))
    service = Served(instance).start()
    service.keys = keys  # type: ignore[attr-defined]
    service.db = db  # type: ignore[attr-defined]
    yield service
    assert service.stop() == 0, service.output()
    db.dispose()


def openssh(served: Served, login: str, here: Path, commands: str) -> subprocess.CompletedProcess[str]:
    """OpenSSH `sftp -b` as `login` with its key, from the folder `here`."""
    here.mkdir(parents=True, exist_ok=True)
    return openssh_batch(served, here, commands, login, served.keys[login][0])  # type: ignore[attr-defined]


def put(served: Served, login: str, local: Path, folder: str = "/inbox") -> dict:
    """Upload with OpenSSH and fetch the JSON receipt it brings, as the clerk would."""
    here = local.parent / f"got-{login.strip('_')}"
    listing = openssh(served, login, here, "ls -1 /outbox/receipts\n")
    assert listing.returncode == 0, listing.stderr
    before = set(listing.stdout.split())
    done = openssh(served, login, here, f"put {local} {folder}/{local.name}\n")
    assert done.returncode == 0, done.stderr

    def new() -> list[str]:
        out = openssh(served, login, here, "ls -1 /outbox/receipts\n").stdout.split()
        return [n.rsplit("/", 1)[-1] for n in out if n.endswith(".json") and n not in before]

    [name] = wait_until(new, 30, f"the receipt of {local.name}", every=0.3)
    got = openssh(served, login, here, f"get /outbox/receipts/{name}\n")
    assert got.returncode == 0, got.stderr
    return json.loads((here / name).read_text(encoding="utf-8"))


def fetch(served: Served, login: str, here: Path, remote: str) -> Path | None:
    shutil.rmtree(here, ignore_errors=True)
    done = openssh(served, login, here, f"get {remote}\n")
    return here / remote.rsplit("/", 1)[-1] if done.returncode == 0 else None


def listed(path: Path) -> tuple[str, list[int]]:
    ws = openpyxl.load_workbook(path).worksheets[0]
    return ws["B5"].value, [ws.cell(r, 1).value for r in range(11, ws.max_row + 1)
                            if isinstance(ws.cell(r, 1).value, int)]


def pending(served: Served) -> dict[int, str]:
    """serial -> class of the school's pending declarations, as the database says."""
    with served.db.session() as s:  # type: ignore[attr-defined]
        classes = dict(s.execute(select(Person.id_number, Person.class_code)).all())
        return {d.serial: (d.payload or {}).get("class_code") or classes[d.id_number]
                for d in s.scalars(select(Declaration).where(Declaration.unit_code == "S4001",
                                                             Declaration.status == "pending"))}


def the_list_shows(served: Served, login: str, here: Path, serials: list[int]) -> Path | None:
    path = fetch(served, login, here, "/outbox/status/待提交清单.xlsx")
    return path if path is not None and listed(path)[1] == serials else None


def test_a_class_login_confirms_its_own_list_over_openssh(served: Served, tmp_path: Path) -> None:
    enrol = make_workbook(tmp_path / "新生.xlsx", ["证件号码*", "姓名*", "人员类别*", "班级编号"],
                          [[NEW_PUPIL, "孙新", "学生", "2024-B"]], title="城乡居民参保申报表")
    assert put(served, "c-b", enrol)["status"] == "accepted"
    stop = make_workbook(tmp_path / "停保.xlsx", ["证件号码*", "姓名*", "暂停原因*", "备注", "班级编号"],
                         [[CLASS_A[0], "学生甲", "转学", "", ""], [CLASS_B[0], "学生丙", "转学", "", ""]],
                         title="学生停保")
    assert put(served, "S4001", stop)["counts"]["accepted"] == 2
    waiting = pending(served)
    of_b = sorted(x for x, c in waiting.items() if c == "2024-B")
    assert len(waiting) == 3 and len(of_b) == 2

    # Each downloads its own list: the class sees its class, the school everything.
    mine = wait_until(lambda: the_list_shows(served, "c-b", tmp_path / "b", of_b), 30,
                      "the class's list", every=0.3)
    assert listed(mine)[0] == token_of("S4001@c-b", of_b)
    school = wait_until(lambda: the_list_shows(served, "S4001", tmp_path / "s", sorted(waiting)), 30,
                        "the school's list", every=0.3)
    # The 汇总 of the class's status book says how, in the receipt's words.
    book = fetch(served, "c-b", tmp_path / "status", "/outbox/status/申报状态.xlsx")
    assert book is not None
    assert "提交方式：由单位确认提交（请核对待提交清单后确认提交）" in lines(book, "汇总")
    assert sorted(int(r["业务流水号"]) for r in table(book, "待提交", "业务流水号")) == of_b

    # The class confirms its list: only its class is submitted.
    sent = tmp_path / "send" / "待提交清单.xlsx"
    sent.parent.mkdir()
    fill_list(openpyxl.load_workbook(mine)).save(sent)
    receipt = put(served, "c-b", sent)
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 2
    left = pending(served)
    assert set(left.values()) == {"2024-A"} and len(left) == 1
    with served.db.session() as s:  # type: ignore[attr-defined]
        assert sorted(s.scalars(select(Declaration.serial).where(Declaration.status == "submitted"))) == of_b
    # Both lists follow; the school's list made before is stale.
    wait_until(lambda: the_list_shows(served, "c-b", tmp_path / "b", []), 30, "the emptied class list",
               every=0.3)
    wait_until(lambda: the_list_shows(served, "S4001", tmp_path / "s2", sorted(left)), 30,
               "the school's list without class 2024-B", every=0.3)
    stale = tmp_path / "send" / "旧清单.xlsx"
    fill_list(openpyxl.load_workbook(school)).save(stale)
    assert put(served, "S4001", stale)["file_errors"][0]["code"] == "submit.stale"
    assert pending(served) == left


def test_notices_of_one_name_on_one_day_both_reach_the_class(served: Served, tmp_path: Path) -> None:
    first, corrected = PDF, PDF.replace(b"trailer", b"%corrected\ntrailer")
    sent = []
    for i, data in enumerate((first, corrected, first)):
        # 【】: OpenSSH's sftp reads [] in a path as a glob (the centre's clerk types 【】 or escapes).
        local = tmp_path / f"n{i}" / "【S4001】缴费通知.pdf"
        local.parent.mkdir()
        local.write_bytes(data)
        sent.append(put(served, "_centre", local, "/notices"))
    assert all(r["status"] == "accepted" for r in sent)
    assert sent[0]["published_as"] != sent[1]["published_as"]
    assert sent[2]["counts"]["already_held"] == 1
    assert sent[2]["recipients"][0]["stored_as"] == sent[0]["published_as"]
    here = tmp_path / "class-notices"
    listing = openssh(served, "c-b", here, "ls -1 /outbox/notices\n")
    assert listing.returncode == 0, listing.stderr
    names = sorted(n.rsplit("/", 1)[-1] for n in listing.stdout.split() if n.endswith(".pdf"))
    assert names == sorted([sent[0]["published_as"], sent[1]["published_as"]])
    for receipt, data in zip(sent[:2], (first, corrected)):
        got = fetch(served, "c-b", here / receipt["published_as"], f"/outbox/notices/{receipt['published_as']}")
        assert got is not None and got.read_bytes() == data
