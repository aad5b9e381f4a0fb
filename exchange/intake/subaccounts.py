"""Files of a school's sub-accounts (department and class logins): who sent them, what they may
declare for.

Convention: a sub-account's inbox is the folder `inbox/<school>/@<login>/` and its outbox
`outbox/<school>/@<login>/` (the SFTP view of that login maps its /inbox and /outbox there).
The receipts and error workbooks of its files go to its own outbox: they name students, and a
class account is held to its classes for reading as for declaring. Its templates (pre-filled
with its classes' students only) are written there too. The school's own login sees the whole
school outbox, the sub-accounts' folders included. When a sub-account's file is claimed, the
login is written into its name in var/processing (`<id>-<pid>@<login>__<school>__<name>`), so the
attribution travels with the bytes: a file recovered after a crash is judged as the same login,
with that login's classes, and its outputs go to the same outbox. Every claim reads it from
there once (exchange.work.sender_of) and hands it down in `Claim.sender`.

`process_claim(..., actor=LOGIN)` (or with an explicit `scope=`) judges a file of the school's
own inbox as that login, for a caller that knows the login some other way; its outputs go to
the school's outbox, where the file came from.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from exchange.config import Instance
from exchange.intake.claim import Claim, claim, login_of_work, work_path_for
from exchange.intake.scan import process_inbox, waiting_work
from exchange.store.db import Database
from exchange.work import sub_account_inbox, sub_account_outbox

if TYPE_CHECKING:
    from exchange.results import FileResult

log = logging.getLogger("exchange.intake")

def work_path_for_login(instance: Instance, unit: str, login: str, name: str) -> Path:
    """A fresh name in var/processing that tells the unit, the login and the original name."""
    return work_path_for(instance, unit, name, login)


def waiting_sub_account_files(instance: Instance, settle_seconds: float = 0.0
                              ) -> Iterator[tuple[str, str, Path]]:
    """(unit, login, path) of every complete file in a sub-account folder, oldest first."""
    for w in waiting_work(instance, settle_seconds):
        if w.login:
            yield w.unit, w.login, w.path


def claim_as(instance: Instance, db: Database, path: Path, unit: str, login: str) -> Claim | None:
    """Claim a sub-account's file (one rename, as intake.claim does); None if taken first."""
    return claim(instance, db, path, unit, work_path_for(instance, unit, path.name, login))


def process_sub_account_inboxes(instance: Instance, db: Database, *, settle_seconds: float = 0.0,
                                unit: str | None = None,
                                on_result: Callable[["FileResult"], None] | None = None
                                ) -> list["FileResult"]:
    """Claim and process every waiting file of the sub-account folders (of one unit)."""
    return process_inbox(instance, db, settle_seconds=settle_seconds, unit=unit,
                         on_result=on_result, sub_accounts_only=True)


__all__ = ["claim_as", "login_of_work", "process_sub_account_inboxes", "sub_account_inbox",
           "sub_account_outbox", "waiting_sub_account_files", "work_path_for_login"]
