"""Claiming a dropped file: one atomic rename into var/processing, then a row in `files`.

The rename is the claim: of two nodes renaming the same file, one gets FileNotFoundError.
The database row carries the lease that lets another node finish a dead node's work.
"""
from __future__ import annotations

import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from exchange.config import Instance
from exchange.store.db import Database
from exchange.store.models import FileRecord

SEPARATOR = "__"


def node_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    file_id: int
    unit: str
    name: str
    work_path: Path
    received_at: datetime


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def claim(instance: Instance, db: Database, path: Path, unit: str) -> Claim | None:
    """Move `path` out of the inbox and record it; None when another worker took it first."""
    instance.processing.mkdir(parents=True, exist_ok=True)
    work = instance.processing / f"{uuid.uuid4().hex[:12]}{SEPARATOR}{unit}{SEPARATOR}{path.name}"
    try:
        os.rename(path, work)
    except FileNotFoundError:
        return None
    return register(instance, db, work, unit, path.name)


def register(instance: Instance, db: Database, work: Path, unit: str, name: str) -> Claim:
    now = datetime.now().replace(microsecond=0)
    with db.session() as s:
        rec = FileRecord(unit_code=unit, name=name, sha256=sha256_of(work), size=work.stat().st_size,
                         status="claimed", node=node_name(), work_path=str(work), received_at=now,
                         lease_until=now + timedelta(seconds=instance.settings.intake.lease_seconds))
        s.add(rec)
        s.flush()
        return Claim(rec.id, unit, name, work, now)


def parse_work_name(work: Path) -> tuple[str, str] | None:
    """(unit, original name) from a processing file name, or None for a foreign file."""
    parts = work.name.split(SEPARATOR, 2)
    return (parts[1], parts[2]) if len(parts) == 3 else None
