"""The SFTP view resolves every path under the login's own folders and refuses the rest."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.config import init_instance
from exchange.sftp.view import Denied, Missing, View


@pytest.fixture
def view(tmp_path: Path) -> View:
    instance = init_instance(tmp_path / "inst")
    for unit in ("1001", "1002"):
        instance.unit_inbox(unit).mkdir(parents=True, exist_ok=True)
        instance.unit_outbox(unit, "receipts").mkdir(parents=True, exist_ok=True)
    (instance.unit_inbox("1001") / "a.xlsx").write_bytes(b"x")
    (instance.unit_outbox("1002", "receipts") / "secret.json").write_text("{}")
    return View.for_unit(instance, "1001")


def test_paths_resolve_under_the_units_own_folders(view: View) -> None:
    r = view.resolve("/inbox/a.xlsx")
    assert r.real == view.areas["inbox"].root / "a.xlsx" and r.area.writable
    assert view.resolve("outbox/receipts").real == view.areas["outbox"].root / "receipts"
    assert view.resolve("/").is_root and view.resolve("").is_root and view.resolve(".").is_root
    assert view.resolve("//inbox/./a.xlsx").virtual == "/inbox/a.xlsx"


@pytest.mark.parametrize("path", [
    "/inbox/../../1002/a.xlsx", "/../inbox", "..", "/outbox/../inbox/a.xlsx", "inbox/..",
    "/inbox/a\x00.xlsx", "/inbox/.hidden", "/outbox/receipts/.x.json.tmp",
    "/inbox/a\\..\\..\\1002", "/inbox/\u2025\uff0f1002", "/inbox/evil\u202exslx.exe",
    "/inbox/tab\there", "/inbox/" + "长" * 80, "/inbox/sub/a.xlsx",
    "/inbox/e\u0301.xlsx",            # a decomposed accent: not NFC
])
def test_escapes_and_odd_names_are_refused(view: View, path: str) -> None:
    with pytest.raises(Denied):
        view.resolve(path)


@pytest.mark.parametrize("path", ["/etc/passwd", "/1002/receipts", "/home", "/_centre/x"])
def test_anything_but_inbox_and_outbox_does_not_exist(view: View, path: str) -> None:
    with pytest.raises(Missing):
        view.resolve(path)


def test_symlinks_leading_out_are_refused(view: View, tmp_path: Path) -> None:
    inbox, outbox = view.areas["inbox"].root, view.areas["outbox"].root
    os.symlink(outbox.parent / "1002", inbox / "other")
    os.symlink("/etc/passwd", outbox / "receipts" / "passwd")
    os.symlink(inbox / "a.xlsx", inbox / "alias.xlsx")
    for path in ("/inbox/other", "/outbox/receipts/passwd"):
        with pytest.raises(Denied):
            view.resolve(path)
    # A link that stays inside may be read, but nothing is ever written through a link.
    assert view.resolve("/inbox/alias.xlsx").real == inbox / "a.xlsx"
    with pytest.raises(Denied):
        view.for_write("/inbox/alias.xlsx")


def test_only_files_directly_in_the_inbox_are_writable(view: View) -> None:
    assert view.for_write("/inbox/new.xlsx").real == view.areas["inbox"].root / "new.xlsx"
    for path in ("/outbox/receipts/x.json", "/outbox/x", "/inbox", "/"):
        with pytest.raises(Denied):
            view.for_write(path)


def test_realpath_clamps_at_the_root_like_a_chroot(view: View) -> None:
    assert view.canonical("/inbox/../..") == "/"
    assert view.canonical("..") == "/"
    assert view.canonical("inbox/./x/..") == "/inbox"
    assert view.canonical("//outbox//receipts/") == "/outbox/receipts"
