"""Judging a file: what it is (a workbook of some kind, photos, a confirmation), then its data
rows a chunk at a time, each chunk judged against the records it touches and handed to the store
(exchange.store.imports) and to the caller's sink.

`examine()` is the one place a file is judged; exchange.pipeline calls it to process a claimed
file and to validate one.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.amounts.dues import add_months
from exchange.checks.columnar_rows import FileRepeats
from exchange.checks.context import CheckContext, OpenDeclaration, UnitRecord
from exchange.checks.engine import Chunk, Parsed, judge_chunk, parse_chunk, repeat_key, rule_names
from exchange.checks.finding import Finding
from exchange.checks.values import holds_nothing
from exchange.config import Instance
from exchange.errors import FileRejected
from exchange.kinds.detect import detect_kind, unit_named
from exchange.kinds.spec import KindSpec, normalise_label
from exchange.messages import RECEIPT_WORDS, ROW_NUMBER_HEADERS, month_label, row_message
from exchange.photos import PhotoRun, examine_photos, is_photo_upload
from exchange.read.guard import column_letters
from exchange.read.header import (SCAN_ROWS, Located, column_taker, footer_row, header_label,
                                  known_names, locate_header)
from exchange.read.images import named_as_image
from exchange.read.tables import TABLE_FORMATS, Book, Sheet
from exchange.residents import hooks_for
from exchange.results import FileResult, RowOutcome
from exchange.store import queries as Q
from exchange.store.imports import Importer, fingerprint
from exchange.store.models import IMPORTED_STATUSES, OPEN_STATUSES
from exchange.testhook import die_if_marked
from exchange.text import shown_name
from exchange.view.confirm import (examine_confirmation, is_confirmation_text, next_step, read_text,
                                   sent_list)

RowSink = Callable[[RowOutcome], None]
# Rows below a header looked at on the sheets after the one judged (_sheets_with_rows).
SHEET_PEEK = 200


@dataclass
class Options:
    importing: bool = True
    actor: str | None = None              # who declares: the unit, or a sub-account login
    scope: frozenset[str] | None = None   # classes a sub-account may declare for
    file_id: int | None = None
    today: date = field(default_factory=date.today)


# Columns of row numbers a clerk adds left of the data: not declaration content, never told.
ROW_NUMBERS = frozenset(normalise_label(h) for h in ROW_NUMBER_HEADERS)


class FileRun:
    """Checks the data rows of one file, a chunk at a time; its `importer` stores them."""

    def __init__(self, instance: Instance, session: Session, kind: KindSpec, unit: UnitRecord,
                 opts: Options, sink: RowSink) -> None:
        self.instance = instance
        self.session = session
        self.kind = kind
        self.unit = unit
        self.opts = opts
        self.sink = sink
        self.rules = instance.rules
        self.repeats = FileRepeats(repeat_key(kind))
        self.position = {c.field: i for i, c in enumerate(kind.columns)}
        # A school's class or department account: every row stays within its classes.
        self.rule_names = rule_names(kind, opts.scope)
        # The resident kinds' and the 用户维护表's extra steps (exchange.residents, account_book).
        self.hooks = hooks_for(kind, instance, opts.actor)
        self.data_rows = 0
        self.importer = Importer(session, kind, unit, self.rules, self.hooks, opts.actor,
                                 opts.file_id, self.given)

    # Reading -------------------------------------------------------------------------------
    def parse(self, rows: list[tuple[int, tuple[Any, ...]]]) -> Chunk:
        """A chunk of data rows, each (row number, cells in the kind's column order)."""
        return parse_chunk(rows, self.kind, self.rules.tables, self.opts.today, self.repeats)

    def given(self, p: Parsed, field_name: str) -> str | None:
        """What the clerk wrote for a field that may not parse: the value, else the cell's text."""
        return self._given(p.values.get(field_name), p.raw, field_name)

    def given_column(self, chunk: Chunk, field_name: str) -> list[str | None]:
        """given() for each row of a chunk, from the field's column: no row's values dict made
        (the hooks may change a row's values: with them, row by row)."""
        if self.hooks:
            return [self.given(p, field_name) for p in chunk]
        return [self._given(v, p.raw, field_name)
                for p, v in zip(chunk.rows, chunk.column(field_name))]

    def _given(self, value: Any, raw: tuple[Any, ...], field_name: str) -> str | None:
        if value or field_name not in self.position:
            return value or None
        return _text(raw[self.position[field_name]])

    # Checking ------------------------------------------------------------------------------
    def context(self, chunk: Chunk) -> CheckContext:
        s = self.session
        numbers = chunk.column("id_number")
        ids = [number for number in numbers if number]
        ctx = CheckContext(self.rules, self.kind, self.unit, self.opts.today, scope=self.opts.scope)
        ctx.persons = Q.persons(s, ids)
        if self.kind.action == "withdraw":
            serials = [serial for serial in chunk.column("serial") if serial]
            ctx.declarations, ctx.by_person = Q.unit_declarations(s, self.unit.code, serials, ids)
        else:
            # One query for the persons' declarations: the open ones block new work, and a row
            # can repeat an imported one only if its person has one (the fingerprint covers the
            # ID), so only those rows need a fingerprint now. Rows without an ID: by fingerprint.
            history = Q.person_declarations(s, ids)
            ctx.open_by_person = {d.id_number: d for d in history
                                  if d.id_number and d.status in OPEN_STATUSES}
            ctx.imported = {d.fingerprint: d.serial for d in in_force(history, self.rules.kinds)
                            if d.fingerprint and d.unit_code == self.unit.code}
            imported_ids = {d.id_number for d in history
                            if d.unit_code == self.unit.code and d.status in IMPORTED_STATUSES}
            unknown = []
            # Only a row without findings can be one imported before.
            for p, number in zip(chunk, numbers):
                if p.findings or (number and number not in imported_ids):
                    continue
                p.fingerprint = fingerprint(self.kind.kind, self.unit.code, p.values)
                if not number:
                    unknown.append(p.fingerprint)
            if unknown:
                ctx.imported.update(Q.imported_fingerprints(s, self.unit.code, unknown))
        if self.hooks:
            ctx = self.hooks.enrich(s, ctx, [(p.outcome_row, p.values) for p in chunk])
        return ctx

    def judge(self, chunk: Chunk, ctx: CheckContext) -> list[list[Finding]]:
        """Each row's findings, in the chunk's order (exchange.checks.engine)."""
        return judge_chunk(chunk, ctx, self.rule_names)

    # Judging and storing -------------------------------------------------------------------
    def run_chunk(self, chunk: Chunk) -> None:
        ctx = self.context(chunk)
        judged = list(zip(chunk.rows, self.judge(chunk, ctx)))
        serials: dict[int, int] = {}
        if self.opts.importing:
            serials = self.importer.store(judged, ctx)
        for (p, findings), number, name in zip(judged, self.given_column(chunk, "id_number"),
                                               self.given_column(chunk, "name")):
            serial = serials.get(p.outcome_row)
            if serial is None and findings and findings[0].code == C.DUPLICATE_IMPORTED:
                serial = findings[0].params.get("serial")
            notes = self.hooks.notes(p.outcome_row, p.values, ctx) if self.hooks and not findings else ()
            self.sink(RowOutcome(p.outcome_row, tuple(findings), p.raw, number, name, serial, notes))


# Effects that change whether a person is insured: one of them later makes an earlier
# declaration of the person's a thing of the past.
STATUS_EFFECTS = ("insure", "stop", "resident_insure", "suspend")
STATUS = ""                   # in_force's key of a person's last declaration of those effects


def in_force(history: list[OpenDeclaration], kinds: dict[str, KindSpec]) -> list[OpenDeclaration]:
    """The persons' imported declarations that a row sent again repeats (duplicate.imported):
    not those a later imported one of the same person has superseded, of the same kind or one
    that changed whether the person is insured. Re-adding a person stopped by mistake since,
    or a wage of 6000 declared again after 5000 replaced it, is new work, not a repeat."""
    imported = [d for d in history if d.status in IMPORTED_STATUSES]
    latest: dict[tuple[str | None, str], int] = {}     # (person, kind or STATUS) -> last serial
    for d in imported:
        keys = [(d.id_number, d.kind)]
        if getattr(kinds.get(d.kind), "effect", None) in STATUS_EFFECTS:
            keys.append((d.id_number, STATUS))
        for key in keys:
            latest[key] = max(latest.get(key, 0), d.serial)
    return [d for d in imported
            if max(latest[d.id_number, d.kind], latest.get((d.id_number, STATUS), 0)) == d.serial]


def _text(value: Any) -> str | None:
    from exchange.checks.values import as_text

    text = as_text(value)
    return text[:40] or None


def _data_chunks(located: Located, mapping: dict[int, str], run: FileRun, max_rows: int,
                 size: int, result: FileResult, hidden: set[int], prefilled: bool = False,
                 csv: bool = False) -> Iterator[Chunk]:
    """The data rows below the header, parsed a chunk at a time; blank rows and the header
    pasted again are skipped, and so are the form's totals, signatures and notes, rows hidden
    in the sheet, and (`prefilled`) rows of our pre-filled template left as they were (their
    row numbers go to the result, for the receipt)."""
    columns = run.kind.columns
    take = column_taker(mapping, columns)
    where = {f: pos for pos, f in mapping.items()}
    labels = [normalise_label(located.header[where[c.field]]) if c.field in where else None
              for c in columns]

    def skipped(raw: tuple[Any, ...]) -> bool:
        """A blank row (blank cells and formula errors only: holds_nothing), or one whose every
        filled cell is its column's header."""
        for label, v in zip(labels, raw):
            if holds_nothing(v):
                continue
            if label is None or normalise_label(str(v)) != label:
                return False
        return True

    # The columns a clerk fills in a row the product pre-filled, where such a row left blank
    # is no declaration (KindSpec.skip_untouched; the file is one of our templates: a row typed
    # by hand with nothing to do fails as before); a column missing from the sheet is blank.
    fillable = [i for i, c in enumerate(columns) if not c.protected] if prefilled else []
    # A CSV row with cells past its header's last: an unquoted comma split a cell ("310,510")
    # and the cells after it moved; a sheet's notes right of the table are no such thing.
    width = max((i + 1 for i, h in enumerate(located.header) if not holds_nothing(h)), default=0)
    wide: dict[int, list[tuple[int, Any]]] = {}      # row -> its cells past the header
    # Named columns the kind has not (a 停保日期 added to a stop form): filled, they are told.
    unread = [i for i, h in enumerate(located.header)
              if i not in mapping and not holds_nothing(h) and normalise_label(str(h)) not in ROW_NUMBERS]
    filled: set[int] = set()                         # of those, the ones with something filled
    filled_rows: list[int] = []                      # the rows with something there
    batch: list[tuple[int, tuple[Any, ...]]] = []

    def parsed() -> Chunk:
        chunk = run.parse(batch)
        for p in chunk.rows if wide else ():
            past = wide.pop(p.outcome_row, None)
            if past:
                letters = "、".join(column_letters(i + 1) for i, _ in past[:5])
                p.findings.append(Finding(p.outcome_row, C.ROW_EXTRA_CELLS, params={
                    "count": len(past), "letters": letters, "value": str(past[0][1])[:40]}))
        return chunk

    for number, values in located.rows:
        raw = take(values)
        if skipped(raw):
            continue
        if hidden and number in hidden:
            # Filtered out or hidden by hand: the clerk does not see it. A pre-filled stop row
            # is a whole stop (its reason has a default): a clerk who filtered the staff to the
            # leavers would have stopped everyone hidden.
            result.hidden_rows.append(number)
            continue
        if fillable and all(holds_nothing(raw[i]) for i in fillable):
            result.untouched_rows.append(number)
            continue
        if footer_row(values):
            result.footer_rows.append(number)
            continue
        run.data_rows += 1
        if run.data_rows > max_rows:
            raise FileRejected(C.FILE_TOO_LARGE, what="row_count", limit=max_rows)
        if csv and len(values) > width:
            past = [(i, v) for i, v in enumerate(values[width:], width) if not holds_nothing(v)]
            if past:
                wide[number] = past
        if unread:
            there = [i for i in unread if i < len(values) and not holds_nothing(values[i])]
            if there:
                filled.update(there)
                filled_rows.append(number)
        batch.append((number, raw))
        if len(batch) >= size:
            yield parsed()
            batch = []
    if batch:
        yield parsed()
    if filled:
        named = "、".join(RECEIPT_WORDS["column_named"].format(
            letter=column_letters(i + 1), name=shown_name(str(located.header[i]))) for i in sorted(filled))
        note(result.warnings, C.NOTE_IGNORED_COLUMNS, {"columns": named, "title": f"《{run.kind.title}》",
                                                       "count": len(filled_rows), "first": filled_rows[0]})


def examine(instance: Instance, session: Session, path: Path, unit_code: str, name: str,
            result: FileResult, opts: Options, sink: RowSink, unit: UnitRecord | None = None
            ) -> tuple[KindSpec | None, UnitRecord | None]:
    """Judge one file: whole-file refusals raise FileRejected; rows go to `sink` one by one.
    `unit`: the unit's record, when the caller has just read it."""
    die_if_marked(str(path))            # tests only: a process that dies while reading
    if path.is_symlink():               # a link put in a shared-folder inbox: never followed
        raise FileRejected(C.FILE_HOSTILE, what="link")
    unit = unit or Q.unit_record(session, unit_code)
    if unit is None:
        raise FileRejected(C.FILE_UNKNOWN_UNIT, unit=unit_code)
    if is_confirmation_text(name):                # 提交确认.txt (issue 16.5)
        examine_confirmation(instance, session, read_text(path), unit_code, result,
                             opts.importing, opts.actor or unit_code, sink, opts.scope)
        return None, unit
    # Every byte of the file is parsed in a sandboxed worker (exchange.read.sandbox); a worker
    # that dies or passes a limit is this file's FileRejected, never the service's end.
    with instance.readers.upload(path, book=not named_as_image(name)) as upload:
        if is_photo_upload(upload.sniffed, name):   # <证件号码>.jpg|.png or a zip of them
            examine_photos(instance, session, upload, unit_code, name, result, PhotoRun(
                opts.importing, opts.file_id, opts.actor or unit_code, opts.today, opts.scope), sink)
            return None, unit
        if upload.sniffed.format not in TABLE_FORMATS:
            raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
        sent, book = sent_list(upload.book())
        if sent is not None:                      # a 待提交清单 sent back (issue 16.5)
            examine_confirmation(instance, session, sent, unit_code, result, opts.importing,
                                 opts.actor or unit_code, sink, opts.scope)
            return None, unit
        return _examine_book(instance, session, book, unit, name, result, opts, sink)


def _examine_book(instance: Instance, session: Session, book: Book, unit: UnitRecord, name: str,
                  result: FileResult, opts: Options, sink: RowSink) -> tuple[KindSpec, UnitRecord]:
    """A workbook or CSV's kind and rows judged; its rows come from the reading worker."""
    unit_code, limits = unit.code, instance.settings.limits
    rules = instance.rules
    # Every kind as this unit's type fills it (its required columns); one it may not send is
    # recognised, then refused by name rather than read as some other kind.
    kinds = [rules.for_unit_type(k, unit.unit_type) for k in rules.kinds.values()]
    located = None
    seen_rows = 0
    sheets = iter(book.sheets)
    for sheet in sheets:
        # The head read here is handed on, not wrapped: every data row passes below.
        head = list(itertools.islice(sheet.rows, SCAN_ROWS))
        seen_rows += len(head)
        located = locate_header(itertools.chain(head, sheet.rows), kinds)
        if located is not None:
            break
    if located is None:
        raise FileRejected(C.FILE_EMPTY if seen_rows == 0 else C.FILE_UNKNOWN_KIND)
    judged = sheet.name
    try:
        detected = detect_kind(kinds, located.header, located.title_lines, name, book.meta)
    except FileRejected as exc:
        # Its kind is known, its required columns are not all there: the receipt and
        # `validate --json` name the kind its message names.
        named = [k for k in kinds if exc.params.get("title") == k.title]
        if exc.code == C.FILE_MISSING_COLUMNS and named:
            result.kind, result.kind_label = named[0].kind, named[0].label
        raise
    kind = detected.kind
    result.kind, result.kind_label = kind.kind, kind.label
    result.awaits_submission = kind.review and kind.action == "declare"
    if result.awaits_submission and opts.importing:     # for the receipt (validate has none)
        result.next_step = next_step(instance, unit_code)
    result.withdrawal = kind.action == "withdraw"
    named = unit_named(located.title_lines, book.meta)
    if named and named != unit_code:
        raise FileRejected(C.FILE_WRONG_UNIT, named=named, unit=unit_code)
    if not rules.allows(kind, unit.unit_type):
        types = rules.tables["unit_type"]
        raise FileRejected(C.FILE_KIND_NOT_ALLOWED, title=kind.title,
                           unit_type=types.label(rules.unit_type(unit.unit_type)),
                           allowed="、".join(types.label(t) for t in rules.sender_types(kind)))
    run = FileRun(instance, session, kind, unit, opts, sink)
    prefilled = kind.skip_untouched and book.meta.get("source") == "template"
    for chunk in _data_chunks(located, detected.mapping, run, limits.max_rows,
                              instance.settings.intake.chunk_rows, result, sheet.hidden, prefilled,
                              csv=book.format == "csv"):
        run.run_chunk(chunk)
    others = _sheets_with_rows(sheets, kinds)
    if others:
        raise FileRejected(C.FILE_SEVERAL_SHEETS,
                           sheets="、".join(shown_name(n) for n in [judged, *others]))
    if run.data_rows == 0 and result.untouched_rows:
        raise FileRejected(C.FILE_EMPTY, untouched=len(result.untouched_rows), columns="、".join(
            c.header for c in kind.columns if not c.protected))
    if run.data_rows == 0:
        raise FileRejected(C.FILE_EMPTY)
    _whole_staff(session, kind, unit_code, result)
    _stop_month(kind, opts.today, result)
    return kind, unit


def _whole_staff(session: Session, kind: KindSpec, unit_code: str, result: FileResult) -> None:
    """A stop file that stops every insured person of its unit (two or more) says so: the
    pre-filled 职工减少 template sent as it is, or filtered by a clerk who kept no one, is a
    whole stop on every row (停保原因 has a default)."""
    counts = result.counts
    if kind.effect != "stop" or counts.total < 2 or not counts.accepted:
        return
    insured = Q.insured_count(session, unit_code)
    if insured < 2 or counts.total < insured:
        return
    # Judged on the rows listed, not on those imported: one row failing (arrears, say) must not
    # hide that the file stops everyone else.
    note(result.warnings, C.NOTE_WHOLE_STAFF, {
        "count": insured, "kind": kind.label,
        "accepted": counts.accepted if counts.accepted < insured else None})


def _stop_month(kind: KindSpec, today: date, result: FileResult) -> None:
    """A stop file's accepted people are insured to the end of this month (the import's: the
    payload's stop_after), whatever date a clerk had in mind: the receipt says which."""
    if kind.effect != "stop" or not result.counts.accepted:
        return
    month = f"{today:%Y%m}"
    note(result.notes, C.NOTE_STOP_MONTH, {"count": result.counts.accepted, "paid_to": month_label(month),
                                           "stops": month_label(add_months(month, 1))})


def note(notes: list[dict[str, str]], code: str, params: dict[str, Any]) -> None:
    """A note of the whole file for the receipt's `warnings` or `notes`."""
    notes.append({"code": code, "message": row_message(code, params)})


def _sheets_with_rows(sheets: Iterator[Sheet], kinds: list[KindSpec]) -> list[str]:
    """The names of the sheets left that hold a header and, in its first rows below it, a cell
    under a known column: a file is judged by one sheet, and a clerk who split the staff over
    two (一车间, 二车间) would otherwise see the first imported and never learn that the second
    was not read. An instructions sheet (a column name per row), a header with nothing under it
    and rows numbered in advance (序号 1, 2, 3 … and nothing else) do not count."""
    names = known_names(kinds)
    found = []
    for sheet in sheets:
        located = locate_header(sheet.rows, kinds)
        if located is None:
            continue
        known = [i for i, cell in enumerate(located.header) if header_label(cell, names) in names]
        if any(not holds_nothing(values[i]) for _, values in itertools.islice(located.rows, SHEET_PEEK)
               for i in known if i < len(values)):
            found.append(sheet.name)
    return found
