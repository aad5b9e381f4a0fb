"""`exchange status`: the health checks, what waits where, locked accounts and the last run of
every job, gathered once as plain data for the text and JSON renderers.

The database and schema are checked from here; the intake worker and the SFTP listener live in
the `exchange serve` process, so they come from its /healthz/ready (this instance's [monitoring]
host/port), or are reported unknown when monitoring is off.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from exchange.config import Instance
from exchange.monitor.health import Check, database_checks
from exchange.monitor.state import Waiting, in_processing, oldest, waiting
from exchange.schedule.spec import load_jobs
from exchange.store import queries as Q
from exchange.store.db import Database
from exchange.store.models import Account

SERVICE_CHECKS = ("intake_worker", "sftp")
HTTP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Status:
    checks: tuple[Check, ...]
    service: str                     # where the service's checks came from, or why they did not
    waiting: tuple[Waiting, ...]
    processing_files: int            # in var/processing (every node)
    claims: tuple[Q.Unplaced, ...]   # files rows not yet placed, with their node
    locked: tuple[tuple[str, str, datetime], ...]    # login, unit, locked until
    jobs: tuple[dict[str, Any], ...]

    @property
    def ready(self) -> bool:
        """Every check that could be made passed."""
        return all(c.ok for c in self.checks if c.detail != "unknown")

    def as_dict(self) -> dict[str, Any]:
        first = oldest(self.waiting)
        return {
            "ready": self.ready,
            "checks": [c.as_dict() for c in self.checks],
            "service": self.service,
            "waiting": {"total": sum(w.count for w in self.waiting),
                        "oldest": first.as_dict() if first else None,
                        "folders": [w.as_dict() for w in self.waiting]},
            "processing": {"files": self.processing_files,
                           "claims": [{"id": c.file_id, "unit": c.unit, "file": c.name,
                                       "status": c.status, "node": c.node,
                                       "received_at": c.received_at,
                                       "lease_until": c.lease_until} for c in self.claims]},
            "locked_accounts": [{"login": login, "unit": unit, "until": until}
                                for login, unit, until in self.locked],
            "jobs": list(self.jobs),
        }


def service_checks_over_http(instance: Instance) -> tuple[list[Check], str]:
    """The running service's own checks from its /healthz/ready."""
    monitoring = instance.settings.monitoring
    if not monitoring.port:
        return ([Check(name, False, "unknown") for name in SERVICE_CHECKS],
                "unknown: [monitoring].port is not set")
    host = f"[{monitoring.host}]" if ":" in monitoring.host else monitoring.host
    url = f"http://{host}:{monitoring.port}/healthz/ready"
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:      # 503: not ready, the body still says why
        body = exc.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return ([Check(name, False, "service not reachable") for name in SERVICE_CHECKS],
                f"{url}: {reason}")
    try:
        found = {c["name"]: c for c in json.loads(body)["checks"]}
    except (ValueError, KeyError, TypeError):
        return ([Check(name, False, "unknown") for name in SERVICE_CHECKS],
                f"{url}: not a health answer")
    return ([Check(name, bool(found[name]["ok"]), str(found[name]["detail"])) if name in found
             else Check(name, False, "unknown") for name in SERVICE_CHECKS], url)


def gather(instance: Instance, db: Database) -> Status:
    checks = database_checks(db)
    service, source = service_checks_over_http(instance)
    claims: list[Q.Unplaced] = []
    locked: list[tuple[str, str, datetime]] = []
    jobs: list[dict[str, Any]] = []
    specs = load_jobs(instance)
    if checks[0].ok:
        with db.session() as s:
            claims = Q.unplaced_files(s)
            now = datetime.now()
            locked = [(a.login, a.unit_code, a.locked_until) for a in s.scalars(
                select(Account).where(Account.locked_until > now).order_by(Account.login))
                if a.locked_until is not None]
            runs = Q.last_job_runs(s)
        for spec in specs:
            run = runs.get(spec.id)
            jobs.append({"job": spec.id, "when": spec.when, "enabled": spec.enabled,
                         "last_started": run.started_at if run else None,
                         "last_finished": run.finished_at if run else None,
                         "last_node": run.node if run else None,
                         "last_outcome": (run.outcome or "running") if run else None})
    return Status(tuple(checks + service), source, tuple(waiting(instance)),
                  in_processing(instance), tuple(claims), tuple(locked), tuple(jobs))


__all__ = ["Status", "gather"]
