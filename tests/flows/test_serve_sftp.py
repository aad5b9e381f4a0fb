"""`exchange serve` for real: a subprocess on loopback, units uploading with paramiko and OpenSSH."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import paramiko
import pytest
from click.testing import CliRunner

from exchange.cli import cli
from exchange.store.db import Database
from exchange.store.models import Account
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.serving import Served, ed25519_key, make_instance, receipts, wait_until

TITLE = "职工批量新增申报填写表"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    instance = make_instance(root / "inst")
    key, pub = ed25519_key(root / "id_1001")
    runner = CliRunner()
    for args in (["units", "add", "1001", "--name", "南通示例公司", "--password", "pw-1001",
                  "--key", str(pub)],
                 ["units", "add", "1002", "--name", "另一家公司", "--password", "pw-1002"],
                 ["units", "add", "1003", "--name", "第三家公司", "--password", "pw-1003"],
                 ["units", "centre", "--password", "pw-centre"]):
        result = runner.invoke(cli, ["--home", str(instance.home), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    service = Served(instance).start()
    service.key = key  # type: ignore[attr-defined]
    yield service
    assert service.stop() == 0, service.output()
    log = (instance.var / "logs" / "exchange.log").read_text(encoding="utf-8")
    assert "SIGTERM received" in log and log.rstrip().endswith("unit=- file=-: stopped")
    lines = [ln for ln in log.splitlines() if ln[:2] == "20"]   # tracebacks continue a line
    assert lines and all(" unit=" in ln and " file=" in ln for ln in lines), [
        ln for ln in lines if " unit=" not in ln or " file=" not in ln]


def workbook(tmp_path: Path, name: str, seqs: list[str], bad_name: bool = False) -> Path:
    rows = [add_row(make_id("19810203", seq), "甲乙") for seq in seqs]
    if bad_name:
        rows.append(add_row(make_id("19810203", "999"), "乙 乙"))
    return make_workbook(tmp_path / name, ADD_HEADERS, rows, title=TITLE)


def test_paramiko_upload_gets_its_receipt_within_seconds(served: Served, tmp_path: Path) -> None:
    client = served.sftp("1001", "pw-1001")
    before = receipts(client)
    started = time.monotonic()
    client.put(str(workbook(tmp_path, "psnAdd.xlsx", ["101", "103"], bad_name=True)),
               "/inbox/psnAdd.xlsx")
    new = wait_until(lambda: [n for n in receipts(client) if n not in before], 20, "the receipt")
    elapsed = time.monotonic() - started
    print(f"upload to receipt: {elapsed:.2f}s")
    assert elapsed < 10
    assert len(new) == 1 and "psnAdd" in new[0]
    with client.open(f"/outbox/receipts/{new[0]}") as fh:
        receipt = json.loads(fh.read().decode("utf-8"))
    assert receipt["status"] == "partial"
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    errors = client.listdir("/outbox/errors")
    assert len(errors) == 1 and errors[0].endswith(".xlsx")
    assert client.listdir("/inbox") == []
    # The receipt's text twin sits beside it, complete (never a half-written file).
    text = client.open(f"/outbox/receipts/{new[0].replace('.json', '.txt')}").read()
    assert text.decode("utf-8-sig").strip()


def openssh_batch(served: Served, tmp_path: Path, commands: str, login: str = "1001",
                  key: Path | None = None) -> subprocess.CompletedProcess[str]:
    """OpenSSH `sftp -b` as `login` (unit 1001) with its key (served.key), from `tmp_path`."""
    batch = tmp_path / "batch.txt"
    batch.write_text(commands, encoding="utf-8")
    return subprocess.run(
        ["sftp", "-b", str(batch), "-P", str(served.port), "-i", str(key or served.key),  # type: ignore[attr-defined]
         "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey",
         f"{login}@127.0.0.1"], capture_output=True, text=True, timeout=30, cwd=tmp_path)


def test_openssh_sftp_batch_upload_with_a_key(served: Served, tmp_path: Path) -> None:
    if shutil.which("sftp") is None:
        pytest.skip("OpenSSH sftp client not installed (.ci/run installs openssh-client)")
    client = served.sftp("1001", "pw-1001")
    before = receipts(client)
    source = workbook(tmp_path, "openssh.xlsx", ["201"])
    fetched = tmp_path / "fetched"
    fetched.mkdir()

    def sftp_batch(commands: str) -> subprocess.CompletedProcess[str]:
        return openssh_batch(served, tmp_path, commands)

    done = sftp_batch(f"cd /inbox\nput {source} openssh.xlsx\nls /outbox\n")
    assert done.returncode == 0, done.stderr
    new = wait_until(lambda: [n for n in receipts(client) if n not in before], 20, "the receipt")
    assert len(new) == 1 and "openssh" in new[0]
    done = sftp_batch(f"lcd {fetched}\nget /outbox/receipts/{new[0]}\n")
    assert done.returncode == 0, done.stderr
    receipt = json.loads((fetched / new[0]).read_text(encoding="utf-8"))
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 1
    # The same client is refused outside its view; `-b` stops at the first failed command.
    refused = sftp_batch("ls /inbox/../../1002\n")
    assert refused.returncode != 0
    refused = sftp_batch(f"put {source} /outbox/receipts/forged.json\n")
    assert refused.returncode != 0


def test_shared_folder_drop_waits_for_the_final_name(served: Served, tmp_path: Path) -> None:
    inbox = served.instance.unit_inbox("1002")
    client = served.sftp("1002", "pw-1002")
    before = receipts(client)
    source = workbook(tmp_path, "shared.xlsx", ["301"])
    # A copy in progress over a shared folder carries a temp name; nothing may happen to it.
    partial = inbox / "shared.xlsx.filepart"
    shutil.copyfile(source, partial)
    lock = inbox / "~$shared.xlsx"
    lock.write_bytes(b"office lock")
    time.sleep(served.instance.settings.intake.settle_seconds * 4)
    assert partial.exists() and lock.exists() and receipts(client) == before
    os.rename(partial, inbox / "shared.xlsx")
    new = wait_until(lambda: [n for n in receipts(client) if n not in before], 20, "the receipt")
    assert len(new) == 1 and "shared" in new[0]
    assert lock.exists()


def test_centre_inbox_files_reach_the_centre_handlers(served: Served, tmp_path: Path) -> None:
    client = served.sftp("_centre", "pw-centre")
    assert sorted(client.listdir("/outbox")) == ["batches", "photos", "receipts", "reports"]
    before = receipts(client)
    units = make_workbook(tmp_path / "units.csv", ["单位编号*", "单位名称*"], [["3001", "新单位"]],
                          title_rows=0, fmt="csv")
    client.put(str(units), "/inbox/units.csv")
    new = wait_until(lambda: [n for n in receipts(client) if n not in before], 20, "the centre receipt")
    with client.open(f"/outbox/receipts/{new[0]}") as fh:
        assert json.loads(fh.read().decode("utf-8"))["status"] == "accepted"
    with pytest.raises(IOError):
        client.listdir("/inbox/../1001")


def test_escapes_and_cross_unit_access_are_refused_on_the_live_server(served: Served) -> None:
    other = served.instance.unit_outbox("1001", "receipts")
    os.symlink(other, served.instance.unit_inbox("1002") / "peek")
    client = served.sftp("1002", "pw-1002")
    attempts = {
        "dot-dot": lambda: client.listdir("/inbox/../../1001"),
        "absolute real path": lambda: client.open(str(next(other.iterdir()))).read(),
        "symlink in the tree": lambda: client.listdir("/inbox/peek"),
        "other unit by name": lambda: client.listdir("/outbox/1001"),
        "write to outbox": lambda: client.putfo(io.BytesIO(b"x"), "/outbox/receipts/forged.json"),
        "delete in outbox": lambda: client.remove("/outbox/receipts/" + receipts(client)[0]),
        "rename out of inbox": lambda: client.rename("/inbox/x", "/outbox/x"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(IOError):
            attempt()
            pytest.fail(f"{what} was allowed")
    assert "peek" not in client.listdir("/inbox")
    # The link itself (put there through a shared folder) is quarantined, never followed.
    [receipt] = wait_until(lambda: [n for n in receipts(client) if "peek" in n], 20, "the link's receipt")
    with client.open(f"/outbox/receipts/{receipt}") as fh:
        answer = json.loads(fh.read().decode("utf-8"))
    assert answer["status"] == "quarantined" and answer["file_errors"][0]["code"] == "file.hostile"


def test_wrong_passwords_lock_the_account(served: Served) -> None:
    for _ in range(3):
        with pytest.raises(paramiko.AuthenticationException):
            served.sftp("1003", "wrong")
    with pytest.raises(paramiko.AuthenticationException):
        served.sftp("1003", "pw-1003")
    db = Database(served.instance.database_url)
    try:
        with db.session() as s:
            account = s.get(Account, "1003")
            assert account.failures == 3 and account.locked_until is not None
    finally:
        db.dispose()
    assert "account locked until" in served.output()
    # Other units keep working.
    assert served.sftp("1002", "pw-1002").listdir("/outbox")


def test_class_login_upload_is_processed_for_its_school(served: Served, tmp_path: Path) -> None:
    from exchange.accounts import add_sub_account

    db = Database(served.instance.database_url)
    try:
        with db.session() as s:
            add_sub_account(served.instance, s, "1002", "cls-01", role="class", classes=["01"],
                            password="pw-cls")
    finally:
        db.dispose()
    school = served.sftp("1002", "pw-1002")
    before = receipts(school)
    client = served.sftp("cls-01", "pw-cls")
    client.put(str(workbook(tmp_path, "class.xlsx", ["401"])), "/inbox/class.xlsx")
    new = wait_until(lambda: receipts(client), 20, "the receipt in the class login's outbox")
    assert len(new) == 1 and "class" in new[0]
    # The school sees it in the class's folder of its outbox, not among its own receipts.
    assert receipts(school, "/outbox/@cls-01/receipts") == new
    assert receipts(school) == before
    assert "login=cls-01" in served.output() or "cls-01" in served.output()


def test_openssh_put_at_the_root_lands_in_the_inbox(served: Served, tmp_path: Path) -> None:
    """`put x` in the folder OpenSSH starts in ("/") is taken as sent to /inbox (issue 21.7)."""
    if shutil.which("sftp") is None:
        pytest.skip("OpenSSH sftp client not installed (.ci/run installs openssh-client)")
    client = served.sftp("1001", "pw-1001")
    before = receipts(client)
    source = workbook(tmp_path, "atroot.xlsx", ["301"])
    done = openssh_batch(served, tmp_path, f"put {source}\n")
    assert done.returncode == 0, done.stderr
    new = wait_until(lambda: [n for n in receipts(client) if n not in before], 20, "the receipt")
    assert len(new) == 1 and "atroot" in new[0]


def test_openssh_client_is_made_to_change_the_initial_password(served: Served, tmp_path: Path) -> None:
    """A unit added without --password logs in with OpenSSH's own prompts (issue 18.1): the
    initial password, then a new one twice; only then is the sftp> prompt reached."""
    pexpect = pytest.importorskip("pexpect")
    if shutil.which("sftp") is None:
        pytest.skip("OpenSSH sftp client not installed (.ci/run installs openssh-client)")
    result = CliRunner().invoke(cli, ["--home", str(served.instance.home), "units", "add", "1009",
                                      "--name", "新建单位"], catch_exceptions=False)
    assert "initial password 123456" in result.output
    args = ["-P", str(served.port), "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no", "1009@127.0.0.1"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    child = pexpect.spawn("sftp", args, encoding="utf-8", timeout=20, env=env)
    child.expect("Password: ")
    child.sendline("123456")
    child.expect(r"new password\): ")
    child.sendline("1009")                       # too short and the login: asked again
    child.expect(r"again\): ")
    child.sendline("1009")
    child.expect("at least 8")
    child.expect(r"new password\): ")
    child.sendline("Unit-1009-own")
    child.expect(r"again\): ")
    child.sendline("Unit-1009-own")
    child.expect("sftp> ")
    child.sendline("ls /")
    child.expect("inbox")
    child.sendline("bye")
    child.expect(pexpect.EOF)
    assert served.sftp("1009", "Unit-1009-own").listdir("/inbox") == []
    with Database(served.instance.database_url).session() as s:
        assert not s.get(Account, "1009").must_change
