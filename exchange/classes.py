"""Classes (班级) of schools as data: the `classes` table (班级编号, 班级名称, 年级, 院系).

Kept by the school: its own login adds or renames classes with a 班级信息表 (kind class_info,
effective on import like households), or the centre loads them as master data
(rules/master/classes.toml). A class is never deleted (Changchun 班级维护: only the name may
change). Schools whose classes were never listed keep working: their classes are those of their
persons and sub-accounts (exchange.residents.unit_classes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.store.models import SchoolClass

# A class code travels in comma-separated sub-account scopes and folder-free names.
CLASS_CODE = re.compile(r"^[^,\s/\\，]{1,32}$")
FIELDS = ("name", "grade", "department")


@dataclass(frozen=True)
class ClassRecord:
    code: str
    name: str
    grade: str | None = None
    department: str | None = None


def listed_classes(s: Session, unit: str) -> dict[str, ClassRecord]:
    """The classes a school has listed, by code, in code order."""
    q = select(SchoolClass).where(SchoolClass.unit_code == unit).order_by(SchoolClass.class_code)
    return {c.class_code: ClassRecord(c.class_code, c.name, c.grade, c.department) for c in s.scalars(q)}


def upsert_classes(s: Session, rows: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Add or rename classes; each row has unit_code, class_code, name (grade, department
    optional: a blank keeps what is there). Returns (created, updated)."""
    created = updated = 0
    now = datetime.now().replace(microsecond=0)
    for r in rows:
        record = s.get(SchoolClass, (r["unit_code"], r["class_code"]))
        if record is None:
            s.add(SchoolClass(unit_code=r["unit_code"], class_code=r["class_code"], name=r["name"],
                              grade=r.get("grade"), department=r.get("department"),
                              created_at=now, updated_at=now))
            created += 1
            continue
        for f in FIELDS:
            if r.get(f) not in (None, ""):
                setattr(record, f, r[f])
        record.updated_at = now
        updated += 1
    s.flush()
    return created, updated


def department_classes(s: Session, unit: str, department: str) -> list[str]:
    """The classes a school lists under a department (院系), in code order."""
    return [c.code for c in listed_classes(s, unit).values() if c.department == department]


__all__ = ["ClassRecord", "CLASS_CODE", "listed_classes", "upsert_classes", "department_classes"]
