"""Every dropped name gets a receipt the unit can see (issue 15.4): names the SFTP view refuses
(control and invisible characters, look-alike slashes, not NFC, undecodable bytes) or too long
for a receipt's prefix are dropped straight into the shared inbox folder; `exchange process` and
the service's scan each give every one a receipt under a safe name the view lists, with the
original name in the JSON, and leave nothing in the inbox or in var/processing."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange.cli import cli
from exchange.names import SAFE_NAME_BYTES, safe_name
from exchange.serve import Service
from exchange.sftp.view import check_name
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

NAMES = [
    "换\n行.xlsx",                           # newline
    "退出\x1b键.xlsx",                        # ESC
    "响铃\x07.xlsx",                          # BEL
    "报盘\u202excslx.xlsx",                   # right-to-left override
    "斜杠\u2215假.xlsx",                      # a look-alike slash
    "e\u0301tude.xlsx",                       # not NFC
    os.fsdecode("工资".encode("gbk")) + ".xlsx",       # GBK bytes from an old Windows share
    "长" * 82 + ".xlsx",                      # 251 bytes: no room for var/processing's prefix
    "名" * 75 + ".xlsx",                      # 230 bytes: no room for the receipt's
]


def _drop(instance) -> None:  # type: ignore[no-untyped-def]
    inbox = instance.unit_inbox("1001")
    old = time.time() - 60                    # settled long ago
    for i, name in enumerate(NAMES):
        assert len(name.encode("utf-8", "surrogateescape")) <= 255
        path = make_workbook(inbox / name, ADD_HEADERS, [add_row(make_id("19800101", f"{500 + 2 * i:03d}"))],
                             title="职工批量新增申报填写表")
        os.utime(path, (old, old))


def _check(instance) -> None:  # type: ignore[no-untyped-def]
    assert os.listdir(instance.unit_inbox("1001")) == []
    assert [p for p in instance.processing.iterdir()] == []
    receipts = instance.unit_outbox("1001", "receipts")
    by_file = {}
    for path in receipts.glob("*.json"):
        check_name(path.name)                 # the SFTP view lists it
        check_name(path.with_suffix(".txt").name)
        receipt = json.loads(path.read_text(encoding="utf-8"))
        by_file[receipt["file"]] = receipt
        assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 1
        assert receipt["safe_name"] == safe_name(receipt["file"])
        assert Path(receipt["safe_name"]).stem in path.name
        assert len(receipt["safe_name"].encode()) <= SAFE_NAME_BYTES
        text = path.with_suffix(".txt").read_text(encoding="utf-8-sig")
        assert f"文件：{receipt['safe_name']}" in text and "JSON 回执" in text
    assert sorted(by_file) == sorted(NAMES)
    archived = [p.name for p in (instance.var / "archive").rglob("*") if p.is_file()]
    assert len(archived) == len(NAMES)
    for name in archived:
        check_name(name)


def test_exchange_process_receipts_every_unsafe_name(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    _drop(instance)
    result = CliRunner().invoke(cli, ["--home", str(home), "process"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _check(instance)


def test_the_service_scan_receipts_every_unsafe_name(instance, db) -> None:  # type: ignore[no-untyped-def]
    service = Service(instance, db, sftp_port=0, jobs=[])
    service.watcher.start = lambda: None      # no events: the scan alone finds the files
    service.start()
    try:
        service.worker.rescan(recover=False).result(timeout=30)
        _drop(instance)
        service.worker.rescan(recover=False).result(timeout=60)
    finally:
        service.stop()
    _check(instance)


@pytest.mark.parametrize("name", NAMES + ["..", ".隐藏.xlsx", "\x1b", "a" * 300 + ".xlsx",
                                          "x." + "扩" * 30])
def test_safe_names_pass_the_views_check_and_keep_short_names_as_they_are(name: str) -> None:
    safe = safe_name(name)
    check_name(safe)
    assert len(safe.encode()) <= SAFE_NAME_BYTES
    assert safe_name("职工增员.xlsx") == "职工增员.xlsx"
    if name.endswith(".xlsx"):
        assert safe.endswith(".xlsx")
