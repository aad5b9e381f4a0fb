"""`exchange demo` tells a new user how to log in to each unit it makes (issue 21 item 25), and
`exchange demo --serve` keeps the server running so that they can, with any SFTP client."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import paramiko
from click.testing import CliRunner
from sqlalchemy import select

from exchange.accounts import verify_password
from exchange.cli import cli
from exchange.config import Instance, init_instance
from exchange.store.db import Database
from exchange.store.models import Account
from tests.flows.serving import free_port, wait_until

LINE = re.compile(r"^  host (?P<host>\S+)  port (?P<port>\d+)  login (?P<login>\S+) +password "
                  r"(?P<password>\S+) +\((?P<who>.+), unit (?P<unit>\S+)\)$", re.M)


def _logins(output: str) -> list[dict[str, str]]:
    return [m.groupdict() for m in LINE.finditer(output)]


def test_the_demo_prints_a_working_login_for_every_unit_it_makes(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    init_instance(home)
    result = CliRunner().invoke(cli, ["--home", str(home), "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    logins = _logins(result.output)
    db = Database(Instance(home).database_url)
    try:
        with db.session() as s:
            accounts = {a.login: a for a in s.scalars(select(Account))}
        # Every login the demo made is printed, once, with the password it was given.
        assert sorted(x["login"] for x in logins) == sorted(accounts)
        for x in logins:
            assert (x["host"], x["port"]) == ("127.0.0.1", "2222")
            assert accounts[x["login"]].unit_code == x["unit"]
            assert verify_password(accounts[x["login"]].password_hash, x["password"]), x
    finally:
        db.dispose()
    assert {"D1001", "D3001", "D4001"} <= {x["unit"] for x in logins}
    assert "exchange demo --serve" in result.output
    # Each login finds its templates to fill: they were written at 02:30 the next night only,
    # and a new user looking in templates/ first found it empty.
    instance = Instance(home)
    for x in logins:
        sub = "" if x["login"] == x["unit"] else f"@{x['login']}"
        folder = instance.unit_outbox(x["unit"]) / sub / "templates"
        names = {p.name for p in folder.glob("*.xlsx")}
        assert f"{x['unit']}_业务回退表.xlsx" in names, (x["login"], names)
        if x["unit"] == "D1001":
            assert "D1001_职工批量新增申报填写表.xlsx" in names
        else:
            assert f"{x['unit']}_城乡居民参保申报表.xlsx" in names
        assert f"templates:       {instance.unit_outbox(x['unit'], 'templates')}" in result.output


def test_demo_serve_keeps_the_server_running_for_the_printed_logins(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    init_instance(home)
    port = free_port()
    out = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if k != "EXCHANGE_HOME"}
    with out.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", "from exchange.cli import main; main()",
                                 "--home", str(home), "demo", "--serve", "--port", str(port)],
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        text = lambda: out.read_text(encoding="utf-8", errors="replace")  # noqa: E731
        wait_until(lambda: proc.poll() is not None or "sftp listening" in text(), 90,
                   "the demo's server to listen")
        assert proc.poll() is None, text()
        logins = _logins(text())
        assert logins and all(x["port"] == str(port) for x in logins)
        employer = next(x for x in logins if x["unit"] == "D1001")
        transport = paramiko.Transport((employer["host"], port))
        try:
            transport.connect(username=employer["login"], password=employer["password"])
            client = paramiko.SFTPClient.from_transport(transport)
            assert client is not None
            assert "receipts" in client.listdir("/outbox")
            assert any(n.endswith(".json") for n in client.listdir("/outbox/receipts"))
        finally:
            transport.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
