"""Fixtures: a fresh instance with one unit and a few persons; workbooks built in code.

Every test that uses `instance` (and so `db`) runs once per database backend: SQLite, and
PostgreSQL when a server is at hand (EXCHANGE_TEST_PG_URL, else a throwaway cluster started
from the installed binaries). Each PostgreSQL test gets a fresh database copied from a migrated
template. `--backend sqlite|postgres` or EXCHANGE_TEST_DB picks one; with CI=true a missing
server fails the PostgreSQL tests instead of skipping them.
"""
from __future__ import annotations

import csv
import io
import os
import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Iterator, Sequence

import openpyxl
import pytest

from exchange.accounts import add_unit
from exchange.checks.ids import check_char
from exchange.config import Instance, Settings, init_instance, use_local_time
from exchange.store.db import Database, open_database
from exchange.store.models import Person

# The test process keeps the centre's time from its start, as the product's processes do once
# an instance is loaded (config.use_local_time): a date a test module takes when it is imported
# is then the date the product judges by.
use_local_time(Settings().schedule.timezone)

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
    elif fmt == "ods":
        from tests.ods import write_ods

        write_ods(path, table, sheet=sheet_title)
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


BACKENDS = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", choices=(*BACKENDS, "all"), default=None,
                     help="database backend(s) for instance/db tests (default: $EXCHANGE_TEST_DB, "
                          "else all)")


def _selected_backends(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--backend") or os.environ.get("EXCHANGE_TEST_DB") or "all"
    return list(BACKENDS) if chosen == "all" else [chosen]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run the module's or test's database "
                                       "tests on these backends only (of those selected)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that needs a database once per selected backend (of those its `backends`
    mark names, where it has one: a module where the database is incidental)."""
    if "backend" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "backend" in names:
            return                                  # the test chose its backends itself
    chosen = _selected_backends(metafunc.config)
    only = metafunc.definition.get_closest_marker("backends")
    if only is not None:
        chosen = [b for b in chosen if b in only.args]
    metafunc.parametrize("backend", chosen, indirect=True)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str | None]:
    """Admin URL of a PostgreSQL server for the tests, or None when there is none."""
    from tests.pgserver import LocalCluster, find_bindir, reap_orphans, wait_reachable

    url = os.environ.get("EXCHANGE_TEST_PG_URL")
    if url:
        yield url if wait_reachable(url) else None
        return
    if find_bindir() is None:
        yield None
        return
    reap_orphans()
    cluster = LocalCluster()
    try:
        cluster.start()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server", reported below
        cluster.stop()
        print(f"could not start a PostgreSQL cluster: {exc}")
        yield None
        return
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


@pytest.fixture(scope="session")
def pg_template(pg_server: str | None) -> Iterator[str | None]:
    """A database migrated once; every PostgreSQL test starts from a copy of it."""
    if pg_server is None:
        yield None
        return
    name = f"exchange_tpl_{uuid.uuid4().hex[:10]}"
    with _admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrated = Database(_with_database(pg_server, name))
    migrated.upgrade()
    migrated.dispose()
    try:
        yield name
    finally:
        with _admin(pg_server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend this test runs on; PostgreSQL tests skip without a server (fail in CI)."""
    name = getattr(request, "param", "sqlite")
    if name == "postgres" and request.getfixturevalue("pg_server") is None:
        why = "no PostgreSQL server (set EXCHANGE_TEST_PG_URL or install postgresql)"
        if _in_ci():
            pytest.fail(why + " and CI=true")
        pytest.skip(why)
    return name


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, pg_server: str | None,
           pg_template: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    if pg_server is None or pg_template is None:
        why = "no PostgreSQL server"
        if _in_ci():
            pytest.fail(why + " and CI=true")
        pytest.skip(why)
    name = f"exchange_t_{uuid.uuid4().hex[:12]}"
    with _admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _with_database(pg_server, name)
    finally:
        with _admin(pg_server) as conn:
            # FORCE: child processes a test started may still hold connections.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_database_url(home: Path, url: str) -> None:
    """Point the instance's config.toml at `url` ([database] url)."""
    config = home / "config.toml"
    text = config.read_text(encoding="utf-8")
    text, n = re.subn(r'(?m)^url\s*=\s*".*"$', f'url = "{url}"', text, count=1)
    if n != 1:
        raise RuntimeError(f"{config}: no [database] url line to replace")
    config.write_text(text, encoding="utf-8")


@pytest.fixture
def instance(home: Path, backend: str, request: pytest.FixtureRequest) -> Instance:
    inst = init_instance(home)
    if backend == "postgres":
        set_database_url(home, request.getfixturevalue("pg_url"))
        inst = Instance(home)
    return inst


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """argon2 at production cost takes ~0.2 s a hash; in-process tests use the same algorithm
    at a lower cost (the cost is stored in each hash, so verification is unchanged)."""
    import exchange.accounts as accounts
    from argon2 import PasswordHasher

    saved = accounts._hasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    yield
    accounts._hasher = saved


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
