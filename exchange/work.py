"""A claimed file as the stages below intake receive it (`Claim`), and where a school's
sub-accounts send from and get their answers: inbox/<school>/@<login>/ and
outbox/<school>/@<login>/ (see exchange.intake.subaccounts for the convention).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from exchange.config import Instance

SUB_PREFIX = "@"        # inbox/<school>/@<login>/: a sub-account's folder


@dataclass(frozen=True)
class Claim:
    file_id: int
    unit: str
    name: str
    work_path: Path
    received_at: datetime


def sub_account_inbox(instance: Instance, unit: str, login: str) -> Path:
    return instance.unit_inbox(unit) / f"{SUB_PREFIX}{login}"


def sub_account_outbox(instance: Instance, unit: str, login: str, part: str = "") -> Path:
    folder = instance.unit_outbox(unit) / f"{SUB_PREFIX}{login}"
    return folder / part if part else folder
