"""The server's persistent host key: loaded from [sftp].host_key, created on first start.

paramiko cannot generate Ed25519 keys, so `cryptography` writes one in OpenSSH format; a path
naming "rsa" gets an RSA 3072 key instead. The key never changes afterwards, so clients that
pinned it keep trusting the server.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.errors import ConfigError

log = logging.getLogger("exchange.sftp")


def _write_private(path: Path, data: bytes) -> None:
    """Owner-only file, written under a temp name and renamed, so a crash leaves no half key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def generate_host_key(path: Path) -> paramiko.PKey:
    if "rsa" in path.name.lower():
        key: paramiko.PKey = paramiko.RSAKey.generate(3072)
        buf = io.StringIO()
        key.write_private_key(buf)
        _write_private(path, buf.getvalue().encode("ascii"))
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        _write_private(path, private.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.OpenSSH,
                                                   serialization.NoEncryption()))
        key = paramiko.PKey.from_path(path)
    path.with_name(path.name + ".pub").write_text(f"{key.get_name()} {key.get_base64()}\n",
                                                  encoding="ascii")
    log.info("unit=- file=-: new host key %s (%s)", path, key.fingerprint)
    return key


def load_host_key(path: Path) -> paramiko.PKey:
    """The key at `path`, made on first use; an unreadable key stops the start (never replaced)."""
    if not path.exists():
        return generate_host_key(path)
    try:
        return paramiko.PKey.from_path(path)
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise ConfigError(f"[sftp].host_key: cannot read {path}: {exc}") from exc


__all__ = ["load_host_key", "generate_host_key"]
