"""Row rules: each reads parsed values and the context and returns Findings. Kinds name them."""
from __future__ import annotations

from typing import Any, Callable

from exchange import codes as C
from exchange.checks import ids
from exchange.checks.context import CheckContext
from exchange.checks.finding import Finding
from exchange.kinds.spec import RESIDENT_AUDIENCES
from exchange.messages import DECLARATION_STATUS_LABELS, month_label

RowCheck = Callable[[int, dict[str, Any], CheckContext], list[Finding]]
ROW_CHECKS: dict[str, RowCheck] = {}


# Rules that find nothing in a row whose person is not on file: skipped for such rows.
ABOUT_RECORDS: set[str] = set()


def row_check(fn: RowCheck) -> RowCheck:
    ROW_CHECKS[fn.__name__] = fn
    return fn


def about_record(fn: RowCheck) -> RowCheck:
    ABOUT_RECORDS.add(fn.__name__)
    return fn




def _cell(row: int, ctx: CheckContext, field_name: str, code: str, **params: Any) -> Finding:
    col = ctx.kind.column(field_name) if ctx.kind.has(field_name) else None
    return Finding(row, code, col.header if col else None, field_name, params)


@row_check
def id_agreement(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Sex and birth date, where given, agree with the ID."""
    number = values.get("id_number")
    if not number:
        return []
    out = []
    sex = values.get("sex")
    if sex in ("1", "2") and sex != ids.sex_code(number):
        table = ctx.rules.tables["sex"]
        out.append(_cell(row, ctx, "sex", C.SEX_MISMATCH, value=table.label(sex),
                         expected=table.label(ids.sex_code(number))))
    born = values.get("birth_date")                # YYYY-MM-DD; a valid ID holds a real date
    if born and born != f"{number[6:10]}-{number[10:12]}-{number[12:14]}":
        expected = ids.birth_date(number)
        out.append(_cell(row, ctx, "birth_date", C.BIRTHDATE_MISMATCH, value=born,
                         expected=expected.isoformat() if expected else number[6:14]))
    return out


@row_check
@about_record
def record_matches(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Columns that mirror the person's record (个人编号, 姓名, 职工号) must agree with it."""
    person = ctx.person(values)
    if person is None:
        return []
    out = []
    for col in ctx.kind.columns:
        if not col.record or col.field == "id_number":
            continue
        given, expected = values.get(col.field), person.value(col.record)
        if given not in (None, "") and expected not in (None, "") and str(given) != str(expected):
            out.append(Finding(row, C.RECORD_MISMATCH, col.header, col.field,
                               {"value": given, "expected": expected}))
    return out


@row_check
def person_on_file(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Where the region requires it (Nantong), the person is registered before being added."""
    if not ctx.rules.region.person_must_be_on_file or not values.get("id_number"):
        return []
    if ctx.person(values) is None:
        return [_cell(row, ctx, "id_number", C.PERSON_NOT_ON_FILE, id=values["id_number"],
                      who="who_person", record="record_basic", advice="advice_register")]
    return []


@row_check
@about_record
def not_insured(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Adding someone already insured: here it is pointless, elsewhere the old unit stops first."""
    person = ctx.person(values)
    if person is None or not person.insured:
        return []
    if person.unit_code == ctx.unit.code:
        return [_cell(row, ctx, "id_number", C.PERSON_ALREADY_INSURED)]
    return [_cell(row, ctx, "id_number", C.PERSON_INSURED_ELSEWHERE, other_unit=person.unit_code)]


@row_check
def insured_here(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Stops, wages and changes concern people insured in this unit now."""
    number = values.get("id_number")
    if not number:
        return []
    person = ctx.person(values)
    if person is None:
        resident = ctx.kind.audience in RESIDENT_AUDIENCES
        return [_cell(row, ctx, "id_number", C.PERSON_NOT_ON_FILE, id=number,
                      who="who_resident" if resident else "who_person", record="record_insured",
                      advice="advice_resident" if resident else "advice_check")]
    if not person.insured or person.unit_code != ctx.unit.code:
        return [_cell(row, ctx, "id_number", C.PERSON_NOT_INSURED_HERE, kind_label=ctx.kind.label)]
    return []


@row_check
@about_record
def month_after_paid(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """变更日期 must be later than the last paid month of each insurance declared."""
    field_name = ctx.kind.paid_month or "change_month"
    month, person = values.get(field_name), ctx.person(values)
    if not month or person is None:
        return []
    table = ctx.rules.tables["insurance"]
    for insurance in values.get("insurances") or ctx.rules.region.default_insurances:
        paid = person.paid_month(insurance)
        if paid and month <= paid:
            return [_cell(row, ctx, field_name, C.MONTH_NOT_AFTER_PAID, value=month,
                          insurance=table.label(insurance), paid=paid)]
    return []


@row_check
def wage_bounds(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """The wage lies within the contribution-base bounds in force for the declared month."""
    wage = values.get("wage")
    month = values.get(ctx.kind.wage_month or "") or ctx.current_month
    if wage is None:
        return []
    bound = ctx.rules.bound_for(month)
    if bound and not bound.low <= wage <= bound.high:
        return [_cell(row, ctx, "wage", C.WAGE_OUT_OF_BOUNDS, value=wage, month=month_label(month),
                      low=bound.low, high=bound.high)]
    return []


@row_check
@about_record
def arrears(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """Where the region says so (Changchun), arrears block stops, suspensions and renewals."""
    if ctx.kind.kind not in ctx.rules.region.arrears_block:
        return []
    person = ctx.person(values)
    if person is not None and person.arrears:
        return [_cell(row, ctx, "id_number", C.ARREARS, amount=f"{person.arrears:.2f}",
                      kind_label=ctx.kind.label)]
    return []


@row_check
def change_nonempty(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    # A field absent from `values` was given but unreadable: it has its own finding already.
    if any(f not in values or values[f] not in (None, "") for f in ctx.kind.change_fields):
        return []
    return [Finding(row, C.NOTHING_TO_CHANGE)]


def _kind_label(ctx: CheckContext, kind: str) -> str:
    spec = ctx.rules.kinds.get(kind)
    return spec.label if spec else kind


@row_check
def withdraw_target(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """A withdrawal names a pending declaration of this unit, by serial or by ID (+ type)."""
    serial, number, kind = values.get("serial"), values.get("id_number"), values.get("declared_kind")
    if serial is None and number is None:
        return [_cell(row, ctx, "serial", C.REQUIRED)]
    if serial is not None:
        found = ctx.declarations.get(serial)
        candidates = [found] if found and found.unit_code == ctx.unit.code else []
        what = {"by": "by_serial", "value": serial}
    else:
        candidates = [d for d in ctx.by_person.get(str(number), []) if kind in (None, d.kind)]
        what = {"by": "by_id", "value": number}
    if not candidates:
        return [_cell(row, ctx, "serial" if serial is not None else "id_number",
                      C.DECLARATION_NOT_FOUND, **what)]
    if serial is not None and kind is not None and candidates[0].kind != kind:
        # 业务类型 says what the clerk means to withdraw: a serial of another kind is a typo.
        return [_cell(row, ctx, "declared_kind", C.DECLARATION_KIND_MISMATCH, serial=serial,
                      actual=_kind_label(ctx, candidates[0].kind), stated=_kind_label(ctx, kind))]
    if not any(d.status == "pending" for d in candidates):
        d = candidates[0]
        return [_cell(row, ctx, "serial" if serial is not None else "id_number",
                      C.DECLARATION_NOT_PENDING, serial=d.serial,
                      status=DECLARATION_STATUS_LABELS.get(d.status, d.status))]
    return []
