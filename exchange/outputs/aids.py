"""What helps a clerk fill a kind's sheet, made from the rules as plain data: the columns'
drop-downs and the 说明 sheet's rows. exchange.outputs.templates lays it out in a template
(openpyxl); exchange.outputs.error_book in an error workbook (XlsxWriter, in a helper process).
Light on purpose: the pipeline makes it for a file's error workbook without loading openpyxl,
and the helper unpickles it without loading the rules' writers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

from exchange.kinds.spec import ColumnSpec, KindSpec, RuleSet
from exchange.messages import COLUMN_RULES, TEMPLATE_WORDS as T

CODED_TYPES = ("code", "codes", "id_type")


@dataclass(frozen=True)
class ColumnList:
    """A column's drop-down: its position among the kind's columns, the list's name (one list
    per name in the hidden sheet), its entries, and whether Excel refuses other values."""
    index: int
    source: str
    choices: tuple[str, ...]
    strict: bool


@dataclass(frozen=True)
class FormAids:
    """What helps a clerk fill a kind's sheet, as plain data (a template's and an error
    workbook's writers, openpyxl and XlsxWriter, each lay it out): the columns' drop-downs and
    the 说明 sheet's rows (header with *, 必填/选填, the column's rule)."""
    lists: tuple[ColumnList, ...]
    help_rows: tuple[tuple[str, str, str], ...]


def list_ranges(aids: FormAids) -> tuple[dict[str, str], list[tuple[str, ...]]]:
    """Where each list sits in the hidden sheet (a column of it per list name): the range by
    name, and the columns' entries in order."""
    placed: dict[str, str] = {}
    columns: list[tuple[str, ...]] = []
    for item in aids.lists:
        if item.source not in placed:
            letter = chr(ord("A") + len(placed))     # a kind has fewer than 26 coded columns
            placed[item.source] = (f"'{T['lists_sheet']}'!${letter}$1:${letter}$"
                                   f"{len(item.choices)}")
            columns.append(item.choices)
    return placed, columns


CLASS_LIST = "@classes"        # the list of a template's class columns, beside the code tables
SCHOOL_LIST = "@school"        # the list of its columns that may name any class of the school
ClassLists = dict[bool, list[str]]   # by ColumnSpec.any_class: the choices of its class columns


def class_lists(classes: Sequence[str], school_classes: Sequence[str] | None) -> ClassLists:
    return {False: list(classes), True: list(classes if school_classes is None else school_classes)}


def form_aids(rules: RuleSet, kind: KindSpec, today: date, classes: ClassLists, *,
              locked: bool = False, unit_type: str | None = None) -> FormAids:
    """Drop-downs: code tables, and the unit's classes for class columns. In the kind that
    lists classes (the 班级信息表) the classes are a hint, not a constraint: Excel refuses a
    value a strict list lacks, and the school could not type the code of a class it adds;
    参保险种 takes several codes in one cell, a hint too."""
    lists, rows = [], []
    for j, col in enumerate(kind.columns):
        if col.type == "class" and classes[col.any_class]:
            source, choices = (SCHOOL_LIST if col.any_class else CLASS_LIST), classes[col.any_class]
        elif col.type in CODED_TYPES and col.table in rules.tables:
            source, choices = col.table, [
                e.shown for e in rules.tables[col.table].entries if unit_type is None
                or e.code not in rules.kinds or rules.allows(rules.kinds[e.code], unit_type)]
        else:
            source, choices = "", []
        if choices:
            strict = col.type != "codes" and not (col.type == "class" and kind.effect == "classes")
            lists.append(ColumnList(j, source, tuple(choices), strict))
        rule = column_rule(rules, col, today, locked=locked)
        if col.type == "class" and classes[col.any_class]:
            rule += T["classes"].format(classes="、".join(classes[col.any_class]))
        rows.append((("*" if col.required else "") + col.header,
                     T["required_yes"] if col.required else T["required_no"], rule))
    return FormAids(tuple(lists), tuple(rows))


def error_book_aids(rules: RuleSet, kind: KindSpec, unit_type: str | None) -> FormAids:
    """An error workbook's drop-downs and 说明 rows: the template's, but a class column's list
    (the school's classes are not looked up for it: its cell is typed)."""
    return form_aids(rules, kind, date.today(), class_lists((), None), unit_type=unit_type)


def column_rule(rules: RuleSet, col: ColumnSpec, today: date, locked: bool = False) -> str:
    """The instructions line of one column: type rule, default, example, lock (when `locked`:
    the template locks this column)."""
    params: dict[str, Any] = {}
    if col.table and col.table in rules.tables:
        params["examples"] = rules.tables[col.table].examples()
    if col.type == "wage":
        bound = rules.bound_for(f"{today:%Y%m}")
        params.update(low=bound.low if bound else "", high=bound.high if bound else "")
    parts = [COLUMN_RULES.get(col.type, COLUMN_RULES["text"]).format(**params)]
    if col.max_length:
        parts.append(T["max_length"].format(limit=col.max_length))
    if col.default is not None:
        label = rules.tables[col.table].label(col.default) if col.table in rules.tables else ""
        parts.append(T["default"].format(value=f"{col.default}-{label}" if label else col.default))
    if col.example:
        parts.append(T["example"].format(value=col.example))
    if col.note:
        parts.append(col.note)
    if locked and col.protected:
        parts.append(T["protected"])
    return "".join(parts)


__all__ = ["ColumnList", "FormAids", "list_ranges", "form_aids", "error_book_aids", "column_rule",
           "class_lists", "CLASS_LIST", "SCHOOL_LIST", "CODED_TYPES"]
