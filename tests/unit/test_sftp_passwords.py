"""Passwords a unit sets itself (issue 18.1): the initial or a reset password must be changed
over keyboard-interactive before any file operation; expiry and the rules from [accounts]."""
from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import paramiko
import pytest
from click.testing import CliRunner

from exchange.accounts import add_unit, initial_password, verify_password
from exchange.cli import cli
from exchange.config import Accounts, Instance, load_settings
from exchange.errors import ConfigError
from exchange.messages import PASSWORD_WORDS
from exchange.sftp.auth import Authenticator
from exchange.sftp.lockout import DatabaseLockout, LockoutPolicy
from exchange.sftp.server import SftpService
from exchange.store.models import Account

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


class Prompts:
    """A keyboard-interactive handler answering from a script, recording what was asked."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, list[str]]] = []

    def __call__(self, title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        self.asked.append((instructions, [p for p, _echo in prompts]))
        return self.answers.pop(0) if self.answers else [""] * len(prompts)


@pytest.fixture
def door(instance: Instance, db) -> Iterator[Callable[..., Any]]:  # type: ignore[no-untyped-def]
    services: list[SftpService] = []
    transports: list[paramiko.Transport] = []

    def start(accounts: Accounts | None = None) -> Callable[[], paramiko.Transport]:
        settings = replace(instance.settings, accounts=accounts or instance.settings.accounts)
        inst = Instance(instance.home, settings)
        auth = Authenticator(db, DatabaseLockout(db, LockoutPolicy.from_settings(settings.sftp)),
                             accounts=settings.accounts)
        service = SftpService(inst, auth, port=0)
        service.start()
        services.append(service)

        def connect() -> paramiko.Transport:
            t = paramiko.Transport(("127.0.0.1", service.port))
            t.start_client()
            transports.append(t)
            return t
        return connect

    yield start
    for t in transports:
        t.close()
    for s in services:
        s.stop()


def new_unit(instance: Instance, db, code: str = "350100123456") -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_unit(instance, s, code, "新单位")


def test_a_unit_added_without_password_gets_the_initial_one_and_must_change_it(door, instance, db) -> None:  # type: ignore[no-untyped-def]
    new_unit(instance, db)
    with db.session() as s:
        account = s.get(Account, "350100123456")
        assert account.must_change and verify_password(account.password_hash, "123456")
    connect = door()
    # A password-only login with the initial password: partial success, no session.
    t = connect()
    assert t.auth_password("350100123456", "123456") == ["keyboard-interactive"]
    assert not t.is_authenticated()
    with pytest.raises(paramiko.SSHException):
        paramiko.SFTPClient.from_transport(t)
    # keyboard-interactive carries on where the password left off: new password twice.
    t = connect()
    t.auth_password("350100123456", "123456")
    prompts = Prompts(["Short1", "Short1"], ["350100123456", "350100123456"],
                      ["Good-pass-1", "Good-pass-1"])
    assert t.auth_interactive("350100123456", prompts) == []
    assert t.is_authenticated()
    assert paramiko.SFTPClient.from_transport(t).listdir("/inbox") == []
    assert prompts.asked[0] == (PASSWORD_WORDS["must_change"],
                                [PASSWORD_WORDS["new"], PASSWORD_WORDS["again"]])
    assert prompts.asked[1][0] == PASSWORD_WORDS["too_short"].format(n=8)
    assert prompts.asked[2][0] == PASSWORD_WORDS["is_login"]
    with db.session() as s:
        account = s.get(Account, "350100123456")
        assert not account.must_change and account.password_set_at is not None
        assert verify_password(account.password_hash, "Good-pass-1")
    # From now on the own password is a plain login; the initial one is wrong.
    t = connect()
    t.auth_password("350100123456", "Good-pass-1")
    assert t.is_authenticated()
    with pytest.raises(paramiko.AuthenticationException):
        connect().auth_password("350100123456", "123456")


def test_keyboard_interactive_alone_asks_the_password_then_the_new_one(door, instance, db) -> None:  # type: ignore[no-untyped-def]
    """As OpenSSH does: keyboard-interactive from the start, one prompt for the password."""
    new_unit(instance, db)
    t = door()()
    prompts = Prompts(["123456"], ["New-pass-22", "New-pass-23"], ["123456", "123456"],
                      ["New-pass-22", "New-pass-22"])
    t.auth_interactive("350100123456", prompts)
    assert t.is_authenticated()
    assert [a[0] for a in prompts.asked] == [PASSWORD_WORDS["instruction"], PASSWORD_WORDS["must_change"],
                                             PASSWORD_WORDS["mismatch"], PASSWORD_WORDS["same"]]
    c = paramiko.SFTPClient.from_transport(t)
    c.putfo(io.BytesIO(b"x"), "/inbox/a.xlsx")
    # A login whose password need not change gets in with the one prompt.
    t = door()()
    t.auth_interactive("350100123456", Prompts(["New-pass-22"]))
    assert t.is_authenticated()


def test_three_refused_new_passwords_end_the_attempt(door, instance, db) -> None:  # type: ignore[no-untyped-def]
    new_unit(instance, db)
    t = door()()
    with pytest.raises(paramiko.AuthenticationException):
        t.auth_interactive("350100123456", Prompts(["123456"], ["123456", "123456"],
                                                   ["short", "short"], ["a", "b"]))
    assert not t.is_authenticated()
    with db.session() as s:
        assert s.get(Account, "350100123456").must_change


def test_an_expired_password_must_be_changed(door, instance, db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_unit(instance, s, "1003", "老单位", password="Old-pass-99")
        s.get(Account, "1003").password_set_at = datetime.now() - timedelta(days=91)
    connect = door(Accounts(password_expiry_days=90))
    t = connect()
    assert t.auth_password("1003", "Old-pass-99") == ["keyboard-interactive"]
    prompts = Prompts(["Fresh-pass-1", "Fresh-pass-1"])
    t.auth_interactive("1003", prompts)
    assert t.is_authenticated() and prompts.asked[0][0] == PASSWORD_WORDS["expired"]
    # A password set 89 days ago is still good.
    with db.session() as s:
        s.get(Account, "1003").password_set_at = datetime.now() - timedelta(days=89)
    t = connect()
    t.auth_password("1003", "Fresh-pass-1")
    assert t.is_authenticated()


def test_initial_password_derived_from_the_unit_code(door, instance, db) -> None:  # type: ignore[no-untyped-def]
    assert initial_password(Accounts(default_password="last6"), "350100987654") == "987654"
    settings = replace(instance.settings, accounts=Accounts(default_password="last6"))
    inst = Instance(instance.home, settings)
    with db.session() as s:
        add_unit(inst, s, "350100987654", "南平单位")
        assert verify_password(s.get(Account, "350100987654").password_hash, "987654")
    t = door(settings.accounts)()
    assert t.auth_password("350100987654", "987654") == ["keyboard-interactive"]
    prompts = Prompts(["987654", "987654"], ["Nanping-pw-1", "Nanping-pw-1"])
    t.auth_interactive("350100987654", prompts)
    assert t.is_authenticated() and prompts.asked[1][0] == PASSWORD_WORDS["same"]


def test_reset_password_gives_the_initial_one_again_and_lifts_the_lockout(door, instance, db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        account = s.get(Account, "1001")
        account.failures, account.locked_until = 5, datetime.now() + timedelta(minutes=15)
    result = CliRunner().invoke(cli, ["--home", str(instance.home), "units", "reset-password", "1001"])
    assert result.exit_code == 0, result.output
    assert "password reset to the default 123456" in result.output
    with db.session() as s:
        account = s.get(Account, "1001")
        assert account.must_change and account.locked_until is None and account.failures == 0
    t = door()()
    assert t.auth_password("1001", "123456") == ["keyboard-interactive"]
    # `units add` without --password prints the initial password.
    result = CliRunner().invoke(cli, ["--home", str(instance.home), "units", "add", "2001",
                                      "--name", "新单位"])
    assert "login 2001: initial password 123456, to be changed at the first login" in result.output
    listing = CliRunner().invoke(cli, ["--home", str(instance.home), "units", "accounts"]).output
    assert "2001\t2001\tunit\t*\tpassword\tmust change password" in listing


def test_accounts_settings_are_validated_naming_the_key(tmp_path: Path, backend: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[accounts]\npassword_expiry_days = 0\ndefault_password = \"last6\"\n")
    assert load_settings(config).accounts == Accounts(default_password="last6")
    for text, key in (("password_expiry_days = -1", "password_expiry_days"),
                      ("min_password_length = 4", "min_password_length"),
                      ("default_password = \" \"", "default_password"),
                      ("expiry = 3", "unknown key")):
        config.write_text(f"[accounts]\n{text}\n")
        with pytest.raises(ConfigError, match=key):
            load_settings(config)
    config.write_text("[sftp]\nmax_unauthenticated = 4\nmax_unauthenticated_per_address = 8\n")
    with pytest.raises(ConfigError, match=r"\[sftp\]\.max_unauthenticated_per_address"):
        load_settings(config)
    config.write_text("[sftp]\nlogin_grace_seconds = 0\n")
    with pytest.raises(ConfigError, match=r"\[sftp\]\.login_grace_seconds"):
        load_settings(config)
    for text, key in (("max_connections = 8\nmax_connections_per_login = 9", "max_connections_per_login"),
                      ("max_connections_per_login = 0", "max_connections_per_login"),
                      ("max_sessions_per_connection = 0", "max_sessions_per_connection"),
                      ("max_open_files_per_login = 0", "max_open_files_per_login")):
        config.write_text(f"[sftp]\n{text}\n")
        with pytest.raises(ConfigError, match=rf"\[sftp\]\.{key}"):
            load_settings(config)
