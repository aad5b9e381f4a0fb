"""Submission on the unit's word (issue 16.5): the 待提交清单 and the confirmation sent back.

Where rules/region.toml says `submission = "unit_confirms"`, no job submits a unit's pending
(待提交) declarations. The unit finds `outbox/<unit>/status/待提交清单.xlsx`: each pending
declaration (业务流水号, kind, person, what it asks, the amount it brings where exchange.amounts
gives one), 合计人数 and 合计应缴金额, a cell 确认提交 (否) and the list's 清单编号, a token
made of the unit and its pending serials. The list is rewritten with the unit's status books
whenever they change (an import, a withdrawal, a submission, a decision): `write()` is one of
exchange.view.refresh.WRITERS, so serve's Refresher writes it, debounced, off the intake's
thread. A school's department or class login gets its own list of its classes' pending
declarations (outbox/<school>/@<login>/status/), and confirming it submits only those.

The unit submits by dropping the list back with 确认提交 = 是 (only the rows left on it are
submitted: a clerk deletes the rows it does not want yet), or a one-line `提交确认.txt` naming
the 清单编号 (everything on that list). A list whose 清单编号 is no longer the unit's current one
is refused (submit.stale): something was imported or withdrawn since the clerk checked it.
The submission is review.submit.submit_in, in the file's own import transaction; the batch's
documents are written after the commit (`after_file`).

Why a route and not a kind of rules/kinds/: a kind is a form of declaration rows, judged row by
row into declarations; the list is recognised by its hidden `_meta` sheet (as the centre's
review workbooks are) and its rows are serials to submit, not declarations to make.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import re
import unicodedata
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks.finding import Finding
from exchange.config import Instance
from exchange.errors import ConfigError, FileRejected
from exchange.messages import (CONFIRM_WORDS as W, NEXT_STEP_WORDS as NW, RECEIPT_WORDS as RW,
                               REVIEW_WORDS, VIEW_WORDS, YES, NO)
from exchange.outputs.atomic import atomic_path
from exchange.outputs.looks import TEXT_FORMAT
from exchange.results import FileResult, RowOutcome
from exchange.store.db import Database
from exchange.store.models import Declaration, FileRecord
from exchange.view.scope import Viewer, class_of, viewer_of

if TYPE_CHECKING:
    from openpyxl import Workbook

    from exchange.read.tables import Book

log = logging.getLogger("exchange.view")

UNIT_CONFIRMS = "unit_confirms"
LIST_KIND = "submit_list"              # _meta kind of the 待提交清单
LIST_VERSION = "1"
LIST_NAME = W["file_name"]
STATUS = "status"                      # outbox/<unit>/status/
CONFIRM_STEM = W["confirm_stem"]       # 提交确认.txt: one line naming the 清单编号
MAX_CONFIRM_BYTES = 4096
TOKEN = re.compile(r"\b([0-9A-Fa-f]{10})\b")
COLUMNS = ("serial", "kind", "id_number", "name", "values", "period", "due", "file_row", "created")
WIDTHS = {"serial": 20, "kind": 18, "id_number": 21, "name": 10, "values": 60, "period": 12,
          "due": 14, "file_row": 30, "created": 19}
HEADER_ROW = 10
FORMATS = {"id_number": TEXT_FORMAT, "due": "0.00"}
SUBMIT_JOB = "submit_batches"


def on_word(instance: Instance) -> bool:
    return instance.rules.region.submission == UNIT_CONFIRMS


def list_path(instance: Instance, unit: str, login: str | None = None) -> Path:
    """outbox/<unit>/status/待提交清单.xlsx, or a sub-account's outbox/<unit>/@<login>/status/…"""
    return Viewer(unit, "", None, login).folder(instance) / LIST_NAME


def token_of(who: str, serials: Iterable[int]) -> str:
    """The 清单编号: who the list is for (the unit, or unit@login: Viewer.name) and the pending
    serials it shows, so a list stays valid exactly as long as those are what is pending."""
    text = who + ":" + ",".join(str(x) for x in sorted(serials))
    return hashlib.sha256(text.encode()).hexdigest()[:10].upper()


def pending_of(s: Session, viewer: Viewer) -> list[Declaration]:
    """The viewer's pending declarations by 业务流水号: the unit's, or a sub-account's classes'
    (and those it sent), as its status book shows them."""
    decls = list(s.scalars(select(Declaration).where(
        Declaration.unit_code == viewer.unit, Declaration.status == "pending")
        .order_by(Declaration.serial)))
    if viewer.scope is None:
        return decls
    classes = viewer.person_classes(s)
    senders = viewer.senders(s, [d.serial for d in decls])
    return [d for d in decls if viewer.sees(class_of(d.payload or {}, d.id_number, classes),
                                            senders.get(d.serial))]


# What happens next: the receipt's next step (issue 21.16) and the status book's line ----------
# A pass over the inboxes (`one_pass`, exchange.intake.scan.process_inbox) reads jobs/ once:
# every receipt of the pass names the same next submission until the earliest of the times
# read comes (the next run after a later moment is the same run while none has come), so the
# times are kept for the pass until then. Outside a pass, and for a given `now`, jobs/ is read
# per call.
_PASS: ContextVar[dict[str, Any] | None] = ContextVar("exchange_submission_pass", default=None)


@contextmanager
def one_pass() -> Iterator[None]:
    """Within this block, submission_times() reads jobs/ once (see _PASS)."""
    token = _PASS.set({})
    try:
        yield
    finally:
        _PASS.reset(token)


def submission_times(instance: Instance, now: datetime | None = None
                     ) -> list[tuple[str | None, datetime]]:
    """(the unit an enabled submit_batches job is limited to, or None for all; its next run, a
    naive time in the schedule's zone) of each such job; [] when jobs/ cannot be read."""
    from exchange.review import jobs  # noqa: F401  (registers the job functions)
    from exchange.schedule.spec import load_jobs, timezone_of

    kept = _PASS.get() if now is None else None
    moment = datetime.now()
    if kept is not None and instance.home in kept:
        until, times = kept[instance.home]
        if moment.astimezone(until.tzinfo) < until:
            return list(times)
    try:
        specs = load_jobs(instance)
        tz = timezone_of(instance)
    except ConfigError as exc:            # a broken jobs/ folder is reported by `jobs list`
        log.warning("unit=- file=-: jobs/ unreadable; no submission time is named: %s", exc)
        return []
    at = (now if now is not None else moment).astimezone(tz)   # naive: this machine's time
    fires = []
    for spec in specs:
        if spec.name == SUBMIT_JOB and spec.enabled:
            fire = spec.trigger(tz).get_next_fire_time(None, at)
            if fire is not None:
                fires.append((spec.options.get("unit"), fire))
    out = [(only, fire.replace(tzinfo=None)) for only, fire in fires]
    if kept is not None:
        kept[instance.home] = (min((fire for _, fire in fires), default=datetime.max.replace(
            tzinfo=tz)), out)
    return list(out)


def next_submission(instance: Instance, unit: str | None = None, now: datetime | None = None,
                    times: list[tuple[str | None, datetime]] | None = None) -> datetime | None:
    """When the submit_batches job next submits (this unit's) pending declarations; None when
    no enabled job would. `times`: submission_times() already computed."""
    found = submission_times(instance, now) if times is None else times
    return min((when for only, when in found if only in (None, unit)), default=None)


def submission_way(instance: Instance, unit: str | None = None, now: datetime | None = None,
                   times: list[tuple[str | None, datetime]] | None = None) -> str:
    """How the unit's pending declarations get submitted, in the words of NEXT_STEP_WORDS: on
    the unit's word, at the scheduled time, or by the centre. The one source of the receipt's
    next step and of the status book's 提交方式 line."""
    if on_word(instance):
        return NW["confirm"]
    when = next_submission(instance, unit, now, times)
    return NW["centre"] if when is None else NW["nightly"].format(when=_when(when))


def next_step(instance: Instance, unit: str | None = None, now: datetime | None = None) -> str:
    """What happens to the declarations a file made pending, after RECEIPT_WORDS["pending_hint"]."""
    return receipt_step(submission_way(instance, unit, now), on_word(instance))


def receipt_step(way: str, confirms: bool = False) -> str:
    """The receipt's clause for `way` (submission_way), with how to confirm where the unit does."""
    return RW["pending_next"].format(way=way, how=RW["confirm_how"] if confirms else "")


def _when(at: datetime) -> str:
    return NW["when"].format(month=at.month, day=at.day, time=f"{at:%H:%M}")


# The list ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListLine:
    serial: int
    kind: str
    id_number: str | None
    name: str | None
    values: str
    period: str
    due: Decimal | None
    file_row: str
    created: datetime


def list_lines(instance: Instance, s: Session, decls: Sequence[Declaration]) -> list[ListLine]:
    from exchange.review.display import content, kind_label
    from exchange.review.reports import _persons_of, declaration_dues

    rules = instance.rules
    due_of = declaration_dues(instance, s, _persons_of(s, decls))
    files = dict(s.execute(select(FileRecord.id, FileRecord.name).where(
        FileRecord.id.in_({d.file_id for d in decls if d.file_id}))).all()) if decls else {}
    lines = []
    for d in decls:
        due = due_of(d)
        where = REVIEW_WORDS["file_row"].format(file=files.get(d.file_id, ""), row=d.row) \
            if d.file_id else ""
        lines.append(ListLine(d.serial, kind_label(rules.kinds, d.kind), d.id_number, d.name,
                              content(rules.kinds.get(d.kind), d.payload or {}, d.old_values,
                                      rules.tables),
                              due.period if due else "", due.total if due else None, where,
                              d.created_at))
    return lines


def write(instance: Instance, session: Session, unit: str, login: str | None = None
          ) -> Path | None:
    """Rewrite the 待提交清单 of `unit` (or of its department or class login `login`, its
    classes only) atomically where the region submits on the unit's word; None elsewhere, or
    for a unit or login not on file. One of refresh.WRITERS: called on the Refresher's pool,
    debounced, never on the intake's thread."""
    if not on_word(instance):
        return None
    viewer = viewer_of(instance, session, unit, login)
    if viewer is None:
        return None
    decls = pending_of(session, viewer)
    token = token_of(viewer.name, (d.serial for d in decls))
    lines = list_lines(instance, session, decls)
    target = viewer.folder(instance) / LIST_NAME
    with atomic_path(target) as tmp:
        _book(instance, viewer, token, lines).save(tmp)
    log.info("unit=%s file=-: submit list %s of %s written (%d pending)", unit, token,
             viewer.name, len(lines))
    return target


def _book(instance: Instance, viewer: Viewer, token: str, lines: list[ListLine]) -> "Workbook":
    # openpyxl late: `exchange validate` imports this module and never writes a workbook.
    from openpyxl import Workbook

    from exchange.outputs.workbook import (HEADER_FONT, REQUIRED_FONT, TITLE_FONT, WRAP, Table,
                                           add_choice_list, add_meta_sheet, set_text,
                                           write_header)

    table = Table(COLUMNS, W, WIDTHS, text=("id_number",))
    wb = Workbook()
    ws = wb.active
    ws.title = W["sheet"]
    ws["A1"] = W["title"].format(centre=instance.settings.name)
    ws["A1"].font = TITLE_FONT
    ws["A2"] = W["unit"].format(code=viewer.unit, name=viewer.unit_name) + ("" if viewer.scope is None
        else "    " + VIEW_WORDS["scope"].format(login=viewer.login, classes="、".join(sorted(viewer.scope))))
    ws["A3"] = W["made"].format(at=f"{datetime.now():%Y-%m-%d %H:%M:%S}", token=token)
    persons = len({x.id_number or f"#{x.serial}" for x in lines})
    total = sum((x.due for x in lines if x.due is not None), Decimal(0))
    for row, (label, value) in enumerate(((W["confirm"], NO), (W["token"], token),
                                          (W["count"], persons), (W["amount"], float(total))),
                                         start=4):
        ws.cell(row, 1, label).font = REQUIRED_FONT if row == 4 else HEADER_FONT
        set_text(ws.cell(row, 2), value)
    ws.cell(7, 2).number_format = "0.00"
    ws["B4"].font = REQUIRED_FONT
    add_choice_list(ws, Table(("label", "value"), {}, {}), "value", 4, 4, (YES, NO), f"{YES} / {NO}")
    ws["A8"] = W["how"].format(token=token)
    ws["A8"].alignment = WRAP
    ws.merge_cells(start_row=8, start_column=1, end_row=9, end_column=4)   # one screen, one page
    ws.row_dimensions[8].height = 80
    write_header(ws, HEADER_ROW, table)
    # Values and number formats only: a border on each cell (workbook.write_row) costs 1.3 ms a
    # row in openpyxl, 13 s for 10,000 pending declarations (bench/bench_confirm.py).
    for i, x in enumerate(lines, start=HEADER_ROW + 1):
        values = {**x.__dict__, "due": float(x.due) if x.due is not None else None,
                  "created": f"{x.created:%Y-%m-%d %H:%M}"}
        for j, name in enumerate(COLUMNS, start=1):
            cell = ws.cell(i, j)
            set_text(cell, values[name] if values[name] != "" else None)
            if name in FORMATS:
                cell.number_format = FORMATS[name]
    if not lines:
        ws.cell(HEADER_ROW + 1, 1, W["empty"])
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    if lines:
        ws.auto_filter.ref = f"A{HEADER_ROW}:{table.letter(COLUMNS[-1])}{HEADER_ROW + len(lines)}"
    add_meta_sheet(wb, {"kind": LIST_KIND, "version": LIST_VERSION, "unit": viewer.unit,
                        "login": viewer.login or "", "token": token})
    return wb


# The confirmation sent back ----------------------------------------------------------------------
def is_confirmation_text(name: str) -> bool:
    """提交确认.txt (or 提交确认 without an extension)."""
    path = Path(unicodedata.normalize("NFC", name))
    return path.stem.strip() == CONFIRM_STEM and path.suffix.lower() in ("", ".txt")


@dataclass
class Sent:
    """What a returned list (or 提交确认.txt) says."""
    token: str | None
    confirmed: str                         # the 确认提交 cell as written ("是" for the .txt)
    rows: list[tuple[int, Any, tuple[Any, ...]]] | None   # (row, serial cell, cells); None: all


def read_text(path: Path) -> Sent:
    raw = path.read_bytes()[:MAX_CONFIRM_BYTES]
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = ""
    found = TOKEN.search(text)
    return Sent(found.group(1).upper() if found else None, YES, None)


LIST_LABELS = (W["confirm"], W["token"])
PEEK_ROWS = HEADER_ROW + 2


def sent_list(book: "Book") -> "tuple[Sent | None, Book]":
    """(what a 待提交清单 sent back says, None for any other workbook; the book to judge on).

    The list is known by its hidden _meta sheet, or, for a list a clerk copied into a new
    workbook, by its 确认提交 and 清单编号 cells: the copy is judged like the list (its visible
    清单编号 then stands for the token). Only the first sheet's first rows are looked at; the
    book handed back reads from its start again."""
    from exchange.read.tables import Book, Sheet

    sheets = iter(book.sheets)
    first = next(sheets, None)
    if first is None:
        return None, book
    head = list(itertools.islice(first.rows, PEEK_ROWS))
    labels = {str(cells[0]).strip() for _, cells in head if cells and cells[0] is not None}
    rows = itertools.chain(head, first.rows)
    if book.meta.get("kind") == LIST_KIND or set(LIST_LABELS) <= labels:
        return read_list(book.meta, rows), book
    return None, Book(book.format, itertools.chain([Sheet(first.name, rows, first.hidden)], sheets),
                      book.meta)


def read_list(meta: dict[str, str], sheet_rows: Iterable[tuple[int, tuple[Any, ...]]]) -> Sent:
    """The list's 确认提交, its token (the _meta sheet's, else the visible 清单编号) and rows."""
    confirmed, token, rows, header = "", meta.get("token"), [], False
    for row, cells in sheet_rows:
        first = str(cells[0]).strip() if cells and cells[0] is not None else ""
        second = cells[1] if len(cells) > 1 else None
        if not header and first == W["confirm"]:
            confirmed = "" if second is None else str(second).strip()
        elif not header and first == W["token"] and not token:
            token = "" if second is None else str(second).strip().upper()
        elif not header and first == W["serial"]:
            header = True
        elif header and first:
            rows.append((row, cells[0], tuple(cells)))
    return Sent(token, confirmed, rows)


def _serial(value: Any) -> int | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() and number > 0 else None


def examine_confirmation(instance: Instance, s: Session, sent: Sent, unit: str, result: FileResult,
                         importing: bool, actor: str, sink: Callable[[RowOutcome], None],
                         scope: frozenset[str] | None = None) -> None:
    """Submit what the returned list names (importing), one RowOutcome per declaration; whole
    refusals (not this region's way, stale, not confirmed, nothing listed) raise FileRejected.
    A department or class login (`scope` its classes, `actor` its login) confirms its own list:
    only its classes' pending declarations."""
    from exchange.review.submit import submit_in

    result.kind, result.kind_label = LIST_KIND, W["kind_label"]
    result.awaits_submission = False
    if not on_word(instance):
        when = next_submission(instance, unit)
        raise FileRejected(C.SUBMIT_NOT_ON_WORD, when=_when(when) if when else "")
    viewer = Viewer(unit, "", None, None if scope is None else actor, scope)
    pending = {d.serial: d for d in pending_of(s, viewer)}
    current = token_of(viewer.name, pending)
    if not sent.token:
        raise FileRejected(C.SUBMIT_NO_TOKEN, current=current)
    if sent.token != current:
        raise FileRejected(C.SUBMIT_STALE, token=sent.token, current=current)
    if sent.confirmed != YES:
        raise FileRejected(C.SUBMIT_NOT_CONFIRMED, value=sent.confirmed or W["blank"])
    listed = ([(serial, serial, (serial,)) for serial in pending] if sent.rows is None
              else sent.rows)
    rows = []
    for row, cell, cells in listed:
        serial = _serial(cell)
        findings = () if serial in pending else (
            Finding(row, C.SUBMIT_NOT_LISTED, W["serial"], "serial", {"serial": cell}),)
        rows.append((row, serial, cells, findings))
    chosen = [serial for _, serial, _, f in rows if not f]
    if not chosen:
        raise FileRejected(C.SUBMIT_NOTHING)
    batch = submit_in(s, unit, actor, datetime.now().replace(microsecond=0), chosen) \
        if importing else None
    if batch is not None:
        result.submitted_batch = batch.batch_id
        result.next_step = RW["submitted"].format(batch=batch.batch_no, count=batch.count)
    for row, serial, cells, findings in rows:
        d = pending.get(serial or 0)
        notes = (Finding(row, C.NOTE_SUBMITTED, params={"batch": batch.batch_no}),) \
            if batch is not None and not findings else ()
        sink(RowOutcome(row, findings, cells, d.id_number if d else None,
                        d.name if d else None, serial if d else None, notes))


def after_file(instance: Instance, db: Database, result: FileResult) -> None:
    """After a unit's file is committed and placed: the batch it submitted gets its documents
    (roster, review workbook). Its 待提交清单 is not written here but by the Refresher, like the
    status books (the import marked the unit changed): the intake never waits for it."""
    if result.submitted_batch is not None:
        from exchange.review.submit import write_batch_documents

        write_batch_documents(instance, db, result.submitted_batch)


__all__ = ["write", "after_file", "next_step", "next_submission", "submission_times",
           "submission_way", "receipt_step", "token_of", "pending_of", "list_path", "examine_confirmation", "read_list", "read_text",
           "sent_list", "is_confirmation_text", "on_word", "UNIT_CONFIRMS", "LIST_KIND"]
