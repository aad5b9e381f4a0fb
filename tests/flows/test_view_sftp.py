"""The unit's view over real SFTP (issue 16): `exchange serve` rewrites outbox/<unit>/status/
within seconds of an upload, once for a burst, never half-written; OpenSSH `sftp get` fetches
it and the clerk opens it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from exchange.cli import cli
from exchange.store.db import open_database
from exchange.store.models import Declaration
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.serving import Served, ed25519_key, make_instance, wait_until
from tests.flows.test_serve_sftp import openssh_batch
from tests.flows.view_books import table


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("view-serve")
    instance = make_instance(root / "inst")
    key, pub = ed25519_key(root / "id_1001")
    result = CliRunner().invoke(cli, ["--home", str(instance.home), "units", "add", "1001", "--name",
                                      "南通示例公司", "--password", "pw-1001", "--key", str(pub)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    service = Served(instance).start()
    service.key = key  # type: ignore[attr-defined]
    yield service
    assert service.stop() == 0, service.output()


def sftp_get(served: Served, folder: Path, remote: str) -> subprocess.CompletedProcess[str]:
    return openssh_batch(served, folder, f"lcd {folder}\nget {remote}\n")


def test_a_burst_of_uploads_is_one_rewrite_fetched_with_openssh(served: Served, tmp_path: Path) -> None:
    if shutil.which("sftp") is None:
        pytest.skip("OpenSSH sftp client not installed (.ci/run installs openssh-client)")
    client = served.sftp("1001", "pw-1001")
    assert "status" in client.listdir("/outbox")
    for i, seq in enumerate(("301", "302", "303")):
        source = make_workbook(tmp_path / f"增员{i}.xlsx", ADD_HEADERS,
                               [add_row(make_id("19820304", seq), "周末")], title="职工批量新增申报填写表")
        client.put(str(source), f"/inbox/增员{i}.xlsx")
    db = open_database(served.instance)
    try:
        with db.session() as s:
            def imported() -> list[str]:
                s.expire_all()
                return [str(x) for x in s.scalars(select(Declaration.serial).where(
                    Declaration.unit_code == "1001").order_by(Declaration.serial))]
            serials = wait_until(lambda: len(imported()) == 3 and imported(), 30, "the imports")
    finally:
        db.dispose()

    def fetched() -> list[str] | None:
        folder = tmp_path / "got"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        done = sftp_get(served, folder, "/outbox/status/申报状态.xlsx")
        if done.returncode != 0:
            return None
        rows = table(folder / "申报状态.xlsx", "待提交", "业务流水号")
        return [r["业务流水号"] for r in rows] if len(rows) == 3 else None

    assert wait_until(fetched, 30, "the status workbook listing the three rows") == serials
    # The refresher logs once the unit's books are all written: the status book can be fetched
    # before that line is.
    def rewrites() -> list[str]:
        log = (served.instance.var / "logs" / "exchange.log").read_text(encoding="utf-8")
        return [ln for ln in log.splitlines() if "unit=1001 " in ln and "status workbooks rewritten" in ln]

    wait_until(rewrites, 10, "the refresher's log line")
    assert 1 <= len(rewrites()) < 3, rewrites()
    # Only whole books are ever listed: no temp name in the unit's view.
    assert all(not n.startswith(".") for n in client.listdir("/outbox/status"))
