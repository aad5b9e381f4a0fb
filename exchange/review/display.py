"""How a declaration's stored values read back: labels for rosters, "code-label" for templates."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from exchange.kinds.spec import CodeTable, ColumnSpec, KindSpec
from exchange.messages import (DECLARATION_STATUS_LABELS, ENROLMENT_LABELS, ENROLMENT_WORDS,
                               REVIEW_WORDS as RW)

# Columns that say who the declaration is about; the "content" summary leaves them out.
WHO_FIELDS = ("id_number", "name", "person_no")


def _codes(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [v for v in str(value).replace("，", ",").split(",") if v]  # input grammar: "，"


def display_value(col: ColumnSpec, value: Any, tables: dict[str, CodeTable]) -> str:
    """A stored value as a person reads it: code tables give labels."""
    if value in (None, ""):
        return ""
    if col.type in ("code", "id_type") and col.table in tables:
        return tables[col.table].label(str(value)) or str(value)
    if col.type == "codes" and col.table in tables:
        table = tables[col.table]
        return "、".join(table.label(c) or c for c in _codes(value))
    return str(value)


def template_value(col: ColumnSpec, value: Any, tables: dict[str, CodeTable]) -> Any:
    """A stored value as the template's drop-down writes it ("21-大学本科毕业"), so it reads back."""
    if value in (None, ""):
        return None
    if col.type in ("code", "id_type") and col.table in tables:
        label = tables[col.table].label(str(value))
        return f"{value}-{label}" if label else str(value)
    if col.type == "codes" and col.table in tables:
        table = tables[col.table]
        return ",".join(f"{c}-{table.label(c)}" if table.label(c) else c for c in _codes(value))
    if col.type == "wage" and isinstance(value, (int, float)):
        return int(value)
    return str(value)


def change_lines(kind: KindSpec, payload: dict[str, Any], old: dict[str, Any] | None,
                 tables: dict[str, CodeTable]) -> list[tuple[str, str, str]]:
    """(header, old, new) for each field a change declaration sets."""
    out = []
    for name in kind.change_fields:
        new = payload.get(name)
        if new in (None, ""):
            continue
        col = kind.column(name)
        before = (old or {}).get(name)
        out.append((col.header, display_value(col, before, tables), display_value(col, new, tables)))
    return out


def content(kind: KindSpec | None, payload: dict[str, Any], old: dict[str, Any] | None,
            tables: dict[str, CodeTable], memo: dict[Any, Any] | None = None) -> str:
    """One line saying what the declaration asks for: "变更日期：202611；缴费工资：5000；…"."""
    return contents(kind, [payload], [old], tables, memo)[0]


def contents(kind: KindSpec | None, payloads: Sequence[dict[str, Any]],
             olds: Sequence[dict[str, Any] | None], tables: dict[str, CodeTable],
             memo: dict[Any, Any] | None = None) -> list[str]:
    """content() of many declarations of one kind, a column at a time: a unit's status
    workbook says this of 100,000 declarations (exchange.view.status). `memo` (a dict the
    caller keeps across calls) holds each coded column's text per value."""
    joiner = RW["joiner"]
    if kind is None:
        return [joiner.join(f"{k}={v}" for k, v in p.items() if v not in (None, "")) for p in payloads]
    if kind.change_fields:
        return [joiner.join(RW["field_value"].format(
                    header=header, value=RW["change_arrow"].format(old=before, new=after))
                    for header, before, after in change_lines(kind, p, o, tables))
                for p, o in zip(payloads, olds)]
    memo = {} if memo is None else memo
    columns = memo.get(kind.kind)
    if columns is None:       # each column with its texts by value, made as values come
        columns = memo[kind.kind] = [(col, {}) for col in kind.columns if col.field not in WHO_FIELDS]
    parts = [_parts(col, [p.get(col.field) for p in payloads], texts, tables)
             for col, texts in columns]
    if not parts:
        return [""] * len(payloads)
    return [joiner.join([x for x in row if x]) for row in zip(*parts)]


def _parts(col: ColumnSpec, values: list[Any], texts: dict[Any, str],
           tables: dict[str, CodeTable]) -> list[str]:
    """"header：text" of each of a column's values ("" for one that shows nothing). A plain
    column's text is the text itself; a coded one's is looked up once per value."""
    if col.type not in _CODED or col.table not in tables:    # display_value's str(value)
        before, _, after = RW["field_value"].partition("{value}")
        prefix = before.format(header=col.header)
        return ["" if v is None or v == "" else f"{prefix}{v}{after}" for v in values]
    out = []
    for value in values:
        cls = value.__class__
        key = value if cls in _KEPT else (list, *value) if cls is list else None
        try:
            part = texts.get(key) if key is not None else None
        except TypeError:                   # a list holding unhashable values
            part = key = None
        if part is None:
            part = _part(col, value, tables)
            if key is not None:
                texts[key] = part
        out.append(part)
    return out


_KEPT = (str, int, type(None))     # values whose text the memo keeps (and lists, as tuples)
_CODED = ("code", "id_type", "codes")


def _part(col: ColumnSpec, value: Any, tables: dict[str, CodeTable]) -> str:
    """"header：text" of one column's value; "" when it shows nothing."""
    text = display_value(col, value, tables)
    return RW["field_value"].format(header=col.header, value=text) if text else ""


def member_lines(d: Any, members: dict[int, list[tuple[str, str]]]) -> tuple[str | None, list[tuple[str, str, str]]]:
    """For a 班级停保 declaration: the name its own row shows ("全班 n 人") and (ID, name, content)
    of each pupil it stops; (None, []) for any other declaration."""
    pupils = members.get(d.serial)
    if pupils is None:
        return None, []
    class_code = (d.payload or {}).get("class_code") or ""
    text = RW["class_member"].format(serial=d.serial, class_code=class_code)
    return RW["class_stop_name"].format(count=len(pupils)), [(n, name, text) for n, name in pupils]


def status_label(status: str) -> str:
    return DECLARATION_STATUS_LABELS.get(status, status)


def kind_label(kinds: dict[str, KindSpec], kind: str) -> str:
    spec = kinds.get(kind)
    return spec.label if spec else kind


def enrolment_label(payload: dict[str, Any] | None) -> str:
    """新参保 / 续保 / 调入（原单位 X） of a resident enrolment; "" for any other declaration."""
    p = payload or {}
    judged = p.get("enrolment")
    if judged not in ENROLMENT_LABELS:
        return ""
    if judged == "transfer_in" and p.get("from_unit"):
        return ENROLMENT_WORDS["from_unit"].format(unit=p["from_unit"])
    return ENROLMENT_LABELS[judged]


def declaration_label(kinds: dict[str, KindSpec], d: Any) -> str:
    """The kind as a declaration's row shows it: "城乡居民参保申报（续保）" for an enrolment."""
    label = kind_label(kinds, d.kind)
    judged = enrolment_label(d.payload)
    return ENROLMENT_WORDS["kind_label"].format(label=label, enrolment=judged) if judged else label


def first(items: Iterable[Any]) -> Any:
    return next(iter(items), None)
