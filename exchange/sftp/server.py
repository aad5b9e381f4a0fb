"""The SFTP service on paramiko's server interfaces: one login per unit, its view, its uploads.

Uploads are written to a hidden temp name (".<name>.<token>.part", which intake ignores) and
renamed to the final name when the client closes the file; a connection that drops mid-upload
leaves nothing behind. Each finished upload is handed to `on_upload` with the unit, the virtual
path and the real path (as SFTPGo's upload actions), so intake need not wait for the watcher.
"""
from __future__ import annotations

import errno
import functools
import logging
import os
import re
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import paramiko
from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import (SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_OP_UNSUPPORTED,
                           SFTP_PERMISSION_DENIED)

from exchange.config import Instance
from exchange.errors import ConfigError
from exchange.metrics import Metrics
from exchange.sftp.auth import Authenticator, Principal
from exchange.sftp.hostkey import load_host_key
from exchange.sftp.view import Denied, Missing, Resolved, View, check_name

log = logging.getLogger("exchange.sftp")

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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


def _utime(target: Path | int, attr: SFTPAttributes) -> None:
    """Only times may change: modes and owners are the service's business."""
    if attr._flags & attr.FLAG_AMTIME:
        os.utime(target, (attr.st_atime, attr.st_mtime))


class ReadHandle(SFTPHandle):
    def __init__(self, real: Path) -> None:
        super().__init__(os.O_RDONLY)
        fd = os.open(real, os.O_RDONLY | NOFOLLOW)
        self.readfile = os.fdopen(fd, "rb")

    def stat(self) -> SFTPAttributes:
        return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    def chattr(self, attr: SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED


class UploadHandle(SFTPHandle):
    """Writes to a temp name beside the final one; `close()` renames it into place."""

    def __init__(self, session: "SftpSession", target: Resolved, flags: int) -> None:
        super().__init__(flags)
        assert target.real is not None
        self.session, self.target, self.final = session, target, target.real
        self.temp = self.final.with_name(f".{self.final.name}.{secrets.token_hex(4)}.part")
        self.refused: str | None = None
        self.closed = False
        if flags & os.O_EXCL and self.final.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(self.final))
        fd = os.open(self.temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o640)
        self.writefile = os.fdopen(fd, "r+b")
        if flags & os.O_RDWR:
            self.readfile = self.writefile
        if not flags & os.O_TRUNC and self.final.is_file():
            # Resume or rewrite part of an existing upload: start from its bytes.
            with open(self.final, "rb") as src:
                shutil.copyfileobj(src, self.writefile)
            self.writefile.flush()

    def write(self, offset: int, data: bytes) -> int:
        if self.refused:
            return SFTP_FAILURE
        if offset + len(data) > self.session.services.max_bytes:
            self.refused = f"over the size limit of {self.session.services.max_bytes} bytes"
            log.warning("unit=%s file=%s: upload refused: %s", self.session.unit,
                        self.final.name, self.refused)
            return SFTP_FAILURE
        return super().write(offset, data)

    def stat(self) -> SFTPAttributes:
        return SFTPAttributes.from_stat(os.fstat(self.writefile.fileno()))

    def chattr(self, attr: SFTPAttributes) -> int:
        _utime(self.writefile.fileno(), attr)
        return SFTP_OK

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.writefile.flush()
            os.fsync(self.writefile.fileno())
        finally:
            self.writefile.close()
        reason = self.refused or ("connection ended before the file was closed"
                                  if self.session.ended else None)
        if reason:
            self.temp.unlink(missing_ok=True)
            log.warning("unit=%s file=%s: upload discarded: %s", self.session.unit,
                        self.final.name, reason)
            return
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
        if principal is None or principal.login != server.transport.get_username():
            raise paramiko.SSHException("sftp without an authenticated login")
        self.principal: Principal = principal
        self.ssh = server
        self.unit = principal.unit_code
        self.services = services
        self.view = View.for_unit(services.instance, self.unit, principal.login, principal.role)
        self.ended = False

    def session_started(self) -> None:
        self.services.auth.accepted(self.principal.login)
        self.services.instance.metrics.sftp_login(self.ssh.method, True)
        self.services.instance.metrics.sftp_session(opened=True)
        log.info("unit=%s file=-: sftp session opened (login %s from %s)", self.unit,
                 self.principal.login, self.server_peer())

    def session_ended(self) -> None:
        self.ended = True
        self.services.instance.metrics.sftp_session(opened=False)
        log.info("unit=%s file=-: sftp session closed (login %s)", self.unit, self.principal.login)

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

    @_fails
    def stat(self, path: str) -> SFTPAttributes | int:
        r = self.view.resolve(path)
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
            target = self.view.for_write(path)
            assert target.real is not None
            if target.real.is_dir():
                raise Denied("a folder")
            handle: SFTPHandle = UploadHandle(self, target, flags)
            return handle
        r = self.view.resolve(path)
        if r.real is None or not r.real.is_file():
            raise Missing(path)
        return ReadHandle(r.real)

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
        target = self.view.for_write(path)
        assert target.real is not None
        if not target.real.is_file():
            raise Missing(path)
        _utime(target.real, attr)
        return SFTP_OK

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
    """One connection's SSH side: authentication and the sftp subsystem only."""

    def __init__(self, transport: paramiko.Transport, auth: Authenticator,
                 metrics: Metrics | None = None) -> None:
        self.transport, self.auth, self.metrics = transport, auth, metrics
        self.principal: Principal | None = None
        self.method = "none"             # how the principal logged in

    def peer(self) -> tuple[str, int]:
        try:
            host, port = self.transport.getpeername()[:2]
            return str(host), int(port)
        except (OSError, AttributeError, TypeError, ValueError):
            return "unknown", 0

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
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
        self.principal, self.method = principal, "password"
        return paramiko.AUTH_SUCCESSFUL

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        # Called once to ask whether the key would do, then again with the signature checked
        # by paramiko; only a verified signature completes the login.
        principal = self.auth.public_key(username, key.asbytes())
        if principal is None:
            return paramiko.AUTH_FAILED
        self.principal, self.method = principal, "publickey"
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        return name == "sftp" and super().check_channel_subsystem_request(channel, name)


class SftpService:
    """Listens on [sftp] host/port and serves each connection on its own paramiko Transport."""

    def __init__(self, instance: Instance, auth: Authenticator, *, on_upload: OnUpload | None = None,
                 host: str | None = None, port: int | None = None,
                 max_connections: int = 64) -> None:
        settings = instance.settings
        self.instance = instance
        self.host = host if host is not None else settings.sftp.host
        self.port = port if port is not None else settings.sftp.port
        self.services = Services(instance, auth, settings.limits.max_file_mb * 1024 * 1024, on_upload)
        self.max_connections = max_connections
        self.host_key = load_host_key(instance.path(settings.sftp.host_key))
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"[sftp] host/port: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from exc
        sock.listen(16)
        sock.settimeout(0.5)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="sftp-accept", daemon=True)
        self._thread.start()
        log.info("unit=- file=-: sftp listening on %s:%d (host key %s)", self.host, self.port,
                 self.host_key.fingerprint)

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, peer = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            with self._lock:
                self._transports = [t for t in self._transports if t.is_active()]
                if len(self._transports) >= self.max_connections:
                    log.warning("unit=- file=-: connection from %s refused: %d connections open",
                                peer[0], len(self._transports))
                    conn.close()
                    continue
            try:
                self._serve(conn)
            except Exception:  # one bad handshake must not stop the listener
                log.exception("unit=- file=-: connection from %s failed", peer[0])
                conn.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        transport = paramiko.Transport(conn)
        transport.auth_timeout = 60
        transport.banner_timeout = 30
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", SFTPServer, SftpSession, self.services)
        server = SshServer(transport, self.services.auth, self.instance.metrics)
        # With an event the handshake runs on the transport's own thread: a slow client
        # cannot hold up the accept loop.
        transport.start_server(event=threading.Event(), server=server)
        with self._lock:
            self._transports.append(transport)

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
        for t in transports:
            t.close()
        for t in transports:
            t.join(timeout=5)
        log.info("unit=- file=-: sftp stopped")


__all__ = ["SftpService", "SftpSession", "SshServer", "Upload", "OnUpload"]
