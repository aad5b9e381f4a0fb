"""A throwaway PostgreSQL server for tests and benches: initdb into a temp folder, pg_ctl start.

Used when no server is named in EXCHANGE_TEST_PG_URL but the Debian `postgresql` package (or any
`pg_ctl` on PATH) is installed. The cluster trusts local connections, listens on 127.0.0.1 on a
free port and runs without fsync: its data is thrown away with it.

    python3 -m tests.pgserver start DIR     # prints the URL; `stop DIR` ends it
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUPERUSER = "exchange"
# Debian's initdb refuses to run as root; the cluster then belongs to this account.
SERVICE_ACCOUNT = "postgres"
PREFIX = "exchange-pg-"
OWNER_FILE = "owner.pid"          # the process that started the cluster; gone => orphan


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, else the newest Debian version."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner() -> list[str]:
    """Prefix that runs a command as the cluster's owner (root cannot own a cluster)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", SERVICE_ACCOUNT, "--"]


class LocalCluster:
    """One private server. `start()` returns a SQLAlchemy URL to its `postgres` database."""

    def __init__(self, root: Path | None = None, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
        self.bindir: Path = found
        # Not under pytest's tmp folders: those are private to the user and the server's
        # account could not enter them.
        self.root = root or Path(tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.root / "data"
        self.port = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*_as_owner(), *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self, *, owned: bool = True) -> str:
        """Start the server. `owned`: it belongs to this process, and is reaped once it is gone."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVICE_ACCOUNT, SERVICE_ACCOUNT)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C")
        self.port = free_port()
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._opts = opts
        self._pg_ctl_start()
        (self.root / "url").write_text(self.url)
        if owned:
            (self.root / OWNER_FILE).write_text(str(os.getpid()))
        return self.url

    def _pg_ctl_start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-o", self._opts, "-w", "-t", "60", "start")

    def pause(self) -> None:
        """Stop the server but keep its data: `resume()` starts it again on the same port."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._pg_ctl_start()

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*_as_owner(), str(self.bindir / "pg_ctl"), "-D", str(self.data),
                            "-m", "immediate", "-w", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans() -> None:
    """Stop clusters whose starter died without stopping them (a killed test run)."""
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            LocalCluster(root).stop()


def _has_c_utf8() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(x.lower() in ("c.utf8", "c.utf-8") for x in out.split())


def wait_reachable(url: str, seconds: float = 10.0) -> bool:
    """True once the server named by `url` accepts a connection."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(conninfo, connect_timeout=3):
                return True
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    cluster = LocalCluster(root)
    if argv[0] == "start":
        print(cluster.start(owned=False))
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
