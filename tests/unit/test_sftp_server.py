"""The SFTP server in-process on a free port, driven by paramiko's client."""
from __future__ import annotations

import io
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.accounts import set_login
from exchange.config import CENTRE, Instance
from exchange.sftp.auth import Authenticator
from exchange.sftp.lockout import DatabaseLockout, LockoutPolicy
from exchange.sftp.server import SftpService, Upload
from exchange.store.models import Account

# The protocol does not depend on the database; the lockout's back ends are tested on both.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def new_key(tmp_path: Path, name: str) -> tuple[paramiko.PKey, str]:
    """An Ed25519 key pair: the paramiko private key and the OpenSSH public line."""
    path = tmp_path / name
    private = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    key = paramiko.PKey.from_path(path)
    return key, f"{key.get_name()} {key.get_base64()} test@{name}"


class Server:
    def __init__(self, instance: Instance, service: SftpService, uploads: list[Upload]) -> None:
        self.instance, self.service, self.uploads = instance, service, uploads
        self.transports: list[paramiko.Transport] = []

    def login(self, user: str, password: str | None = None,
              pkey: paramiko.PKey | None = None) -> paramiko.SFTPClient:
        t = paramiko.Transport(("127.0.0.1", self.service.port))
        self.transports.append(t)
        t.connect(username=user, password=password, pkey=pkey)
        return paramiko.SFTPClient.from_transport(t)


@pytest.fixture
def server(instance: Instance, db) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    yield from _serve(instance, db)


def _serve(instance: Instance, db, **sftp: int) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    settings = replace(instance.settings, limits=replace(instance.settings.limits, max_file_mb=1),
                       sftp=replace(instance.settings.sftp, max_failures=3, **sftp))
    inst = Instance(instance.home, settings)
    (inst.unit_outbox("1001", "receipts") / "r1001.json").write_text('{"unit": "1001"}')
    (inst.unit_outbox("1002", "receipts") / "r1002.json").write_text('{"unit": "1002"}')
    (inst.unit_inbox("1002") / "theirs.xlsx").write_bytes(b"1002's file")
    uploads: list[Upload] = []
    auth = Authenticator(db, DatabaseLockout(db, LockoutPolicy.from_settings(settings.sftp)))
    service = SftpService(inst, auth, on_upload=uploads.append, port=0)
    service.start()
    srv = Server(inst, service, uploads)
    yield srv
    for t in srv.transports:
        t.close()
    service.stop()


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_upload_stays_hidden_under_a_temp_name_until_closed(server: Server) -> None:
    c = server.login("1001", "pw-1001")
    inbox = server.instance.unit_inbox("1001")
    with c.open("/inbox/psnAdd.xlsx", "wb") as fh:
        fh.write(b"part one ")
        fh.flush()
        names = os.listdir(inbox)
        assert len(names) == 1 and names[0].startswith(".psnAdd.xlsx.") and names[0].endswith(".part")
        assert c.listdir("/inbox") == []
        fh.write(b"part two")
    assert os.listdir(inbox) == ["psnAdd.xlsx"]
    assert (inbox / "psnAdd.xlsx").read_bytes() == b"part one part two"
    assert [(u.unit, u.virtual, u.real, u.size) for u in server.uploads] == [
        ("1001", "/inbox/psnAdd.xlsx", inbox / "psnAdd.xlsx", 17)]


def test_dropped_connection_discards_the_partial_upload(server: Server) -> None:
    c = server.login("1001", "pw-1001")
    fh = c.open("/inbox/half.xlsx", "wb")
    fh.write(b"x" * 1000)
    fh.flush()
    server.transports[-1].close()
    inbox = server.instance.unit_inbox("1001")
    wait_for(lambda: os.listdir(inbox) == [])
    assert server.uploads == []


def test_upload_over_the_size_limit_is_refused_and_removed(server: Server) -> None:
    c = server.login("1001", "pw-1001")
    with pytest.raises(IOError):
        c.putfo(io.BytesIO(b"x" * (1024 * 1024 + 1)), "/inbox/huge.xlsx")
    with pytest.raises(IOError, match="文件超过 1 MB 的上限"):     # the words WinSCP shows
        _put(c, b"x" * (1024 * 1024 + 1), "/inbox/huge.xlsx")
    wait_for(lambda: os.listdir(server.instance.unit_inbox("1001")) == [])
    assert server.uploads == []


def _put(c: paramiko.SFTPClient, data: bytes, path: str) -> None:
    """An upload whose every write waits for its answer, as WinSCP's: a refusal's words come
    back (paramiko's putfo pipelines its writes, and reports only that the file is missing)."""
    with c.open(path, "wb") as fh:
        for at in range(0, len(data), 32768):
            fh.write(data[at:at + 32768])
            fh.flush()


def test_an_inbox_holds_at_most_max_inbox_mb_waiting(instance: Instance, db) -> None:  # type: ignore[no-untyped-def]
    """One unit sending file after file faster than intake takes them could fill the disk every
    unit shares (each file under max_file_mb). Past max_inbox_mb the next upload is dropped
    when it reaches the limit, or fails at open when there is no room at all; another unit's
    inbox is its own; taking the files (intake) makes room again."""
    srv = next(gen := _serve(instance, db, max_inbox_mb=2))
    try:
        c = srv.login("1001", "pw-1001")
        inbox = srv.instance.unit_inbox("1001")
        almost = b"x" * (900 * 1024)
        c.putfo(io.BytesIO(almost), "/inbox/a.xlsx")
        c.putfo(io.BytesIO(almost), "/inbox/b.xlsx")
        with pytest.raises(IOError, match="收件箱中等待处理的文件已达 2 MB 的上限"):   # 2.7 MB waiting
            _put(c, almost, "/inbox/c.xlsx")
        wait_for(lambda: sorted(os.listdir(inbox)) == ["a.xlsx", "b.xlsx"])
        c.putfo(io.BytesIO(b"y" * 1000), "/inbox/small.xlsx")     # what room there is is used
        (inbox / "filler").write_bytes(b"z" * (300 * 1024))
        with pytest.raises(IOError, match="收件箱"):       # no room left: the open fails
            c.open("/inbox/d.xlsx", "wb")
        assert "d.xlsx" not in os.listdir(inbox)
        other = srv.login("1002", "pw-1002")
        other.putfo(io.BytesIO(almost), "/inbox/theirs2.xlsx")
        for name in ("a.xlsx", "b.xlsx", "filler"):     # intake took them
            (inbox / name).unlink()
        c.putfo(io.BytesIO(almost), "/inbox/c.xlsx")
        assert sorted(u.virtual for u in srv.uploads if u.unit == "1001") == [
            "/inbox/a.xlsx", "/inbox/b.xlsx", "/inbox/c.xlsx", "/inbox/small.xlsx"]
    finally:
        gen.close()


def test_no_upload_is_taken_while_the_disk_is_short_of_min_free_mb(instance: Instance, db) -> None:  # type: ignore[no-untyped-def]
    """A disk with less than min_free_mb free takes no upload (room is kept for the database,
    receipts and the archive): the open fails and nothing is left behind."""
    free = os.statvfs(instance.home).f_bavail * os.statvfs(instance.home).f_frsize
    srv = next(gen := _serve(instance, db, min_free_mb=(free >> 20) + 1024))
    try:
        c = srv.login("1001", "pw-1001")
        with pytest.raises(IOError, match="服务器存储空间不足"):
            _put(c, b"x" * 1000, "/inbox/a.xlsx")
        assert os.listdir(srv.instance.unit_inbox("1001")) == [] and srv.uploads == []
        assert c.listdir("/outbox")                      # reading is untouched
    finally:
        gen.close()


def test_appending_cannot_pass_the_size_limit(server: Server) -> None:
    """In append mode paramiko writes at the end, whatever offset the client names: a client
    naming offset 0 on every write sent 120 MB past the 100 MB limit."""
    from paramiko.sftp import CMD_HANDLE, CMD_OPEN, CMD_WRITE, SFTP_FLAG_APPEND, SFTP_FLAG_CREATE, \
        SFTP_FLAG_WRITE

    c = server.login("1001", "pw-1001")
    t, msg = c._request(CMD_OPEN, "/inbox/grow.xlsx",
                        SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_APPEND, paramiko.SFTPAttributes())
    assert t == CMD_HANDLE
    handle = msg.get_binary()
    block = b"x" * (200 * 1024)
    refused = False
    for _ in range(8):                                  # 1.6 MB at "offset 0", past the 1 MB limit
        try:
            c._request(CMD_WRITE, handle, paramiko.sftp.int64(0), block)
        except IOError:
            refused = True
            break
    assert refused
    wait_for(lambda: os.listdir(server.instance.unit_inbox("1001")) == [])
    assert server.uploads == []


def test_requests_that_would_hold_memory_or_a_thread_are_bounded(server: Server) -> None:
    """A READ of a whole large file was read into memory at once (400 MB a request); an SFTP
    message of up to 16 MB was held whole; paramiko's check-file loops for ever past a file's
    end. Reads answer at most 255 KiB, a message over 256 KiB ends the session, check-file is
    neither offered nor done. A file's size is not changed by a SETSTAT that says it was."""
    from paramiko.sftp import CMD_EXTENDED, CMD_HANDLE, CMD_OPEN, CMD_READ, CMD_WRITE, SFTP_FLAG_READ

    from exchange.sftp.server import EXTENSIONS, MAX_READ

    inbox = server.instance.unit_inbox("1002")
    (server.instance.unit_outbox("1001", "receipts") / "big.txt").write_bytes(b"r" * (3 << 20))
    c = server.login("1001", "pw-1001")
    t, msg = c._request(CMD_OPEN, "/outbox/receipts/big.txt", SFTP_FLAG_READ,
                        paramiko.SFTPAttributes())
    assert t == CMD_HANDLE
    handle = msg.get_binary()
    _, msg = c._request(CMD_READ, handle, paramiko.sftp.int64(0), 3 << 20)
    assert len(msg.get_string()) == MAX_READ
    with c.open("/outbox/receipts/big.txt", "rb") as fh:          # a client's own reads: whole
        assert len(fh.read()) == 3 << 20
    assert "check-file" not in dict(EXTENSIONS)
    with pytest.raises(IOError):
        c._request(CMD_EXTENDED, "check-file", handle, "md5", paramiko.sftp.int64(0),
                   paramiko.sftp.int64(10 << 20), 0)
    with pytest.raises(IOError):
        c.truncate("/outbox/receipts/big.txt", 10)
    with c.open("/inbox/resume.xlsx", "wb") as fh:      # sshfs truncates what it is writing
        fh.write(b"y" * 1000)
        fh.truncate(10)
    assert (server.instance.unit_inbox("1001") / "resume.xlsx").read_bytes() == b"y" * 10
    with pytest.raises((IOError, EOFError, paramiko.SSHException)):
        c._request(CMD_WRITE, handle, paramiko.sftp.int64(0), b"z" * (300 * 1024))
    # The session ended; the service goes on.
    again = server.login("1001", "pw-1001")
    assert "big.txt" in again.listdir("/outbox/receipts")
    assert os.listdir(inbox) == ["theirs.xlsx"]


def test_outbox_is_read_only_and_the_inbox_flat(server: Server) -> None:
    c = server.login("1001", "pw-1001")
    assert c.listdir("/") == ["inbox", "outbox"] or sorted(c.listdir("/")) == ["inbox", "outbox"]
    assert c.open("/outbox/receipts/r1001.json").read() == b'{"unit": "1001"}'
    refused = [
        lambda: c.putfo(io.BytesIO(b"x"), "/outbox/receipts/fake.json"),
        lambda: c.putfo(io.BytesIO(b"x"), "/outbox/x.json"),
        lambda: c.remove("/outbox/receipts/r1001.json"),
        lambda: c.rename("/outbox/receipts/r1001.json", "/outbox/receipts/moved.json"),
        lambda: c.rename("/outbox/receipts/r1001.json", "/inbox/r.json"),
        lambda: c.mkdir("/inbox/sub"),
        lambda: c.mkdir("/outbox/sub"),
        lambda: c.rmdir("/outbox/receipts"),
        lambda: c.rmdir("/inbox"),
        lambda: c.symlink("/outbox/receipts/r1001.json", "/inbox/link.json"),
        lambda: c.chmod("/outbox/receipts/r1001.json", 0o777),
        lambda: c.putfo(io.BytesIO(b"x"), "/inbox/.hidden.xlsx"),
        lambda: c.putfo(io.BytesIO(b"x"), "/nowhere/new.xlsx"),
    ]
    for attempt in refused:
        with pytest.raises(IOError):
            attempt()
    assert sorted(os.listdir(server.instance.unit_outbox("1001", "receipts"))) == ["r1001.json"]
    # In the inbox the unit may still fix a mistake before it is processed.
    c.putfo(io.BytesIO(b"x"), "/inbox/wrong.xlsx")
    c.rename("/inbox/wrong.xlsx", "/inbox/right.xlsx")
    c.putfo(io.BytesIO(b"y"), "/inbox/extra.xlsx")
    c.remove("/inbox/extra.xlsx")
    assert os.listdir(server.instance.unit_inbox("1001")) == ["right.xlsx"]


@pytest.mark.parametrize("path", [
    "/inbox/../../1002", "/outbox/../../1002/receipts", "../1002", "/../outbox/1002",
    "/1002", "/outbox/1002", "inbox/../../../../../../etc/passwd",
])
def test_unit_cannot_reach_another_units_folders(server: Server, path: str) -> None:
    c = server.login("1001", "pw-1001")
    for attempt in (c.listdir, c.stat, c.open, lambda p: c.open(p + "/theirs.xlsx"),
                    lambda p: c.putfo(io.BytesIO(b"x"), p + "/planted.xlsx")):
        with pytest.raises(IOError):
            attempt(path)
    other = server.instance.unit_outbox("1002", "receipts") / "r1002.json"
    with pytest.raises(IOError):
        c.open(str(other))                     # the real absolute path means nothing in the view
    assert os.listdir(server.instance.unit_inbox("1002")) == ["theirs.xlsx"]


def test_odd_encodings_and_nul_are_refused(server: Server) -> None:
    c = server.login("1001", "pw-1001")
    for raw in (b"/inbox/\xff\xfe.xlsx", b"/inbox/%2e%2e/\xc0\xaf", b"/inbox/a\x00/../../1002"):
        with pytest.raises(IOError):
            c.stat(raw)                        # paramiko sends bytes unchanged
        with pytest.raises(IOError):
            c.putfo(io.BytesIO(b"x"), raw)     # type: ignore[arg-type]
    assert os.listdir(server.instance.unit_inbox("1001")) == []


def test_links_planted_in_the_tree_lead_nowhere(server: Server) -> None:
    inbox = server.instance.unit_inbox("1001")
    os.symlink(server.instance.unit_inbox("1002"), inbox / "peek")
    os.symlink(server.instance.unit_outbox("1002", "receipts") / "r1002.json", inbox / "r.json")
    c = server.login("1001", "pw-1001")
    assert c.listdir("/inbox") == []
    for attempt in (lambda: c.listdir("/inbox/peek"), lambda: c.open("/inbox/r.json").read(),
                    lambda: c.putfo(io.BytesIO(b"x"), "/inbox/r.json"), lambda: c.stat("/inbox/peek")):
        with pytest.raises(IOError):
            attempt()
    assert (server.instance.unit_outbox("1002", "receipts") / "r1002.json").read_text() == '{"unit": "1002"}'


def test_public_key_login_and_a_wrong_key_does_not_count_as_a_failure(server: Server, db,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    good, line = new_key(tmp_path, "good")
    bad, _ = new_key(tmp_path, "bad")
    with db.session() as s:
        set_login(s, "1001", "1001", password=None, key=line, role="unit")
    for _ in range(4):
        with pytest.raises(paramiko.AuthenticationException):
            server.login("1001", pkey=bad)
    c = server.login("1001", pkey=good)
    assert sorted(c.listdir("/")) == ["inbox", "outbox"]
    with db.session() as s:
        assert s.get(Account, "1001").locked_until is None


def test_wrong_passwords_lock_the_account_even_for_the_right_one(server: Server, db) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        with pytest.raises(paramiko.AuthenticationException):
            server.login("1002", "guess")
    with pytest.raises(paramiko.AuthenticationException):
        server.login("1002", "pw-1002")
    with db.session() as s:
        account = s.get(Account, "1002")
        assert account.failures == 3 and account.locked_until is not None
        account.locked_until = account.locked_until.replace(year=2000)   # the period has passed
    assert server.login("1002", "pw-1002").listdir("/inbox") == ["theirs.xlsx"]
    # Another unit was never affected.
    assert server.login("1001", "pw-1001").listdir("/inbox") == []


def test_centre_login_sees_the_centre_folders(server: Server, db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        set_login(s, CENTRE, CENTRE, password="pw-centre", key=None, role="centre")
    server.instance.unit_outbox(CENTRE, "batches").mkdir(parents=True, exist_ok=True)
    c = server.login(CENTRE, "pw-centre")
    assert "batches" in c.listdir("/outbox")
    c.putfo(io.BytesIO(b"decisions"), "/inbox/review.xlsx")
    assert (server.instance.unit_inbox(CENTRE) / "review.xlsx").read_bytes() == b"decisions"
    with pytest.raises(IOError):
        c.listdir("/inbox/../../1001")
    assert server.uploads[-1].unit == CENTRE


def test_class_login_has_its_own_folders_and_never_reads_the_schools(server: Server, db) -> None:  # type: ignore[no-untyped-def]
    """A class account's receipts and templates name its students only; the school's outbox
    (every student's receipts, the school-wide pre-filled templates) is not in its view."""
    from exchange.accounts import add_sub_account
    from exchange.intake.subaccounts import sub_account_outbox

    with db.session() as s:
        add_sub_account(server.instance, s, "1001", "cls-2024-01", role="class",
                        classes=["2024-01"], password="pw-class")
    own = sub_account_outbox(server.instance, "1001", "cls-2024-01", "receipts") / "mine.json"
    own.write_text('{"login": "cls-2024-01"}')
    c = server.login("cls-2024-01", "pw-class")
    c.putfo(io.BytesIO(b"roster"), "/inbox/students.xlsx")
    folder = server.instance.unit_inbox("1001") / "@cls-2024-01"
    assert os.listdir(folder) == ["students.xlsx"]
    assert sorted(c.listdir("/outbox")) == ["errors", "receipts", "results", "status", "templates"]
    assert c.listdir("/outbox/receipts") == ["mine.json"]          # not the school's r1001.json
    for path in ("/inbox/..", "/outbox/..", "/outbox/../receipts", "/outbox/../../1001/receipts"):
        with pytest.raises(IOError):
            c.listdir(path)
    with pytest.raises(IOError):
        c.open("/outbox/../receipts/r1001.json")
    # The school's own login sees a flat inbox, and its whole outbox with the class's folder.
    school = server.login("1001", "pw-1001")
    assert school.listdir("/inbox") == []
    with pytest.raises(IOError):
        school.listdir("/inbox/@cls-2024-01")
    assert "@cls-2024-01" in school.listdir("/outbox")
    assert school.open("/outbox/@cls-2024-01/receipts/mine.json").read() == b'{"login": "cls-2024-01"}'
    assert server.uploads[-1].real == folder / "students.xlsx"
