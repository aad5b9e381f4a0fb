"""SQLite bulk inserts through the driver store exactly what SQLAlchemy Core would store."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select, text

from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import AuditEntry, Declaration


def _declaration(n: int, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"unit_code": "1001", "kind": "employee_add", "id_number": f"{n:018d}", "name": "阿卜杜·热合曼",
            "status": "pending", "fingerprint": f"fp{n}", "payload": {"名": "张三", "insurances": ["310"],
                                                                     "wage": 5000, "none": None},
            "old_values": None, "file_id": None, "row": n,
            "created_at": datetime(2026, 11, 22, 9, 30, 15), **extra}


def test_driver_executemany_stores_what_core_stores(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.upgrade()
    with db.session() as s:
        s.execute(insert(Declaration.__table__), [_declaration(1)])      # Core
        serials = Q.add_declarations(s, [_declaration(2), _declaration(3)])
        s.execute(insert(AuditEntry.__table__), [{"at": datetime(2026, 1, 2, 3, 4, 5), "actor": "a",
                                                  "action": "import", "serial": 1, "file_id": None,
                                                  "row": 1, "detail": "x"}])
        Q.add_audit(s, [{"at": datetime(2026, 1, 2, 3, 4, 5), "actor": "a", "action": "import",
                         "serial": 1, "file_id": None, "row": 1, "detail": "x"}])
    assert serials == [2, 3]
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT payload, old_values, created_at, status FROM declarations "
                                   "ORDER BY serial")).all()
        audit = conn.execute(text("SELECT at, actor, serial FROM audit ORDER BY id")).all()
    assert stored[0] == stored[1] == stored[2]
    assert audit[0] == audit[1]
    with db.session() as s:
        assert s.scalar(select(Declaration.row).where(Declaration.serial == 3)) == 3
    db.dispose()


def test_rows_leaving_out_a_defaulted_column_go_through_core(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    db.upgrade()
    row = _declaration(1)
    del row["created_at"], row["status"]                 # Core fills the Python-side defaults
    with db.session() as s:
        (serial,) = Q.add_declarations(s, [row])
        d = s.get(Declaration, serial)
        assert d is not None and d.status == "pending" and d.created_at is not None
    db.dispose()


def test_json_columns_read_back_what_was_written() -> None:
    """JSON column text comes from orjson, or json.dumps for what orjson refuses."""
    import json

    from exchange.store.db import json_text

    for value in ({"insurances": ("310", "510"), "name": "买买提·艾力", "wage": 5000, "x": None},
                  {1: "a"}, [2 ** 70], {"note": 'a"b\\c\n\u2028'}):
        expected = json.loads(json.dumps(value))
        assert json.loads(json_text(value)) == expected
