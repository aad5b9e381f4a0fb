"""The SFTP service on paramiko's server interfaces: one login per unit, its view, its uploads.

Uploads are written to a hidden temp name (".<name>.<token>.part", which intake ignores) and
renamed to the final name when the client closes the file; a connection that drops mid-upload
leaves nothing behind. Each finished upload is handed to `on_upload` with the unit, the virtual
path and the real path (as SFTPGo's upload actions), so intake need not wait for the watcher.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import re
import secrets
import shutil
import socket
import struct
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import paramiko
from paramiko import InteractiveQuery, SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import (CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_INIT, CMD_NAMES, CMD_VERSION,
                           CMD_WRITE, SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_OP_UNSUPPORTED,
                           SFTP_PERMISSION_DENIED, int64)

from exchange.config import Instance
from exchange.errors import ConfigError
from exchange.metrics import Metrics
from exchange.names import ignored
from exchange.messages import PASSWORD_WORDS, SFTP_WORDS
from exchange.sftp.auth import Authenticator, Principal
from exchange.sftp.budget import OpenFiles
from exchange.sftp.hostkey import load_host_key
from exchange.sftp.view import Denied, Missing, Resolved, View, check_name
from exchange.text import log_safe

log = logging.getLogger("exchange.sftp")

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
FREE_CHECK_BYTES = 8 << 20         # an upload looks at the disk's free space again every 8 MiB


@dataclass(frozen=True)
class Upload:
    """A file a login finished writing into its inbox."""
    unit: str
    login: str
    virtual: str
    real: Path
    size: int


OnUpload = Callable[[Upload], None]


@dataclass
class Services:
    """What every connection needs; built once by SftpService."""
    instance: Instance
    auth: Authenticator
    max_bytes: int
    on_upload: OnUpload | None
    open_files: OpenFiles
    max_inbox: int = 0              # bytes; 0: no limit
    min_free: int = 0               # bytes; 0: no check

    def room(self, target: Resolved) -> int:
        """How large an upload to `target` may grow: max_file_mb, less than what its inbox
        holds beyond max_inbox_mb (files waiting, other uploads' temp files). Refused when
        there is no room at all, or the disk is short of min_free_mb: the client's open fails,
        saying why, and nothing is written."""
        assert target.area is not None and target.real is not None
        room = self.max_bytes
        if self.max_inbox:
            room = min(room, self.max_inbox - _held(target.area.root, target.real))
        if room <= 0:
            raise self.over(room)
        self.check_disk(target)
        return room

    def over(self, room: int) -> Refused:
        if room < self.max_bytes:
            return Refused("inbox_full", self.max_inbox,
                           f"the inbox would hold more than [sftp] max_inbox_mb ({self.max_inbox >> 20} MB)")
        return Refused("too_large", self.max_bytes, f"over the size limit of {self.max_bytes} bytes")

    def check_disk(self, target: Resolved) -> None:
        if not self.min_free or target.area is None:
            return
        st = os.statvfs(target.area.root)
        if st.f_bavail * st.f_frsize < self.min_free:
            raise Refused("disk_full", self.min_free,
                          f"less than [sftp] min_free_mb ({self.min_free >> 20} MB) free")


class Refused(Exception):
    """An upload refused, with the words the client shows (WinSCP and FileZilla show an SFTP
    status's message) and the reason for the log."""

    def __init__(self, words: str, limit: int, reason: str) -> None:
        super().__init__(reason)
        self.message = SFTP_WORDS[words].format(mb=limit >> 20)


def _held(root: Path, replacing: Path) -> int:
    """Bytes of the files in an inbox (it is flat), but the one an upload replaces."""
    held = 0
    with os.scandir(root) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.path != str(replacing):
                    held += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return held


def _fails(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn view refusals and OS errors into SFTP status codes, logging each refusal."""
    @functools.wraps(fn)
    def wrapper(self: "SftpSession", path: str, *args: Any) -> Any:
        try:
            return fn(self, path, *args)
        except Denied as exc:
            log.warning("unit=%s file=%r: %s refused: %s", self.unit, path, fn.__name__, exc)
            return SFTP_PERMISSION_DENIED
        except Missing:
            return SFTP_NO_SUCH_FILE
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                log.warning("unit=%s file=%r: %s failed: %s", self.unit, path, fn.__name__, exc)
            return SFTPServer.convert_errno(exc.errno or 0)
    return wrapper


def _dir_attrs(name: str, like: Path) -> SFTPAttributes:
    attrs = SFTPAttributes.from_stat(os.stat(like), name)
    return attrs


def _utime(target: Path | int, attr: SFTPAttributes) -> int:
    """Only times may change: modes and owners are the service's business, and are let be
    (OpenSSH's `put -p` sends them with the times). A file's size is refused here (a client
    truncating a file to resume it must not be told it did); an upload in progress may
    (UploadHandle.chattr)."""
    if attr._flags & attr.FLAG_SIZE:
        return SFTP_OP_UNSUPPORTED
    if attr._flags & attr.FLAG_AMTIME:
        os.utime(target, (attr.st_atime, attr.st_mtime))
    return SFTP_OK


def _times_only(attr: SFTPAttributes) -> SFTPAttributes:
    """`attr` without its size: its times, if it has them."""
    times = SFTPAttributes()
    times.st_atime, times.st_mtime = attr.st_atime, attr.st_mtime
    times._flags = attr._flags & attr.FLAG_AMTIME
    return times


# OpenSSH's sftp-server bounds: no SFTP message over 256 KiB is read (a client may send one of
# up to 16 MB, held whole in memory before it is looked at), and a READ answers at most 255 KiB
# (one asking for a whole 95 MB file was read into memory at once: 400 MB a request).
MAX_MESSAGE = 256 * 1024
MAX_READ = MAX_MESSAGE - 1024


class _BoundedRead:
    def read(self, offset: int, length: int) -> bytes | int:
        return super().read(offset, min(length, MAX_READ))  # type: ignore[misc]


class ReadHandle(_BoundedRead, SFTPHandle):
    def __init__(self, real: Path, session: "SftpSession") -> None:
        super().__init__(os.O_RDONLY)
        fd, self.give_back = session.open_file(real, os.O_RDONLY | NOFOLLOW)
        self.readfile = os.fdopen(fd, "rb")

    def close(self) -> None:
        super().close()
        self.give_back()

    def stat(self) -> SFTPAttributes:
        return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    def chattr(self, attr: SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED


class UploadHandle(_BoundedRead, SFTPHandle):
    """Writes to a temp name beside the final one; `close()` renames it into place.

    While open, the file is visible to its own session under its final name (stat, setstat:
    sshfs stats a file right after creating it), never to intake nor to other sessions.
    """

    def __init__(self, session: "SftpSession", target: Resolved, flags: int) -> None:
        super().__init__(flags)
        assert target.real is not None
        self.session, self.target, self.final = session, target, target.real
        self.temp = self.final.with_name(f".{self.final.name}.{secrets.token_hex(4)}.part")
        self.refused: str | None = None
        self.closed = False
        self.append = bool(flags & os.O_APPEND)   # paramiko then writes at the end, whatever offset
        if flags & os.O_EXCL and self.final.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(self.final))
        self.room = session.services.room(target)        # bytes this upload may reach
        self.checked_free = 0
        fd, self.give_back = session.open_file(self.temp,
                                               os.O_RDWR | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o640)
        self.writefile = os.fdopen(fd, "r+b")
        if flags & os.O_RDWR:
            self.readfile = self.writefile
        if not flags & os.O_TRUNC and self.final.is_file():
            # Resume or rewrite part of an existing upload: start from its bytes.
            with open(self.final, "rb") as src:
                shutil.copyfileobj(src, self.writefile)
            self.writefile.flush()
        session.uploads[target.virtual] = self

    def write(self, offset: int, data: bytes) -> int:
        if self.refused:
            return SFTP_FAILURE
        at = os.fstat(self.writefile.fileno()).st_size if self.append else offset
        end = at + len(data)
        services = self.session.services
        try:
            if end > self.room:
                raise services.over(self.room)
            if end - self.checked_free >= FREE_CHECK_BYTES:
                self.checked_free = end
                services.check_disk(self.target)
        except Refused as exc:
            # Refused at once: the temp file goes now, not when (or if) the client closes.
            self._discard(str(exc))
            raise
        return super().write(offset, data)

    def stat(self) -> SFTPAttributes:
        if self.refused:
            return SFTP_FAILURE
        return SFTPAttributes.from_stat(os.fstat(self.writefile.fileno()))

    def chattr(self, attr: SFTPAttributes) -> int:
        if self.refused:
            return SFTP_FAILURE
        fd = self.writefile.fileno()
        if attr._flags & attr.FLAG_SIZE:          # sshfs truncates what it writes (ftruncate)
            if attr.st_size is None or attr.st_size > self.room:
                return SFTP_FAILURE
            self.writefile.flush()
            os.ftruncate(fd, attr.st_size)
            attr = _times_only(attr)
        return _utime(fd, attr)

    def _discard(self, reason: str) -> None:
        """Drop the upload: the temp file is removed and nothing is published."""
        if self.refused is None:
            self.refused = reason
            log.warning("unit=%s file=%s: upload discarded: %s", self.session.unit,
                        self.final.name, reason)
        self.session.uploads.pop(self.target.virtual, None)
        if not self.writefile.closed:
            self.writefile.close()
        self.give_back()
        self.temp.unlink(missing_ok=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.refused or self.session.ended:
            self._discard(self.refused or "connection ended before the file was closed")
            return
        try:
            self.writefile.flush()
            os.fsync(self.writefile.fileno())
        except OSError as exc:
            self._discard(f"could not be written: {exc.strerror or exc}")
            return
        finally:
            if not self.writefile.closed:
                self.writefile.close()
            self.give_back()
        self.session.uploads.pop(self.target.virtual, None)
        size = self.temp.stat().st_size
        os.replace(self.temp, self.final)
        log.info("unit=%s file=%s: received %d bytes over sftp (login %s)", self.session.unit,
                 self.final.name, size, self.session.principal.login)
        self.session.services.instance.metrics.sftp_upload(size)
        on_upload = self.session.services.on_upload
        if on_upload is not None:
            on_upload(Upload(self.session.unit, self.session.principal.login, self.target.virtual,
                             self.final, size))


class SftpSession(SFTPServerInterface):
    """One SFTP subsystem: every request resolves through the login's View."""

    def __init__(self, server: "SshServer", services: Services, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        principal = server.principal
        if principal is None or principal.login != server.transport.get_username() \
                or principal.change is not None:
            raise paramiko.SSHException("sftp without an authenticated login")
        self.principal: Principal = principal
        self.ssh = server
        self.unit = principal.unit_code
        self.services = services
        self.view = View.for_unit(services.instance, self.unit, principal.login, principal.role)
        self.ended = False
        # Uploads still open in this session, by virtual path (its own view of them).
        self.uploads: dict[str, UploadHandle] = {}

    def session_started(self) -> None:
        self.services.auth.accepted(self.principal.login)
        self.services.instance.metrics.sftp_login(self.ssh.method, True)
        self.services.instance.metrics.sftp_session(opened=True)
        log.info("unit=%s file=-: sftp session opened (login %s from %s)", self.unit,
                 self.principal.login, self.server_peer())

    def session_ended(self) -> None:
        self.ended = True
        self.services.instance.metrics.sftp_session(opened=False)
        # An upload cut off mid-transfer (the client died, the network went) leaves nothing.
        for handle in list(self.uploads.values()):
            handle.close()
        log.info("unit=%s file=-: sftp session closed (login %s)", self.unit, self.principal.login)

    def open_file(self, path: Path, flags: int, mode: int = 0o777) -> tuple[int, Callable[[], None]]:
        """os.open, counted against this login's open files (OSError EMFILE when it may not:
        exchange.sftp.budget): the descriptor, and the function that gives the count back, once,
        however often it is called."""
        budget, login = self.services.open_files, self.principal.login
        budget.take(login)
        given = threading.Event()

        def give_back() -> None:
            if not given.is_set():
                given.set()
                budget.give_back(login)
        try:
            return os.open(path, flags, mode), give_back
        except OSError:
            give_back()
            raise

    def server_peer(self) -> str:
        host, port = self.ssh.peer()
        return f"{host}:{port}"

    # Listing and attributes -------------------------------------------------------------
    @_fails
    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        r = self.view.resolve(path)
        if r.is_root:
            return [_dir_attrs(a.name, a.root) for a in self.view.areas.values()]
        assert r.real is not None
        if not r.real.is_dir():
            raise Missing(path)
        entries = []
        with os.scandir(r.real) as it:
            for entry in it:
                try:
                    check_name(entry.name)
                except Denied:
                    continue
                if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
                    continue
                if r.area is not None and r.area.writable and not entry.is_file():
                    continue      # the inbox is flat: sub-account folders are not shown
                entries.append(SFTPAttributes.from_stat(entry.stat(follow_symlinks=False),
                                                        entry.name))
        return entries

    def _uploading(self, path: str) -> UploadHandle | None:
        """This session's own open upload at `path` (given at /inbox or at /)."""
        try:
            virtual = self._write_target(path).virtual
        except (Denied, Missing):
            return None
        return self.uploads.get(virtual)

    @_fails
    def stat(self, path: str) -> SFTPAttributes | int:
        upload = self._uploading(path)
        if upload is not None:
            attrs = upload.stat()
            if isinstance(attrs, SFTPAttributes):
                attrs.filename = upload.final.name
            return attrs
        r = self._at_root(path, self.view.resolve)
        if r.is_root:
            attrs = _dir_attrs("/", self.view.areas["inbox"].root)
            attrs.st_mode = (attrs.st_mode or 0) & ~0o222  # the root itself cannot be written
            return attrs
        assert r.real is not None and r.area is not None
        return SFTPAttributes.from_stat(os.stat(r.real), r.parts[-1] if r.parts else r.area.name)

    lstat = stat  # links are resolved and checked by the view, never shown as links

    # Files -------------------------------------------------------------------------------
    @_fails
    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        if flags & WRITE_FLAGS:
            target = self._write_target(path)
            if target.virtual in self.uploads:
                raise Denied("the file is being uploaded in this session already")
            assert target.real is not None
            if target.real.is_dir():
                raise Denied("a folder")
            handle: SFTPHandle = UploadHandle(self, target, flags)
            return handle
        r = self.view.resolve(path)
        if r.real is None or not r.real.is_file():
            raise Missing(path)
        return ReadHandle(r.real, self)

    def _write_target(self, path: str) -> Resolved:
        return self._at_root(path, self.view.for_write)

    @staticmethod
    def _at_root(path: str, resolve: Callable[[str], Resolved]) -> Resolved:
        """A bare file name at the root ("put x" at "/", the folder most clients start in) is
        taken as /inbox/x: there is nowhere else to write (and the client may stat it after)."""
        try:
            return resolve(path)
        except Missing:
            parts = [p for p in path.split("/") if p not in ("", ".")]
            if len(parts) != 1:
                raise
            return resolve("/inbox/" + parts[0])

    @_fails
    def remove(self, path: str) -> int:
        target = self.view.for_write(path)
        assert target.real is not None
        if not target.real.is_file():
            raise Missing(path)
        target.real.unlink()
        log.info("unit=%s file=%s: removed by the unit before processing", self.unit,
                 target.real.name)
        return SFTP_OK

    def _rename(self, oldpath: str, newpath: str, overwrite: bool) -> int:
        old, new = self.view.for_write(oldpath), self.view.for_write(newpath)
        assert old.real is not None and new.real is not None
        if not old.real.is_file():
            raise Missing(oldpath)
        if new.real.exists() and not overwrite:
            return SFTP_FAILURE
        os.replace(old.real, new.real)
        log.info("unit=%s file=%s: renamed from %s", self.unit, new.real.name, old.real.name)
        return SFTP_OK

    @_fails
    def rename(self, oldpath: str, newpath: str) -> int:
        return self._rename(oldpath, newpath, overwrite=False)

    @_fails
    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._rename(oldpath, newpath, overwrite=True)

    @_fails
    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        upload = self._uploading(path)
        if upload is not None:
            return upload.chattr(attr)
        target = self.view.for_write(path)
        assert target.real is not None
        if not target.real.is_file():
            raise Missing(path)
        return _utime(target.real, attr)

    @_fails
    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        self.view.resolve(path)
        raise Denied("folders cannot be made")

    @_fails
    def rmdir(self, path: str) -> int:
        self.view.resolve(path)
        raise Denied("folders cannot be removed")

    @_fails
    def symlink(self, target_path: str, path: str) -> int:
        raise Denied("links cannot be made")

    @_fails
    def readlink(self, path: str) -> str | int:
        self.view.resolve(path)
        return SFTP_OP_UNSUPPORTED

    def canonicalize(self, path: str) -> str:
        try:
            return self.view.canonical(path)
        except Denied:
            return "/"


class SshServer(paramiko.ServerInterface):
    """One connection's SSH side: authentication and the sftp subsystem only.

    Passwords are checked by "password" or by "keyboard-interactive" (one prompt). When the
    password is the initial one, was reset, or has expired, the login is not complete: a
    "password" login is answered "partial success, continue with keyboard-interactive", and
    keyboard-interactive asks for a new password twice (WinSCP, FileZilla and OpenSSH show the
    prompts); only when it is stored does the login succeed and files become reachable.
    """

    MAX_CHANGE_TRIES = 3

    def __init__(self, transport: paramiko.Transport, auth: Authenticator,
                 metrics: Metrics | None = None, *, max_sessions: int = 10,
                 crowded: Callable[[SshServer], int | None] | None = None) -> None:
        self.transport, self.auth, self.metrics = transport, auth, metrics
        self.max_sessions, self.crowded = max_sessions, crowded
        self.admitted = self.refused = False    # by its login's count of connections
        self._channels: list[paramiko.Channel] = []    # its session channels, taken from paramiko
        self.principal: Principal | None = None
        self.method = "none"             # how the principal logged in
        self._changing: tuple[Principal, str] | None = None   # (who, current password)
        self._asked: str | None = None                         # login asked for its password
        self._change_tries = 0

    def peer(self) -> tuple[str, int]:
        try:
            host, port = self.transport.getpeername()[:2]
            return str(host), int(port)
        except (OSError, AttributeError, TypeError, ValueError):
            return "unknown", 0

    def get_allowed_auths(self, username: str) -> str:
        if self._changing is not None:
            return "keyboard-interactive"
        return "publickey,keyboard-interactive,password"

    def _password(self, username: str, password: str) -> int | InteractiveQuery:
        principal = self.auth.password(username, password)
        if principal is None:
            # The address as OpenSSH's "Failed password ... from <host> port <n>" gives it, so a
            # fail2ban filter can ban it (deploy/fail2ban/); `remote` for JSON logs.
            # The login is the client's text: only word characters pass, so a name such as
            # "x from 10.0.0.1" cannot make the filter ban someone else.
            host, port, login = *self.peer(), re.sub(r"[^\w.@-]", "?", username[:64])
            log.warning("unit=- file=-: authentication failed for login %s from %s port %d",
                        login, host, port, extra={"login": login, "remote": host})
            if self.metrics is not None:
                self.metrics.sftp_login("password", False)
            return paramiko.AUTH_FAILED
        if principal.change is not None:
            self._changing, self._change_tries = (principal, password), 0
            log.info("unit=%s file=-: %s must change its password (%s) before any file "
                     "operation", principal.unit_code, principal.login, principal.change)
            return self._change_query(PASSWORD_WORDS[principal.change])
        self.principal, self.method = principal, "password"
        return paramiko.AUTH_SUCCESSFUL

    def check_auth_password(self, username: str, password: str) -> int:
        result = self._password(username, password)
        if isinstance(result, InteractiveQuery):
            return paramiko.AUTH_PARTIALLY_SUCCESSFUL
        return result

    @staticmethod
    def _change_query(instruction: str) -> InteractiveQuery:
        query = InteractiveQuery("", instruction)
        query.add_prompt(PASSWORD_WORDS["new"], False)
        query.add_prompt(PASSWORD_WORDS["again"], False)
        return query

    def check_auth_interactive(self, username: str, submethods: str) -> int | InteractiveQuery:
        if self._changing is not None:
            who, _ = self._changing
            if who.login != username:
                return paramiko.AUTH_FAILED
            return self._change_query(PASSWORD_WORDS[who.change or "must_change"])
        self._asked = username
        query = InteractiveQuery("", PASSWORD_WORDS["instruction"])
        query.add_prompt(PASSWORD_WORDS["current"], False)
        return query

    def check_auth_interactive_response(self, responses: list[str]) -> int | InteractiveQuery:
        if self._changing is None:
            if self._asked is None or len(responses) != 1:
                return paramiko.AUTH_FAILED
            return self._password(self._asked, responses[0])
        who, current = self._changing
        if len(responses) != 2:
            return paramiko.AUTH_FAILED
        problem = self.auth.change_password(who, current, responses[0], responses[1])
        if problem is None:
            self._changing = None
            self.principal, self.method = replace(who, change=None), "keyboard-interactive"
            return paramiko.AUTH_SUCCESSFUL
        self._change_tries += 1
        if self._change_tries >= self.MAX_CHANGE_TRIES:
            self._changing = None           # start again from the current password
            return paramiko.AUTH_FAILED
        return self._change_query(PASSWORD_WORDS[problem].format(
            n=self.auth.accounts.min_password_length))

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        # Called once to ask whether the key would do, then again with the signature checked
        # by paramiko; only a verified signature completes the login.
        if self._changing is not None:
            return paramiko.AUTH_FAILED
        principal = self.auth.public_key(username, key.asbytes())
        if principal is None:
            return paramiko.AUTH_FAILED
        self.principal, self.method = principal, "publickey"
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind != "session" or self.principal is None:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        login = self.principal.login
        others = self.crowded(self) if self.crowded is not None and not self.admitted else None
        if others is not None:
            # Closed, not kept: a refused connection would still hold a place of the total.
            log.warning("unit=%s file=-: connection refused: login %s already has %d connections "
                        "open ([sftp].max_connections_per_login)", self.principal.unit_code,
                        login, others)
            self.refused = True
            threading.Timer(1.0, self.transport.close).start()
            return paramiko.OPEN_FAILED_RESOURCE_SHORTAGE
        self.admitted = True
        # paramiko queues every channel for an accept() that an sftp server never calls: taken
        # here, those closed are let go (they were kept as long as the connection lived).
        while (chan := self.transport.accept(timeout=0)) is not None:
            self._channels.append(chan)
        self._channels = [c for c in self._channels if not c.closed]
        if len(self._channels) >= self.max_sessions:
            log.warning("unit=%s file=-: session refused: login %s has %d sessions open on one "
                        "connection ([sftp].max_sessions_per_connection)",
                        self.principal.unit_code, login, len(self._channels))
            return paramiko.OPEN_FAILED_RESOURCE_SHORTAGE
        return paramiko.OPEN_SUCCEEDED

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        return name == "sftp" and super().check_channel_subsystem_request(channel, name)


KEEPALIVE_SECONDS = 30
# An upload temp file nobody has written to for this long belongs to a connection that is gone
# (a node killed mid-upload): swept from the inboxes.
STALE_PART_SECONDS = 3600
# A file under a name intake leaves alone (names.ignored: 报表.xlsx.tmp, ~$报表.xlsx, Thumbs.db)
# is never judged and has no receipt: untouched this long it is litter, not a clerk's work in
# progress, and goes too (a unit could otherwise keep any amount of data in its inbox).
STALE_LITTER_SECONDS = 24 * 3600
SWEEP_EVERY_SECONDS = 600


M_ARENA_MAX = -8    # glibc mallopt() parameter


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each new thread its own malloc arena (up to 8 per core); with a thread per
    connection, 200 strangers took 774 MB where two arenas take 232 MB (bench_sftp_door.py).
    The same as MALLOC_ARENA_MAX=2; nothing where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def _detect_dead_peers(conn: socket.socket) -> None:
    """A client whose network went away (no FIN, no RST) is noticed within about two minutes,
    so its session ends and its partial upload is removed, instead of waiting for hours."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3),
                        ("TCP_USER_TIMEOUT", 120_000)):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass


def sweep_stale_parts(instance: Instance, older_than: float = STALE_PART_SECONDS,
                      litter_older_than: float = STALE_LITTER_SECONDS) -> int:
    """Remove upload temp files (".<name>.<token>.part") untouched for `older_than` seconds, and
    other files intake never takes (names.ignored) untouched for `litter_older_than`, in every
    inbox, sub-account folders included; returns how many went."""
    removed = 0
    now = time.time()
    for path in instance.inbox.glob("**/*"):
        ours = path.name.startswith(".") and path.name.endswith(".part")
        if not (ours or ignored(path.name)):
            continue
        limit = older_than if ours else litter_older_than
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < now - limit:
                path.unlink()
                removed += 1
                log.warning("unit=%s file=%s: %s removed (untouched for %d s)",
                            path.relative_to(instance.inbox).parts[0], log_safe(path.name),
                            "stale upload temp file" if ours else "file intake never takes",
                            limit)
        except OSError:
            continue
    return removed


# What a peer going away looks like from paramiko's side: an ordinary end, not an error.
NORMAL_ENDS = ("Connection reset by peer", "Broken pipe", "Error reading SSH protocol banner",
               "EOF", "timed out", "Connection timed out", "No existing session")


class QuietTransport(paramiko.Transport):
    """paramiko logs a client that hangs up early (rclone closes its spare connections; port
    scanners never send a banner) at ERROR with a traceback. Such ends are one INFO line; other
    protocol errors one WARNING line; only unknown exceptions keep their traceback."""

    _ended_quietly = False

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        try:
            self._peer_address = str(sock.getpeername()[0])
        except (OSError, IndexError):
            self._peer_address = "?"
        super().__init__(sock, *args, **kwargs)

    def _log(self, level: int, msg: Any, *args: Any) -> None:
        if level >= logging.ERROR:
            if isinstance(msg, list):            # the traceback of the line just logged
                if self._ended_quietly:
                    return
            elif not msg.startswith("Unknown exception"):
                self._ended_quietly = True
                normal = any(p in msg for p in NORMAL_ENDS)
                log.log(logging.INFO if normal else logging.WARNING,
                        "unit=- file=-: connection from %s ended: %s", self._peer(),
                        " ".join(msg.split()))
                return
        super()._log(level, msg, *args)

    def _peer(self) -> str:
        return self._peer_address


# SFTP extensions advertised in SSH_FXP_VERSION (clients such as asyncssh use only those listed).
# Not paramiko's check-file: past a file's end its hashing loop never ends (a thread at full CPU
# and a file slot held until the service restarts).
EXTENSIONS = (("posix-rename@openssh.com", "1"), ("statvfs@openssh.com", "2"))


class ExchangeSFTPServer(SFTPServer):
    """paramiko's SFTP subsystem, telling clients what it implements and answering names that
    are not UTF-8 with a clear status instead of a bare failure."""

    def _send_server_version(self) -> int:
        t, data = self._read_packet()
        if t != CMD_INIT:
            raise paramiko.SFTPError("Incompatible sftp protocol")
        version: int = struct.unpack(">I", data[:4])[0]
        msg = paramiko.Message()
        msg.add_int(3)
        for name, value in EXTENSIONS:
            msg.add_string(name)
            msg.add_string(value)
        self._send_packet(CMD_VERSION, msg)
        return version

    def _read_packet(self) -> tuple[int, bytes]:
        """paramiko's, refusing a message over MAX_MESSAGE before reading it: the session ends."""
        head = self._read_all(4)
        size = struct.unpack(">I", head)[0]
        if size > MAX_MESSAGE:
            raise paramiko.SFTPError(f"SFTP message of {size} bytes refused")
        data = self._read_all(size)
        return (data[0], data[1:]) if size else (0, b"")

    def _check_file(self, request_number: int, msg: paramiko.Message) -> None:
        self._send_status(request_number, SFTP_OP_UNSUPPORTED)

    def _process(self, t: int, request_number: int, msg: paramiko.Message) -> None:
        try:
            if t == CMD_EXTENDED and self._extended(request_number, msg):
                return
            super()._process(t, request_number, msg)
        except Refused as exc:
            session = self.server
            if t != CMD_WRITE:                  # a write's refusal is logged with its file
                log.warning("unit=%s file=-: %s refused: %s (login %s)", session.unit,
                            CMD_NAMES.get(t, t), exc, session.principal.login)
            self._send_status(request_number, SFTP_FAILURE, exc.message)
        except UnicodeDecodeError:
            session = self.server
            log.warning("unit=%s file=-: %s with a file name not in UTF-8 refused (login %s "
                        "from %s)", session.unit, CMD_NAMES.get(t, t), session.principal.login,
                        session.server_peer())
            self._send_status(request_number, SFTP_FAILURE, SFTP_WORDS["name_not_utf8"])

    def _extended(self, request_number: int, msg: paramiko.Message) -> bool:
        """statvfs@openssh.com (so `df` on an sshfs mount works); False for other requests."""
        start = msg.packet.tell()
        tag = msg.get_text()
        if tag != "statvfs@openssh.com":
            msg.packet.seek(start)
            return False
        path = msg.get_text()
        try:
            r = self.server.view.resolve(path)
        except (Denied, Missing):
            self._send_status(request_number, SFTP_NO_SUCH_FILE)
            return True
        st = os.statvfs(r.real if r.real is not None else self.server.view.areas["inbox"].root)
        fields = (st.f_bsize, st.f_frsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files,
                  st.f_ffree, st.f_favail, 0, 0 if r.area and r.area.writable else 1,
                  st.f_namemax)
        self._response(request_number, CMD_EXTENDED_REPLY, *(int64(v) for v in fields))
        return True


class SftpService:
    """Listens on [sftp] host/port and serves each connection on its own paramiko Transport.

    The door cannot be held shut from outside (as OpenSSH's MaxStartups and LoginGraceTime,
    SFTPGo's per-host limits): connections not yet logged in are capped per address and in
    total and refused at accept(), before any key exchange; one not logged in within
    login_grace_seconds is closed.
    """

    def __init__(self, instance: Instance, auth: Authenticator, *, on_upload: OnUpload | None = None,
                 host: str | None = None, port: int | None = None) -> None:
        settings = instance.settings
        self.instance = instance
        self.sftp = settings.sftp
        self.host = host if host is not None else settings.sftp.host
        self.port = port if port is not None else settings.sftp.port
        self.services = Services(instance, auth, settings.limits.max_file_mb << 20, on_upload,
                                 OpenFiles(settings.sftp.max_open_files_per_login),
                                 settings.sftp.max_inbox_mb << 20, settings.sftp.min_free_mb << 20)
        self.host_key = load_host_key(instance.path(settings.sftp.host_key))
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._transports: list[paramiko.Transport] = []
        # Connections not yet logged in: transport -> (address, when accepted).
        self._pending: dict[paramiko.Transport, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        limit_malloc_arenas()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"[sftp] host/port: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from exc
        sock.listen(128)
        sock.settimeout(0.5)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="sftp-accept", daemon=True)
        self._thread.start()
        log.info("unit=- file=-: sftp listening on %s:%d (host key %s)", self.host, self.port,
                 self.host_key.fingerprint)

    def _reap(self) -> None:
        """Forget ended connections; close those not logged in within the grace time."""
        now = time.monotonic()
        late = []
        with self._lock:
            self._transports = [t for t in self._transports if t.is_active()]
            for t, (addr, since) in list(self._pending.items()):
                if not t.is_active() or t.is_authenticated():
                    del self._pending[t]
                elif now - since > self.sftp.login_grace_seconds:
                    del self._pending[t]
                    late.append((t, addr))
        for t, addr in late:
            log.info("unit=- file=-: connection from %s closed: not logged in within %d s",
                     addr, self.sftp.login_grace_seconds)
            t.close()

    def _refusal(self, addr: str) -> str | None:
        """Why a new connection from `addr` is refused, if it is (the lock is held)."""
        if len(self._pending) >= self.sftp.max_unauthenticated:
            return f"{len(self._pending)} connections not yet logged in"
        from_addr = sum(1 for a, _ in self._pending.values() if a == addr)
        if from_addr >= self.sftp.max_unauthenticated_per_address:
            return f"{from_addr} connections from this address not yet logged in"
        logged_in = len(self._transports) - len(self._pending)
        if logged_in >= self.sftp.max_connections:
            return f"{logged_in} connections open"
        return None

    def _crowded(self, server: SshServer) -> int | None:
        """How many other connections `server`'s login has open, when that is already
        max_connections_per_login (its own is then refused); else None."""
        login = server.principal.login if server.principal else None
        with self._lock:
            others = sum(1 for t in self._transports
                         if t is not server.transport and t.is_active()
                         and isinstance(t.server_object, SshServer) and not t.server_object.refused
                         and t.server_object.principal is not None
                         and t.server_object.principal.login == login)
        return others if others >= self.sftp.max_connections_per_login else None

    def _accept_loop(self) -> None:
        assert self._sock is not None
        next_sweep = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_EVERY_SECONDS
                sweep_stale_parts(self.instance)
            try:
                self._reap()
                conn, peer = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            with self._lock:
                refusal = self._refusal(peer[0])
            if refusal:
                # Closed before a byte is read or a key exchanged: costs a socket, nothing more.
                log.warning("unit=- file=-: connection from %s refused: %s", peer[0], refusal)
                conn.close()
                continue
            try:
                self._serve(conn, peer[0])
            except Exception:  # one bad handshake must not stop the listener
                log.exception("unit=- file=-: connection from %s failed", peer[0])
                conn.close()

    def _serve(self, conn: socket.socket, addr: str) -> None:
        conn.settimeout(None)
        _detect_dead_peers(conn)
        transport = QuietTransport(conn)
        transport.set_keepalive(KEEPALIVE_SECONDS)
        transport.auth_timeout = self.sftp.login_grace_seconds
        transport.banner_timeout = self.sftp.login_grace_seconds
        transport.handshake_timeout = self.sftp.login_grace_seconds
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", ExchangeSFTPServer, SftpSession, self.services)
        server = SshServer(transport, self.services.auth, self.instance.metrics,
                           max_sessions=self.sftp.max_sessions_per_connection,
                           crowded=self._crowded)
        with self._lock:
            self._transports.append(transport)
            self._pending[transport] = (addr, time.monotonic())
        # With an event the handshake runs on the transport's own thread: a slow client
        # cannot hold up the accept loop.
        transport.start_server(event=threading.Event(), server=server)

    @property
    def listening(self) -> bool:
        """Whether the accept loop runs (health checks)."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def stop(self) -> None:
        """Stop listening and close every connection (their partial uploads are discarded)."""
        self._stopping.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)   # wakes a blocked accept() at once
            except OSError:
                pass
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            transports, self._transports = self._transports, []
            self._pending.clear()
        for t in transports:
            t.close()
        for t in transports:
            t.join(timeout=5)
        log.info("unit=- file=-: sftp stopped")


__all__ = ["SftpService", "SftpSession", "SshServer", "Upload", "OnUpload", "sweep_stale_parts"]
