"""Shared steps of the `exchange serve` flow tests: an instance on a free port, the service in a
subprocess, SFTP clients, and waiting on events (never blind sleeps)."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.config import Instance, init_instance

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_instance(home: Path, *, settle: float = 0.3, max_failures: int = 3) -> Instance:
    """A fresh instance on SQLite listening on a free loopback port."""
    init_instance(home)
    config = home / "config.toml"
    text = config.read_text(encoding="utf-8")
    for key, value in (("port", str(free_port())), ("settle_seconds", str(settle)),
                       ("max_failures", str(max_failures)), ("host", '"127.0.0.1"')):
        text, n = re.subn(rf"(?m)^{key}\s*=\s*[^#\n]*?(\s*(#.*)?)$", rf"{key} = {value}\1", text,
                          count=1)
        assert n == 1, key
    config.write_text(text, encoding="utf-8")
    return Instance(home)


def wait_until(probe: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def ed25519_key(path: Path) -> tuple[Path, Path]:
    """An unencrypted OpenSSH key pair (private file mode 0600, as ssh requires)."""
    private = ed25519.Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    pub = path.with_name(path.name + ".pub")
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
    pub.write_bytes(public + b" test@exchange\n")
    return path, pub


class Served:
    """`exchange serve` in a subprocess; stderr goes to a file so a full pipe never blocks it."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.port = instance.settings.sftp.port
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = instance.home / f"serve-{time.monotonic_ns()}.stderr"

    def start(self, timeout: float = 30.0) -> "Served":
        env = {k: v for k, v in os.environ.items() if k != "EXCHANGE_HOME"}
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from exchange.cli import main; main()",
             "--home", str(self.instance.home), "serve"],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr, env=env)
        wait_until(lambda: self.proc.poll() is not None or "serving " in self.output(), timeout,
                   "serve to start")
        assert self.proc.poll() is None, self.output()
        return self

    def output(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._stderr.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._stderr.close()

    def sftp(self, user: str, password: str | None = None,
             key: Path | None = None) -> paramiko.SFTPClient:
        transport = paramiko.Transport(("127.0.0.1", self.port))
        transport.connect(username=user, password=password,
                          pkey=paramiko.PKey.from_path(key) if key else None)
        return paramiko.SFTPClient.from_transport(transport)


def receipts(client: paramiko.SFTPClient, folder: str = "/outbox/receipts") -> list[str]:
    return sorted(n for n in client.listdir(folder) if n.endswith(".json"))
