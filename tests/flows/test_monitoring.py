"""The operator's view of a real `exchange serve`: /metrics parsed by prometheus_client's own
parser, the health endpoints, JSON log lines, and the fail2ban filter against them."""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
import zipfile
from configparser import ConfigParser
from pathlib import Path
from typing import Iterator

import paramiko
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from exchange.cli import cli
from exchange.config import Instance
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.serving import Served, free_port, make_instance, receipts, wait_until

TITLE = "职工批量新增申报填写表"
ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def with_monitoring(instance: Instance, *, log_format: str = "text",
                    database_url: str | None = None) -> Instance:
    """The instance with [monitoring].port set (and the other settings given)."""
    config = instance.home / "config.toml"
    text = config.read_text(encoding="utf-8").replace("# port = 9464", f"port = {free_port()}")
    text = text.replace('format = "text"', f'format = "{log_format}"')
    if database_url:
        text = re.sub(r'(?m)^url = ".*"$', f'url = "{database_url}"', text)
    config.write_text(text, encoding="utf-8")
    return Instance(instance.home)


def get(instance: Instance, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{instance.settings.monitoring.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(instance: Instance) -> Samples:
    status, body = get(instance, "/metrics")
    assert status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A node with monitoring on and JSON logs; its rescan job runs every second."""
    root = tmp_path_factory.mktemp("monitored")
    instance = with_monitoring(make_instance(root / "inst", max_failures=2), log_format="json")
    rescan = instance.jobs_dir / "rescan.toml"
    rescan.write_text(rescan.read_text(encoding="utf-8").replace("seconds = 180", "seconds = 1"),
                      encoding="utf-8")
    runner = CliRunner()
    for args in (["units", "add", "1001", "--name", "南通示例公司", "--password", "pw-1001"],
                 ["units", "add", "1002", "--name", "另一家公司", "--password", "pw-1002"]):
        result = runner.invoke(cli, ["--home", str(instance.home), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    service = Served(instance).start()
    wait_until(lambda: get(instance, "/healthz/ready")[0] == 200, 20, "the node to be ready")
    yield service
    assert service.stop() == 0, service.output()


def log_events(instance: Instance) -> list[dict]:
    text = (instance.var / "logs" / "exchange.log").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]     # every line is one object


def wrong_password(served: Served, login: str) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        served.sftp(login, "not-the-password")


def test_counters_move_as_files_and_logins_happen(served: Served, tmp_path: Path) -> None:
    instance = served.instance
    before = scrape(instance)
    client = served.sftp("1001", "pw-1001")
    good = make_workbook(tmp_path / "good.xlsx", ADD_HEADERS,
                         [add_row(make_id("19810203", s), "甲乙") for s in ("201", "202", "203")],
                         title=TITLE)
    partial = make_workbook(tmp_path / "partial.xlsx", ADD_HEADERS,
                            [add_row(make_id("19810203", "204"), "丙丁"),
                             add_row(make_id("19810203", "205"), "丙 丁")], title=TITLE)
    garbage = tmp_path / "garbage.xlsx"                 # read as text: no kind found
    garbage.write_bytes(b"this is no workbook" * 100)
    broken = tmp_path / "broken.xlsx"                   # a zip that is no workbook: quarantined
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("[Content_Types].xml", "<x")
        z.writestr("xl/workbook.xml", "<<<")
    sent = (good, partial, garbage, broken)
    for path in sent:
        client.put(str(path), f"/inbox/{path.name}")
    wait_until(lambda: len(receipts(client)) == 4, 30, "four receipts")
    wrong_password(served, "1002")
    client.close()
    after = wait_until(lambda: (s := scrape(instance)) and value(
        s, "exchange_sftp_sessions_open") == 0 and s, 10, "the session to close")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    kind = "employee_add"
    assert moved("exchange_files_received_total") == 4
    assert moved("exchange_files_processed_total", kind=kind, status="accepted") == 1
    assert moved("exchange_files_processed_total", kind=kind, status="partial") == 1
    assert moved("exchange_files_processed_total", kind="unknown", status="rejected") == 1
    assert moved("exchange_files_processed_total", kind="unknown", status="quarantined") == 1
    assert moved("exchange_files_quarantined_total", kind="unknown", code="file.unreadable") == 1
    assert moved("exchange_rows_total", kind=kind, outcome="accepted") == 4
    assert moved("exchange_rows_total", kind=kind, outcome="failed") == 1
    assert moved("exchange_file_receipt_seconds_count") == 4
    assert moved("exchange_sftp_uploads_total") == 4
    assert moved("exchange_sftp_upload_bytes_total") == sum(p.stat().st_size for p in sent)
    assert moved("exchange_sftp_logins_total", method="password", result="ok") == 1
    assert moved("exchange_sftp_logins_total", method="password", result="failed") == 1
    assert moved("exchange_sftp_sessions_total") == 1
    assert value(after, "exchange_files_processing") == 0
    assert value(after, "exchange_files_waiting", inbox="unit") == 0

    # Resending the good file: its rows count as duplicates.
    client = served.sftp("1001", "pw-1001")
    client.put(str(good), "/inbox/good-again.xlsx")
    wait_until(lambda: len(receipts(client)) == 5, 30, "the fifth receipt")
    client.close()
    # The receipt is written inside the claim, the file counted once the claim has returned
    # (the receipt's time observed last): wait for that.
    seen = value(after, "exchange_file_receipt_seconds_count")
    again = wait_until(lambda: (s := scrape(instance)) and value(
        s, "exchange_file_receipt_seconds_count") == seen + 1 and s, 10, "the fifth file counted")
    assert value(again, "exchange_rows_total", kind=kind, outcome="duplicate") - value(
        after, "exchange_rows_total", kind=kind, outcome="duplicate") == 3


def test_repeated_wrong_passwords_count_one_lockout(served: Served) -> None:
    instance = served.instance
    before = scrape(instance)
    for _ in range(2):                         # max_failures = 2
        wrong_password(served, "1002")
    after = scrape(instance)
    assert value(after, "exchange_sftp_lockouts_total") - value(
        before, "exchange_sftp_lockouts_total") == 1
    result = CliRunner().invoke(cli, ["--home", str(instance.home), "status", "--json"])
    report = json.loads(result.output)
    assert [a["login"] for a in report["locked_accounts"]] == ["1002"]
    # The service's own checks come from its endpoint.
    assert result.exit_code == 0 and report["ready"] is True
    assert {c["name"]: c["ok"] for c in report["checks"]} == {
        "database": True, "schema": True, "intake_worker": True, "sftp": True}


def test_job_runs_are_counted_with_their_duration(served: Served) -> None:
    samples = wait_until(lambda: (s := scrape(served.instance)) and value(
        s, "exchange_job_runs_total", job="rescan", outcome="ok") >= 1 and s, 15,
        "a scheduled rescan")
    assert value(samples, "exchange_job_run_seconds_count", job="rescan") >= 1
    assert value(samples, "exchange_job_runs_total", job="rescan", outcome="failed") == 0


def test_health_endpoints_answer_ready_and_live(served: Served) -> None:
    status, body = get(served.instance, "/healthz/ready")
    assert status == 200
    answer = json.loads(body)
    assert answer["ready"] is True
    assert [c["name"] for c in answer["checks"]] == ["database", "schema", "intake_worker", "sftp"]
    assert get(served.instance, "/healthz/live") == (200, b'{"live": true}\n')
    assert get(served.instance, "/nowhere")[0] == 404


def test_json_log_lines_carry_unit_file_node_login_and_address(served: Served,
                                                               tmp_path: Path) -> None:
    client = served.sftp("1001", "pw-1001")
    book = make_workbook(tmp_path / "日志 测试.xlsx", ADD_HEADERS,
                         [add_row(make_id("19810203", "301"), "戊己")], title=TITLE)
    client.put(str(book), f"/inbox/{book.name}")
    wait_until(lambda: any(e.get("file") == book.name and e.get("status") == "accepted"
                           for e in log_events(served.instance)), 30, "the file's log line")
    client.close()
    wrong_password(served, "1001")
    events = log_events(served.instance)
    assert all({"time", "level", "logger", "message", "node", "unit", "file", "login",
                "remote"} <= set(e) for e in events)
    assert len({e["node"] for e in events}) == 1 and events[0]["node"]
    done = next(e for e in events if e["file"] == book.name and e.get("status") == "accepted")
    assert done["unit"] == "1001" and done["kind"] == "employee_add"
    assert done["level"] == "INFO" and done["logger"] == "exchange.pipeline"
    failed = [e for e in events if e["message"].startswith("authentication failed")]
    assert failed[-1]["login"] == "1001" and failed[-1]["remote"] == "127.0.0.1"
    assert failed[-1]["level"] == "WARNING"


# What fail2ban cuts from a line before the failregex sees it (the filter's datepattern).
DATE_CUT = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+|^\{"time": "[^"]*"')


def fail2ban_host(line: str) -> str | None:
    """The address deploy/fail2ban/filter.d/exchange.conf bans for `line`, matched the way
    fail2ban does: the time stamp cut out, <HOST> spelled as in its sshd-style filters."""
    parser = ConfigParser(interpolation=None)
    parser.read(ROOT / "deploy" / "fail2ban" / "filter.d" / "exchange.conf", encoding="utf-8")
    failregex = [ln.strip() for ln in parser["Definition"]["failregex"].splitlines() if ln.strip()]
    host = r"(?:::f{4,6}:)?(?P<host>[\w\-.^_:]*\w)"
    rest = DATE_CUT.sub("", line, count=1)
    for pattern in failregex:
        match = re.search(pattern.replace("<HOST>", host), rest)
        if match:
            return match["host"]
    return None


def test_fail2ban_filter_finds_the_address_of_a_failed_login(served: Served) -> None:
    wrong_password(served, "1001")
    log = (served.instance.var / "logs" / "exchange.log").read_text(encoding="utf-8")
    failed = [ln for ln in log.splitlines() if "authentication failed" in ln]
    assert failed and all(fail2ban_host(ln) == "127.0.0.1" for ln in failed)
    others = [ln for ln in log.splitlines() if "authentication failed" not in ln]
    assert others and not any(fail2ban_host(ln) for ln in others)


def test_fail2ban_filter_matches_the_text_format_and_not_a_forged_login(tmp_path: Path) -> None:
    """A real text-format line, written by the service's formatter; a login that spells out
    another address is neutralised before it is logged."""
    import logging

    from exchange.logs import ContextFormatter, LOG_FORMAT
    from exchange.sftp.server import SshServer

    class Transport:
        def getpeername(self) -> tuple[str, int]:
            return ("203.0.113.9", 50123)

    class NoOne:
        def password(self, login: str, password: str) -> None:
            return None

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("exchange.sftp")
    logger.addHandler(handler)
    try:
        server = SshServer(Transport(), NoOne())  # type: ignore[arg-type]
        assert server.check_auth_password("x from 198.51.100.7 port 1", "pw") == paramiko.AUTH_FAILED
    finally:
        logger.removeHandler(handler)
    line = ContextFormatter(LOG_FORMAT).format(records[-1])
    assert fail2ban_host(line) == "203.0.113.9", line
    assert "198.51.100.7 port" not in line
    # A unit renaming a file to such a message in its own line is not banned.
    assert fail2ban_host("2026-12-04 18:30:01,123 INFO exchange.sftp unit=1001 file=a.xlsx: "
                         "renamed from exchange.sftp unit=- file=-: authentication failed for "
                         "login a from 198.51.100.7 port 5") is None


def test_status_shows_what_waits_where_and_the_jobs(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "waiting.xlsx", ADD_HEADERS,
                  [add_row(make_id("19800101", "661"), "甲")], title=TITLE)
    (instance.unit_inbox("1001") / "~$waiting.xlsx").write_bytes(b"lock")     # ignored
    (instance.inbox / "_centre").mkdir(exist_ok=True)
    (instance.inbox / "_centre" / "decisions.csv").write_text("x", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(instance.home), "jobs", "run", "archive_retention"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--home", str(instance.home), "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["waiting"]["total"] == 2
    assert {(f["folder"], f["count"]) for f in report["waiting"]["folders"]} == {
        ("1001", 1), ("_centre", 1)}
    assert report["waiting"]["oldest"]["oldest"] in ("waiting.xlsx", "decisions.csv")
    checks = {c["name"]: (c["ok"], c["detail"]) for c in report["checks"]}
    assert checks["database"][0] and checks["schema"][0]
    assert checks["sftp"] == (False, "unknown")            # no [monitoring].port here
    jobs = {j["job"]: j for j in report["jobs"]}
    assert jobs["archive_retention"]["last_outcome"].startswith("deleted") or \
        jobs["archive_retention"]["last_finished"] is not None
    assert jobs["rescan"]["last_started"] is None
    text = runner.invoke(cli, ["--home", str(instance.home), "status"])
    assert text.exit_code == 0, text.output
    assert "waiting: 2 file(s) in 2 folder(s)" in text.output
    assert re.search(r"(?m)^  1001 +1  oldest waiting\.xlsx", text.output)
    assert re.search(r"(?m)^  archive_retention +cron 30 3 \* \* \*  last .+", text.output)


def test_ready_flips_when_the_database_goes_away_and_back(tmp_path: Path) -> None:
    """A private PostgreSQL (never the shared test server) stopped under a running node."""
    from tests.pgserver import LocalCluster, find_bindir

    if find_bindir() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no PostgreSQL binaries (initdb, pg_ctl)")
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl)")
    cluster = LocalCluster()
    try:
        url = cluster.start()
        instance = with_monitoring(make_instance(tmp_path / "inst"), database_url=url)
        served = Served(instance).start()
        try:
            wait_until(lambda: get(instance, "/healthz/ready")[0] == 200, 20, "ready")
            cluster.pause()
            status, body = wait_until(lambda: (r := get(instance, "/healthz/ready"))[0] == 503
                                      and r, 20, "not ready")
            checks = {c["name"]: c["ok"] for c in json.loads(body)["checks"]}
            assert checks == {"database": False, "schema": False, "intake_worker": True,
                              "sftp": True}
            assert get(instance, "/healthz/live")[0] == 200      # the process still works
            cluster.resume()
            wait_until(lambda: get(instance, "/healthz/ready")[0] == 200, 30, "ready again")
        finally:
            assert served.stop() == 0, served.output()
    finally:
        cluster.stop()
