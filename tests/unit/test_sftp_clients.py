"""What real SFTP clients do (issue 21 items 4-8, 10), replayed with paramiko and raw sockets
against the server in-process: sshfs's stat of a file it is writing, asyncssh's look at the
extension list, an old client's GBK name, `put x` at `/`, clients that hang up early, uploads
cut off mid-transfer."""
from __future__ import annotations

import io
import logging
import os
import socket
import struct
import time
from pathlib import Path

import paramiko
import pytest
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY

from tests.unit.test_sftp_server import Server, server, wait_for  # noqa: F401  (fixture)

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_a_file_being_uploaded_is_seen_by_its_own_session_only(server: Server) -> None:
    """sshfs: create, stat the path, write, chmod/utime, fstat, close; the file is published
    only at close, and intake (the inbox folder) never sees its final name before."""
    c = server.login("1001", "pw-1001")
    inbox = server.instance.unit_inbox("1001")
    fh = c.open("/inbox/sshfs.xlsx", "wb")
    assert c.stat("/inbox/sshfs.xlsx").st_size == 0
    assert c.lstat("/inbox/sshfs.xlsx").st_size == 0
    fh.write(b"0123456789")
    fh.flush()
    assert c.stat("/inbox/sshfs.xlsx").st_size == 10
    assert fh.stat().st_size == 10
    c.utime("/inbox/sshfs.xlsx", (1_700_000_000, 1_700_000_000))
    assert c.stat("/inbox/sshfs.xlsx").st_mtime == 1_700_000_000
    c.chmod("/inbox/sshfs.xlsx", 0o644)          # sshfs sends it; modes stay the service's
    fh.chmod(0o644)
    assert "sshfs.xlsx" not in os.listdir(inbox)
    other = server.login("1001", "pw-1001")       # another session of the same unit
    with pytest.raises(IOError):
        other.stat("/inbox/sshfs.xlsx")
    fh.close()
    assert (inbox / "sshfs.xlsx").read_bytes() == b"0123456789"
    assert c.stat("/inbox/sshfs.xlsx").st_size == 10
    assert [u.size for u in server.uploads] == [10]


def raw_sftp_version(server: Server) -> tuple[int, dict[bytes, bytes]]:
    """SSH_FXP_INIT by hand, as asyncssh does, and the extensions of the VERSION answer."""
    t = paramiko.Transport(("127.0.0.1", server.service.port))
    server.transports.append(t)
    t.connect(username="1001", password="pw-1001")
    chan = t.open_session()
    chan.invoke_subsystem("sftp")
    chan.sendall(struct.pack(">IBI", 5, 1, 3))
    length = struct.unpack(">I", chan.recv(4))[0]
    body = b""
    while len(body) < length:
        body += chan.recv(length - len(body))
    kind, version = body[0], struct.unpack(">I", body[1:5])[0]
    assert kind == 2
    rest, extensions = body[5:], {}
    while rest:
        n = struct.unpack(">I", rest[:4])[0]
        name, rest = rest[4:4 + n], rest[4 + n:]
        n = struct.unpack(">I", rest[:4])[0]
        extensions[name], rest = rest[4:4 + n], rest[4 + n:]
    chan.close()
    return version, extensions


def test_the_version_packet_lists_posix_rename_and_statvfs(server: Server) -> None:
    version, extensions = raw_sftp_version(server)
    assert version == 3
    assert extensions[b"posix-rename@openssh.com"] == b"1"
    assert extensions[b"statvfs@openssh.com"] == b"2"
    c = server.login("1001", "pw-1001")
    c.putfo(io.BytesIO(b"a"), "/inbox/a.xlsx")
    c.putfo(io.BytesIO(b"b"), "/inbox/b.xlsx")
    c.posix_rename("/inbox/a.xlsx", "/inbox/b.xlsx")   # overwrites, as rename may not
    assert os.listdir(server.instance.unit_inbox("1001")) == ["b.xlsx"]
    kind, msg = c._request(CMD_EXTENDED, "statvfs@openssh.com", "/inbox")
    assert kind == CMD_EXTENDED_REPLY
    values = [msg.get_int64() for _ in range(11)]
    st = os.statvfs(server.instance.unit_inbox("1001"))
    assert values[0] == st.f_bsize and values[2] == st.f_blocks and values[10] == st.f_namemax
    assert values[9] == 0                                # the inbox is writable
    kind, msg = c._request(CMD_EXTENDED, "statvfs@openssh.com", "/outbox")
    assert [msg.get_int64() for _ in range(11)][9] == 1  # ST_RDONLY
    with pytest.raises(IOError):
        c._request(CMD_EXTENDED, "statvfs@openssh.com", "/elsewhere")


def test_a_gbk_file_name_is_refused_with_a_clear_status_and_logged(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    c = server.login("1001", "pw-1001")
    name = "工资表.xlsx".encode("gbk")
    with caplog.at_level(logging.WARNING, logger="exchange.sftp"):
        with pytest.raises(IOError) as refused:
            c.open(b"/inbox/" + name, "wb")
    assert "UTF-8" in str(refused.value)
    lines = [r.getMessage() for r in caplog.records if "not in UTF-8" in r.getMessage()]
    assert len(lines) == 1 and "unit=1001" in lines[0] and "127.0.0.1" in lines[0]
    assert os.listdir(server.instance.unit_inbox("1001")) == []
    with pytest.raises(IOError, match="UTF-8"):
        c.stat(b"/inbox/" + name)
    # The session goes on.
    c.putfo(io.BytesIO(b"x"), "/inbox/ok.xlsx")
    assert os.listdir(server.instance.unit_inbox("1001")) == ["ok.xlsx"]


def test_put_at_the_root_goes_to_the_inbox(server: Server) -> None:
    c = server.login("1001", "pw-1001")
    c.chdir("/")
    c.putfo(io.BytesIO(b"root drop"), "psnAdd.xlsx")
    inbox = server.instance.unit_inbox("1001")
    assert (inbox / "psnAdd.xlsx").read_bytes() == b"root drop"
    assert server.uploads[-1].virtual == "/inbox/psnAdd.xlsx"
    with pytest.raises(IOError):
        c.putfo(io.BytesIO(b"x"), "/nowhere/psnAdd.xlsx")    # only a bare name at the root


def test_clients_hanging_up_early_are_one_info_line(server: Server,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = server.service.port
    quiet = socket.create_connection(("127.0.0.1", port))       # a banner never sent
    quiet.close()
    reset = socket.create_connection(("127.0.0.1", port))
    reset.sendall(b"SSH-2.0-probe\r\n")
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.2)
    reset.close()                                               # connection reset by peer
    t = paramiko.Transport(("127.0.0.1", port))
    t.name = "client probe"                 # its own reading of the reset is not the server's
    t.start_client()                                            # key exchange done, then EOF
    t.sock.shutdown(socket.SHUT_RDWR)
    t.close()
    junk = socket.create_connection(("127.0.0.1", port))
    junk.sendall(b"GET / HTTP/1.0\r\n\r\n")
    junk.recv(100)
    junk.close()
    wait_for(lambda: sum("ended" in r.getMessage() for r in caplog.records
                         if r.name == "exchange.sftp") >= 3)
    time.sleep(0.5)
    server_side = [r for r in caplog.records if not r.getMessage().startswith("Exception (client)")
                   and "client" not in r.threadName]
    bad = [(r.threadName, r.getMessage()) for r in server_side
           if r.levelno >= logging.ERROR or "Traceback" in r.getMessage()]
    assert bad == []
    ended = [r for r in caplog.records if r.name == "exchange.sftp" and " ended: " in r.getMessage()]
    assert any(r.levelno == logging.INFO for r in ended)
    assert all("\n" not in r.getMessage() for r in ended)


def test_an_upload_cut_off_mid_transfer_leaves_nothing(server: Server) -> None:
    """The client's connection is reset (no SSH close, no SFTP close) in the middle of a write."""
    c = server.login("1001", "pw-1001")
    fh = c.open("/inbox/half.xlsx", "wb")
    fh.write(b"x" * 50_000)
    fh.flush()
    inbox = server.instance.unit_inbox("1001")
    assert [n for n in os.listdir(inbox) if n.endswith(".part")]
    sock = server.transports[-1].sock
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()                                   # RST: the client process is gone
    wait_for(lambda: os.listdir(inbox) == [], 10)
    assert server.uploads == []


def test_inbox_listing_and_paths_are_unchanged_by_an_open_upload(server: Server, tmp_path: Path) -> None:
    c = server.login("1001", "pw-1001")
    fh = c.open("/inbox/open.xlsx", "wb")
    fh.write(b"abc")
    assert c.listdir("/inbox") == []              # listing is not required to show it
    with pytest.raises(IOError):
        c.open("/inbox/open.xlsx", "wb")          # not a second writer on the same name
    fh.close()
    assert c.listdir("/inbox") == ["open.xlsx"]


def test_temp_files_of_a_node_killed_mid_upload_are_swept(instance, backend: str) -> None:  # type: ignore[no-untyped-def]
    from exchange.sftp.server import sweep_stale_parts

    inbox = instance.unit_inbox("1001")
    inbox.mkdir(parents=True, exist_ok=True)
    old = inbox / ".psnAdd.xlsx.0a1b2c3d.part"
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = inbox / ".other.xlsx.0a1b2c3e.part"
    fresh.write_bytes(b"being written")
    sub = inbox / "@cls-1"
    sub.mkdir()
    (sub / ".x.xlsx.00000000.part").write_bytes(b"half")
    os.utime(sub / ".x.xlsx.00000000.part", (time.time() - 7200, time.time() - 7200))
    assert sweep_stale_parts(instance) == 2
    assert sorted(p.name for p in inbox.rglob("*")) == [".other.xlsx.0a1b2c3e.part", "@cls-1"]


def test_files_intake_never_takes_are_swept_after_a_day(instance, backend: str) -> None:  # type: ignore[no-untyped-def]
    """A name intake leaves alone (报表.xlsx.tmp, an Excel lock ~$报表.xlsx, Thumbs.db) is never
    judged and has no receipt: it stayed in the inbox for ever (a unit could keep any amount of
    data there). Untouched for a day it goes; a file being worked on, or one intake takes, stays."""
    from exchange.sftp.server import sweep_stale_parts

    inbox = instance.unit_inbox("1001")
    inbox.mkdir(parents=True, exist_ok=True)
    day_ago = time.time() - 25 * 3600
    for name in ("held.tmp", "~$报表.xlsx", "Thumbs.db", "报表.xlsx", "新.tmp"):
        (inbox / name).write_bytes(b"x")
        if name != "新.tmp":
            os.utime(inbox / name, (day_ago, day_ago))
    assert sweep_stale_parts(instance) == 3
    assert sorted(p.name for p in inbox.iterdir()) == ["报表.xlsx", "新.tmp"]
