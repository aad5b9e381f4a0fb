"""The resident kinds' row rules over whole columns (issue 19): households, enrolment, 班级停保,
class transfers and a sub-account's class scope, as masks over the chunk's frame joined with
what the resident hook loads per chunk (exchange.residents `enrich`: households, classes, the
students of the classes a file stops, the rows that repeat an earlier one).

`resident_facts` builds the facts once per chunk: households joined by head (`h.` columns),
the repeats by row (`_first`), and per stopped class its students' findings as slots (`s0.` …,
at most MEMBER_FINDINGS, the order the row rule gives them). exchange.checks.engine builds
them for every chunk of a resident kind (or a sub-account's, for class_scope).
"""
from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from typing import Iterable

import polars as pl

from exchange import codes as C
from exchange.checks.columnar_rows import PERSON, Facts, Found, persons_frame, row_rule
from exchange.checks.context import CheckContext
from exchange.checks.resident import (MEMBER_FINDINGS, OWN_SCOPE_EFFECTS, RENEWAL_BLOCK,
                                      SCHOOL_TYPE, ResidentFacts, facts_of, is_school, keeps_households)
from exchange.messages import CLASS_MEMBER, DECLARATION_STATUS_LABELS, shown_rows

HEAD = "h."            # the prefix of a household record's columns in a judged frame
FIRST = "_first"       # the earlier row of the file a row repeats
PUPILS = "_pupils"     # …and for a 班级停保 row, the rows that stopped its pupils one by one
SLOT = "s{}."          # the prefix of a stopped class's k-th student finding
MEMBERS = "s.count"    # how many students of a stopped class are insured here


@dataclass
class ResidentColumns(Facts):
    """Facts with what the resident rules read beyond the persons: the frame already joined
    (`resident_facts`), and the chunk's constants."""
    scope: frozenset[str] | None = None      # classes a sub-account may touch
    classes: frozenset[str] = frozenset()    # classes of this unit
    listed: frozenset[str] = frozenset()     # its classes table
    school: bool = False
    households_kept: bool = False


def _text(values: Iterable[str]) -> pl.Series:
    return pl.Series(sorted(values), dtype=pl.Utf8)


def _template(text: str, fields: dict[str, pl.Expr]) -> pl.Expr:
    """A message template (named placeholders) filled from expressions."""
    parts: list[pl.Expr] = []
    for literal, name, _, _ in Formatter().parse(text):
        parts.append(pl.lit(literal))
        if name is not None:
            parts.append(fields[name])
    return pl.concat_str(parts)


def _households(facts: ResidentFacts) -> pl.DataFrame:
    records = list(facts.households.values())
    return pl.DataFrame({"_head": [h.head_id for h in records],
                         HEAD + "name": [h.name for h in records],
                         HEAD + "active": [h.active for h in records],
                         HEAD + "members": [h.members for h in records]},
                        schema={"_head": pl.Utf8, HEAD + "name": pl.Utf8,
                                HEAD + "active": pl.Boolean, HEAD + "members": pl.Int64})


def _class_stops(ctx: CheckContext, facts: ResidentFacts) -> pl.DataFrame:
    """Per stopped class: its students' count and findings (arrears where the kind is blocked,
    an open declaration), student by student, as slots."""
    rows = [(code, n, p.id_number, p.name, f"{p.arrears:.2f}" if p.arrears else None)
            for code, members in facts.class_members.items() for n, p in enumerate(members)]
    members = pl.DataFrame(rows, schema={"_class": pl.Utf8, "_n": pl.Int64, "_id": pl.Utf8,
                                         "_name": pl.Utf8, "_arrears": pl.Utf8}, orient="row")
    pending = [(number, d.serial, ctx.rules.kinds[d.kind].label if d.kind in ctx.rules.kinds
                else d.kind, DECLARATION_STATUS_LABELS.get(d.status, d.status))
               for number, d in facts.member_open.items()]
    pending_frame = pl.DataFrame(pending, schema={"_id": pl.Utf8, "_serial": pl.Int64,
                                                  "_kind": pl.Utf8, "_status": pl.Utf8},
                                 orient="row")
    members = members.join(pending_frame, on="_id", how="left", maintain_order="left")

    def label(kind: pl.Expr) -> pl.Expr:
        return _template(CLASS_MEMBER, {"label": kind, "name": pl.col("_name"),
                                        "id": pl.col("_id")})

    blocked = ctx.kind.kind in ctx.rules.region.arrears_block
    found = pl.concat([
        members.filter(pl.lit(blocked) & pl.col("_arrears").is_not_null()).select(
            "_class", "_n", pl.lit(0).alias("_sub"), pl.lit(C.ARREARS).alias("code"),
            pl.col("_arrears").alias("amount"), label(pl.lit(ctx.kind.label)).alias("label"),
            pl.lit(None, pl.Int64).alias("serial"), pl.lit(None, pl.Utf8).alias("status")),
        members.filter(pl.col("_serial").is_not_null()).select(
            "_class", "_n", pl.lit(1).alias("_sub"), pl.lit(C.PERSON_PENDING).alias("code"),
            pl.lit(None, pl.Utf8).alias("amount"), label(pl.col("_kind")).alias("label"),
            pl.col("_serial").alias("serial"), pl.col("_status").alias("status")),
    ]).sort("_class", "_n", "_sub")
    found = found.with_columns(pl.int_range(pl.len()).over("_class").alias("_slot")) \
        .filter(pl.col("_slot") < MEMBER_FINDINGS)
    out = members.group_by("_class").agg(pl.len().cast(pl.Int64).alias(MEMBERS))
    for k in range(MEMBER_FINDINGS):
        slot = found.filter(pl.col("_slot") == k).select(
            "_class", *(pl.col(c).alias(SLOT.format(k) + c)
                        for c in ("code", "amount", "label", "serial", "status")))
        out = out.join(slot, on="_class", how="left")
    return out


def resident_facts(frame: pl.DataFrame, ctx: CheckContext) -> ResidentColumns:
    """The facts of a chunk (its judged cells, `CellJudgement.frame`) for the resident rules,
    from the context the resident hook enriched: households, repeats and stopped classes
    joined into the frame once."""
    facts = facts_of(ctx)
    head = next((f for f in ("head_id", "household_head") if f in frame.columns), None)
    if head is not None:
        frame = frame.with_columns(pl.col(head).cast(pl.Utf8).alias("_head")) \
            .join(_households(facts), on="_head", how="left", maintain_order="left").drop("_head")
    repeats = pl.DataFrame({"row": list(facts.repeats), FIRST: list(facts.repeats.values()),
                            PUPILS: [shown_rows(facts.pupil_rows[r]) if r in facts.pupil_rows
                                     else None for r in facts.repeats]},
                           schema={"row": pl.Int64, FIRST: pl.Int64, PUPILS: pl.Utf8})
    frame = frame.join(repeats, on="row", how="left", maintain_order="left")
    if "class_code" in frame.columns and facts.class_members:
        frame = frame.with_columns(pl.col("class_code").cast(pl.Utf8).alias("_class")) \
            .join(_class_stops(ctx, facts), on="_class", how="left", maintain_order="left") \
            .drop("_class")
    return ResidentColumns(frame, ctx.kind, ctx.rules, ctx.today, ctx.unit,
                           persons_frame(ctx.persons), scope=ctx.scope,
                           classes=facts.classes, listed=frozenset(facts.listed),
                           school=is_school(ctx), households_kept=keeps_households(ctx))


# Expressions ------------------------------------------------------------------------------------
def _resident(facts: Facts) -> ResidentColumns:
    """The resident facts; plain Facts are a context the resident hook did not enrich (as
    `facts_of` reads one in the row rules): no households, classes, stops or repeats."""
    if isinstance(facts, ResidentColumns):
        return facts
    return ResidentColumns(facts.frame, facts.kind, facts.rules, facts.today, facts.unit,
                           facts.persons, school=facts.unit.unit_type == SCHOOL_TYPE,
                           households_kept=facts.rules.unit_type(facts.unit.unit_type)
                           in facts.rules.region.households)


def _joined(facts: Facts, name: str, dtype: type[pl.DataType] = pl.Utf8) -> pl.Expr:
    """A column `resident_facts` joined in, null where it did not."""
    return pl.col(name) if name in facts.frame.columns else pl.lit(None, dtype)


def _filled(e: pl.Expr) -> pl.Expr:
    """What `values.get(name)` holds truly: given and not empty."""
    return (e.is_not_null() & (e.cast(pl.Utf8) != "")).fill_null(False)


def _blank(facts: Facts, name: str) -> pl.Expr:
    """A column of the kind left blank (not merely unreadable)."""
    if not facts.kind.has(name):
        return pl.lit(False)
    return pl.col(name).is_null() & ~pl.col(f"{name}?")


def _among(e: pl.Expr, values: Iterable[str]) -> pl.Expr:
    return e.cast(pl.Utf8).is_in(_text(values).implode()).fill_null(False)


def _class_stop(facts: Facts) -> pl.Expr:
    """A 班级停保 row: 班级编号 filled, 证件号码 left blank."""
    return _blank(facts, "id_number") & _filled(facts.given("class_code"))


def _repeated(facts: Facts) -> pl.Expr:
    return _joined(facts, FIRST, pl.Int64).is_not_null()


def _repeat(facts: Facts, where: pl.Expr = pl.lit(True)) -> Found:
    return Found(where & _repeated(facts), C.DUPLICATE_IN_FILE, None,
                 {"first_row": _joined(facts, FIRST, pl.Int64), "pupil_rows": _joined(facts, PUPILS)})


def _on_file() -> pl.Expr:
    return pl.col(PERSON + "id_number").is_not_null()


def _here(facts: Facts) -> pl.Expr:
    return _on_file() & (pl.col(PERSON + "unit_code") == facts.unit.code).fill_null(False)


def _registered(facts: Facts) -> pl.Expr:
    return _joined(facts, HEAD + "active", pl.Boolean).fill_null(False)


# Households -------------------------------------------------------------------------------------
@row_rule
def household_rules(facts: Facts) -> list[Found]:
    """新增 a head not yet registered here; 修改/删除 a registered one; delete only without members."""
    head, name = facts.given("head_id"), facts.given("name")
    operation = facts.given("operation")
    operation = pl.when(_filled(operation)).then(operation).otherwise(pl.lit("add"))
    judged = _filled(head) & ~_repeated(facts)
    adding = judged & (operation == "add")
    deleting = judged & (operation == "delete") & _registered(facts)
    members, recorded = _joined(facts, HEAD + "members", pl.Int64), _joined(facts, HEAD + "name")
    return [_repeat(facts, _filled(head)),
            Found(adding & _registered(facts), C.HOUSEHOLD_EXISTS, "head_id", {"head": head}),
            Found(judged & (operation != "add") & ~_registered(facts), C.HOUSEHOLD_MISSING, "head_id",
                  {"head": head}),
            Found(deleting & _filled(name) & (name != recorded), C.RECORD_MISMATCH,
                  "name", {"value": name, "expected": recorded}),
            Found(deleting & (members > 0), C.HOUSEHOLD_HAS_MEMBERS, "head_id",
                  {"head": head, "members": members})]


# resident_add -----------------------------------------------------------------------------------
@row_rule
def household_registered(facts: Facts) -> list[Found]:
    """Where the unit's type keeps household registers, the head is registered in this unit
    before anyone is declared under it."""
    if not _resident(facts).households_kept:
        return []
    head = facts.given("household_head")
    return [Found(_filled(head) & ~_registered(facts), C.HOUSEHOLD_MISSING, "household_head",
                  {"head": head})]


@row_rule
def renewal_arrears(facts: Facts) -> list[Found]:
    """Where the region says so (Changchun), arrears block a renewal or transfer-in (续保/调入)."""
    if RENEWAL_BLOCK not in facts.rules.region.arrears_block:
        return []
    table = facts.rules.tables["enrolment"]
    owed = pl.col(PERSON + "arrears")
    label = pl.when(_here(facts)).then(pl.lit(table.label("renewal"))) \
        .otherwise(pl.lit(table.label("transfer_in")))
    return [Found(_on_file() & owed.is_not_null(), C.ARREARS, "id_number",
                  {"amount": owed, "kind_label": label})]


@row_rule
def school_class(facts: Facts) -> list[Found]:
    """A school declares each student into a class: one of its classes table, once it keeps one."""
    r = _resident(facts)
    declared = facts.given("class_code")
    # A school's template marks the column required (required_where = "schools"), and the
    # required check finds it blank; a unit of another type counts as a school by its classes.
    alone = r.school and not facts.kind.column("class_code").required
    out = [Found(_blank(facts, "class_code") & pl.lit(alone), C.REQUIRED, "class_code")]
    if r.listed:
        out.append(Found(_filled(declared) & ~_among(declared, r.listed), C.CLASS_UNKNOWN,
                         "class_code", {"value": declared}))
    return out


# class_info -------------------------------------------------------------------------------------
@row_rule
def class_rules(facts: Facts) -> list[Found]:
    """The school's own login adds classes and sets their 年级 and 院系; a department or class
    login only renames a listed class in its scope (年级 and 院系 left blank: kept); a class
    once in the file."""
    r = _resident(facts)
    if r.scope is None:
        return [_repeat(facts)]
    beyond = (~_among(facts.given("class_code"), r.scope & r.listed)
              | _filled(facts.given("grade")) | _filled(facts.given("department")))
    return [Found(beyond, C.CLASS_ADMIN_ONLY, "class_code"), _repeat(facts)]


# resident_suspend -------------------------------------------------------------------------------
@row_rule
def suspend_target(facts: Facts) -> list[Found]:
    """A row names one person (证件号码 and 姓名), or a whole class (班级停保, 证件号码 blank):
    a class of this unit with students insured here, none of them blocked (at most
    MEMBER_FINDINGS findings on the row)."""
    classes = _resident(facts).classes
    stop, declared = _class_stop(facts), facts.given("class_code")
    out = [_repeat(facts)]
    out += [Found(~stop & _blank(facts, name), C.REQUIRED, name) for name in ("id_number", "name")]
    judged = stop & ~_repeated(facts)
    empty = judged & _joined(facts, MEMBERS, pl.Int64).fill_null(0).eq(0)
    out += [Found(empty & _among(declared, classes), C.CLASS_EMPTY, "class_code", {"value": declared}),
            Found(empty & ~_among(declared, classes), C.CLASS_UNKNOWN, "class_code",
                  {"value": declared})]
    if MEMBERS not in facts.frame.columns:
        return out
    for k in range(MEMBER_FINDINGS):
        slot = SLOT.format(k)
        code = pl.col(slot + "code")
        out += [Found(judged & (code == C.ARREARS), C.ARREARS, "class_code",
                      {"amount": pl.col(slot + "amount"), "kind_label": pl.col(slot + "label")}),
                Found(judged & (code == C.PERSON_PENDING), C.PERSON_PENDING, "class_code",
                      {"serial": pl.col(slot + "serial"), "kind_label": pl.col(slot + "label"),
                       "status": pl.col(slot + "status")})]
    return out


# class_transfer ---------------------------------------------------------------------------------
@row_rule
def class_target(facts: Facts) -> list[Found]:
    """The target class is a class of this school, and not the one the student is in."""
    classes = _resident(facts).classes
    target = facts.given("target_class")
    known = _filled(target) & _among(target, classes)
    return [Found(_filled(target) & ~known, C.CLASS_UNKNOWN, "target_class", {"value": target}),
            Found(known & (pl.col(PERSON + "class_code") == target).fill_null(False),
                  C.CLASS_SAME, "target_class", {"value": target})]


# Sub-accounts -----------------------------------------------------------------------------------
@row_rule
def class_scope(facts: Facts) -> list[Found]:
    """A class or department account declares only for the students of its classes (added to
    every kind when the sender is such an account)."""
    r = _resident(facts)
    scope, kind = r.scope, facts.kind
    if scope is None or kind.effect in OWN_SCOPE_EFFECTS:
        return []
    allowed = pl.lit("、".join(sorted(scope)) or "no_classes")

    def out_of_scope(mask: pl.Expr, field_name: str, what: str, value: pl.Expr) -> Found:
        return Found(mask, C.CLASS_OUT_OF_SCOPE, field_name,
                     {"allowed": allowed, "what": pl.lit(what), "value": value})

    declared = facts.given("class_code")
    number = facts.given("id_number")
    outside = _filled(declared) & ~_among(declared, scope)
    out = [out_of_scope(outside, "class_code", "scope_class", declared)]
    rest = ~outside & ~_filled(declared)
    if kind.kind == "resident_add":
        # The student is declared into the class named; a blank class of a school is `required`.
        if not r.school:
            value = pl.when(_filled(number)).then(number).otherwise(pl.lit(""))
            out.append(out_of_scope(rest, "id_number", "scope_unassigned", value))
        return out
    rest = ~outside & ~_class_stop(facts)
    student = pl.col(PERSON + "class_code")
    out += [out_of_scope(rest & _here(facts) & student.is_null(), "id_number", "scope_unassigned",
                         pl.col(PERSON + "id_number")),
            out_of_scope(rest & _here(facts) & student.is_not_null() & ~_among(student, scope),
                         "id_number", "scope_student", student)]
    rest = rest & ~_here(facts)
    if kind.kind == "withdraw":
        # A withdrawal by a sub-account names a student on file in its classes.
        out.append(out_of_scope(rest & _filled(number), "id_number", "scope_unassigned", number))
    unreadable = pl.col("id_number?") if kind.has("id_number") else pl.lit(False)
    out.append(out_of_scope(rest & ~_filled(number) & ~unreadable,
                            "id_number" if kind.has("id_number") else "class_code",
                            "scope_no_class", pl.lit(kind.label)))
    return out


__all__ = ["ResidentColumns", "resident_facts"]
