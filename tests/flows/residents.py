"""Shared set-up of the resident flow tests: a community and a school with people on file.

Import the fixtures into a test module (`from tests.flows.residents import community, school`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest

from exchange.accounts import add_unit
from exchange.store.models import Household, Person
from tests.conftest import make_id, make_workbook

HOUSEHOLD = ["户主身份证号*", "户主姓名*", "联系电话*", "操作"]
RESIDENT_ADD = ["证件类型", "证件号码*", "姓名*", "性别", "民族", "出生日期", "户主身份证号*", "与户主关系",
                "人员类别*", "联系电话", "是否计生补助对象", "班级编号", "备注"]
SUSPEND = ["证件号码*", "姓名*", "暂停原因*", "备注", "班级编号"]
TRANSFER = ["证件号码*", "姓名*", "目标班级编号*"]

PT = "350302"     # Putian
CC = "220102"     # Changchun

# The community C3001 (Putian).
HEAD = make_id("19750101", "111", PT)            # registered head
HEAD_FREE = make_id("19760202", "112", PT)       # registered, nobody under it
SUSPENDED_HERE = make_id("19800202", "222", PT)  # archive here, suspended: 续保
STOPPED_ELSEWHERE = make_id("19900303", "333", PT)  # archive in C3002, stopped: 调入
INSURED_ELSEWHERE = make_id("19910404", "444", PT)  # insured in C3002 now
IN_ARREARS = make_id("19850505", "555", PT)      # archive here with arrears
MEMBER = make_id("19780606", "666", PT)          # insured here under HEAD
NEWBORN = make_id("20200707", "777", PT)         # no archive: 新参保

# The school S2201 (Changchun): classes 2024-01, 2024-02, and 2023-09 (graduated, all stopped).
STUDENTS_01 = [make_id("20120101", f"{i:03d}", CC) for i in (101, 102, 103)]
STUDENTS_02 = [make_id("20110202", f"{i:03d}", CC) for i in (201, 202)]
GRADUATED = make_id("20090909", "309", CC)
OWED = STUDENTS_01[2]                            # 2024-01, arrears 120
OTHER_SCHOOL = make_id("20120303", "401", CC)    # insured at S2202
PARENT = make_id("19820808", "888", CC)          # household head registered at the school


def add_person(s: Any, id_number: str, name: str, unit: str, status: str = "1", **extra: Any) -> None:
    s.add(Person(id_number=id_number, name=name, unit_code=unit, status=status,
                 arrears=extra.pop("arrears", 0), **extra))


@pytest.fixture
def community(instance, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_unit(instance, s, "C3001", "城厢区凤凰山社区", unit_type="30", password="pw-c")
        add_unit(instance, s, "C3002", "荔城区镇海社区", unit_type="30", password="pw-c2")
    with db.session() as s:
        add_person(s, SUSPENDED_HERE, "林一", "C3001", "2", household_head=HEAD)
        add_person(s, STOPPED_ELSEWHERE, "林二", "C3002", "3")
        add_person(s, INSURED_ELSEWHERE, "陈三", "C3002", "1")
        add_person(s, IN_ARREARS, "黄四", "C3001", "2", arrears=88.5)
        add_person(s, MEMBER, "林五", "C3001", "1", household_head=HEAD)
        s.add(Household(unit_code="C3001", head_id=HEAD, name="林建国", phone="13905941234",
                        status="active"))
        s.add(Household(unit_code="C3001", head_id=HEAD_FREE, name="郑秀英", phone="13905940000",
                        status="active"))
    return "C3001"


@pytest.fixture
def school(instance, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_unit(instance, s, "S2201", "长春市第一实验小学", unit_type="40", password="pw-s")
        add_unit(instance, s, "S2202", "长春市第二实验小学", unit_type="40", password="pw-s2")
    with db.session() as s:
        for i, number in enumerate(STUDENTS_01):
            add_person(s, number, f"王小{'一二三'[i]}", "S2201", class_code="2024-01",
                       household_head=PARENT, arrears=120 if number == OWED else 0)
        for i, number in enumerate(STUDENTS_02):
            add_person(s, number, f"李小{'一二'[i]}", "S2201", class_code="2024-02", household_head=PARENT)
        add_person(s, GRADUATED, "赵毕业", "S2201", "2", class_code="2023-09")
        add_person(s, OTHER_SCHOOL, "周外校", "S2202", class_code="2024-01")
        s.add(Household(unit_code="S2201", head_id=PARENT, name="王建华", phone="13804310000",
                        status="active"))
    return "S2201"


def drop(instance: Any, unit: str, name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
         title: str | None = None, folder: str | None = None) -> Path:
    """Write a workbook the way a clerk would into the unit's inbox (or a sub-account folder)."""
    inbox = instance.unit_inbox(unit) / folder if folder else instance.unit_inbox(unit)
    return make_workbook(inbox / name, headers, rows, title=title)
