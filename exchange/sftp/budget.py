"""Files open over SFTP, counted per login and in all.

OpenSSH gives each session a process, whose descriptors are its own; here every session is a
thread of `serve`'s one process. An open handle holds one of that process's descriptors, so a
single login opening thousands of files (one session opened 3,000) would leave intake, the
database and every other unit without any. Each login may hold `per_login` open files; all
logins together at most half of what the process may open, the other half being the service's.
"""
from __future__ import annotations

import errno
import resource
import threading
from collections import Counter

# What `serve` keeps for itself whatever the SFTP clients do: the database, watchers, the
# reading workers' pipes, logs, sockets.
SERVICE_SHARE = 0.5


def open_files_limit() -> int:
    """Raise the soft limit on open descriptors to the hard one (as servers do at start;
    systemd's default soft limit is 1,024) and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class OpenFiles:
    def __init__(self, per_login: int, total: int | None = None) -> None:
        self.per_login = per_login
        self.total = total if total is not None else int(open_files_limit() * (1 - SERVICE_SHARE))
        self._held: Counter[str] = Counter()
        self._all = 0
        self._lock = threading.Lock()

    def take(self, login: str) -> None:
        """Count one more file open for `login`; OSError(EMFILE) when it may not."""
        with self._lock:
            if self._held[login] >= self.per_login:
                raise OSError(errno.EMFILE, f"login {login} has {self.per_login} files open "
                                            "([sftp].max_open_files_per_login)")
            if self._all >= self.total:
                raise OSError(errno.EMFILE, f"{self.total} files open over sftp in all")
            self._held[login] += 1
            self._all += 1

    def give_back(self, login: str) -> None:
        with self._lock:
            self._held[login] -= 1
            self._all -= 1
            if self._held[login] <= 0:
                del self._held[login]

    def held(self, login: str) -> int:
        with self._lock:
            return self._held[login]
