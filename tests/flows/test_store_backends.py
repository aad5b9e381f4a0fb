"""The store behaves the same on SQLite and PostgreSQL: one set of migrations, the rules the
database itself enforces, bulk inserts that keep row order, JSON columns."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

from exchange.store import queries as Q
from exchange.store.db import Database, head_revision
from exchange.store.models import Base, Declaration


def _row(n: int, id_number: str | None, status: str = "pending") -> dict:  # type: ignore[type-arg]
    return {"unit_code": "1001", "kind": "employee_add", "id_number": id_number, "name": "甲",
            "status": status, "fingerprint": f"fp{n}", "payload": {"n": n}, "old_values": None,
            "file_id": None, "row": n, "created_at": datetime.now().replace(microsecond=0)}


def test_config_url_picks_the_backend(instance, db, backend):  # type: ignore[no-untyped-def]
    assert instance.database_url.startswith("postgresql+psycopg://" if backend == "postgres"
                                            else "sqlite:///")
    assert db.is_postgres == (backend == "postgres") and db.is_sqlite == (backend == "sqlite")


def test_migrated_schema_matches_the_models(db):  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_migrations_go_down_to_nothing_and_up_again(db):  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.upgrade()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_the_head_read_from_the_migration_files_is_alembics_head(db):  # type: ignore[no-untyped-def]
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    assert db.at_head()


def test_a_database_one_revision_behind_is_not_at_head_and_is_upgraded(db):  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    assert not db.at_head()
    db.upgrade()
    assert db.at_head()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_one_open_declaration_per_person_is_enforced_by_the_database(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        Q.add_declarations(s, [_row(1, "320602198001012471"), _row(2, None), _row(3, None)])
    with pytest.raises(IntegrityError):
        with db.session() as s:
            Q.add_declarations(s, [_row(4, "320602198001012471", "submitted")])
    with db.session() as s:                      # reviewed: the person may declare again
        s.execute(update(Declaration).values(status="approved"))
        Q.add_declarations(s, [_row(5, "320602198001012471")])
        assert s.scalar(select(Declaration.row).where(Declaration.status == "pending")) == 5


def test_bulk_insert_returns_serials_in_the_order_of_the_rows(db):  # type: ignore[no-untyped-def]
    rows = [_row(n, f"{n:018d}") for n in range(2500)]         # several insertmanyvalues batches
    with db.session() as s:
        serials = Q.add_declarations(s, rows)
        stored = {serial: row for serial, row in s.execute(select(Declaration.serial, Declaration.row))}
    assert len(set(serials)) == 2500
    assert [stored[serial] for serial in serials] == list(range(2500))


def test_json_columns_round_trip(db):  # type: ignore[no-untyped-def]
    payload = {"insurances": ["310", "510"], "名": "阿卜杜·热合曼", "wage": 5000, "none": None,
               "nested": {"a": [1, 2.5, True]}}
    row = {**_row(1, None), "payload": payload, "old_values": {"电话": "0513-1"}}
    with db.session() as s:
        (serial,) = Q.add_declarations(s, [row])
    fresh = Database(db.url)
    try:
        with fresh.session() as s:
            d = s.get(Declaration, serial)
            assert d is not None and d.payload == payload and d.old_values == {"电话": "0513-1"}
    finally:
        fresh.dispose()


def test_nodes_starting_together_migrate_an_empty_database_once(db):  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    nodes = [Database(db.url) for _ in range(3)]
    start = threading.Barrier(len(nodes))
    errors: list[BaseException] = []

    def upgrade(node: Database) -> None:
        start.wait()
        try:
            node.upgrade()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for n in nodes:
        n.dispose()
    assert errors == []
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
