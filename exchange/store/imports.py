"""Storing a judged file's rows: declarations of the accepted ones (with their audit), row
errors of the failed ones, withdrawals; the file's record when it is done; the fingerprint that
tells a declaration sent again.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Callable, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from exchange.checks.context import CheckContext, UnitRecord
from exchange.checks.finding import Finding
from exchange.kinds.spec import KindSpec, RuleSet
from exchange.messages import OUTPUT_NAMES
from exchange.outputs.answers import output_stem
from exchange.results import FileResult
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Declaration


def _fingerprint_encoder() -> Callable[[Any], str]:
    """JSONEncoder(ensure_ascii=False, default=str).encode: the text fingerprints are made of.

    encode() builds its C encoder anew at every call, which is 40% of a fingerprint; the C
    encoder is built once here where the interpreter has one (values never refer to
    themselves, so no cycle check)."""
    from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]

    if c_make_encoder is None or c_encode_basestring is None:
        return json.JSONEncoder(ensure_ascii=False, default=str).encode
    parts = c_make_encoder(None, str, c_encode_basestring, None, ": ", ", ", False, False, True)
    return lambda body: "".join(parts(body, 0))


_fingerprint_text = _fingerprint_encoder()


def fingerprint(kind: str, unit: str, values: dict[str, Any]) -> str:
    """Same kind, unit and normalised values: the same declaration, however it was spelt.

    The text hashed is the JSON of [kind, unit, [[field, value], ...]] over the non-empty values
    sorted by field; stored fingerprints depend on it never changing."""
    items = [(k, v) for k, v in values.items() if v is not None and v != ""]
    items.sort()                    # by field: a dict's keys are distinct
    return hashlib.sha256(_fingerprint_text([kind, unit, items]).encode("utf-8")).hexdigest()


class JudgedRow(Protocol):
    """A data row as the judging step hands it over (exchange.checks.engine.Parsed)."""
    outcome_row: int
    values: dict[str, Any]
    fingerprint: str         # "" when the judging step made none


Given = Callable[[Any, str], str | None]     # (row, field) -> what the clerk wrote there


class Importer:
    """Stores the judged rows of one file, a chunk at a time, in the caller's transaction."""

    def __init__(self, session: Session, kind: KindSpec, unit: UnitRecord, rules: RuleSet,
                 hooks: Any, actor: str | None, file_id: int | None, given: Given) -> None:
        self.session = session
        self.kind = kind
        self.unit = unit
        self.rules = rules
        self.hooks = hooks          # the kind's extra steps (exchange.residents.hooks_for)
        self.actor = actor          # who declares: None for the unit, else a sub-account login
        self.file_id = file_id
        self.given = given
        # Fields whose parsed value is a tuple (see cells.PARSERS), and the kind's defaults.
        self.tuple_fields = [c.field for c in kind.columns if c.type == "codes"] + ["insurances"]
        self.now = _now()

    def store(self, judged: list[tuple[JudgedRow, list[Finding]]], ctx: CheckContext) -> dict[int, int]:
        s, actor, file_id = self.session, self.actor or self.unit.code, self.file_id
        now = self.now = _now()              # one timestamp for the rows of a chunk
        accepted = [p for p, f in judged if not f]
        failures = [(p, f) for p, f in judged if f and not all(x.is_duplicate for x in f)]
        Q.add_row_errors(s, [
            {"file_id": file_id, "unit_code": self.unit.code, "kind": self.kind.kind,
             "row": p.outcome_row, "id_number": self.given(p, "id_number"),
             "name": self.given(p, "name"), "column": x.column,
             "code": x.code, "message": x.message, "created_at": now}
            for p, f in failures for x in f])
        if self.kind.action == "withdraw":
            return self.withdraw(accepted, ctx)
        rows = [self.declaration(p, ctx) for p in accepted]
        serials = Q.add_declarations(s, rows)
        if self.hooks:
            self.hooks.imported(s, rows, serials)
        if file_id is not None:
            Q.audit_imported(s, file_id, serials, now, actor)
        else:
            Q.add_audit(s, [{"at": now, "actor": actor, "action": "import", "serial": serial,
                             "file_id": None, "row": p.outcome_row, "detail": self.kind.kind}
                            for p, serial in zip(accepted, serials)])
        return {p.outcome_row: serial for p, serial in zip(accepted, serials)}

    def _json_safe(self, values: dict[str, Any]) -> dict[str, Any]:
        """Tuples as lists, in place: only multi-code columns (and what the kind adds) hold them.

        Only for the hooks, which read payloads: a tuple's JSON text is a list's (orjson and
        json.dumps write both as an array), so the stored text is the same either way."""
        if not self.hooks:
            return values
        for f in self.tuple_fields:
            if isinstance(values.get(f), tuple):
                values[f] = list(values[f])
        return values

    def declaration(self, p: JudgedRow, ctx: CheckContext) -> dict[str, Any]:
        values = dict(p.values)
        old: dict[str, Any] | None = None
        if self.kind.effect == "insure" and not values.get("insurances"):
            values["insurances"] = tuple(self.rules.region.default_insurances)
        if self.kind.effect == "stop":
            # Insured to the end of the month it is declared in; stopped from the next (fixed).
            values["stop_after"] = ctx.current_month
        if self.kind.change_fields:
            record: Any = ctx.person(values) if self.kind.subject == "person" else None
            old = {}
            for f in self.kind.change_fields:
                if values.get(f) in (None, ""):
                    continue
                if record is not None:
                    old[f] = record.value(f)
                elif self.kind.subject == "unit":
                    old[f] = self.unit.extra.get(f)
        row = {"unit_code": self.unit.code, "kind": self.kind.kind,
               "id_number": values.get("id_number"), "name": values.get("name"),
               "status": "pending", "fingerprint": self._fingerprint(p),
               "payload": self._json_safe(values), "old_values": old, "file_id": self.file_id,
               "row": p.outcome_row, "created_at": self.now}
        if self.hooks:
            self.hooks.complete(row, p.values, ctx)
        return row

    def withdraw(self, accepted: list[JudgedRow], ctx: CheckContext) -> dict[int, int]:
        done: dict[int, int] = {}
        actor = self.actor or self.unit.code
        for p in accepted:
            serial, number, kind = (p.values.get("serial"), p.values.get("id_number"),
                                    p.values.get("declared_kind"))
            targets = ([ctx.declarations[serial]] if serial is not None else
                       [d for d in ctx.by_person.get(str(number), []) if kind in (None, d.kind)])
            for d in targets:
                if d.status != "pending":
                    continue
                self.session.execute(update(Declaration).where(
                    Declaration.serial == d.serial, Declaration.status == "pending").values(
                    status="withdrawn", decided_at=_now()))
                Q.audit(self.session, actor, "withdraw", serial=d.serial, file_id=self.file_id,
                        row=p.outcome_row)
                done[p.outcome_row] = d.serial
        return done

    def _fingerprint(self, p: JudgedRow) -> str:
        return p.fingerprint or fingerprint(self.kind.kind, self.unit.code, p.values)


def finish_record(s: Session, result: FileResult, **more: Any) -> None:
    """The file's row told how it ended: kind, status, counts, its outputs' names (and `more`
    columns), by one UPDATE."""
    counts = result.counts
    told = Q.update_file(
        s, result.file_id, kind=result.kind, status=result.status, total=counts.total,
        accepted=counts.accepted, failed=counts.failed, duplicate=counts.duplicate,
        error_book_name=result.error_book_name,
        receipt_name=f"{output_stem(result)}.{OUTPUT_NAMES['receipt']}.txt",
        finished_at=_now(), **more)
    if told:
        Q.audit(s, result.unit, "file." + result.status, file_id=result.file_id,
                detail=json.dumps(counts.as_dict()))


def record_refusal(db: Database, result: FileResult) -> None:
    """A file refused whole: its row, and its file code as the one row error."""
    with db.session() as s:
        finish_record(s, result, **({"file_code": result.file_error.code}
                                    if result.file_error else {}))
        if result.file_error:
            Q.add_row_errors(s, [{"file_id": result.file_id, "unit_code": result.unit,
                                  "kind": result.kind, "row": None, "id_number": None, "name": None,
                                  "column": None, "code": result.file_error.code,
                                  "message": result.file_error.message, "created_at": _now()}])


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)
