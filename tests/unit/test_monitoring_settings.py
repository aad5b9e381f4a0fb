"""[monitoring] and [logging] in config.toml: off and text by default, bad values named by key;
the JSON formatter's context fields."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from exchange.config import load_settings
from exchange.errors import ConfigError
from exchange.logs import ContextJsonFormatter, split_context


def settings(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_monitoring_is_off_and_logs_are_text_unless_configured(tmp_path: Path) -> None:
    s = settings(tmp_path, "")
    assert (s.monitoring.host, s.monitoring.port, s.logging.format) == ("127.0.0.1", 0, "text")
    s = settings(tmp_path, '[monitoring]\nport = 9464\nhost = "0.0.0.0"\n[logging]\nformat = "json"\n')
    assert (s.monitoring.host, s.monitoring.port, s.logging.format) == ("0.0.0.0", 9464, "json")


@pytest.mark.parametrize("text, key", [
    ("[monitoring]\nport = 0\n", "[monitoring].port"),
    ("[monitoring]\nport = 70000\n", "[monitoring].port"),
    ('[monitoring]\nport = "9464"\n', "[monitoring].port"),
    ("[monitoring]\npath = '/m'\n", "[monitoring]: unknown key(s) path"),
    ('[logging]\nformat = "xml"\n', "[logging].format"),
    ("[sftp]\nmax_inbox_mb = -1\n", "[sftp].max_inbox_mb"),
    ("[sftp]\nmin_free_mb = -5\n", "[sftp].min_free_mb"),
])
def test_a_bad_monitoring_or_logging_value_is_refused_naming_the_key(tmp_path: Path, text: str,
                                                                    key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        settings(tmp_path, text)
    assert key in str(refused.value)


def test_leading_context_is_split_from_the_message() -> None:
    assert split_context("unit=1001 file=职工 新增.xlsx id=7 kind=wage status=partial {'total': 2}") == (
        {"unit": "1001", "file": "职工 新增.xlsx", "id": "7", "kind": "wage", "status": "partial"},
        "{'total': 2}")
    assert split_context("unit=1001 file='a: b.xlsx': open refused: denied") == (
        {"unit": "1001", "file": "a: b.xlsx"}, "open refused: denied")
    assert split_context("no context here") == ({}, "no context here")


def test_a_json_line_prefers_extra_fields_and_nulls_the_dashes() -> None:
    record = logging.LogRecord("exchange.sftp", logging.WARNING, __file__, 1,
                               "unit=- file=-: authentication failed for login %s from %s port %d",
                               ("1001", "203.0.113.9", 50123), None)
    record.login, record.remote = "1001", "203.0.113.9"
    line = json.loads(ContextJsonFormatter("node-a").format(record))
    assert line["message"] == "authentication failed for login 1001 from 203.0.113.9 port 50123"
    assert (line["node"], line["login"], line["remote"], line["unit"], line["file"]) == (
        "node-a", "1001", "203.0.113.9", None, None)
    assert (line["level"], line["logger"]) == ("WARNING", "exchange.sftp")
