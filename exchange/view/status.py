"""申报状态.xlsx: a unit's declarations by state, as the old query pages showed them (待提交,
已提交信息管理, 申报历史, 待审核数据查询).

Sheets: 汇总 (plain reminders, the next submission time, counts by kind and state, the recent
notices), then 待提交, 已提交待审核, 审核结果 and 已回退. Pending and submitted declarations are
all listed; decided and withdrawn ones of the last [view].result_days days (a rolling window).
A school's department or class login gets the same book in its own outbox, of its classes'
declarations and of those it sent.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from itertools import compress
from pathlib import Path
from typing import Any, Iterator, Sequence, cast

from sqlalchemy import Table, Text, and_, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from exchange.config import Instance
from exchange.messages import (CONCLUSIONS, VIEW_HEADERS as H, VIEW_NAMES, VIEW_SHEETS as S,
                               VIEW_WORDS as W)
from exchange.kinds.spec import CodeTable, KindSpec
from exchange.review.display import contents, enrolment_label, kind_label
from exchange.store.db import json_value
from exchange.store.models import Batch, Declaration, FileRecord
from exchange.view.scope import Viewer, class_of, viewer_of
from exchange.view.sheets import Column, Sheet, book

STATES = ("pending", "submitted", "approved", "rejected", "withdrawn")
DECIDED = ("approved", "rejected")
NOTICES_SHOWN = 10

# The columns of each state's sheet, after 业务流水号 … 申报内容.
COMMON = (Column("serial", 12, text=True), Column("kind", 14), Column("id_number", 21, text=True),
          Column("name", 10), Column("enrolment", 12), Column("class_code", 12, text=True),
          Column("content", 50))
SOURCE = (Column("file", 30), Column("row", 7), Column("sender", 14))
SHEETS: dict[str, tuple[Column, ...]] = {
    "pending": (*COMMON, *SOURCE, Column("created", 17)),
    "submitted": (*COMMON, Column("batch", 20, text=True), Column("submitted", 17), *SOURCE,
                  Column("created", 17)),
    "decided": (*COMMON, Column("conclusion", 10), Column("reason", 30), Column("reviewer", 10),
                Column("decided", 17), Column("batch", 20, text=True), Column("submitted", 17),
                *SOURCE),
    "withdrawn": (*COMMON, Column("withdrawn", 17), *SOURCE, Column("created", 17)),
}


def book_path(instance: Instance, viewer: Viewer) -> Path:
    return viewer.folder(instance) / VIEW_NAMES["status_book"]


# Each state's sheet, the states it lists, newest decisions first on 审核结果.
SHEET_STATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pending", ("pending",)), ("submitted", ("submitted",)), ("decided", DECIDED),
    ("withdrawn", ("withdrawn",)))
# Declarations read (and their senders looked up) at a time. 10,000 held 47 MB more at the
# peak of a 100,000-declaration book and was no faster (3.5 s, against 3.2 s).
STREAM_ROWS = 2000


def write(instance: Instance, s: Session, unit: str, login: str | None = None,
          now: datetime | None = None) -> Path | None:
    """Write the unit's (or its sub-account `login`'s) 申报状态.xlsx; None for no such unit.

    Each state's sheet is streamed from its own query into its spool, STREAM_ROWS declarations
    at a time: a unit's 100,000 declarations are never held at once. The 汇总 sheet comes first
    in the book but is written last, from the counts the other sheets made."""
    viewer = viewer_of(instance, s, unit, login)
    if viewer is None:
        return None
    now = now or datetime.now().replace(microsecond=0)
    counts: dict[str, list[int]] = {}          # kind label -> count per STATES
    classes = viewer.person_classes(s) if viewer.scope is not None else {}
    target = book_path(instance, viewer)
    with book(target) as b:
        summary = b.sheet(S["summary"])
        for key, states in SHEET_STATES:
            keys = [c.key for c in SHEETS[key]]
            parts = declaration_parts(instance, s, viewer, now, states, classes, counts)
            b.sheet(S[key]).table(SHEETS[key], H, (row for part in parts
                                                   for row in zip(*(part[k] for k in keys))))
        _summary(instance, summary, viewer, counts, now)
    return target


def declaration_parts(instance: Instance, s: Session, viewer: Viewer, now: datetime,
                      states: Sequence[str], classes: dict[str, str],
                      counts: dict[str, list[int]]) -> Iterator[dict[str, list[Any]]]:
    """The viewer's declarations in `states`, STREAM_ROWS at a time, as columns by SHEETS key:
    all pending and submitted, decided and withdrawn within the window; by batch then 业务流水号,
    decided ones newest decision first. Each is counted into `counts` (kind label -> count per
    STATES). `classes`: a sub-account's persons' classes (Viewer.person_classes), read once for
    the book's four sheets; {} for a unit."""
    rules = instance.rules
    since = now - timedelta(days=instance.settings.view.result_days)
    # Core columns, not ORM attributes: rows without the ORM's loading machinery.
    D, F, B = (cast(Table, m.__table__).c for m in (Declaration, FileRecord, Batch))
    current = [x for x in states if x in ("pending", "submitted")]
    windowed = [x for x in states if x not in current]
    # The JSON columns as their text, read by json_value below: SQLAlchemy's JSON type would
    # cost as much again per value as reading it.
    q = (select(D.serial, D.kind, D.id_number, D.name, D.status, sql_cast(D.payload, Text),
                sql_cast(D.old_values, Text), D.row,
                D.created_at, D.submitted_at, D.decided_at, D.decision_reason, D.reviewer,
                F.name, B.batch_no)
         .select_from(cast(Table, Declaration.__table__))
         .outerjoin(cast(Table, FileRecord.__table__), F.id == D.file_id)
         .outerjoin(cast(Table, Batch.__table__), B.id == D.batch_id)
         .where(D.unit_code == viewer.unit,
                or_(D.status.in_(current), and_(D.status.in_(windowed), D.decided_at >= since)))
         .order_by(*((D.decided_at.desc(), D.serial.desc()) if set(states) <= set(DECIDED)
                     else (B.batch_no, D.serial))))
    concl = {"approved": CONCLUSIONS["approved"][0], "rejected": CONCLUSIONS["rejected"][0]}
    kinds, tables = rules.kinds, rules.tables
    labels: dict[str, str] = {}
    memo: dict[Any, Any] = {}
    for part in s.execute(q, execution_options={"yield_per": STREAM_ROWS}).partitions():
        (serial, kind, number, name, status, payload, old, row, created, submitted, decided,
         reason, reviewer, file_name, batch_no) = (list(c) for c in zip(*part))
        payload = [json_value(p) or {} if p is not None else {} for p in payload]
        old = [json_value(o) if o is not None else None for o in old]
        class_code = [class_of(p, n, classes) for p, n in zip(payload, number)]
        senders = viewer.senders(s, serial)
        sender = [senders.get(x) for x in serial] if senders else [None] * len(serial)
        if viewer.scope is not None:
            seen = [viewer.sees(c, x) for c, x in zip(class_code, sender)]
            (serial, kind, number, name, status, payload, old, row, created, submitted, decided,
             reason, reviewer, file_name, batch_no, class_code, sender) = (
                list(compress(c, seen)) for c in (
                    serial, kind, number, name, status, payload, old, row, created, submitted,
                    decided, reason, reviewer, file_name, batch_no, class_code, sender))
        for k in set(kind) - labels.keys():
            labels[k] = kind_label(kinds, k)
        label = [labels[k] for k in kind]
        for (k, state), n in Counter(zip(label, status)).items():
            counts.setdefault(k, [0] * len(STATES))[STATES.index(state)] += n
        yield {"serial": [str(x) for x in serial], "kind": label, "id_number": number,
               "name": name, "enrolment": [enrolment_label(p) or None for p in payload],
               "class_code": class_code,
               "content": _contents(kinds, kind, payload, old, tables, memo),
               "file": file_name, "row": row, "sender": sender, "created": created,
               "batch": batch_no, "submitted": submitted,
               "conclusion": [concl.get(x) for x in status],
               "reason": [r if x == "rejected" else None for r, x in zip(reason, status)],
               "reviewer": reviewer,
               "decided": [d if x in DECIDED else None for d, x in zip(decided, status)],
               "withdrawn": [d if x == "withdrawn" else None for d, x in zip(decided, status)]}


def _contents(kinds: dict[str, KindSpec], kind: list[str], payloads: list[dict[str, Any]],
              olds: list[Any], tables: dict[str, CodeTable], memo: dict[Any, Any]) -> list[str]:
    """display.contents of declarations of several kinds, a kind at a time, in their order."""
    if len(set(kind)) == 1:
        return contents(kinds.get(kind[0]), payloads, olds, tables, memo)
    out = [""] * len(kind)
    for k in set(kind):
        at = [i for i, x in enumerate(kind) if x == k]
        for i, text in zip(at, contents(kinds.get(k), [payloads[i] for i in at],
                                        [olds[i] for i in at], tables, memo)):
            out[i] = text
    return out


def _summary(instance: Instance, sh: Sheet, viewer: Viewer, counts: dict[str, list[int]],
             now: datetime) -> None:
    days = instance.settings.view.result_days
    sh.widths((24, 12, 14, 12, 12, 12, 10))
    sh.line(W["status_title"].format(code=viewer.unit, name=viewer.unit_name,
                                     time=f"{now:%Y-%m-%d %H:%M}"), look="title")
    if viewer.scope is not None:
        sh.line(W["scope"].format(login=viewer.login, classes="、".join(sorted(viewer.scope))))
    pending, submitted, rejected = (sum(c[STATES.index(state)] for c in counts.values())
                                    for state in ("pending", "submitted", "rejected"))
    sh.line(W["pending"].format(count=pending) if pending else W["pending_none"], look="note")
    if submitted:
        sh.line(W["submitted"].format(count=submitted))
    if rejected:
        sh.line(W["rejected"].format(count=rejected, days=days), look="note")
    sh.line(W["next_step"].format(way=viewer.next_step))
    sh.skip()
    sh.line(W["counts"], look="header")
    sh.line(W["window"].format(days=days))
    columns = (Column("kind", 24), *(Column(state, 12) for state in STATES), Column("total", 10))
    headers = {"kind": H["kind"], "total": H["total"], **{s: _state_word(s) for s in STATES}}
    rows: list[Sequence[Any]] = [(k, *c, sum(c)) for k, c in sorted(counts.items())]
    totals = [sum(r[i + 1] for r in rows) for i in range(len(STATES))]
    rows.append((H["total"], *totals, sum(totals)))
    sh.table(columns, headers, rows, freeze=False)
    sh.skip()
    sh.line(W["notices"], look="header")
    notices = recent_notices(viewer.outbox(instance) / "notices")
    if not notices:
        sh.line(W["no_notices"])
    for when_, name in notices:
        sh.line(f"{when_:%Y-%m-%d %H:%M}", name)


def _state_word(state: str) -> str:
    from exchange.review.display import status_label

    return S["submitted"] if state == "submitted" else status_label(state)


def recent_notices(folder: Path, limit: int = NOTICES_SHOWN) -> list[tuple[datetime, str]]:
    """The newest files of a notices folder (another part of the product writes them), newest
    first: (time, name). Temp files of a writer are left out."""
    try:
        entries = [(datetime.fromtimestamp(p.stat().st_mtime), p.name) for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(entries, reverse=True)[:limit]


__all__ = ["write", "declaration_parts", "recent_notices", "book_path", "SHEETS", "STATES"]
