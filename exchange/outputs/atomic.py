"""The one door for outbox files: write under a temp name in the same folder, then rename.

A client listing the outbox never sees a half-written file: temp names start with '.' and end
in '.tmp', which the SFTP view and intake both ignore.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success it replaces `target` in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + target.name[:40] + ".", suffix=".tmp", dir=target.parent)
    # mkstemp makes 0600 files; outbox files are read by SFTP and shared-folder clients alike.
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_open(target: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    with atomic_path(target) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding,
                  newline=None if "b" in mode else "") as fh:
            yield fh


def write_text(target: Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_open(target, "w", encoding) as fh:
        fh.write(text)


def publish(staged: Path, target: Path) -> None:
    """Move a finished file into an outbox atomically, across file systems if need be."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staged, target)
    except OSError:
        with atomic_path(target) as tmp:
            shutil.copyfile(staged, tmp)
        staged.unlink()
