"""What the resident kinds' rules (exchange.checks.columnar_resident) know of a chunk beyond its
persons: households, classes, the students of a class, loaded once per chunk into
`ResidentFacts` by exchange.residents; and the small judgements the resident hooks share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange.checks.context import CheckContext, OpenDeclaration, PersonRecord
from exchange.kinds.spec import SCHOOL_TYPE

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
    # A 班级停保 row repeating rows that stopped the class's pupils one by one -> those rows
    pupil_rows: dict[int, list[int]] = field(default_factory=dict)


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
