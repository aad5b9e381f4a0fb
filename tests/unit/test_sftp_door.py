"""Nobody can lock the door from outside (issue 15.5) and guesses sent at once are counted
before they are checked (issue 21.23): the server in-process with small limits, paramiko
clients and raw sockets from other loopback addresses (127.0.0.2, .3) as the strangers. Nor
from inside: one login cannot hold every connection, nor one connection a thread per session
without end."""
from __future__ import annotations

import io
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import paramiko
import psutil
import pytest
from argon2 import PasswordHasher

import exchange.sftp.auth as auth_module
from exchange.config import Instance
from exchange.sftp.auth import Authenticator
from exchange.sftp.lockout import DatabaseLockout, LockoutPolicy
from exchange.sftp.server import SftpService
from exchange.store.models import Account

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


class Door:
    def __init__(self, instance: Instance, service: SftpService, auth: Authenticator) -> None:
        self.instance, self.service, self.auth = instance, service, auth
        self.transports: list[paramiko.Transport] = []

    def sock(self, source: str = "127.0.0.1") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.service.port), timeout=10,
                                        source_address=(source, 0))
        return sock

    def login(self, user: str, password: str, source: str = "127.0.0.1") -> paramiko.SFTPClient:
        t = paramiko.Transport(self.sock(source))
        self.transports.append(t)
        t.connect(username=user, password=password)
        return paramiko.SFTPClient.from_transport(t)

    def try_login(self, user: str, password: str, source: str = "127.0.0.1") -> bool:
        try:
            self.login(user, password, source)
            return True
        except (paramiko.SSHException, OSError, EOFError):
            return False


@pytest.fixture
def door_factory(instance: Instance, db) -> Iterator[Callable[..., Door]]:  # type: ignore[no-untyped-def]
    doors: list[Door] = []

    def make(**sftp: Any) -> Door:
        settings = replace(instance.settings, limits=replace(instance.settings.limits, max_file_mb=1),
                           sftp=replace(instance.settings.sftp, **sftp))
        inst = Instance(instance.home, settings)
        auth = Authenticator(db, DatabaseLockout(db, LockoutPolicy.from_settings(settings.sftp)),
                             max_checks=settings.sftp.max_password_checks, wait_seconds=10)
        service = SftpService(inst, auth, port=0)
        service.start()
        doors.append(Door(inst, service, auth))
        return doors[-1]

    yield make
    for d in doors:
        for t in d.transports:
            t.close()
        d.service.stop()


class Checks:
    """Records each argon2 verification (which hash) and how many ran at once; each is made
    to last at least `delay`."""

    def __init__(self) -> None:
        self.delay, self.running, self.most = 0.0, 0, 0
        self.hashes: list[str] = []
        self.lock = threading.Lock()
        self.original = auth_module.verify_password

    def __call__(self, stored: str, password: str) -> bool:
        with self.lock:
            self.hashes.append(stored)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            return self.original(stored, password)
        finally:
            with self.lock:
                self.running -= 1

    def against(self, stored: str) -> int:
        return sum(1 for h in self.hashes if h == stored)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    counter = Checks()
    monkeypatch.setattr(auth_module, "verify_password", counter)
    return counter


def at_once(n: int, fn: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        results[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def stored_hash(db, login: str) -> str:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.get(Account, login).password_hash


def test_guesses_sent_at_once_are_counted_before_they_are_checked(door_factory, checks, db) -> None:  # type: ignore[no-untyped-def]
    """40 passwords at once, the right one sent last among them: no more than max_failures are
    checked against the real hash, the account ends locked, the right one does not get in."""
    door = door_factory(max_failures=3, max_unauthenticated=64, max_unauthenticated_per_address=64)
    checks.delay = 0.05
    real = stored_hash(db, "1002")

    def attempt(i: int) -> bool:
        time.sleep(0.002 * i)
        return door.try_login("1002", "pw-1002" if i == 39 else f"guess-{i}")
    results = at_once(40, attempt)
    assert not any(results)
    assert checks.against(real) <= 3
    assert len(checks.hashes) == 40           # every refused one still paid for a (decoy) check
    with db.session() as s:
        account = s.get(Account, "1002")
        assert account.locked_until is not None and account.failures >= 3


def test_unknown_and_locked_logins_pay_one_verification_like_a_wrong_password(door_factory, checks, db) -> None:  # type: ignore[no-untyped-def]
    door = door_factory(max_failures=2)
    real = stored_hash(db, "1002")
    for user, password in (("1002", "wrong"), ("nobody", "x"), ("1002", "wrong")):
        before = len(checks.hashes)
        assert not door.try_login(user, password)
        assert len(checks.hashes) == before + 1, user
    with db.session() as s:
        assert s.get(Account, "1002").locked_until is not None
    assert not door.try_login("1002", "pw-1002")         # locked: refused after a decoy check
    assert len(checks.hashes) == 4 and checks.against(real) == 2
    # The decoy costs what a real hash costs: the same argon2 parameters.
    assert checks.hashes[1] == checks.hashes[3] != real
    assert checks.hashes[1].split("$")[3] == real.split("$")[3], "decoy and real hashes differ in cost"


def test_no_more_password_checks_run_at_once_than_the_pool_allows(door_factory, checks) -> None:  # type: ignore[no-untyped-def]
    door = door_factory(max_password_checks=2, max_unauthenticated=64,
                        max_unauthenticated_per_address=64, max_failures=50)
    checks.delay = 0.2
    results = at_once(10, lambda i: door.try_login("1001" if i % 2 else "nobody", f"guess-{i}"))
    assert not any(results)
    assert len(checks.hashes) == 10 and checks.most == 2


def test_strangers_are_refused_before_key_exchange_and_dropped_after_the_grace_time(door_factory) -> None:  # type: ignore[no-untyped-def]
    door = door_factory(max_unauthenticated=5, max_unauthenticated_per_address=3,
                        login_grace_seconds=2)
    held = [door.sock("127.0.0.2") for _ in range(3)]
    for sock in held:
        assert sock.recv(64).startswith(b"SSH-2.0-")
    refused = door.sock("127.0.0.2")
    assert refused.recv(64) == b""              # closed at once: no banner, no key exchange
    more = [door.sock("127.0.0.3") for _ in range(2)]
    for sock in more:
        assert sock.recv(64).startswith(b"SSH-2.0-")
    assert door.sock("127.0.0.4").recv(64) == b""   # 5 in total not logged in: the cap
    time.sleep(3.5)                                 # the grace time passes; the reaper closes
    for sock in held + more:
        sock.settimeout(5)
        assert sock.recv(4096) == b"" or sock.recv(4096) == b""
    # The door is open again: a unit logs in at once.
    started = time.monotonic()
    assert door.login("1001", "pw-1001").listdir("/inbox") == []
    assert time.monotonic() - started < 5


def test_a_burst_of_strangers_does_not_keep_a_unit_out_nor_grow_memory(door_factory) -> None:  # type: ignore[no-untyped-def]
    """40 idle handshakes and 40 wrong logins at once (the 200-figure is in bench/): a unit
    still logs in within seconds and the process grows by less than 100 MB."""
    door = door_factory(max_unauthenticated=24, max_unauthenticated_per_address=8,
                        login_grace_seconds=5, max_failures=1000)
    rss = psutil.Process().memory_info().rss
    idle: list[socket.socket] = []
    for _ in range(40):
        try:
            idle.append(door.sock("127.0.0.2"))
        except OSError:
            pass
    stop = threading.Event()

    def bogus(i: int) -> None:
        while not stop.is_set():
            door.try_login("1002" if i % 2 else f"nobody{i}", "guess", "127.0.0.3")
    threads = [threading.Thread(target=bogus, args=(i,), daemon=True) for i in range(40)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    started = time.monotonic()
    assert door.login("1001", "pw-1001").listdir("/inbox") == []
    took = time.monotonic() - started
    grown = (psutil.Process().memory_info().rss - rss) / 2**20
    stop.set()
    for t in threads:
        t.join(30)
    for sock in idle:
        sock.close()
    print(f"unit logged in after {took:.2f}s; grown {grown:.0f} MB")
    assert took < 5 and grown < 100


def test_an_old_hash_is_renewed_at_the_next_login(door_factory, db) -> None:  # type: ignore[no-untyped-def]
    import exchange.accounts as accounts

    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("pw-1001")
    with db.session() as s:
        s.get(Account, "1001").password_hash = old
    door = door_factory()
    assert door.login("1001", "pw-1001").listdir("/inbox") == []
    new = stored_hash(db, "1001")
    assert new != old and not accounts._hasher.check_needs_rehash(new)
    assert accounts.verify_password(new, "pw-1001")
    # What ships (the conftest swaps in a cheaper hasher): OWASP's argon2id m=19 MiB, t=2, p=1.
    shipped = PasswordHasher(time_cost=accounts.HASH_TIME_COST, memory_cost=accounts.HASH_MEMORY_KIB,
                             parallelism=accounts.HASH_PARALLELISM).hash("x")
    assert shipped.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_refused_upload_leaves_no_temp_file_even_before_the_client_closes(door_factory) -> None:  # type: ignore[no-untyped-def]
    door = door_factory()
    c = door.login("1001", "pw-1001")
    inbox = door.instance.unit_inbox("1001")
    fh = c.open("/inbox/huge.xlsx", "wb")
    fh.set_pipelined(False)
    with pytest.raises(IOError):
        fh.write(b"x" * (1024 * 1024 + 1))
    assert os.listdir(inbox) == []              # gone at the refusal, not at close
    fh.close()
    assert os.listdir(inbox) == []


def test_one_connection_opens_no_more_sessions_than_allowed_and_closed_ones_free_theirs(door_factory) -> None:  # type: ignore[no-untyped-def]
    """Each SFTP session is a thread of serve: 4,000 sessions on one logged-in connection were
    4,000 threads (OpenSSH allows 10: MaxSessions)."""
    door = door_factory(max_sessions_per_connection=3)
    first = door.login("1001", "pw-1001")
    transport = first.get_channel().get_transport()
    more = [paramiko.SFTPClient.from_transport(transport) for _ in range(2)]
    with pytest.raises(paramiko.ChannelException) as refused:
        paramiko.SFTPClient.from_transport(transport)
    assert refused.value.code == paramiko.OPEN_FAILED_RESOURCE_SHORTAGE
    assert first.listdir("/") == ["inbox", "outbox"]        # the connection itself goes on
    for client in more:
        client.close()
    time.sleep(0.3)
    again = [paramiko.SFTPClient.from_transport(transport) for _ in range(2)]
    assert [c.listdir("/inbox") for c in again] == [[], []]


def test_one_login_cannot_hold_every_connection(door_factory) -> None:  # type: ignore[no-untyped-def]
    """max_connections (here 6) logged-in connections all held by one unit kept every other
    unit out; now one login holds at most max_connections_per_login (here 3). The refused
    connection is closed, so it holds no place either."""
    door = door_factory(max_connections=6, max_connections_per_login=3)
    held = [door.login("1001", "pw-1001") for _ in range(3)]
    transport = paramiko.Transport(door.sock())
    door.transports.append(transport)
    transport.connect(username="1001", password="pw-1001")   # the password was right ...
    with pytest.raises(paramiko.ChannelException) as refused:   # ... but no session
        paramiko.SFTPClient.from_transport(transport)
    assert refused.value.code == paramiko.OPEN_FAILED_RESOURCE_SHORTAGE
    deadline = time.monotonic() + 5
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not transport.is_active()
    assert [door.login("1002", "pw-1002").listdir("/") for _ in range(3)] == [["inbox", "outbox"]] * 3
    assert [c.listdir("/") for c in held] == [["inbox", "outbox"]] * 3   # the three go on
    held[0].get_channel().get_transport().close()
    time.sleep(0.3)
    assert door.login("1001", "pw-1001").listdir("/inbox") == []


def test_one_login_keeps_no_more_files_open_than_allowed(door_factory) -> None:  # type: ignore[no-untyped-def]
    """Every open file is a descriptor of serve's one process: one session had 3,000 open and
    could have taken every descriptor the service has. Files finished, read, refused or cut off
    give theirs back."""
    door = door_factory(max_open_files_per_login=3)
    budget = door.service.services.open_files
    client = door.login("1001", "pw-1001")
    held = [client.open(f"/inbox/a{i}.xlsx", "wb") for i in range(3)]
    with pytest.raises(OSError):
        client.open("/inbox/a3.xlsx", "wb")
    other = door.login("1002", "pw-1002")            # another login has its own
    with other.open("/inbox/b.xlsx", "wb") as f:
        f.write(b"b")
    for f in held:
        f.write(b"x")
        f.close()
    assert budget.held("1001") == 0 and sorted(
        p.name for p in door.instance.unit_inbox("1001").iterdir()) == ["a0.xlsx", "a1.xlsx", "a2.xlsx"]
    readers = [client.open("/inbox/a0.xlsx", "rb") for _ in range(3)]   # reads count too
    with pytest.raises(OSError):
        client.open("/inbox/a1.xlsx", "rb")
    for f in readers:
        f.close()
    big = client.open("/inbox/big.xlsx", "wb")        # refused for its size: given back at once
    with pytest.raises(OSError):
        big.write(b"x" * (1024 * 1024 + 1))
        big.flush()
    deadline = time.monotonic() + 5
    while budget.held("1001") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert budget.held("1001") == 0
    cut = [client.open(f"/inbox/c{i}.xlsx", "wb") for i in range(3)]   # the client goes away
    assert len(cut) == 3 and budget.held("1001") == 3
    client.get_channel().get_transport().close()
    deadline = time.monotonic() + 5
    while budget.held("1001") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert budget.held("1001") == 0
    assert not [p for p in door.instance.unit_inbox("1001").iterdir() if p.name.startswith(("c", ".c"))]


def test_all_logins_together_keep_the_service_its_share_of_descriptors(backend: str) -> None:
    import errno
    import resource

    from exchange.sftp.budget import SERVICE_SHARE, OpenFiles, open_files_limit

    budget = OpenFiles(per_login=3, total=4)
    for login in ("a", "a", "a", "b"):
        budget.take(login)
    with pytest.raises(OSError) as full:
        budget.take("c")                  # c holds none, but all together hold 4
    assert full.value.errno == errno.EMFILE
    budget.give_back("a")
    budget.take("c")
    assert (budget.held("a"), budget.held("b"), budget.held("c")) == (2, 1, 1)
    limit = open_files_limit()                 # the soft limit raised to the hard one
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert limit == soft and (soft == hard or hard == resource.RLIM_INFINITY)
    assert OpenFiles(per_login=64).total == int(limit * (1 - SERVICE_SHARE))
