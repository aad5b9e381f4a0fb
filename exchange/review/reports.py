"""Rosters and reports as data: which rows and columns each PDF shows. Rendering is rosters.py.

- batch rosters (申报花名册 per batch, for stamping), one section per kind in the batch;
- monthly rosters (增加/减少/缴费基数 申报花名册): declarations approved in a month;
- unit reports (参保花名册, 当前缴费基数花名册, 应缴信息, 错误日志);
- the centre's daily digest.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.checks import ids
from exchange.amounts.register import (MONTH_ITEMS, DeclarationDue, UnitDues, class_payments,
                                       bases_in_force, registration, registration_months,
                                       shown_base, totals_by_unit_type, unit_dues)
from exchange.config import CENTRE, Instance
from exchange.errors import each_unit
from exchange.kinds.spec import ColumnSpec, KindSpec, RuleSet
from exchange.messages import (DIGEST_HEADERS as DH, DOC_NAMES, ENROLMENT_LABELS, ENROLMENT_WORDS,
                               REPORT_NAMES, ROSTER_TITLES, ROSTER_WORDS as W)
from exchange.outputs.roster_book import write_roster_book
from exchange.outputs.rosters import Column, Roster, RosterStats, Section, render_roster
from exchange.checks.resident import SCHOOL_TYPE
from exchange.classes import listed_classes
from exchange.residents import class_stop_members, unit_classes, with_class_members
from exchange.review.display import change_lines, display_value, enrolment_label
from exchange.review.queries import person_clause, window_clause
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Batch, Declaration, FileRecord, Person, Photo, RowError, Unit

# The kind's columns each roster shows, in order; "@..." are computed columns.
ROSTER_FIELDS: dict[str, tuple[str, ...]] = {
    "employee_add": ("name", "id_number", "sex", "change_month", "wage", "insurances"),
    "employee_stop": ("person_no", "id_number", "name", "@stop_date", "reason"),
    "wage": ("person_no", "name", "id_number", "staff_no", "start_month", "@old_wage", "wage"),
    "person_change": ("name", "id_number", "@changes"),
    "unit_change": ("@changes",),
    "resident_add": ("name", "id_number", "@enrolment", "household_head", "category", "class_code"),
    "resident_suspend": ("name", "id_number", "reason", "class_code"),
    "class_transfer": ("name", "id_number", "target_class"),
    "household": ("head_id", "name", "phone", "operation"),
}
TYPE_WIDTH = {"id": 40, "name": 20, "month": 18, "date": 22, "wage": 20, "code": 26, "codes": 42,
              "text": 30, "phone": 26, "postcode": 16, "serial": 20, "class": 20, "id_type": 20,
              "amount": 22}
MONTHLY_KINDS = ("employee_add", "employee_stop", "wage")
# Kinds whose rosters show what a declaration will cost (per month, or per year for residents).
AMOUNT_KINDS = ("employee_add", "wage", "resident_add")
DueOf = Callable[[Declaration], "DeclarationDue | None"]
INSURED = "1"


@dataclass(frozen=True)
class Written:
    path: Path
    pages: int
    rows: int


def _column(col: ColumnSpec) -> Column:
    right = col.type in ("wage", "amount")
    center = col.type in ("month", "date") or (col.type == "code" and col.table == "sex")
    return Column(col.header, TYPE_WIDTH.get(col.type, 24),
                  "right" if right else ("center" if center else "left"), total=col.type == "wage",
                  fixed=col.type in ("id", "month", "date"))


def _month_end(month: str | None) -> str:
    if not month or len(month) != 6:
        return ""
    year, mon = int(month[:4]), int(month[4:])
    return date(year, mon, calendar.monthrange(year, mon)[1]).isoformat()


def _change_getter(kind: KindSpec, tables: dict[str, Any], part: int) -> Callable[[Declaration], str]:
    """One of 修改项目 / 原值 / 修改值: a line per field the declaration changes."""
    def get(d: Declaration) -> str:
        return "\n".join(line[part] for line in change_lines(kind, d.payload or {}, d.old_values, tables))
    return get


def kind_section(rules: RuleSet, kind: KindSpec, decls: Sequence[Declaration], *, title: str,
                 info: Sequence[str], persons: dict[str, Person] | None = None,
                 due_of: DueOf | None = None) -> Section:
    """One roster section: the kind's chosen columns for each declaration, the amounts it brings
    (when `due_of` is given and the kind carries money), then 业务流水号."""
    persons = persons or {}
    tables = rules.tables
    fields = ROSTER_FIELDS.get(kind.kind) or tuple(c.field for c in kind.columns[:6])
    columns: list[Column] = []
    getters: list[Callable[[Declaration], Any]] = []

    def plain(col: ColumnSpec) -> Callable[[Declaration], Any]:
        if col.type == "wage":
            return lambda d: (d.payload or {}).get(col.field)
        # 性别 and 出生日期 left blank are shown as the ID says (the row agreed with it or was
        # refused: sex.mismatch, birthdate.mismatch); the payload keeps what the clerk wrote.
        return lambda d: display_value(col, (d.payload or {}).get(col.field)
                                       or ids.from_id(col.field, d.id_number), tables)

    for name in fields:
        if name == "@stop_date":
            columns.append(Column(W["stop_date"], 22, "center", fixed=True))
            getters.append(lambda d: _month_end((d.payload or {}).get("stop_after")))
        elif name == "@old_wage":
            columns.append(Column(W["old_wage"], 20, "right", total=True))
            getters.append(lambda d: (d.old_values or {}).get("wage_base", persons[d.id_number].wage_base
                                                               if d.id_number in persons else None))
        elif name == "@changes":
            columns += [Column(W["change_items"], 28), Column(W["old_value"], 40),
                        Column(W["new_value"], 40)]
            for i in range(3):
                getters.append(_change_getter(kind, tables, i))
        elif name == "@enrolment":
            columns.append(Column(ENROLMENT_WORDS["column"], 18, "center"))
            getters.append(lambda d: enrolment_label(d.payload))
            info = [*info, enrolment_summary(decls)]
        elif kind.has(name):
            col = kind.column(name)
            columns.append(_column(col))
            getters.append(plain(col))
    if due_of is not None and kind.kind in AMOUNT_KINDS:
        yearly = kind.kind == "resident_add"
        columns += _due_columns(yearly)
        getters += _due_getters(due_of)[:1 if yearly else 3]
    columns.append(Column(W["serial"], 20, "right"))
    getters.append(lambda d: d.serial)
    rows = [[g(d) for g in getters] for d in decls]
    # The first column carries "共 n 人"; make sure it is a text column.
    count_word = W["persons"] if kind.subject == "person" else W["items"]
    return Section(title, info, columns, rows, count_word)


def enrolment_summary(decls: Iterable[Declaration]) -> str:
    """其中新参保 x 人，续保 y 人，调入 z 人 of resident enrolments (a class's pupils not counted)."""
    counts = dict.fromkeys(ENROLMENT_LABELS, 0)
    for d in decls:
        judged = (d.payload or {}).get("enrolment")
        if judged in counts:
            counts[judged] += 1
    return ENROLMENT_WORDS["summary"].format(**counts)


def _money_column(word: str, width: float = 22) -> Column:
    return Column(W[word], width, "right", total=True, money=True)


def _due_columns(yearly: bool) -> list[Column]:
    if yearly:
        return [_money_column("due_year")]
    return [_money_column("due_person_month"), _money_column("due_unit_month"),
            _money_column("due_total_month")]


def _due_getters(due_of: DueOf) -> list[Callable[[Declaration], Any]]:
    """个人/单位/合计 per month (employees), or the year's due (residents): 'year' dues have
    only the first column."""
    def part(name: str) -> Callable[[Declaration], Any]:
        def get(d: Declaration) -> Any:
            due = due_of(d)
            return getattr(due, name) if due is not None else None
        return get
    return [part("person"), part("unit"), part("total")]


def declaration_dues(instance: Instance, s: Session, persons: dict[str, Person]) -> DueOf:
    """A declaration's amount (exchange.amounts), each computed once."""
    from exchange.amounts.register import declaration_due, rates_of  # noqa: PLC0415

    rules = instance.rules
    rates = rates_of(rules, s)
    memo: dict[int, Any] = {}

    def due_of(d: Declaration) -> Any:
        if d.serial not in memo:
            memo[d.serial] = declaration_due(rules, rates, d, persons.get(d.id_number or ""))
        return memo[d.serial]
    return due_of


def _unit_info(unit: Unit | None, code: str) -> list[str]:
    return [W["unit_code"].format(value=code), W["unit_name"].format(value=unit.name if unit else "")]


def _persons_of(s: Session, decls: Iterable[Declaration]) -> dict[str, Person]:
    ids = sorted({d.id_number for d in decls if d.id_number})
    out: dict[str, Person] = {}
    for i in range(0, len(ids), 900):
        for p in s.scalars(select(Person).where(Person.id_number.in_(ids[i:i + 900]))):
            out[p.id_number] = p
    return out


def _kind_order(rules: RuleSet, decls: Sequence[Declaration]) -> list[tuple[KindSpec, list[Declaration]]]:
    by_kind: dict[str, list[Declaration]] = {}
    for d in decls:
        by_kind.setdefault(d.kind, []).append(d)
    order = [k for k in rules.kinds if k in by_kind] + sorted(k for k in by_kind if k not in rules.kinds)
    out = []
    for name in order:
        kind = rules.kinds.get(name) or KindSpec(name, name, name, (ColumnSpec("name", W["kind"]),))
        out.append((kind, sorted(by_kind[name], key=lambda d: d.serial)))
    return out


# Batch roster ------------------------------------------------------------------------------------
def batch_roster(instance: Instance, s: Session, batch: Batch, made_on: date | None = None) -> Roster:
    rules = instance.rules
    unit = s.get(Unit, batch.unit_code)
    decls = list(s.scalars(select(Declaration).where(Declaration.batch_id == batch.id)
                           .order_by(Declaration.serial)))
    persons = _persons_of(s, decls)
    # A 班级停保 is one declaration; the roster lists (and counts) every pupil it stops.
    members = class_stop_members(s, decls)
    info = [*_unit_info(unit, batch.unit_code), W["batch"].format(value=batch.batch_no),
            W["submitted"].format(value=f"{batch.created_at:%Y-%m-%d %H:%M}")]
    sections = []
    due_of = declaration_dues(instance, s, persons)
    for kind, rows in _kind_order(rules, decls):
        title = ROSTER_TITLES["kind_roster"].format(centre=instance.settings.name, label=kind.label)
        sections.append(kind_section(rules, kind, with_class_members(rows, members), title=title,
                                     info=info, persons=persons, due_of=due_of))
    if not sections:
        sections.append(Section(instance.settings.name, info, [Column(W["kind"], 40)], []))
    return Roster(sections, made_on or date.today(), title=DOC_NAMES["batch_roster"].format(
        batch=batch.batch_no))


def write_batch_roster(instance: Instance, s: Session, batch: Batch) -> RosterStats:
    target = instance.unit_outbox(batch.unit_code, "rosters") / DOC_NAMES["batch_roster"].format(
        batch=batch.batch_no)
    roster = batch_roster(instance, s, batch)
    write_roster_book(roster, target.with_suffix(".xlsx"))     # its Excel twin (issue 16.2)
    return render_roster(roster, target)


# Monthly rosters --------------------------------------------------------------------------------
def _month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime(int(month[:4]), int(month[4:]), 1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def monthly_rosters(instance: Instance, db: Database, month: str, *, unit: str | None = None,
                    made_on: date | None = None, kinds: Sequence[str] = MONTHLY_KINDS,
                    failed: list[str] | None = None) -> list[Written]:
    """增加/减少/缴费基数 申报花名册 of `month` (YYYYMM): declarations approved in that month. A
    unit that fails is logged and the others go on (`errors.each_unit`)."""
    rules = instance.rules
    start, end = _month_bounds(month)
    approved = (Declaration.status == "approved", Declaration.kind.in_(list(kinds)),
                Declaration.decided_at >= start, Declaration.decided_at < end)
    with db.session() as s:
        q = select(Declaration.unit_code).distinct().where(*approved)
        codes = sorted(s.scalars(q if not unit else q.where(Declaration.unit_code == unit)))

    def one(code: str) -> list[Written]:
        with db.session() as s:
            groups: dict[str, list[Declaration]] = {}
            for d in s.scalars(select(Declaration).where(*approved, Declaration.unit_code == code)
                               .order_by(Declaration.kind, Declaration.serial)):
                groups.setdefault(d.kind, []).append(d)
            u = s.get(Unit, code)
            written = []
            for kind_name, decls in sorted(groups.items()):
                kind = rules.kinds.get(kind_name)
                if kind is None:
                    continue
                info = [*_unit_info(u, code), W["month"].format(value=month)]
                title = ROSTER_TITLES[kind_name].format(centre=instance.settings.name)
                persons = _persons_of(s, decls)
                section = kind_section(rules, kind, decls, title=title, info=info, persons=persons,
                                       due_of=declaration_dues(instance, s, persons))
                target = instance.unit_outbox(code, "reports") / DOC_NAMES["monthly_roster"].format(
                    month=month, title=REPORT_NAMES[kind_name])
                roster = Roster([section], made_on or date.today(), title=title)
                st = render_roster(roster, target)
                written.append(Written(st.path, st.pages, st.rows))
                # Its Excel twin (issue 16.2: every manual exports to Excel).
                written.append(Written(write_roster_book(roster, target.with_suffix(".xlsx")), 0, st.rows))
            return written

    done = each_unit(codes, one, what="monthly rosters", failed=failed)
    return [w for ws in done for w in ws]


# Unit reports ----------------------------------------------------------------------------------
def _insured(s: Session, code: str) -> list[Person]:
    return list(s.scalars(select(Person).where(Person.unit_code == code, Person.status == INSURED)
                          .order_by(Person.person_no, Person.id_number)))


def insured_roster(instance: Instance, s: Session, unit: Unit, as_of: date) -> Roster:
    """参保花名册: the unit's insured staff and, per insurance, 参保 / 未参保."""
    rules = instance.rules
    table = rules.tables["insurance"]
    persons = _insured(s, unit.code)
    present = set(rules.region.default_insurances)
    for p in persons:
        present.update(x for x in (p.insurances or "").split(",") if x)
    codes = [e.code for e in table.entries if e.code in present]
    # Residents (communities, schools) have no staff number; a pupil has a class instead.
    resident = rules.serves_residents(unit.unit_type)
    columns = [Column(W["person_no"], 22), Column(_header(rules, "name"), 20),
               Column(_header(rules, "id_number"), 40, fixed=True),
               Column(W["class_code"] if resident else W["staff_no"], 22),
               Column(W["insured_from"], 18, "center")]
    columns += [Column(table.label(c), 22, "center") for c in codes]
    rows = []
    for p in persons:
        mine = set((p.insurances or "").split(","))
        rows.append([p.person_no, p.name, p.id_number, p.class_code if resident else p.staff_no,
                     p.insured_from, *[W["insured"] if c in mine else W["not_insured"] for c in codes]])
    info = [*_unit_info(unit, unit.code), W["as_of"].format(value=as_of.isoformat())]
    title = ROSTER_TITLES["insured"].format(centre=instance.settings.name)
    return Roster([Section(title, info, columns, rows)], as_of, title=title)


def school_students_roster(instance: Instance, s: Session, unit: Unit, as_of: date,
                           classes: frozenset[str]) -> Roster:
    """学校学生查询 (Changchun 报表管理): the school's insured pupils, one section per class
    (its 合计 is the class's subtotal) with the class's name, grade and department, then a
    summary of the classes (人数 per class and in all). Pupils without a class come last."""
    rules = instance.rules
    listed = listed_classes(s, unit.code)
    sex = rules.tables["sex"]
    by_class: dict[str, list[Person]] = {}
    for p in s.scalars(select(Person).where(Person.unit_code == unit.code, Person.status == INSURED)
                       .order_by(Person.class_code, Person.id_number)):
        by_class.setdefault(p.class_code or "", []).append(p)
    title = ROSTER_TITLES["school_students"].format(centre=instance.settings.name)
    base = [*_unit_info(unit, unit.code), W["as_of"].format(value=as_of.isoformat())]
    columns = [Column(W["class_code"], 22), Column(_header(rules, "name"), 20),
               Column(_header(rules, "id_number"), 40, fixed=True), Column(_header(rules, "sex"), 12, "center"),
               Column(_header(rules, "birth_date"), 22, "center", fixed=True),
               Column(W["insured_from"], 18, "center")]
    order = sorted(set(classes) | set(by_class) - {""}) + ([""] if "" in by_class else [])
    sections, summary = [], []
    for code in order:
        record = listed.get(code)
        name = record.name if record else ""
        info = [*base, W["class"].format(code=code or W["no_class"], name=name,
                                         grade=(record.grade or "") if record else "",
                                         department=(record.department or "") if record else "")]
        pupils = by_class.get(code, [])
        rows = [[code, p.name, p.id_number, sex.label(p.sex or "") or p.sex, p.birth_date,
                 p.insured_from] for p in pupils]
        sections.append(Section(title, info, columns, rows))
        summary.append([code or W["no_class"], name, record.grade if record else "",
                        record.department if record else "", len(pupils)])
    sections.append(Section(title, base, [Column(W["class_code"], 22), Column(W["class_name"], 30),
                                          Column(W["grade"], 20), Column(W["department"], 30),
                                          Column(W["class_count"], 20, "right", total=True)],
                            summary, W["classes_count"]))
    return Roster(sections, as_of, title=title)


def _header(rules: RuleSet, field_name: str) -> str:
    """The header a person kind uses for a field (so reports say 身份证号 as the templates do)."""
    for kind in rules.kinds.values():
        if kind.subject == "person" and kind.has(field_name):
            return kind.column(field_name).header
    return field_name


def wage_base_roster(instance: Instance, s: Session, unit: Unit, as_of: date) -> Roster:
    """当前缴费基数花名册: each insured person's base in force this month, summed, and a base
    declared for a later month beside it."""
    rules = instance.rules
    table = rules.tables["insurance"]
    columns = [Column(W["person_no"], 22), Column(_header(rules, "name"), 20),
               Column(_header(rules, "id_number"), 40, fixed=True), Column(W["staff_no"], 22),
               Column(W["insurances"], 44), Column(W["wage_base"], 22, "right", total=True),
               Column(W["next_base"], 34)]
    bases = bases_in_force(rules, s, unit.code, f"{as_of:%Y%m}")
    rows = [[p.person_no, p.name, p.id_number, p.staff_no,
             "、".join(table.label(c) or c for c in (p.insurances or "").split(",") if c),
             *shown_base(bases, p.id_number, p.wage_base)] for p in _insured(s, unit.code)]
    info = [*_unit_info(unit, unit.code), W["as_of"].format(value=as_of.isoformat())]
    title = ROSTER_TITLES["wage_base"].format(centre=instance.settings.name)
    return Roster([Section(title, info, columns, rows)], as_of, title=title)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def dues_roster(instance: Instance, s: Session, unit: Unit, as_of: date,
                dues: UnitDues | None = None) -> Roster:
    """应缴信息 (Nantong §4.4–4.5): the unit's sums per month (费款所属期) and insurance over the
    months still unpaid, then each person's due for the month (employees) or year (residents)
    beside the paid-to month, the centre's 欠费金额 and the computed arrears."""
    rules = instance.rules
    insurance = rules.tables["insurance"]
    categories = rules.tables["resident_category"]
    dues = dues or unit_dues(rules, s, unit.code, as_of)
    centre = instance.settings.name
    info = [*_unit_info(unit, unit.code), W["as_of"].format(value=as_of.isoformat()),
            W["due_month"].format(value=dues.month),
            W["unit_arrears"].format(value=_money(Decimal(unit.arrears or 0)))]
    sections = []
    resident_label = insurance.label(rules.rates.resident_insurance) if rules.rates else ""

    def line_label(period: str, code: str) -> str:
        if len(period) == 4:                      # residents: a year and a 人员类别
            return f"{resident_label}（{categories.label(code) or code}）"
        return insurance.label(code) or code

    sections.append(Section(
        ROSTER_TITLES["dues_units"].format(centre=centre), info,
        [Column(W["period_due"], 20, "center", fixed=True), Column(W["insurance_type"], 60),
         Column(W["due_count"], 16, "right", total=True), _money_column("due_person_amount", 24),
         _money_column("due_unit_amount", 24), _money_column("due_total_amount", 24)],
        [[x.period, line_label(x.period, x.insurance), x.count, x.person, x.unit, x.total]
         for x in dues.lines], W["items"]))
    employees = [p for p in dues.persons if p.scheme == "employee"]
    residents = [p for p in dues.persons if p.scheme == "resident"]
    if employees or not residents:
        sections.append(Section(
            ROSTER_TITLES["dues_persons"].format(centre=centre), info,
            [Column(W["person_no"], 22), Column(_header(rules, "name"), 20),
             Column(_header(rules, "id_number"), 40, fixed=True), Column(W["insurances"], 40),
             Column(W["wage_base"], 20, "right", total=True), _money_column("due_person_month"),
             _money_column("due_unit_month"), _money_column("due_total_month"),
             Column(W["paid_month"], 22, "center"), _money_column("arrears_loaded", 24),
             _money_column("arrears_computed")],
            [[p.person_no, p.name, p.id_number,
              "、".join(insurance.label(c) or c for c in p.insurances.split(",") if c), p.base,
              p.person, p.unit, p.total, p.paid_to, p.arrears_loaded, p.arrears_computed]
             for p in employees]))
    if employees:
        # Per insurance, side by side: the month's due, the insurance's own paid-to month, the
        # dues of the months after it, what was paid for them and the arrears computed.
        sections.append(Section(
            ROSTER_TITLES["dues_insurances"].format(centre=centre), info,
            [Column(W["person_no"], 22), Column(_header(rules, "name"), 20),
             Column(_header(rules, "id_number"), 40, fixed=True), Column(W["insurance"], 36),
             _money_column("due_insurance_month"), Column(W["insurance_paid_month"], 26, "center"),
             _money_column("due_unpaid"), _money_column("paid_unpaid"),
             _money_column("arrears_computed")],
            [[p.person_no, p.name, p.id_number, insurance.label(x.insurance) or x.insurance, x.due,
              x.paid_to, x.due_unpaid, x.paid_unpaid, x.arrears_computed]
             for p in employees for x in p.by_insurance], W["items"]))
    if residents:
        year_info = [*info[:-2], W["due_year_info"].format(value=dues.year), info[-1]]
        sections.append(Section(
            ROSTER_TITLES["dues_residents"].format(centre=centre), year_info,
            [Column(W["person_no"], 22), Column(_header(rules, "name"), 20),
             Column(_header(rules, "id_number"), 40, fixed=True), Column(W["class_code"], 20),
             Column(W["category"], 30), _money_column("due_year"),
             Column(W["paid_month"], 22, "center"), _money_column("arrears_loaded", 24),
             _money_column("arrears_computed")],
            [[p.person_no, p.name, p.id_number, p.class_code,
              categories.label(p.category or "") or p.category, p.person, p.paid_to,
              p.arrears_loaded, p.arrears_computed] for p in residents]))
    title = ROSTER_TITLES["dues"].format(centre=centre)
    return Roster(sections, as_of, title=title)


def registration_roster(instance: Instance, s: Session, unit: Unit, since: datetime | None,
                        until: datetime | None, label: str, as_of: date) -> Roster:
    """登记情况: the period's 新参保/续保/调入/暂停 (or 职工增加/减少) with the amounts due."""
    rules = instance.rules
    reg = registration(rules, s, unit.code, since, until, label)
    info = [*_unit_info(unit, unit.code), W["period"].format(value=label)]
    rates = rules.rates
    if rates is not None and any(x.item in ("new", "renewal", "transfer_in") for x in reg.lines):
        c = rates.collection
        info.append(W["collection"].format(start=c.start, end=c.end,
                                           which=W["next_year" if c.year == "next" else "this_year"]))
    rows = [[W[f"reg_{x.item}"], x.count, x.due] for x in reg.lines]
    columns = [Column(W["registration_item"], 50), Column(W["count"], 20, "right", total=True),
               _money_column("amount_due", 30)]
    title = ROSTER_TITLES["registration"].format(centre=instance.settings.name)
    section = Section(title, [*info, W["reg_insured"] + f"：{reg.insured}"], columns, rows, W["items"])
    sections = [section]
    if since is not None and until is not None and (
            rules.serves_residents(unit.unit_type) or any(x.item in MONTH_ITEMS for x in reg.lines)):
        sections.append(registration_months_section(instance, s, unit, until))
    return Roster(sections, as_of, signatures=False, title=title)


def registration_months_section(instance: Instance, s: Session, unit: Unit, until: datetime) -> Section:
    """登记情况（按月）: 新参保/续保/调入/暂停 per month, from January of the period's year to its end."""
    start = datetime((until - timedelta(microseconds=1)).year, 1, 1)
    months = registration_months(s, unit.code, start, until)
    columns = [Column(W["reg_month"], 24, "center", fixed=True),
               *[Column(W[f"reg_{item}"], 26, "right", total=True) for item in MONTH_ITEMS]]
    rows = [[month, *[counts[item] for item in MONTH_ITEMS]] for month, counts in months]
    info = [*_unit_info(unit, unit.code), W["reg_months_info"].format(
        start=months[0][0] if months else "", end=months[-1][0] if months else "")]
    title = ROSTER_TITLES["registration_months"].format(centre=instance.settings.name)
    return Section(title, info, columns, rows, W["items"])


def class_payments_roster(instance: Instance, unit: Unit, dues: UnitDues, as_of: date) -> Roster:
    """缴费统计 (Changchun): per class, the students insured, due, paid and unpaid this year."""
    rows = [[x.class_code or "", x.insured, x.due, x.paid, x.unpaid, x.arrears_loaded]
            for x in class_payments(dues)]
    columns = [Column(W["class_code"], 30), Column(W["insured_count"], 20, "right", total=True),
               _money_column("amount_due", 26), _money_column("paid_amount", 26),
               _money_column("unpaid", 26), _money_column("arrears_loaded", 26)]
    info = [*_unit_info(unit, unit.code), W["due_year_info"].format(value=dues.year),
            W["as_of"].format(value=as_of.isoformat())]
    title = ROSTER_TITLES["class_payments"].format(centre=instance.settings.name)
    return Roster([Section(title, info, columns, rows, W["items"])], as_of, signatures=False,
                  title=title)


def error_rows(s: Session, *, unit: str | None = None, since: datetime | None = None,
               until: datetime | None = None, person: str | None = None, code: str | None = None,
               kind: str | None = None, limit: int | None = None) -> list[tuple[RowError, str | None]]:
    """错误日志 entries (with their file's name), oldest first; `kind` is the 业务标识."""
    q = (select(RowError, FileRecord.name).outerjoin(FileRecord, FileRecord.id == RowError.file_id)
         .order_by(RowError.created_at, RowError.id))
    if unit:
        q = q.where(RowError.unit_code == unit)
    q = q.where(*window_clause(RowError.created_at, since, until),
                *person_clause(RowError.id_number, RowError.name, person))
    if kind:
        q = q.where(RowError.kind == kind)
    if code:
        q = q.where((RowError.code == code) | RowError.code.like(code.rstrip(".") + ".%"))
    if limit:
        q = q.limit(limit)
    return [(e, name) for e, name in s.execute(q)]


def error_log_roster(instance: Instance, s: Session, unit: Unit, since: datetime, until: datetime,
                     label: str, as_of: date) -> Roster:
    """错误日志: every failed row and rejected declaration of the period."""
    rules = instance.rules
    columns = [Column(W["time"], 30, fixed=True), Column(W["kind"], 26), Column(W["file"], 36),
               Column(W["row"], 12, "right", fixed=True), Column(_header(rules, "id_number"), 38, fixed=True),
               Column(_header(rules, "name"), 18), Column(W["column"], 20),
               Column(W["code"], 30), Column(W["message"], 90)]
    rows = []
    for e, name in error_rows(s, unit=unit.code, since=since, until=until):
        kind = rules.kinds.get(e.kind or "")
        rows.append([f"{e.created_at:%Y-%m-%d %H:%M}", kind.label if kind else (e.kind or ""),
                     name or "", e.row, e.id_number, e.name, e.column, e.code, e.message])
    info = [*_unit_info(unit, unit.code), W["period"].format(value=label)]
    title = ROSTER_TITLES["errors"].format(centre=instance.settings.name)
    return Roster([Section(title, info, columns, rows, W["items"])], as_of, signatures=False,
                  title=title)


def unit_reports(instance: Instance, db: Database, *, unit: str | None = None,
                 month: str | None = None, today: date | None = None,
                 failed: list[str] | None = None) -> list[Written]:
    """参保花名册, 当前缴费基数花名册, 应缴信息 (as of today), the month's 登记情况 and 错误日志,
    and a school's 缴费统计 per class, per unit, into outbox/<unit>/reports/; the error log also
    as a workbook. A unit that fails is logged and the others go on (`errors.each_unit`)."""
    from exchange.review.errorlog import export_errors

    today = today or date.today()
    month = month or f"{today:%Y%m}"
    since, until = _month_bounds(month)
    with db.session() as s:
        codes = Q.unit_codes(s, unit)

    def one(code: str) -> list[Written]:
        with db.session() as s:
            u = s.get(Unit, code)
            if u is None:                   # deleted since the list was read
                return []
            written = []
            folder = instance.unit_outbox(u.code, "reports")
            dues = unit_dues(instance.rules, s, u.code, today)
            builds = [("insured", insured_roster(instance, s, u, today), f"{today:%Y%m%d}"),
                      ("dues", dues_roster(instance, s, u, today, dues), f"{today:%Y%m%d}"),
                      ("registration", registration_roster(instance, s, u, since, until, month,
                                                           today), month),
                      ("errors", error_log_roster(instance, s, u, since, until, month, today), month)]
            if not instance.rules.serves_residents(u.unit_type):    # residents have no wage base
                builds.insert(1, ("wage_base", wage_base_roster(instance, s, u, today),
                                  f"{today:%Y%m%d}"))
            classes = unit_classes(s, u.code)
            if classes or instance.rules.unit_type(u.unit_type) == SCHOOL_TYPE:
                builds.append(("school_students", school_students_roster(instance, s, u, today, classes),
                               f"{today:%Y%m%d}"))
            if any(p.class_code for p in dues.persons if p.scheme == "resident"):
                builds.append(("class_payments", class_payments_roster(instance, u, dues, today),
                               f"{today:%Y%m%d}"))
            for key, roster, stamp in builds:
                target = folder / DOC_NAMES["unit_report"].format(stamp=stamp, title=REPORT_NAMES[key])
                st = render_roster(roster, target)
                written.append(Written(st.path, st.pages, st.rows))
                # Every report also as a workbook (导出Excel; issue 16.2: every manual exports).
                written.append(Written(write_roster_book(roster, target.with_suffix(".xlsx")), 0, st.rows))
            book = folder / DOC_NAMES["error_log_book"].format(stamp=month)
            export_errors(instance, s, book, unit=u.code, since=since, until=until)
            written.append(Written(book, 0, 0))
            return written

    done = each_unit(codes, one, what="unit reports", failed=failed)
    return [w for ws in done for w in ws]


# Centre daily digest -----------------------------------------------------------------------------
DIGEST_COLUMNS = ("files", "rows_ok", "rows_failed", "imported", "registered", "batches", "submitted",
                  "approved", "rejected", "waiting", "photos_waiting")


def digest_figures(s: Session, day: date, registrations: Collection[str] = ()) -> dict[str, dict[str, int]]:
    """Per unit: what happened on `day`, and what still waits for review. Declarations of the
    kinds in `registrations` (no review: households take effect on import) count as 登记 only,
    never as new declarations or as approved."""
    start = datetime(day.year, day.month, day.day)
    end = start + timedelta(days=1)
    figures: dict[str, dict[str, int]] = {}

    def add(code: str, key: str, value: Any) -> None:
        figures.setdefault(code, {k: 0 for k in DIGEST_COLUMNS})[key] += int(value or 0)

    for code, n, ok, bad in s.execute(
            select(FileRecord.unit_code, func.count(), func.sum(FileRecord.accepted),
                   func.sum(FileRecord.failed))
            .where(FileRecord.received_at >= start, FileRecord.received_at < end)
            .group_by(FileRecord.unit_code)):
        add(code, "files", n)
        add(code, "rows_ok", ok)
        add(code, "rows_failed", bad)
    reviewed = Declaration.kind.not_in(tuple(registrations))
    for code, kind_reviewed, n in s.execute(
            select(Declaration.unit_code, reviewed, func.count())
            .where(Declaration.created_at >= start, Declaration.created_at < end)
            .group_by(Declaration.unit_code, reviewed)):
        add(code, "imported" if kind_reviewed else "registered", n)
    for code, n, total in s.execute(select(Batch.unit_code, func.count(), func.sum(Batch.count))
                                    .where(Batch.created_at >= start, Batch.created_at < end)
                                    .group_by(Batch.unit_code)):
        add(code, "batches", n)
        add(code, "submitted", total)
    for code, status, n in s.execute(
            select(Declaration.unit_code, Declaration.status, func.count())
            .where(Declaration.decided_at >= start, Declaration.decided_at < end,
                   Declaration.status.in_(("approved", "rejected")), reviewed)
            .group_by(Declaration.unit_code, Declaration.status)):
        add(code, status, n)
    for code, n in s.execute(select(Declaration.unit_code, func.count())
                             .where(Declaration.status == "submitted")
                             .group_by(Declaration.unit_code)):
        add(code, "waiting", n)
    for code, n in s.execute(select(Photo.unit_code, func.count()).where(Photo.status == "pending")
                             .group_by(Photo.unit_code)):
        add(code, "photos_waiting", n)
    return figures


def money_section(instance: Instance, db: Database, day: date) -> Section:
    """The digest's amounts per unit type: this month's employee dues, this year's resident
    dues, and the centre's 欠费金额."""
    types = instance.rules.tables["unit_type"]
    with db.session() as s:
        totals = totals_by_unit_type(instance.rules, s, f"{day:%Y%m}")
    columns = [Column(W["unit_type"], 30), Column(W["unit_count"], 16, "right", total=True),
               Column(W["insured_count"], 20, "right", total=True), _money_column("month_due", 30),
               _money_column("year_due", 30), _money_column("arrears_loaded", 30)]
    rows = [[types.label(t.unit_type or "") or (t.unit_type or W["filler"]), t.units, t.insured,
             t.month_due, t.year_due, t.arrears_loaded] for t in totals]
    return Section(ROSTER_TITLES["digest_money"].format(centre=instance.settings.name),
                   [W["period"].format(value=day.isoformat())], columns, rows, W["items"])


def centre_digest(instance: Instance, db: Database, day: date | None = None) -> Written:
    """每日汇总 of `day` into outbox/_centre/reports/."""
    day = day or date.today()
    with db.session() as s:
        figures = digest_figures(s, day, [k.kind for k in instance.rules.kinds.values()
                                          if not k.review])
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
    columns = [Column(DH["unit_name"], 28)] + [Column(DH[k], 16, "right", total=True)
                                                for k in DIGEST_COLUMNS]
    columns.insert(0, Column(DH["unit_code"], 22))
    rows = [[code, names.get(code, ""), *[f[k] for k in DIGEST_COLUMNS]]
            for code, f in sorted(figures.items())]
    title = ROSTER_TITLES["digest"].format(centre=instance.settings.name)
    info = [W["period"].format(value=day.isoformat())]
    roster = Roster([Section(title, info, columns, rows, W["units"]),
                     money_section(instance, db, day)], day, signatures=False, title=title)
    target = instance.unit_outbox(CENTRE, "reports") / DOC_NAMES["digest"].format(day=day.isoformat())
    st = render_roster(roster, target)
    return Written(st.path, st.pages, st.rows)


__all__ = ["batch_roster", "write_batch_roster", "monthly_rosters", "unit_reports", "centre_digest",
           "kind_section", "error_rows", "digest_figures", "Written", "dues_roster",
           "registration_roster", "class_payments_roster", "declaration_dues"]
