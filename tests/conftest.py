"""Fixtures: a fresh instance with one unit and a few persons; workbooks built in code."""
from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import openpyxl
import pytest

from exchange.accounts import add_unit
from exchange.checks.ids import check_char
from exchange.config import Instance, init_instance
from exchange.store.db import Database, open_database
from exchange.store.models import Person

ADD_HEADERS = ["身份证号*", "姓名*", "性别", "民族", "出生日期", "参加工作日期", "户籍性质", "文化程度*",
               "工作岗位*", "联系电话", "联系地址", "变更日期*", "缴费工资*", "参保险种"]


def make_id(birth: str = "19800101", seq: str = "247", region: str = "320602") -> str:
    first = region + birth + seq
    return first + check_char(first)


def add_row(id_number: str, name: str = "张三", *, sex: str = "", month: Any = "202612",
            wage: Any = 5000, education: Any = "21", post: Any = "01", **extra: Any) -> list[Any]:
    row = [id_number, name, sex, extra.get("ethnicity", "汉族"), extra.get("birth", ""), "",
           extra.get("hukou", ""), education, post, extra.get("phone", "13912345678"),
           extra.get("address", "南通市崇川区"), month, wage, extra.get("insurances", "")]
    return row


def make_workbook(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
                  title: str | None = None, title_rows: int = 2, fmt: str = "xlsx",
                  sheet_title: str = "Sheet1") -> Path:
    """Write a sheet the way clerks do: title rows, then the header, then the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lead: list[list[Any]] = []
    if title_rows:
        lead.append([title or ""])
        lead += [["填表说明：带*为必填项"]] * (title_rows - 1)
    table = [*lead, list(headers), *[list(r) for r in rows]]
    if fmt == "xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = sheet_title
        for r in table:
            ws.append(r)
        wb.save(path)
    elif fmt == "xls":
        import xlwt

        wb = xlwt.Workbook(encoding="utf-8")
        ws = wb.add_sheet(sheet_title)
        for i, r in enumerate(table):
            for j, v in enumerate(r):
                if v is not None:
                    ws.write(i, j, v)
        wb.save(str(path))
    elif fmt.startswith("csv"):
        encoding = {"csv": "utf-8", "csv-bom": "utf-8-sig", "csv-gb18030": "gb18030"}[fmt]
        buf = io.StringIO()
        csv.writer(buf).writerows([["" if v is None else v for v in r] for r in table])
        path.write_bytes(buf.getvalue().encode(encoding))
    else:
        raise ValueError(fmt)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "inst"


@pytest.fixture
def instance(home: Path) -> Instance:
    return init_instance(home)


@pytest.fixture
def db(instance: Instance):  # type: ignore[no-untyped-def]
    database = open_database(instance)
    with database.session() as s:
        add_unit(instance, s, "1001", "南通示例科技有限公司", password="pw-1001")
        add_unit(instance, s, "1002", "另一家公司", password="pw-1002")
    yield database
    database.dispose()


INSURED_ID = make_id("19850315", "123")
OTHER_UNIT_ID = make_id("19900101", "456")
ARREARS_ID = make_id("19700707", "789")


@pytest.fixture
def persons(db: Database) -> dict[str, str]:
    """Persons on file: one insured here, one insured elsewhere, one with arrears."""
    with db.session() as s:
        s.add(Person(id_number=INSURED_ID, person_no="P0001", name="李四", sex="1",
                     unit_code="1001", status="1", insurances="310,510",
                     paid_months={"310": "202610", "510": "202610"}, last_paid_month="202610",
                     arrears=0, wage_base=6000, staff_no="A01"))
        s.add(Person(id_number=OTHER_UNIT_ID, person_no="P0002", name="王五", unit_code="1002",
                     status="1", insurances="310", last_paid_month="202610", arrears=0))
        s.add(Person(id_number=ARREARS_ID, person_no="P0003", name="赵六", unit_code="1001",
                     status="1", insurances="310", last_paid_month="202610", arrears=350.5))
    return {"insured": INSURED_ID, "other": OTHER_UNIT_ID, "arrears": ARREARS_ID}


@pytest.fixture
def today() -> date:
    return date.today()
