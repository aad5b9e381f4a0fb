"""The resident kinds' steps around the pipeline's own: facts loaded per chunk, what the system
decides and records in each declaration, notes for the receipt, and households on import.

The pipeline asks `hooks_for(kind)` once per file; kinds are chosen by their `effect` in
rules/kinds/*.toml, so a new kind file with one of these effects gets the same behaviour.

- household (户主信息表): registration data, effective on import. The declaration is recorded
  as approved at once (业务流水号 and audit as usual), never batched for review, and the
  `households` table changes in the same transaction. A resent row counts as 重复 unless the
  head's state has moved on since (re-registering a deleted head, deleting a re-registered one).
- resident_insure (resident_add): payload.enrolment is "new" (新参保, no archive), "renewal"
  (续保, archive in this unit) or "transfer_in" (调入, archive elsewhere; payload.from_unit).
- suspend (resident_suspend): payload.stop_after is the current month. A 班级停保 row becomes one
  declaration with id_number NULL and payload {class_stop: true, class_code, members: [IDs],
  count}; while it is open its members count as having an unreviewed declaration.
- class_transfer: payload.from_class and old_values {"class_code": ...}.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks.context import CheckContext, OpenDeclaration, PersonRecord
from exchange.checks.finding import Finding
from exchange.checks.resident import (HouseholdRecord, ResidentContext, ResidentFacts,
                                      enrolment, facts_of, is_class_stop)
from exchange.classes import FIELDS as CLASS_FIELDS, ClassRecord, listed_classes, upsert_classes
from exchange.kinds.spec import KindSpec
from exchange.store import queries as Q
from exchange.store.models import (OPEN_STATUSES, Account, Declaration, Household, Person)

INSURED = "1"
HOUSEHOLD, INSURE, SUSPEND, TRANSFER = "household", "resident_insure", "suspend", "class_transfer"
CLASSES = "classes"          # class_info (班级信息表): the classes table, effective on import
EFFECTS = (HOUSEHOLD, INSURE, SUSPEND, TRANSFER, CLASSES)
ON_IMPORT = (HOUSEHOLD, CLASSES)

Rows = list[tuple[int, dict[str, Any]]]       # (sheet row, parsed values) of one chunk


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


class ResidentHooks:
    """One per file run: keeps what must be remembered across chunks (rows seen, for repeats)."""

    def __init__(self, kind: KindSpec) -> None:
        self.kind = kind
        self.seen: dict[Any, int] = {}             # head ID / class / student ID -> first row
        self.from_class_stop: set[int] = set()     # rows that were 班级停保 rows

    # Checking --------------------------------------------------------------------------------
    def enrich(self, s: Session, ctx: CheckContext, rows: Rows) -> ResidentContext:
        """The chunk's context, with the facts the resident rules need."""
        base = {f.name: getattr(ctx, f.name) for f in fields(CheckContext)}
        rctx = ResidentContext(**base, facts=ResidentFacts())
        facts, unit = rctx.facts, ctx.unit.code
        facts.listed = listed_classes(s, unit)
        facts.classes = unit_classes(s, unit, facts.listed)
        effect = self.kind.effect
        if effect == HOUSEHOLD:
            heads = [v["head_id"] for _, v in rows if v.get("head_id")]
            facts.households = households(s, unit, heads, with_members=True)
            self._prune_resent_households(rctx, rows)
            self._repeats(facts, rows, lambda v: [("head", v.get("head_id"))] if v.get("head_id") else [])
        elif effect == CLASSES:
            self._prune_resent_classes(rctx, rows)
            self._repeats(facts, rows, lambda v: [("class", v["class_code"])] if v.get("class_code") else [])
        elif effect == INSURE:
            heads = [v["household_head"] for _, v in rows if v.get("household_head")]
            facts.households = households(s, unit, heads, with_members=False)
        elif effect == SUSPEND:
            stops = sorted({v["class_code"] for _, v in rows if is_class_stop(v)})
            facts.class_members = class_members(s, unit, stops)
            member_ids = [p.id_number for ps in facts.class_members.values() for p in ps]
            facts.member_open = Q.open_declarations(s, member_ids)
            facts.member_open.update(covered_by_class_stops(s, unit, member_ids))

            def keys(v: dict[str, Any]) -> list[Any]:
                if is_class_stop(v):
                    return [("class", v["class_code"])] + [
                        ("person", p.id_number) for p in facts.class_members.get(v["class_code"], ())]
                return [("person", v["id_number"])] if v.get("id_number") else []

            self._repeats(facts, rows, keys, class_rows=True)
        ids = [v["id_number"] for _, v in rows if v.get("id_number")]
        # A student covered by an open 班级停保 has an unreviewed declaration, like any other.
        for number, d in covered_by_class_stops(s, unit, ids).items():
            rctx.open_by_person.setdefault(number, d)
        return rctx

    def _repeats(self, facts: ResidentFacts, rows: Rows, keys: Any, class_rows: bool = False) -> None:
        """Later rows naming what an earlier row of the file named (the pipeline itself only
        compares persons with persons; a class row covers persons too)."""
        for number, values in rows:
            first = None
            mine = keys(values)
            stop = class_rows and is_class_stop(values)
            for key in mine:
                earlier = self.seen.get(key)
                # person-vs-person repeats are the pipeline's duplicate.in_file already
                if earlier is not None and (not class_rows or stop or earlier in self.from_class_stop
                                            or key[0] == "class"):
                    first = earlier if first is None else min(first, earlier)
            if first is not None:
                facts.repeats[number] = first
                if stop and ("class", values["class_code"]) not in self.seen:
                    facts.pupil_rows[number] = sorted({self.seen[key] for key in mine
                                                       if key in self.seen})
                continue
            for key in mine:
                self.seen.setdefault(key, number)
            if stop:
                self.from_class_stop.add(number)

    def _prune_resent(self, ctx: CheckContext, rows: Rows, key: str,
                      moved_on: Callable[[dict[str, Any]], bool]) -> None:
        """A resent row (one whose fingerprint was imported) is new work, not a repeat, when what
        it names has moved on since (`moved_on`)."""
        from exchange.store.imports import fingerprint

        for _, values in rows:
            if not values.get(key):
                continue
            fp = fingerprint(self.kind.kind, ctx.unit.code, values)
            if fp in ctx.imported and moved_on(values):
                del ctx.imported[fp]

    def _prune_resent_households(self, ctx: ResidentContext, rows: Rows) -> None:
        """A resent 新增 of a head deleted since (or 删除 of one registered again)."""
        def moved_on(values: dict[str, Any]) -> bool:
            record = ctx.facts.households.get(values["head_id"])
            active = record is not None and record.active
            operation = values.get("operation") or "add"
            return (operation == "add" and not active) or (operation == "delete" and active)

        self._prune_resent(ctx, rows, "head_id", moved_on)

    def _prune_resent_classes(self, ctx: ResidentContext, rows: Rows) -> None:
        """A resent row whose class has been renamed since."""
        def moved_on(values: dict[str, Any]) -> bool:
            record = ctx.facts.listed.get(values["class_code"])
            return record is None or any(values.get(f) not in (None, "", getattr(record, f))
                                         for f in CLASS_FIELDS)

        self._prune_resent(ctx, rows, "class_code", moved_on)

    # Importing -------------------------------------------------------------------------------
    def complete(self, row: dict[str, Any], values: dict[str, Any], ctx: CheckContext) -> None:
        """What the system decides and records in the declaration row about to be inserted."""
        payload = row["payload"]
        effect = self.kind.effect
        if effect in ON_IMPORT:
            row["status"] = "approved"
            row["decided_at"] = _now()
            payload["effective_on_import"] = True
        elif effect == INSURE:
            payload["enrolment"] = enrolment(values, ctx)
            person = ctx.person(values)
            if payload["enrolment"] == "transfer_in" and person is not None:
                payload["from_unit"] = person.unit_code
        elif effect == SUSPEND:
            payload["stop_after"] = ctx.current_month
            if is_class_stop(values):
                members = facts_of(ctx).class_members.get(values["class_code"], ())
                payload["class_stop"] = True
                payload["members"] = [p.id_number for p in members]
                payload["count"] = len(members)
        elif effect == TRANSFER:
            person = ctx.person(values)
            if person is not None:
                payload["from_class"] = person.class_code
                row["old_values"] = {"class_code": person.class_code}

    def notes(self, row: int, values: dict[str, Any], ctx: CheckContext) -> tuple[Finding, ...]:
        """Facts the receipt shows beside an accepted row."""
        if self.kind.effect == HOUSEHOLD:
            operation = values.get("operation") or "add"
            col = self.kind.column("head_id")
            label = ctx.rules.tables["household_op"].label(operation)
            return (Finding(row, C.NOTE_HOUSEHOLD_DONE, col.header, col.field,
                            {"head": values.get("head_id"), "operation": label}),)
        if self.kind.effect == CLASSES:
            col = self.kind.column("class_code")
            known = facts_of(ctx).listed.get(values["class_code"])
            return (Finding(row, C.NOTE_CLASS_SAVED, col.header, col.field, {
                "class_code": values["class_code"], "name": values.get("name") or "",
                "operation": "class_renamed" if known else "class_added"}),)
        if self.kind.effect == INSURE:
            judged = enrolment(values, ctx)
            person = ctx.person(values)
            col = self.kind.column("id_number")
            return (Finding(row, C.NOTE_ENROLMENT[judged], col.header, col.field,
                            {"from_unit": person.unit_code if person is not None else ""}),)
        if self.kind.effect == SUSPEND and is_class_stop(values):
            members = facts_of(ctx).class_members.get(values["class_code"], ())
            col = self.kind.column("class_code")
            return (Finding(row, C.NOTE_CLASS_STOP, col.header, col.field,
                            {"class_code": values["class_code"], "count": len(members)}),)
        return ()

    def imported(self, s: Session, rows: list[dict[str, Any]], serials: list[int]) -> None:
        """Effects that do not wait for review: household registration, the classes table."""
        if self.kind.effect == CLASSES:
            upsert_classes(s, [{**row["payload"], "unit_code": row["unit_code"]} for row in rows])
        if self.kind.effect != HOUSEHOLD:
            return
        for row, serial in zip(rows, serials):
            apply_household(s, row["unit_code"], row["payload"], serial)


def hooks_for(kind: KindSpec, instance: Any = None, actor: str | None = None) -> Any:
    """The extra steps of a kind, chosen by its effect: the resident kinds', or the 用户维护表's
    (exchange.account_book: `instance` for the new users' folders, `actor` the sender)."""
    from exchange.account_book import ACCOUNTS, AccountHooks

    if kind.effect == ACCOUNTS:
        return AccountHooks(kind, instance, actor)
    return ResidentHooks(kind) if kind.effect in EFFECTS else None


# Queries -----------------------------------------------------------------------------------------
def unit_classes(s: Session, unit: str, listed: dict[str, ClassRecord] | None = None) -> frozenset[str]:
    """Classes of a unit: those of its classes table (exchange.classes), and, for schools that
    never listed theirs (and classes not listed yet), those its persons are in and its
    sub-accounts hold (a class a school has just opened has an account before it has students)."""
    found: set[str] = set(listed_classes(s, unit) if listed is None else listed)
    found |= {c for c in s.scalars(select(Person.class_code).where(
        Person.unit_code == unit, Person.class_code.is_not(None)).distinct()) if c}
    for scope in s.scalars(select(Account.scope).where(Account.unit_code == unit,
                                                       Account.scope.is_not(None))):
        found.update(c for c in (scope or "").split(",") if c)
    return frozenset(found)


def households(s: Session, unit: str, heads: list[str], *, with_members: bool
               ) -> dict[str, HouseholdRecord]:
    """This unit's households among `heads`, with 参保人数 when asked."""
    if not heads:
        return {}
    wanted = sorted(set(heads))
    members: Counter[str] = Counter()
    if with_members:
        for head, n in s.execute(select(Person.household_head, func.count()).where(
                Person.household_head.in_(wanted), Person.unit_code == unit,
                Person.status == INSURED).group_by(Person.household_head)):
            members[head or ""] += n
        # Enrolments on their way count too: a head is not deleted under a pending member.
        for payload, in s.execute(select(Declaration.payload).where(
                Declaration.unit_code == unit, Declaration.kind == "resident_add",
                Declaration.status.in_(OPEN_STATUSES))):
            head = (payload or {}).get("household_head")
            if head in wanted:
                members[head] += 1
    out = {}
    for h in s.scalars(select(Household).where(Household.unit_code == unit,
                                               Household.head_id.in_(wanted))):
        out[h.head_id] = HouseholdRecord(h.head_id, h.name, h.phone, h.status == "active",
                                         h.serial, members[h.head_id])
    return out


def class_members(s: Session, unit: str, classes: list[str]) -> dict[str, tuple[PersonRecord, ...]]:
    """The students insured in this unit, per class."""
    out: dict[str, list[PersonRecord]] = {c: [] for c in classes}
    if classes:
        for p in s.scalars(select(Person).where(Person.unit_code == unit, Person.status == INSURED,
                                                Person.class_code.in_(classes))
                           .order_by(Person.id_number)):
            out[p.class_code or ""].append(Q.person_record(p))
    return {c: tuple(ps) for c, ps in out.items()}


def covered_by_class_stops(s: Session, unit: str, ids: list[str]) -> dict[str, OpenDeclaration]:
    """Students of `ids` that an open 班级停保 declaration of this unit covers."""
    wanted = set(ids)
    out: dict[str, OpenDeclaration] = {}
    if not wanted:
        return out
    q = select(Declaration.serial, Declaration.kind, Declaration.status, Declaration.payload).where(
        Declaration.unit_code == unit, Declaration.kind == "resident_suspend",
        Declaration.id_number.is_(None), Declaration.status.in_(OPEN_STATUSES))
    for serial, kind, status, payload in s.execute(q):
        for number in (payload or {}).get("members", ()):
            if number in wanted:
                out.setdefault(number, OpenDeclaration(serial, kind, status, unit, number))
    return out


def apply_household(s: Session, unit: str, payload: dict[str, Any], serial: int | None) -> None:
    """Register, change or delete a household head (the effect of a household row)."""
    head = payload["head_id"]
    operation = payload.get("operation") or "add"
    record = s.get(Household, (unit, head))
    if record is None:
        record = Household(unit_code=unit, head_id=head, name=payload["name"], created_at=_now())
        s.add(record)
    if operation == "delete":
        record.status = "deleted"
    else:
        record.status = "active"
        record.name = payload.get("name") or record.name
        record.phone = payload.get("phone") or record.phone
    record.serial = serial
    record.updated_at = _now()


# 班级停保 in documents -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassMember:
    """One pupil a 班级停保 declaration stops, as a document row of its own: the same attributes
    a roster reads from a Declaration (the payload names the pupil)."""
    serial: int
    id_number: str
    name: str
    payload: dict[str, Any]
    old_values: dict[str, Any] | None = None


def class_stop_members(s: Session, decls: Iterable[Declaration]) -> dict[int, list[tuple[str, str]]]:
    """serial -> [(ID, name)] of each 班级停保 among `decls`: every pupil it stops, named as on
    file (an ID no longer on file keeps an empty name)."""
    stops = {d.serial: list((d.payload or {}).get("members") or ()) for d in decls
             if (d.payload or {}).get("class_stop")}
    ids = sorted({n for members in stops.values() for n in members})
    names: dict[str, str] = {}
    for i in range(0, len(ids), 900):
        names.update({n: name for n, name in s.execute(
            select(Person.id_number, Person.name).where(Person.id_number.in_(ids[i:i + 900])))})
    return {serial: [(n, names.get(n, "")) for n in members] for serial, members in stops.items()}


def with_class_members(decls: Iterable[Any], members: dict[int, list[tuple[str, str]]]) -> list[Any]:
    """`decls` with each 班级停保 replaced by one ClassMember per pupil it stops."""
    out: list[Any] = []
    for d in decls:
        pupils = members.get(d.serial)
        if pupils is None:
            out.append(d)
            continue
        for number, name in pupils:
            out.append(ClassMember(d.serial, number, name,
                                   {**(d.payload or {}), "id_number": number, "name": name},
                                   d.old_values))
    return out


def persons_covered(payload: dict[str, Any], id_number: str | None) -> list[str]:
    """The persons a resident_suspend declaration stops: its member list for 班级停保."""
    if payload.get("class_stop"):
        return list(payload.get("members") or ())
    return [id_number] if id_number else []


__all__ = ["hooks_for", "ResidentHooks", "apply_household", "persons_covered", "unit_classes",
           "households", "class_members", "class_stop_members", "with_class_members", "ClassMember"]
