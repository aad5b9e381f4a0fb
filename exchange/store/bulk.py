"""Bulk writes for large loads: the driver's executemany on SQLite, COPY on PostgreSQL.

Rows are tuples in the order of the column names given, so a million rows cost no dicts. The
writes run in the caller's session and transaction; values are stored as SQLAlchemy Core would
store them (the columns' own bind processors on SQLite, their text form in COPY).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import JSON, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def bind_columns(processors: Sequence[Callable[[Any], Any] | None],
                 columns: list[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows made of `columns`, `processors[i]` applied to column i: the driver's parameters.

    The rows of a large load share many values (one timestamp a chunk, a few paid-month maps):
    where a column's values are mostly the same few objects, its processor runs once per
    object (a value's id is stable while the rows hold it).
    """
    columns = list(columns)
    if not columns or not columns[0]:
        return []
    for i, proc in enumerate(processors):
        if proc is None:
            continue
        distinct = {id(v): v for v in columns[i]}
        if len(distinct) * 2 > len(columns[i]):
            columns[i] = list(map(proc, columns[i]))
        else:
            done = {k: proc(v) for k, v in distinct.items()}
            columns[i] = list(map(done.__getitem__, map(id, columns[i])))
    return list(zip(*columns))


def driver_processors(dialect: Any, table: Table, names: Sequence[str]
                      ) -> list[Callable[[Any], Any] | None]:
    """Each column's bind processor for the DBAPI (on SQLite: JSON and DateTime to text, ...)."""
    return [table.c[k].type._cached_bind_processor(dialect) for k in names]


def _copy_processors(dialect: Any, table: Table, names: Sequence[str]
                     ) -> list[Callable[[Any], Any] | None]:
    """What COPY needs besides psycopg's own text forms: JSON columns as their JSON text.

    None in a JSON column is stored as JSON `null`, as Core stores it (unless none_as_null).
    """
    dumps = getattr(dialect, "_json_serializer", None) or json.dumps
    out: list[Callable[[Any], Any] | None] = []
    for k in names:
        kind = table.c[k].type
        if isinstance(kind, JSON):
            out.append((lambda v: None if v is None else dumps(v)) if kind.none_as_null else dumps)
        else:
            out.append(None)
    return out


def _quoted(dialect: Any, table: Table, names: Iterable[str]) -> tuple[str, list[str]]:
    quote = dialect.identifier_preparer.quote
    return quote(table.name), [quote(k) for k in names]


def _copy(cursor: Any, target: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            write(row)


@contextmanager
def _driver_cursor(s: Session) -> Iterator[Any]:
    """A cursor of the session's own connection, inside its transaction. The driver's errors
    are raised as SQLAlchemy raises them from its own statements (a unique index's refusal as
    IntegrityError, a lost server as OperationalError): callers catch those."""
    connection = s.connection()
    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cur:  # type: ignore[union-attr]
            yield cur
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(None, None, exc, connection.dialect.loaded_dbapi.Error,
                                  connection_invalidated=driver.closed,  # type: ignore[union-attr]
                                  dialect=connection.dialect) from exc


def insert_rows(s: Session, table: Table, names: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """INSERT rows (values in `names` order): COPY on PostgreSQL, else one executemany.

    Columns with Python-side defaults must be given: none is applied here.
    """
    if rows:
        insert_columns(s, table, names, list(zip(*rows)))


def insert_columns(s: Session, table: Table, names: Sequence[str],
                   columns: list[Sequence[Any]]) -> None:
    """insert_rows() for rows given as columns: the values of names[0], of names[1], ...

    Objects the session holds unwritten are written first, as before any statement of its own
    (a row may refer to one of them)."""
    if not columns or not columns[0]:
        return
    settle(s)
    s.flush()
    dialect = s.get_bind().dialect
    target, quoted = _quoted(dialect, table, names)
    if dialect.name == "postgresql":
        with _driver_cursor(s) as cur:
            _copy(cur, target, quoted, bind_columns(_copy_processors(dialect, table, names), columns))
        return
    sql = f"INSERT INTO {target} ({', '.join(quoted)}) VALUES ({', '.join('?' * len(names))})"
    s.connection().exec_driver_sql(sql, bind_columns(driver_processors(dialect, table, names),
                                                     columns))


def insert_keyed(s: Session, table: Table, key: str, names: Sequence[str],
                 columns: list[Sequence[Any]]) -> list[int]:
    """insert_columns() into a table whose integer `key` the database numbers (a serial
    column on PostgreSQL, SQLite's rowid): the keys the rows got, in the order of the rows.

    PostgreSQL: the keys are drawn from the column's sequence first, one nextval() a row in
    one statement, and copied with the rows. A sequence never gives a value twice, whatever
    other nodes draw at the same moment, and gives one session increasing values: sorted,
    they follow the rows. SQLite: one writer at a time holds the database from its first
    INSERT to its commit, and a new rowid is the largest plus one (no AUTOINCREMENT), so the
    rows hold the last len(rows) rowids; last_insert_rowid() names the last.
    """
    count = len(columns[0]) if columns else 0
    if not count:
        return []
    settle(s)
    if s.get_bind().dialect.name == "postgresql":
        # One array, the sequence named once (per row, pg_get_serial_sequence costs 4 times
        # the rest: 0.8 s for 95,000 serials against 0.2 s).
        keys = sorted(s.execute(text(
            "SELECT array_agg(nextval((SELECT pg_get_serial_sequence(:table, :key))::regclass)) "
            "FROM generate_series(1, :count)"), {"table": table.name, "key": key, "count": count}
        ).scalar_one())
        insert_columns(s, table, [key, *names], [keys, *columns])
        return keys
    insert_columns(s, table, names, columns)
    last = s.connection().exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    return list(range(last - count + 1, last + 1))


def update_rows(s: Session, table: Table, key: str, names: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE table SET <names> WHERE key = <the row's last value>, for rows given as the
    values of `names` followed by the key's; keys unique among the rows.

    PostgreSQL: the rows are copied into a temporary table, then one UPDATE ... FROM joins it
    (inside overlapped(), not awaited). Elsewhere: one executemany of the single-row UPDATE.
    `onupdate` defaults are not applied.
    """
    if not rows:
        return
    settle(s)
    dialect = s.get_bind().dialect
    target, columns = _quoted(dialect, table, names)
    quoted_key = dialect.identifier_preparer.quote(key)
    if dialect.name != "postgresql":
        sql = (f"UPDATE {target} SET {', '.join(f'{c} = ?' for c in columns)} "
               f"WHERE {quoted_key} = ?")
        procs = driver_processors(dialect, table, [*names, key])
        s.connection().exec_driver_sql(sql, bind_columns(procs, list(zip(*rows))))
        return
    temp = dialect.identifier_preparer.quote(f"bulk_{table.name}")
    every = [*columns, quoted_key]
    with _driver_cursor(s) as cur:
        # Column types from the table, no constraints: a row may leave NOT NULL columns out.
        cur.execute(f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS "
                    f"SELECT {', '.join(every)} FROM {target} WITH NO DATA")
        _copy(cur, temp, every, bind_columns(_copy_processors(dialect, table, [*names, key]),
                                             list(zip(*rows))))
        if s.info.get(_OVERLAP):
            # Sent, not awaited: settle() collects the results (COPY cannot run in a pipeline).
            s.info[_PENDING] = pipeline = cur.connection.pipeline()
            pipeline.__enter__()
        # No ANALYZE: guessed from its few pages, the temporary table looks small and the
        # planner probes the target's key index; told its true size, it may scan the whole
        # target (a hash join) for a few thousand rows.
        cur.execute(f"UPDATE {target} AS t SET {', '.join(f'{c} = n.{c}' for c in columns)} "
                    f"FROM {temp} AS n WHERE t.{quoted_key} = n.{quoted_key}")
        cur.execute(f"DROP TABLE {temp}")


# Session.info keys: inside overlapped(); the psycopg pipeline of an UPDATE sent, not awaited.
_OVERLAP, _PENDING = "bulk.overlap", "bulk.pending"


@contextmanager
def overlapped(s: Session) -> Iterator[None]:
    """Inside the block, update_rows() on PostgreSQL returns once its UPDATE is sent: the server
    runs it while the caller reads and checks its next rows. The next bulk write, settle() and
    the block's end wait for it, and raise its error. On SQLite nothing changes.

    Between a bulk write and settle(), the session must not run other statements.
    """
    s.info[_OVERLAP] = True
    try:
        yield
    except BaseException as exc:
        pipeline = s.info.pop(_PENDING, None)
        if pipeline is not None:
            pipeline.__exit__(type(exc), exc, exc.__traceback__)
        raise
    else:
        settle(s)
    finally:
        s.info.pop(_OVERLAP, None)


def settle(s: Session) -> None:
    """Wait for an UPDATE that overlapped() left running; raise its error."""
    pipeline = s.info.pop(_PENDING, None)
    if pipeline is not None:
        pipeline.__exit__(None, None, None)
