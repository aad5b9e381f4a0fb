"""`exchange status`: health, what waits where, locked accounts and the jobs' last runs."""
from __future__ import annotations

import sys
import time
from datetime import datetime

import click

from exchange.cli import Context, pass_ctx


def _age(since: datetime | float | None) -> str:
    if since is None:
        return "-"
    ts = since.timestamp() if isinstance(since, datetime) else since
    seconds = max(0, int(time.time() - ts))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _when(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value else "-"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Health checks, files waiting and in processing, locked accounts, last job runs.

    The database and its schema are checked from here; the intake worker and the SFTP
    listener are read from the running service's /healthz/ready ([monitoring] host/port).
    Exit status 0 when every check that could be made passed, else 1.

    Example: exchange status --json
    """
    from exchange.monitor.state import oldest
    from exchange.monitor.status import gather
    from exchange.store.db import Database

    # Not ctx.db: that would upgrade the schema, and status reports whether it is at head.
    db = Database(ctx.instance.database_url)
    try:
        report = gather(ctx.instance, db)
    finally:
        db.dispose()
    if as_json:
        from exchange.cli._render import emit_json

        emit_json(report.as_dict())
        sys.exit(0 if report.ready else 1)
    echo = click.echo
    echo(f"ready: {'yes' if report.ready else 'no'}")
    for check in report.checks:
        state = "ok" if check.ok else ("?" if check.detail == "unknown" else "FAIL")
        echo(f"  {check.name:<14} {state:<5} {check.detail}")
    echo(f"  (service checks: {report.service})")
    total = sum(w.count for w in report.waiting)
    first = oldest(report.waiting)
    echo(f"waiting: {total} file(s) in {len(report.waiting)} folder(s)"
         + (f"; oldest {first.folder}/{first.oldest_name}, {_age(first.oldest_at)}" if first else ""))
    for w in report.waiting:
        echo(f"  {w.folder:<24} {w.count:>6}  oldest {w.oldest_name} ({_age(w.oldest_at)})")
    echo(f"processing: {report.processing_files} file(s) in var/processing, "
         f"{len(report.claims)} unplaced in the database")
    for c in report.claims:
        echo(f"  {c.unit}/{c.name}  id {c.file_id}  {c.status}  node {c.node or '-'}  "
             f"since {_when(c.received_at)}")
    echo(f"locked accounts: {len(report.locked) or 'none'}")
    for login, unit, until in report.locked:
        echo(f"  {login} (unit {unit}) until {_when(until)}")
    echo("jobs:")
    for job in report.jobs:
        last = (f"last {_when(job['last_started'])} on {job['last_node'] or '-'}: "
                f"{job['last_outcome']}" if job["last_started"] else "never run")
        state = "" if job["enabled"] else " (disabled)"
        echo(f"  {job['job']:<20} {job['when']}{state}  {last}")
    sys.exit(0 if report.ready else 1)


COMMANDS = [status]
