"""The centre's inbox (inbox/_centre/): review decisions (batches, photos), then master data;
and notices to units (inbox/_centre/notices/, exchange.view.notices).

Each file gets a receipt in outbox/_centre/receipts/ and is archived or quarantined.
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Callable

from exchange import codes as C
from exchange.config import CENTRE, Instance
from exchange.errors import DatabaseBusy, FileRejected
from exchange.names import safe_name
from exchange.master import load_master
from exchange.messages import OUTPUT_NAMES, file_message
from exchange.outputs.atomic import write_text
from exchange.store.db import Database, disk_full, transient, trouble
from exchange.text import json_text
from exchange.view.notices import handle_notice

log = logging.getLogger("exchange.centre")

# Notices (issue 16.4): inbox/_centre/notices/<file>; its work file is named with NOTICE_MARK.
NOTICES = "notices"
NOTICE_MARK = "notice~"

# Handlers tried in order: each returns a receipt dict when the file is its kind, else None.
# (instance, db, path) -> dict | None. Review decisions register themselves before master data.
CentreHandler = Callable[[Instance, Database, Path], "dict | None"]
HANDLERS: list[CentreHandler] = []


def _review_handler(instance: Instance, db: Database, path: Path) -> "dict | None":
    """Review decisions (filled review workbooks, or CSVs with their columns)."""
    from exchange.review.decisions import handle_review_file   # late: review imports outputs

    return handle_review_file(instance, db, path)


def _photo_review_handler(instance: Instance, db: Database, path: Path) -> "dict | None":
    """Photo review decisions (filled 照片审核 workbooks, or CSVs with their columns)."""
    from exchange.review.photos import handle_photo_review_file

    return handle_photo_review_file(instance, db, path)


HANDLERS[:0] = [_review_handler, _photo_review_handler]


def _master_handler(instance: Instance, db: Database, path: Path) -> dict:
    report = load_master(instance, db, path)
    if report.file_error:
        code, params = report.file_error
        return {"kind": report.kind, "status": "rejected",
                "file_errors": [{"code": code, "message": file_message(code, params)}]}
    return {"kind": report.kind, "status": "partial" if report.refused else "accepted",
            "counts": {"loaded": report.loaded, "created": report.created,
                       "updated": report.updated, "refused": report.refused_count},
            "rows": [{"row": row, "errors": [f.as_dict() for f in fs]} for row, fs in report.refused],
            **({"footer_rows": report.footer_rows} if report.footer_rows else {})}


def process_centre_inbox(instance: Instance, db: Database, settle_seconds: float = 0.0) -> list[dict]:
    """Handle every settled file in inbox/_centre/, oldest first."""
    from exchange.intake.scan import waiting_work

    done = []
    for waiting in waiting_work(instance, settle_seconds):
        if waiting.unit != CENTRE:
            continue
        path = waiting.path
        # A notice (inbox/_centre/notices/) keeps its route in its work name, for recovery too.
        name = (NOTICE_MARK if path.parent.name == NOTICES else "") + path.name
        work = instance.processing / f"centre-{datetime.now():%Y%m%d%H%M%S%f}-{safe_name(name)}"
        work.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.rename(work)
        except FileNotFoundError:
            continue
        receipt = handle_centre_file(instance, db, work, name)
        if receipt is not None:
            done.append(receipt)
    return done


# Work files in var/processing this process gave up on (the database was busy): nobody holds
# them, so recover_centre takes them at once instead of after the lease.
GIVEN_UP: set[str] = set()


def handle_centre_file(instance: Instance, db: Database, work: Path, name: str) -> dict | None:
    """Handle a work file in var/processing, holding it (flock) meanwhile: None when another
    process holds it (a running service's, while the operator's `exchange process` recovers
    the centre's leftovers), or it is gone (finished by that process)."""
    try:
        fd = os.open(work, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if not work.exists():            # finished by its holder just before we took it
            return None
        return _handle(instance, db, work, name)
    finally:
        os.close(fd)


def _handle(instance: Instance, db: Database, work: Path, name: str) -> dict:
    GIVEN_UP.discard(work.name)
    receipt: dict | None = None
    notice = name.startswith(NOTICE_MARK)
    name = name[len(NOTICE_MARK):] if notice else name
    try:
        if work.is_symlink():           # a link put in the centre's inbox: never followed
            raise FileRejected(C.FILE_HOSTILE, what="link")
        if notice:
            receipt = handle_notice(instance, db, work, name)
        for handler in () if notice else (*HANDLERS, _master_handler):
            receipt = handler(instance, db, work)
            if receipt is not None:
                break
    except FileRejected as exc:
        receipt = {"status": "quarantined", "file_errors": [
            {"code": exc.code, "message": file_message(exc.code, exc.params)}]}
    except Exception as exc:  # the per-file guard: never lose the file, always answer
        if transient(exc):    # not the file's fault: left in var/processing for recover_centre
            log.error("unit=_centre file=%s: database busy or unreachable (%s); left in %s",
                      name, trouble(exc), work)
            GIVEN_UP.add(work.name)
            raise DatabaseBusy(trouble(exc)) from exc
        log.exception("unit=_centre file=%s: internal error, quarantined", name)
        receipt = {"status": "quarantined", "file_errors": [
            {"code": "file.unreadable", "message": file_message("file.unreadable", {"reason": "internal"})}]}
    assert receipt is not None
    # One moment names the receipt and the archived copy, to the microsecond as the work file's:
    # two files of one name handled within a second (a notice sent again, corrected) must not
    # share a receipt or an archived copy.
    now = datetime.now()
    receipt = {"file": name, "safe_name": safe_name(name),
               "received_at": now.isoformat(timespec="seconds"), **receipt}
    stamp = f"{now:%Y%m%d-%H%M%S-%f}-{Path(safe_name(name)).stem}"
    out = instance.unit_outbox(CENTRE, "receipts")
    try:
        write_text(out / f"{stamp}.{OUTPUT_NAMES['receipt']}.json",
                   json_text(receipt, indent=1))
        base = instance.quarantine if receipt["status"] == "quarantined" else instance.archive / f"{now:%Y%m}"
        target = base / CENTRE / f"{now:%Y%m%d%H%M%S%f}-{safe_name(name)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(work), target)
    except OSError as exc:
        if not disk_full(exc):
            raise
        # Handled again once there is space (loads are upserts, decisions apply once).
        log.error("unit=_centre file=%s: disk full (%s); left in %s", name, exc, work)
        GIVEN_UP.add(work.name)
        raise DatabaseBusy(str(exc)) from exc
    log.info("unit=_centre file=%s kind=%s status=%s", name, receipt.get("kind"), receipt["status"])
    return receipt
