"""Readiness for a load balancer: the database answers, its schema is at head, and (inside
`exchange serve`) the intake worker runs and the SFTP server listens. Liveness: the process
works (its intake worker has not died)."""
from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from exchange.store.db import Database, head_revision, trouble

if TYPE_CHECKING:
    from exchange.serve import Service

DB_TIMEOUT = 5.0          # a database that does not answer within this is not ready


@dataclass(frozen=True)
class Check:
    name: str             # database, schema, intake_worker, sftp
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Health:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "checks": [c.as_dict() for c in self.checks]}


@cache
def schema_head() -> str | None:
    """The newest migration: read from the files' text, else (a branch or merge) by alembic."""
    head = head_revision()
    if head is None:
        from alembic.script import ScriptDirectory

        from exchange.store.db import MIGRATIONS

        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    return head


def _schema_version(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def database_checks(db: Database, pool: concurrent.futures.Executor | None = None) -> list[Check]:
    """The database reachable (within DB_TIMEOUT) and its schema at the newest revision."""
    own = pool is None
    executor = pool or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="health")
    try:
        versions = executor.submit(_schema_version, db).result(timeout=DB_TIMEOUT)
    except concurrent.futures.TimeoutError:
        return [Check("database", False, f"no answer within {DB_TIMEOUT:.0f}s"),
                Check("schema", False, "unknown")]
    except Exception as exc:  # noqa: BLE001 - whatever the driver raises, the answer is "no"
        return [Check("database", False, trouble(exc).strip().splitlines()[0][:300]),
                Check("schema", False, "unknown")]
    finally:
        if own:
            executor.shutdown(wait=False)
    head = schema_head()
    at_head = versions == [head]
    detail = f"at {head}" if at_head else f"at {', '.join(versions) or 'none'}, head is {head}"
    return [Check("database", True, db.engine.dialect.name), Check("schema", at_head, detail)]


def service_checks(service: "Service") -> list[Check]:
    """The parts of a running `exchange serve`."""
    worker = service.worker.alive
    sftp = service.sftp.listening
    return [Check("intake_worker", worker, "running" if worker else "stopped"),
            Check("sftp", sftp, f"listening on {service.sftp.host}:{service.sftp.port}"
                  if sftp else "not listening")]


__all__ = ["Check", "Health", "database_checks", "service_checks", "schema_head"]
