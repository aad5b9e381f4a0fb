"""Templates (格式盘) for every kind, generated from rules/: blank, pre-filled, or sent back.

Layout of the data sheet: row 1 the title naming the unit ("单位编号：<code>", which the reader
checks against the sender), row 2 a short note, row 3 the Chinese headers (* = required), data
from row 4. ID and other text-like columns are formatted as text so Excel cannot turn an ID into
a number; coded columns get a drop-down of "code-label" entries from a hidden code-list sheet.
A visible instructions sheet lists each column's rule; the hidden `_meta` sheet names kind,
version and unit. Pre-filled templates (prefill = true in the kind) list the unit's insured staff
with the `protected` columns locked under sheet protection (no password) and every other cell
left unlocked.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Protection
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.config import Instance, folder_name
from exchange.errors import each_unit
from exchange.kinds.spec import RESIDENT_AUDIENCES, KindSpec, RuleSet
from exchange.messages import (DOC_NAMES, REVIEW_WORDS as RW, TEMPLATE_GENERAL, TEMPLATE_NOTE,
                               TEMPLATE_WORDS as T)
from exchange.outputs.aids import CODED_TYPES, FormAids, class_lists, form_aids, list_ranges
from exchange.outputs.atomic import atomic_path, write_text
from exchange.outputs.looks import column_width
from exchange.outputs.workbook import (BOX, HEADER_FILL, HEADER_FONT, LOCKED_FILL, REASON_FONT,
                                       REQUIRED_FONT, TEXT_FORMAT, TITLE_FONT, WRAP,
                                       add_meta_sheet, column_letter, set_text)
from exchange.review.display import template_value
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Account, Person, Unit

# Column types whose cells are text in the template (Excel must not make numbers of them).
TEXT_TYPES = ("id", "text", "phone", "postcode", "class", "month", "serial", "name", "email")
FIRST_DATA_ROW = 4
BLANK_ROWS = 300              # pre-formatted empty rows below the data
INSURED = "1"


def kinds_for_unit(rules: RuleSet, unit_type: str | None) -> list[KindSpec]:
    """The kinds a unit of this type may send (a kind's `unit_types`, region switches), with the
    columns required as that unit fills them."""
    return rules.kinds_for_unit_type(unit_type)


def _features(rules: RuleSet, kind: KindSpec, locked: bool) -> dict[str, bool]:
    """What a template of `kind` really has: drop-down lists, text-formatted ID columns, grey
    locked columns (only a protected, pre-filled template locks any)."""
    return {"required": any(c.required for c in kind.columns),
            "lists": any(c.type in CODED_TYPES and c.table in rules.tables for c in kind.columns),
            "text_ids": any(c.type == "id" for c in kind.columns),
            "locked": locked and any(c.protected for c in kind.columns)}


def template_note(rules: RuleSet, kind: KindSpec, *, locked: bool, prefilled: int | None) -> str:
    """Row 2 of a template: only what this template has (lists, grey locked columns, rows)."""
    has = _features(rules, kind, locked)
    parts = [TEMPLATE_NOTE[_worded("prefilled", kind)].format(count=prefilled)] if prefilled is not None else []
    parts += [TEMPLATE_NOTE[k] for k in ("required", "lists", "locked") if has[k]]
    return "".join(parts) + TEMPLATE_NOTE["help"]


def _general_lines(rules: RuleSet, kind: KindSpec, prefilled: bool) -> list[str]:
    has = _features(rules, kind, prefilled)
    lines = [TEMPLATE_GENERAL[k] for k in ("required",) if has[k]] + [TEMPLATE_GENERAL["headers"]]
    lines += [TEMPLATE_GENERAL[k] for k in ("text_ids", "lists") if has[k]]
    lines += [TEMPLATE_GENERAL["send"], TEMPLATE_GENERAL["again"]]
    if prefilled:
        lines.append(TEMPLATE_GENERAL[_worded("prefilled_locked" if has["locked"] else "prefilled", kind)])
    return lines


def build_template(rules: RuleSet, kind: KindSpec, unit_code: str, unit_name: str, *,
                   rows: Sequence[dict[str, Any]] = (), reasons: Sequence[str] | None = None,
                   protect: bool = False, note: str | None = None,
                   meta: dict[str, str] | None = None, today: date | None = None,
                   classes: Sequence[str] = (), school_classes: Sequence[str] | None = None,
                   unit_type: str | None = None) -> Workbook:
    """The template workbook of `kind` for one unit, optionally filled with `rows` (field -> value).

    `classes` (a school's, or a sub-account's) become the drop-down of every class column;
    `school_classes` (all the school's, where `classes` are a sub-account's) that of a column
    that may name any class (`any_class`: a transfer's target). With `unit_type`, a list of
    kinds (业务类型 of the 业务回退表) offers the kinds that unit sends only.

    `reasons` adds a column after the kind's columns (the reviewer's reason on sent-back rows);
    the reader ignores it. `protect` locks the kind's protected columns of the filled rows.
    """
    today = today or date.today()
    wb = Workbook()
    ws = wb.active
    ws.title = kind.title[:31]
    columns = kind.columns
    ncols = len(columns) + (1 if reasons is not None else 0)

    set_text(ws.cell(1, 1), T["title"].format(title=kind.title, unit=unit_code, unit_name=unit_name))
    ws.cell(1, 1).font = TITLE_FONT
    set_text(ws.cell(2, 1), note or template_note(rules, kind, locked=protect,
                                                  prefilled=len(rows) if protect else None))
    ws.cell(2, 1).font = REASON_FONT
    ws.cell(2, 1).alignment = Alignment(wrap_text=True, vertical="center")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=max(ncols, 2))
    ws.row_dimensions[2].height = 32

    for j, col in enumerate(columns, start=1):
        cell = ws.cell(3, j)
        cell.value = ("*" if col.required else "") + col.header
        cell.font = REQUIRED_FONT if col.required else HEADER_FONT
        cell.fill = LOCKED_FILL if (protect and col.protected) else HEADER_FILL
        cell.border = BOX
        dim = ws.column_dimensions[column_letter(j)]
        dim.width = column_width(col.type, col.header)
        if col.type in TEXT_TYPES:
            dim.number_format = TEXT_FORMAT
        if protect and not col.protected:
            dim.protection = Protection(locked=False)
    if reasons is not None:
        cell = ws.cell(3, len(columns) + 1)
        cell.value = RW["fix_reason_header"]
        cell.font = REQUIRED_FONT
        cell.fill = HEADER_FILL
        cell.border = BOX
        ws.column_dimensions[column_letter(len(columns) + 1)].width = 48

    last = FIRST_DATA_ROW + len(rows) + BLANK_ROWS - 1
    for i in range(FIRST_DATA_ROW, last + 1):
        data = rows[i - FIRST_DATA_ROW] if i - FIRST_DATA_ROW < len(rows) else None
        for j, col in enumerate(columns, start=1):
            cell = ws.cell(i, j)
            if data is not None:
                value = template_value(col, data.get(col.field), rules.tables)
                set_text(cell, value)
                if col.type in TEXT_TYPES and value is not None:
                    cell.data_type = "s"
                cell.border = BOX
            if col.type in TEXT_TYPES:
                cell.number_format = TEXT_FORMAT
            if protect:
                locked = col.protected and data is not None
                cell.protection = Protection(locked=locked)
                if locked:
                    cell.fill = LOCKED_FILL
        if reasons is not None and data is not None:
            cell = ws.cell(i, len(columns) + 1)
            set_text(cell, reasons[i - FIRST_DATA_ROW])
            cell.font = REASON_FONT
            cell.alignment = WRAP
            cell.border = BOX

    aids = form_aids(rules, kind, today, class_lists(classes, school_classes), locked=protect,
                     unit_type=unit_type)
    _add_drop_downs(wb, ws, aids, last)
    ws.freeze_panes = ws.cell(FIRST_DATA_ROW, 1).coordinate
    if protect:
        ws.protection.sheet = True
        # Allowed under protection: resize, format and delete rows (Excel still refuses to delete
        # rows with locked cells; the instructions say how to lift the password-less protection).
        ws.protection.formatColumns = False
        ws.protection.formatRows = False
        ws.protection.formatCells = False
        ws.protection.deleteRows = False
        ws.protection.insertRows = False
        ws.protection.autoFilter = False
        ws.protection.sort = False
    _add_help_sheet(wb, rules, kind, unit_code, prefilled=protect, aids=aids)
    add_meta_sheet(wb, {"kind": kind.kind, "version": str(kind.version), "unit": unit_code,
                        "source": "template", **(meta or {})})
    return wb


def _add_drop_downs(wb: Workbook, ws: Any, aids: FormAids, last_row: int) -> None:
    """List validations whose entries sit in a hidden sheet (inline lists stop at 255 chars)."""
    if not aids.lists:
        return
    placed, columns = list_ranges(aids)
    lists = wb.create_sheet(T["lists_sheet"])
    lists.sheet_state = "hidden"
    for k, choices in enumerate(columns, start=1):
        for i, choice in enumerate(choices, start=1):
            set_text(lists.cell(i, k), choice)
    for item in aids.lists:
        dv = DataValidation(type="list", formula1=placed[item.source], allow_blank=True,
                            showErrorMessage=item.strict, showDropDown=False)
        letter = column_letter(item.index + 1)
        dv.add(f"{letter}{FIRST_DATA_ROW}:{letter}{last_row}")
        ws.add_data_validation(dv)


def _add_help_sheet(wb: Workbook, rules: RuleSet, kind: KindSpec, unit_code: str,
                    prefilled: bool, aids: FormAids) -> None:
    ws = wb.create_sheet(T["help_sheet"])
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 10
    ws.column_dimensions["C"].width = 90
    set_text(ws.cell(1, 1), T["help_title"].format(title=kind.title, unit=unit_code,
                                                   version=kind.version))
    ws.cell(1, 1).font = TITLE_FONT
    for j, word in enumerate(T["help_header"], start=1):
        cell = ws.cell(3, j)
        cell.value = word
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.border = BOX
    r = 4
    for header, required, rule in aids.help_rows:
        ws.cell(r, 1).value = header
        ws.cell(r, 2).value = required
        set_text(ws.cell(r, 3), rule)
        ws.cell(r, 3).alignment = WRAP
        for j in range(1, 4):
            ws.cell(r, j).border = BOX
        r += 1
    r += 1
    for n, line in enumerate(_general_lines(rules, kind, prefilled), start=1):
        set_text(ws.cell(r, 1), f"{n}. {line}")
        r += 1


def _worded(key: str, kind: KindSpec) -> str:
    """The template words of `key` for the kind's people: staff, or insured residents."""
    return f"{key}_resident" if kind.audience in RESIDENT_AUDIENCES else key


def save_workbook(wb: Workbook, target: Path) -> Path:
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


# Pre-filled rows -------------------------------------------------------------------------------
def prefill_rows(s: Session, kind: KindSpec, unit_code: str,
                 classes: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The unit's insured staff as template rows: columns that mirror the record, and defaults.
    With `classes` (a school's sub-account), only the students of those classes."""
    q = _insured(unit_code)
    if classes is not None:
        q = q.where(Person.class_code.in_(sorted(classes)))
    rows = []
    for p in s.scalars(q):
        record = Q.person_record(p)
        row: dict[str, Any] = {}
        for col in kind.columns:
            if col.record:
                row[col.field] = record.value(col.record)
            elif col.default is not None:
                row[col.field] = col.default
        rows.append(row)
    return rows


def _insured(unit_code: str) -> Any:
    """The unit's insured staff, in the order its pre-filled templates list them."""
    return (select(Person).where(Person.unit_code == unit_code, Person.status == INSURED)
            .order_by(Person.person_no, Person.id_number))


def template_name(kind: KindSpec, unit_code: str) -> str:
    return DOC_NAMES["template"].format(unit=unit_code, title=kind.title)


def write_unit_templates(instance: Instance, s: Session, unit: Unit, *,
                         kinds: Sequence[str] | None = None, out_dir: Path | None = None,
                         today: date | None = None, classes: frozenset[str] | None = None
                         ) -> list[Path]:
    """Every kind the unit may send, blank or pre-filled, into its outbox templates/ folder.
    With `classes` (a school's sub-account, whose folder `out_dir` is) pre-filled with the
    students of those classes only.

    The templates of kinds it may not send are taken away: a unit whose type changed (made
    without a type, then a school by master data) kept the employer's templates, which the
    intake then refused as not its kinds."""
    from exchange.residents import unit_classes

    rules = instance.rules
    folder = out_dir or instance.unit_outbox(unit.code, "templates")
    school = sorted(unit_classes(s, unit.code))
    choices = sorted(classes) if classes is not None else school
    sendable = [k for k in kinds_for_unit(rules, unit.unit_type)
                if classes is None or k.sub_accounts]
    written = []
    for kind in sendable:
        if kinds and kind.kind not in kinds:
            continue
        rows = prefill_rows(s, kind, unit.code, classes) if kind.prefill else []
        wb = build_template(rules, kind, unit.code, unit.name, rows=rows, protect=kind.prefill,
                            today=today, classes=choices, school_classes=school,
                            unit_type=unit.unit_type)
        written.append(save_workbook(wb, folder / template_name(kind, unit.code)))
    kept = {k.kind for k in sendable}
    for kind in rules.kinds.values():
        if kind.kind not in kept:
            (folder / template_name(kind, unit.code)).unlink(missing_ok=True)
    return written


def refresh_prefilled(instance: Instance, s: Session, unit_code: str) -> Path | None:
    """The unit's pre-filled templates (减少, 工资, 人员信息变更 …) written again when the staff
    they list changed since they were last written here: a view writer (exchange.view.refresh),
    run as the unit's status books are. The stop template said 共 0 人 after the staff were
    loaded, and went on listing the stopped and missing the approved until the nightly job.
    The staff's records are kept as a digest in var/templates/<unit>.json."""
    unit = s.get(Unit, unit_code)
    if unit is None:
        return None
    folder = instance.unit_outbox(unit.code, "templates")
    marks = instance.var / "templates" / f"{unit.code}.json"
    try:
        known = json.loads(marks.read_text(encoding="utf-8")).get("staff")
    except (OSError, ValueError, AttributeError):
        known = None
    staff = hashlib.sha256(json.dumps([Q.person_record(p) for p in s.scalars(_insured(unit.code))],
                                      default=str).encode()).hexdigest()
    kinds = [k for k in kinds_for_unit(instance.rules, unit.unit_type) if k.prefill]
    stale = [k.kind for k in kinds if known != staff
             or not (folder / template_name(k, unit.code)).exists()]
    if not stale:
        return None
    written = write_unit_templates(instance, s, unit, kinds=stale)
    marks.parent.mkdir(parents=True, exist_ok=True)
    write_text(marks, json.dumps({"staff": staff}))
    return written[0] if written else None


def write_sub_account_templates(instance: Instance, s: Session, unit: Unit, account: Account, *,
                                kinds: Sequence[str] | None = None, out_dir: Path | None = None,
                                today: date | None = None) -> list[Path]:
    """A school sub-account's templates, pre-filled with its classes' students only, into its
    own outbox templates/ folder (or `out_dir`)."""
    from exchange.accounts import scope_of
    from exchange.work import sub_account_outbox

    folder = out_dir or sub_account_outbox(instance, unit.code, account.login, "templates")
    return write_unit_templates(instance, s, unit, kinds=kinds, out_dir=folder, today=today,
                                classes=scope_of(account))


def refresh_templates(instance: Instance, db: Database, *, unit: str | None = None,
                      kinds: Sequence[str] | None = None, out_dir: Path | None = None,
                      today: date | None = None, failed: list[str] | None = None) -> list[Path]:
    """Write fresh templates for one unit or all, and for each sub-account of a school (into
    its own outbox, or `@<login>` under the unit's `out_dir`); pre-filled ones reflect today's
    records. A unit that fails is logged and the others go on (`errors.each_unit`)."""
    from exchange.accounts import SUB_ROLES
    from exchange.work import SUB_PREFIX

    def one(code: str) -> list[Path]:
        with db.session() as s:
            u = s.get(Unit, code)
            if u is None:                   # deleted since the list was read
                return []
            target = (out_dir / folder_name(code)) if (out_dir and not unit) else out_dir
            written = write_unit_templates(instance, s, u, kinds=kinds, out_dir=target, today=today)
            subs = s.scalars(select(Account).where(Account.unit_code == code,
                                                   Account.role.in_(SUB_ROLES)).order_by(Account.login))
            for account in subs.all():
                folder = target / f"{SUB_PREFIX}{account.login}" if target else None
                written += write_sub_account_templates(instance, s, u, account, kinds=kinds,
                                                       out_dir=folder, today=today)
            return written

    with db.session() as s:
        codes = Q.unit_codes(s, unit)
    done = each_unit(codes, one, what="templates", failed=failed)
    return [p for paths in done for p in paths]


__all__ = ["build_template", "prefill_rows", "refresh_prefilled", "refresh_templates", "write_unit_templates",
           "write_sub_account_templates", "save_workbook", "template_name", "kinds_for_unit"]
