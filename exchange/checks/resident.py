"""Row rules of the resident kinds (communities and schools): households, enrolment, 班级停保,
class transfers, and the class scope of a school's sub-accounts.

Pure like every check: what they need from the database (households, classes, the students of a
class) is loaded once per chunk into `ResidentFacts` by exchange.residents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange import codes as C
from exchange.checks.context import CheckContext, OpenDeclaration, PersonRecord
from exchange.checks.finding import Finding
from exchange.checks.rows import row_check
from exchange.messages import CLASS_MEMBER, DECLARATION_STATUS_LABELS

# rules/codes.toml [unit_type]: 40 学校. Kindergartens and the like (Changchun "单位形式城镇居民")
# count as schools once they have classes.
SCHOOL_TYPE = "40"
# Region switch (rules/region.toml arrears_block) for resident_add rows of persons with an archive.
RENEWAL_BLOCK = "resident_renewal"
# Kinds whose own rules judge what a sub-account may do (class_rules, account_rules).
OWN_SCOPE_EFFECTS = ("classes", "accounts")
# At most this many per-student findings on one 班级停保 row; the rest are summed up in the last.
MEMBER_FINDINGS = 10


@dataclass(frozen=True)
class HouseholdRecord:
    head_id: str
    name: str
    phone: str | None
    active: bool
    serial: int | None          # the declaration that last changed it
    members: int = 0            # insured in this unit, plus open enrolments naming this head


@dataclass
class ResidentFacts:
    """What the resident rules know beyond the persons of the chunk. Built per chunk."""
    households: dict[str, HouseholdRecord] = field(default_factory=dict)
    classes: frozenset[str] = frozenset()              # classes of this unit
    listed: dict[str, Any] = field(default_factory=dict)  # its classes table (exchange.classes)
    class_members: dict[str, tuple[PersonRecord, ...]] = field(default_factory=dict)
    member_open: dict[str, OpenDeclaration] = field(default_factory=dict)  # of class members
    repeats: dict[int, int] = field(default_factory=dict)  # row -> earlier row in the file


@dataclass
class ResidentContext(CheckContext):
    facts: ResidentFacts = field(default_factory=ResidentFacts)


def facts_of(ctx: CheckContext) -> ResidentFacts:
    return ctx.facts if isinstance(ctx, ResidentContext) else ResidentFacts()


def is_school(ctx: CheckContext) -> bool:
    return ctx.unit.unit_type == SCHOOL_TYPE or bool(facts_of(ctx).classes)


def keeps_households(ctx: CheckContext) -> bool:
    return ctx.rules.unit_type(ctx.unit.unit_type) in ctx.rules.region.households


def is_class_stop(values: dict[str, Any]) -> bool:
    """A 班级停保 row: 班级编号 filled, 证件号码 left blank (not merely unreadable)."""
    return "id_number" in values and values["id_number"] is None and bool(values.get("class_code"))


def enrolment(values: dict[str, Any], ctx: CheckContext) -> str:
    """新参保 without an archive; 续保 with one in this unit; 调入 with one elsewhere."""
    person = ctx.person(values)
    if person is None:
        return "new"
    return "renewal" if person.unit_code == ctx.unit.code else "transfer_in"


def _cell(row: int, ctx: CheckContext, field_name: str, code: str, **params: Any) -> Finding:
    col = ctx.kind.column(field_name) if ctx.kind.has(field_name) else None
    return Finding(row, code, col.header if col else None, field_name, params)


def _repeat(row: int, ctx: CheckContext) -> list[Finding]:
    first = facts_of(ctx).repeats.get(row)
    return [Finding(row, C.DUPLICATE_IN_FILE, params={"first_row": first})] if first else []


# Households --------------------------------------------------------------------------------------
@row_check
def household_rules(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """新增 a head not yet registered here; 修改/删除 a registered one; delete only without members."""
    head = values.get("head_id")
    if not head:
        return []
    repeated = _repeat(row, ctx)
    if repeated:
        return repeated
    record = facts_of(ctx).households.get(head)
    active = record is not None and record.active
    operation = values.get("operation") or "add"
    if operation == "add":
        return [_cell(row, ctx, "head_id", C.HOUSEHOLD_EXISTS, head=head)] if active else []
    if record is None or not active:
        return [_cell(row, ctx, "head_id", C.HOUSEHOLD_MISSING, head=head)]
    if operation == "delete":
        out = []
        name = values.get("name")
        if name and name != record.name:
            out.append(_cell(row, ctx, "name", C.RECORD_MISMATCH, value=name, expected=record.name))
        if record.members:
            out.append(_cell(row, ctx, "head_id", C.HOUSEHOLD_HAS_MEMBERS, head=head,
                             members=record.members))
        return out
    return []


# resident_add ------------------------------------------------------------------------------------
@row_check
def household_registered(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Where the unit's type keeps household registers (rules/region.toml `households`), the
    head is registered in this unit before anyone is declared under it."""
    head = values.get("household_head")
    if not head or not keeps_households(ctx):
        return []
    record = facts_of(ctx).households.get(head)
    if record is None or not record.active:
        return [_cell(row, ctx, "household_head", C.HOUSEHOLD_MISSING, head=head)]
    return []


@row_check
def renewal_arrears(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Where the region says so (Changchun), arrears block a renewal or transfer-in (续保/调入)."""
    if RENEWAL_BLOCK not in ctx.rules.region.arrears_block:
        return []
    person = ctx.person(values)
    if person is None or not person.arrears:
        return []
    label = ctx.rules.tables["enrolment"].label(enrolment(values, ctx))
    return [_cell(row, ctx, "id_number", C.ARREARS, amount=f"{person.arrears:.2f}", kind_label=label)]


@row_check
def school_class(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """A school declares each student into a class (班级编号): one of its classes table, once
    it keeps one."""
    if "class_code" in values and values["class_code"] is None and is_school(ctx):
        return [_cell(row, ctx, "class_code", C.REQUIRED)]
    listed = facts_of(ctx).listed
    declared = values.get("class_code")
    if declared and listed and declared not in listed:
        return [_cell(row, ctx, "class_code", C.CLASS_UNKNOWN, value=declared)]
    return []


# class_info --------------------------------------------------------------------------------------
@row_check
def class_rules(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Only the school's own login lists classes; a class once in the file."""
    if ctx.scope is not None:
        return [_cell(row, ctx, "class_code", C.CLASS_ADMIN_ONLY)]
    return _repeat(row, ctx)


# resident_suspend --------------------------------------------------------------------------------
@row_check
def suspend_target(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """A row names one person (证件号码 and 姓名), or a whole class (班级停保, 证件号码 blank)."""
    repeated = _repeat(row, ctx)
    if is_class_stop(values):
        return repeated or class_stop_findings(row, values["class_code"], ctx)
    out = list(repeated)
    for name in ("id_number", "name"):
        if name in values and values[name] is None:
            out.append(_cell(row, ctx, name, C.REQUIRED))
    return out


def class_stop_findings(row: int, class_code: str, ctx: CheckContext) -> list[Finding]:
    """The class belongs to this unit and has students insured here, none of them blocked."""
    facts = facts_of(ctx)
    members = facts.class_members.get(class_code, ())
    if not members:
        code = C.CLASS_EMPTY if class_code in facts.classes else C.CLASS_UNKNOWN
        return [_cell(row, ctx, "class_code", code, value=class_code)]
    out: list[Finding] = []
    blocked = ctx.kind.kind in ctx.rules.region.arrears_block
    for person in members:
        label = CLASS_MEMBER.format(label=ctx.kind.label, name=person.name, id=person.id_number)
        if blocked and person.arrears:
            out.append(_cell(row, ctx, "class_code", C.ARREARS, amount=f"{person.arrears:.2f}",
                             kind_label=label))
        pending = facts.member_open.get(person.id_number)
        if pending is not None:
            spec = ctx.rules.kinds.get(pending.kind)
            out.append(_cell(row, ctx, "class_code", C.PERSON_PENDING, serial=pending.serial,
                             kind_label=CLASS_MEMBER.format(
                                 label=spec.label if spec else pending.kind, name=person.name,
                                 id=person.id_number),
                             status=DECLARATION_STATUS_LABELS.get(pending.status, pending.status)))
    return out[:MEMBER_FINDINGS]


# class_transfer ----------------------------------------------------------------------------------
@row_check
def class_target(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """The target class is a class of this school, and not the one the student is in."""
    target = values.get("target_class")
    if not target:
        return []
    if target not in facts_of(ctx).classes:
        return [_cell(row, ctx, "target_class", C.CLASS_UNKNOWN, value=target)]
    person = ctx.person(values)
    if person is not None and person.class_code == target:
        return [_cell(row, ctx, "target_class", C.CLASS_SAME, value=target)]
    return []


# Sub-accounts ------------------------------------------------------------------------------------
@row_check
def class_scope(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """A class or department account declares only for the students of its classes.

    The pipeline adds this rule to every kind when the sender is such an account (ctx.scope).
    """
    scope = ctx.scope
    if scope is None or ctx.kind.effect in OWN_SCOPE_EFFECTS:
        return []
    allowed = "、".join(sorted(scope)) or "no_classes"

    def out_of_scope(field_name: str, what: str, value: Any) -> list[Finding]:
        return [_cell(row, ctx, field_name, C.CLASS_OUT_OF_SCOPE, allowed=allowed, what=what,
                      value=value)]

    declared = values.get("class_code") if ctx.kind.has("class_code") else None
    if declared and declared not in scope:
        return out_of_scope("class_code", "scope_class", declared)
    if ctx.kind.kind == "resident_add":
        # The student is declared into the class named; where they were before does not matter.
        if declared or is_school(ctx):
            return []             # a blank class of a school is `required` (school_class)
        return out_of_scope("id_number", "scope_unassigned", values.get("id_number") or "")
    if is_class_stop(values):
        return []
    person = ctx.person(values)
    if person is not None and person.unit_code == ctx.unit.code:
        if person.class_code is None:
            return out_of_scope("id_number", "scope_unassigned", person.id_number)
        if person.class_code not in scope:
            return out_of_scope("id_number", "scope_student", person.class_code)
        return []
    number = values.get("id_number")
    if number and ctx.kind.kind == "withdraw":
        # A withdrawal by a sub-account names a student on file in its classes.
        return out_of_scope("id_number", "scope_unassigned", number)
    if number or (ctx.kind.has("id_number") and "id_number" not in values):
        return []                 # not a person of this unit, or an unreadable ID: said elsewhere
    return out_of_scope("id_number" if ctx.kind.has("id_number") else "class_code",
                        "scope_no_class", ctx.kind.label)


__all__ = ["ResidentContext", "ResidentFacts", "HouseholdRecord", "facts_of", "enrolment",
           "is_class_stop", "is_school", "SCHOOL_TYPE"]
