"""Imports by the drivers' bulk paths (executemany of tuples on SQLite, COPY on PostgreSQL):
the same declarations, audit rows and row errors as SQLAlchemy Core's statements stored, in the
same order; serials distinct and in row order while other nodes import; a chunk that fails
rolls back with the file's whole transaction."""
from __future__ import annotations

import json
import re
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, Text, cast, func, insert, select, text

import exchange.pipeline as pipeline
from exchange.config import Instance
from exchange.intake.scan import process_inbox
from exchange.store import bulk
from exchange.store import queries as Q
from exchange.store.db import Database, json_text
from exchange.store.models import AuditEntry, Declaration, RowError
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

TITLE = "职工批量新增申报填写表"


def _chunked(instance: Instance, rows: int) -> Instance:
    """The instance with `rows` rows judged and imported per chunk."""
    config = instance.home / "config.toml"
    body, n = re.subn(r"(?m)^chunk_rows\s*=\s*\d+", f"chunk_rows = {rows}",
                      config.read_text(encoding="utf-8"))
    assert n == 1
    config.write_text(body, encoding="utf-8")
    return Instance(instance.home)


def _rows() -> list[list[Any]]:
    """Chunks of 3: good rows with awkward text, a chunk of bad rows only (nothing to insert),
    the same person twice, and a last chunk of one row."""
    good = [add_row(make_id("19800101", "101"), "阿卜杜·热合曼", insurances="310,510",
                    address='崇川区"工农路"\\5号, 2单元'),
            add_row(make_id("19800102", "102"), "张三", sex="女", phone="0513-85012345"),
            add_row(make_id("19800103", "103"), "李四", wage=8888, insurances="职工基本医疗保险")]
    bad = [add_row(make_id("19800104", "104")[:17] + "0", "王五"),       # check character
           add_row(make_id("19800105", "105"), "赵 六"),                 # a space in the name
           add_row(make_id("19800106", "106"), "孙七", wage=99999)]      # wage out of bounds
    mixed = [add_row(make_id("19800107", "107"), "周八", education="博士后"),
             add_row(make_id("19800102", "102"), "张三"),                # the same person again
             add_row(make_id("19800108", "108"), "吴九", month=202612)]
    return good + bad + mixed + [add_row(make_id("19800109", "109"), "郑十")]


def _dump(db: Database, file_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """A file's declarations (by serial), import audit rows and row errors (by id), without
    ids and times; the audit rows name their declaration by its row in the file."""
    d, a, e = (t.__table__ for t in (Declaration, AuditEntry, RowError))
    with db.session() as s:
        declarations = s.execute(select(
            d.c.serial, d.c.row, d.c.unit_code, d.c.kind, d.c.id_number, d.c.name, d.c.status,
            d.c.fingerprint, cast(d.c.payload, Text), cast(d.c.old_values, Text), d.c.batch_id,
            d.c.decided_at).where(d.c.file_id == file_id).order_by(d.c.serial)).all()
        row_of = {r[0]: r[1] for r in declarations}
        audit = s.execute(select(a.c.serial, a.c.actor, a.c.action, a.c.row, a.c.detail).where(
            a.c.file_id == file_id, a.c.action == "import").order_by(a.c.id)).all()
        errors = s.execute(select(e.c.unit_code, e.c.kind, e.c.row, e.c.id_number, e.c.name,
                                  e.c.column, e.c.code, e.c.message).where(
            e.c.file_id == file_id).order_by(e.c.id)).all()
    return {"declarations": [tuple(r) for r in declarations],
            "serial order": [r[1] for r in declarations],
            "audit": [(row_of[r[0]], *r[1:]) for r in audit],
            "row errors": [tuple(r) for r in errors]}


def _core_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store as it was before the bulk paths: Core's INSERT of dicts, serials from an
    ordered RETURNING."""
    def add_declarations(s: Any, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        return [r[0] for r in s.execute(insert(Declaration).returning(
            Declaration.serial, sort_by_parameter_order=True), rows)]

    def insert_many(s: Any, table: Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            s.execute(insert(table), rows)

    monkeypatch.setattr(Q, "add_declarations", add_declarations)
    monkeypatch.setattr(Q, "insert_many", insert_many)


def _process(instance: Instance, db: Database, name: str) -> int:
    make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS, _rows(), title=TITLE)
    [result] = process_inbox(instance, db)
    assert result.counts.as_dict() == {"total": 10, "accepted": 5, "failed": 5, "duplicate": 0}
    assert result.file_id is not None
    return result.file_id


def test_bulk_imports_store_what_core_stored(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    small = _chunked(instance, 3)
    with monkeypatch.context() as m:
        _core_store(m)
        before = _dump(db, _process(small, db, "core.xlsx"))
    with db.session() as s:        # the same persons may be declared again, as serial 1 again
        for table in (AuditEntry, RowError, Declaration):
            s.execute(table.__table__.delete())
        if db.is_postgres:
            s.execute(text("SELECT setval(pg_get_serial_sequence('declarations', 'serial'), 1, false)"))
    after = _dump(db, _process(small, db, "bulk.xlsx"))
    assert after == before
    assert after["serial order"] == [4, 5, 6, 12, 13]        # serials follow the rows
    assert [r[0] for r in after["declarations"]] == [1, 2, 3, 4, 5]
    assert [r[6] for r in after["row errors"]] == [
        "id.checksum", "name.invalid", "wage.out_of_bounds", "code.unknown", "duplicate.in_file",
        "person.pending"]     # row 11 repeats row 5, imported by the first chunk
    for payload in (r[8] for r in after["declarations"]):
        # The text Core wrote for the payload with lists (tuples are written as arrays too).
        assert json_text(json.loads(payload)) == payload
    first = json.loads(after["declarations"][0][8])
    assert first["insurances"] == ["310", "510"] and "\\5号, 2单元" in first["address"]


def test_an_empty_and_a_one_row_insert(db):  # type: ignore[no-untyped-def]
    table = Declaration.__table__
    at = datetime(2026, 12, 5, 9, 0)
    with db.session() as s:
        assert Q.add_declarations(s, []) == []
        assert bulk.insert_keyed(s, table, "serial", ["unit_code"], []) == []
        Q.add_row_errors(s, [])
        (serial,) = Q.add_declarations(s, [_declaration(1, at)])
        assert s.scalar(select(Declaration.row).where(Declaration.serial == serial)) == 1
        assert Q.add_declarations(s, [_declaration(2, at)]) == [serial + 1]


def test_a_bulk_insert_follows_objects_the_session_has_not_written(db):  # type: ignore[no-untyped-def]
    """A row error naming a file the session was given but has not written yet (the foreign
    key is checked on both databases): the file's row goes first."""
    from exchange.store.models import FileRecord

    with db.session() as s:
        s.add(FileRecord(id=77, unit_code="1001", name="a.xlsx"))
        Q.add_row_errors(s, [{"file_id": 77, "unit_code": "1001", "kind": None, "row": None,
                              "id_number": None, "name": None, "column": None,
                              "code": "file.empty", "message": "空", "created_at": datetime.now()}])
    with db.session() as s:
        assert s.scalars(select(RowError.file_id)).all() == [77]


def _declaration(n: int, at: datetime) -> dict[str, Any]:
    return {"unit_code": "1001", "kind": "employee_add", "id_number": None, "name": "甲",
            "status": "pending", "fingerprint": f"fp{n}", "payload": {"n": n, "t": ("a", "b")},
            "old_values": None, "file_id": None, "row": n, "created_at": at}


postgres_only = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


@postgres_only
def test_two_nodes_importing_at_once_get_distinct_serials_in_row_order(db):  # type: ignore[no-untyped-def]
    """Each node draws its serials from the sequence while the other does: nothing is shared,
    and each node's rows get increasing serials in their order."""
    rounds, size = 6, 700
    start = threading.Barrier(2)
    got: dict[str, list[list[int]]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def node(name: str) -> None:
        own = Database(db.url)
        try:
            for r in range(rounds):
                rows = [_declaration(n, datetime(2026, 12, 5)) | {"kind": name, "row": n}
                        for n in range(r * size, (r + 1) * size)]
                start.wait(30)
                with own.session() as s:
                    got[name].append(Q.add_declarations(s, rows))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
            start.abort()
        finally:
            own.dispose()

    threads = [threading.Thread(target=node, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    every = [serial for chunks in got.values() for chunk in chunks for serial in chunk]
    assert len(every) == len(set(every)) == 2 * rounds * size
    with db.session() as s:
        stored = {serial: (kind, row) for serial, kind, row in s.execute(
            select(Declaration.serial, Declaration.kind, Declaration.row))}
    for name, chunks in got.items():
        serials = [serial for chunk in chunks for serial in chunk]
        assert serials == sorted(serials)
        assert [stored[x] for x in serials] == [(name, n) for n in range(rounds * size)]


def test_a_chunk_failing_in_the_bulk_insert_rolls_the_file_back(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    """The second chunk's declarations are written, then the disk is full (SQLite) or the
    server ends the connection (PostgreSQL): nothing of the first attempt stays, the file is
    judged again and imported once."""
    monkeypatch.setattr(pipeline, "DB_RETRY_WAITS", (0.01,))
    small = _chunked(instance, 3)
    real = bulk.insert_columns
    calls: list[str] = []

    def fail_second_declarations(s: Any, table: Table, names: Any, columns: Any) -> None:
        calls.append(table.name)
        if table.name == "declarations" and calls.count("declarations") == 2:
            if s.get_bind().dialect.name == "postgresql":
                s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            else:
                real(s, table, names, columns)
                raise sqlite3.OperationalError("database or disk is full")
        real(s, table, names, columns)

    monkeypatch.setattr(bulk, "insert_columns", fail_second_declarations)
    file_id = _process(small, db, "a.xlsx")
    # Chunks 1 and 3 of the first attempt (chunk 2 has nothing to insert), then 1, 3 and 4.
    assert calls.count("declarations") == 2 + 3
    dump = _dump(db, file_id)
    assert len(dump["declarations"]) == len(dump["audit"]) == 5
    assert len(dump["row errors"]) == 6
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 5
        assert s.scalar(select(func.count()).select_from(RowError)) == 6
