"""Engine, sessions and schema upgrades for one instance; advisory locks shared by nodes.

SQLite (one node) or PostgreSQL through psycopg 3 (several nodes), chosen by the URL in
config.toml [database]: `sqlite:///var/exchange.db` or `postgresql+psycopg://user:pw@host/db`.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import sqlite3
import sys
import zlib
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^(down_)?revision\s*(?::[^=]*)?=\s*(?:['"]([^'"]+)['"]|(None)\s*$)""", re.M)


@cache
def head_revision() -> str | None:
    """The newest migration's revision id, read from the text of the migration files.

    Importing alembic and its script machinery costs about 0.1 s, so a process that finds its
    database at this revision never loads them. None when the files do not spell one plain
    chain (a merge, a branch, an assignment this reading does not follow): alembic decides.
    """
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = {bool(m[1]): m[2] for m in _REVISION.finditer(path.read_text(encoding="utf-8"))}
        if set(found) != {False, True} or found[False] is None or found[False] in revisions:
            return None
        revisions[found[False]] = found[True]
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


# How long a statement waits for a lock before giving up: SQLite's one write lock ("database is
# locked"; a master load of 1,000,000 persons holds it about 25 s, a 500,000-row import about as
# long), PostgreSQL's row and table locks (lock_timeout; a hung node's transaction would hold
# them for ever). The pipeline then judges the file again later (pipeline.DB_RETRY_WAITS).
BUSY_SECONDS = 30.0


# A full file system or a used-up quota: never the file's fault (issue 21 item 11).
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it was raised from or wraps (xlsxwriter's FileCreateError
    carries the OSError as its argument), says the disk or the quota is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        wrapped = next((a for a in exc.args if isinstance(a, BaseException)), None)
        exc = exc.__cause__ or wrapped or exc.__context__
    return False


def transient(exc: BaseException) -> bool:
    """An error that is not the data's fault: the database locked past the busy timeout, its
    connection lost, the disk full (the database's or the instance's folders'). Worth trying
    again later; never a reason to refuse a file."""
    if disk_full(exc):
        return True
    if isinstance(exc, DBAPIError):
        return isinstance(exc, OperationalError) or bool(exc.connection_invalidated)
    # The drivers' own, from the bulk paths that use them directly (store/bulk.py: COPY).
    psycopg = sys.modules.get("psycopg")
    return isinstance(exc, sqlite3.OperationalError) or (
        psycopg is not None and isinstance(exc, psycopg.OperationalError))


def trouble(exc: BaseException) -> str:
    """What the driver said of a transient() error (SQLAlchemy keeps it as `orig`)."""
    return str(getattr(exc, "orig", None) or exc)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    # 4 MiB of page cache (default 2 MiB): inserting 95,000 declarations took 1.5 s with 2 MiB
    # and 1.0 s with 16 MiB. 16 MiB cost ~12 MB more at a 500,000-row import's peak for 3% of
    # its store time (9.8 s against 10.2 s), and the peak is what issue 19 bounds.
    cur.execute("PRAGMA cache_size=-4096")
    cur.close()


# The database files made unwritable while a process has them open (issue 21 item 12): SQLite
# keeps the WAL index (the -shm file) mapped in memory and writes it there, even to read, and a
# write into the mapping of a file made immutable (chattr +i) ends the process with SIGBUS, which
# no handler can turn into an error. So before a new connection's first statement and before
# every statement, the files are looked at (three opens and an ioctl, ~20 us), and a statement on
# files that cannot be written is refused with an error the callers already treat as "not the
# file's fault" (transient()): the service logs why, keeps the files where they are, and tries
# again later. The connection is not closed (closing writes the index too): Database.dispose()
# leaves it to the process's exit while the files stay unwritable. Files made unwritable in the
# middle of a statement can still end the process: the check narrows the window, no more.


def unwritable(path: Path) -> str | None:
    """Why SQLite could not safely write `path` (None: it can, or there is no such file).

    Never opens the file: closing any descriptor of an SQLite database file releases every POSIX
    lock the process holds on it (fcntl semantics), and SQLite's locks are what make one node's
    commits visible to the others. access(W_OK) answers EPERM for an immutable file on Linux and
    EROFS on a read-only file system; an append-only file cannot be opened for SQLite's writes
    at all (an error, not SIGBUS)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return None
    except PermissionError:
        return "not readable"
    if not os.access(path, os.W_OK):      # immutable (chattr +i), read-only file system, mode
        return "not writable"
    return None


class WriteCheck:
    """Refuses (sqlite3.OperationalError, transient) to use database files that cannot be
    written; see above."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    def problem(self) -> str | None:
        for name in self.names:
            why = unwritable(name)
            if why:
                return f"database file {name} is {why}"
        if not os.access(self.path.parent, os.W_OK):
            return f"database folder {self.path.parent} is not writable"
        return None

    def __call__(self, *_args: Any, **_kwargs: Any) -> None:
        why = self.problem()
        if why:
            raise sqlite3.OperationalError(f"{why}: not used until it can be written again")


def _never_close(engine: Engine) -> None:
    """Keep the pooled DBAPI connections of `engine` alive to the end of the process (one
    reference more than anything will give back), so that nothing calls sqlite3_close on them."""
    import ctypes

    for record in list(getattr(engine.pool, "_pool").queue):
        conn = getattr(record, "dbapi_connection", None)
        if conn is not None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))


def _postgres_settings(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    with dbapi_conn.cursor() as cur:
        cur.execute(f"SET lock_timeout = {int(BUSY_SECONDS * 1000)}")
    dbapi_conn.commit()


def json_text(value: Any) -> str:
    """The text of a JSON column: orjson, five times as fast as json.dumps on a declaration's
    payload (100,000 of them in a large file); json.dumps for what orjson refuses (integers
    beyond 64 bits). Both read back alike."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:                  # orjson.JSONEncodeError
        return json.dumps(value)


def json_value(text: str | bytes) -> Any:
    """A JSON column's value: orjson (three times as fast as json.loads: a unit's 100,000
    payloads in its status workbook) for the compact text orjson wrote (json_text); json.loads
    for any other text, such as what json.dumps wrote for an integer beyond 64 bits, which
    orjson would read as a float. json.dumps always puts a space after its separators."""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8")
    if text == "null":                 # a declaration's old values, mostly: None stored as JSON
        return None
    if text.startswith("{") and '": ' not in text and ", " not in text:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class Database:
    """The engine and a session factory; `upgrade()` brings the schema to the newest revision."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS},
                                                json_serializer=json_text,
                                                json_deserializer=json_value)
            self.write_check: WriteCheck | None = None
            if path and path != ":memory:":
                # Before the pragmas of a new connection (its first look at the files) and
                # before every statement; never at checkout, whose errors close the connection.
                self.write_check = WriteCheck(Path(path).absolute())
                event.listen(self.engine, "connect", self.write_check)
                event.listen(self.engine, "before_cursor_execute", self.write_check)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.write_check = None
            self.engine = create_engine(url, pool_pre_ping=True, json_serializer=json_text,
                                        json_deserializer=json_value)
            event.listen(self.engine, "connect", _postgres_settings)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def locks(self) -> "Locks":
        """A new holder of advisory locks; release it (or use it as a context manager)."""
        return Locks(self)

    def alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def at_head(self) -> bool:
        """True when the schema is at the newest revision: one query, no alembic."""
        head = head_revision()
        if head is None:
            return False
        try:
            with self.engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                return list(versions) == [head]
        except DBAPIError:          # no alembic_version yet: a new database
            return False

    def upgrade(self) -> None:
        if self.at_head():
            return
        from alembic import command

        with self.engine.begin() as conn:
            # Processes starting together: one migrates, the others wait and find it done.
            if self.is_postgres:
                conn.execute(text("SET LOCAL lock_timeout = 0"))    # however long it takes
                conn.execute(text("SELECT pg_advisory_xact_lock(:space, 0)"),
                             {"space": MIGRATION_LOCK})
            elif self.is_sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")     # the write lock, DDL included
            cfg = self.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error."""
        with self.sessions() as s:
            with s.begin():
                yield s

    def dispose(self) -> None:
        why = self.write_check.problem() if self.write_check is not None else None
        if why:
            # Closing a connection writes SQLite's WAL index: SIGBUS on files made immutable,
            # whether dispose() closes it or the interpreter's exit frees it. The pooled
            # connections are kept from ever being freed; the kernel releases them at exit.
            logging.getLogger("exchange.store").error(
                "unit=- file=-: %s: its connections are left for the process's exit", why)
            _never_close(self.engine)
            return
        self.engine.dispose()


def open_database(instance) -> Database:  # type: ignore[no-untyped-def]
    """Open the instance's database and bring its schema up to date."""
    db = Database(instance.database_url)
    db.upgrade()
    return db


# Lock spaces: the first half of PostgreSQL's two-int advisory lock key.
UNIT_LOCK = 1        # a unit whose files one node is judging (they must be judged in order)
FILE_LOCK = 2        # a claimed file a live node is working on
JOB_LOCK = 3         # a scheduled job a node is running
MIGRATION_LOCK = 4   # the schema, while one node upgrades it


def lock_key(value: str | int) -> int:
    """A stable signed 32-bit key for a name (crc32) or a number; collisions only serialise."""
    n = zlib.crc32(value.encode("utf-8")) if isinstance(value, str) else value & 0xFFFFFFFF
    return n - (1 << 32) if n >= (1 << 31) else n


class Locks:
    """Advisory locks held on one dedicated PostgreSQL connection, outside any transaction.

    A lock lasts until `release()` or until the connection ends, so the locks of a node that
    dies (SIGKILL, power loss) are gone the moment the server notices the closed connection:
    no lease has to run out before another node may finish its work. On SQLite, one node and
    one writer, every lock is granted.
    """

    def __init__(self, db: Database) -> None:
        self._conn: Connection | None = None
        if db.is_postgres:
            self._conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def try_lock(self, space: int, value: str | int) -> bool:
        """Take a lock without waiting; False when another holder has it."""
        if self._conn is None:
            return True
        return bool(self._conn.scalar(text("SELECT pg_try_advisory_lock(:space, :key)"),
                                      {"space": space, "key": lock_key(value)}))

    def unlock(self, space: int, value: str | int) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"),
                               {"space": space, "key": lock_key(value)})

    def release(self) -> None:
        """Drop every lock and give the connection back."""
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
        except Exception:  # noqa: BLE001 - a broken connection has released its locks already
            conn.invalidate()
        finally:
            conn.close()

    def __enter__(self) -> "Locks":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
