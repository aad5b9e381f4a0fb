"""`exchange jobs`: the scheduled jobs of jobs/*.toml, listed or run by hand."""
from __future__ import annotations

from datetime import datetime

import click

from exchange.cli import Context, pass_ctx
from exchange.errors import NotFound


@click.group("jobs")
def jobs() -> None:
    """Scheduled jobs (jobs/*.toml)."""


@jobs.command("list")
@pass_ctx
def list_jobs(ctx: Context) -> None:
    """List the jobs with their schedule and last run.

    Example: exchange jobs list
    """
    from exchange.schedule.scheduler import gone
    from exchange.schedule.spec import load_jobs
    from exchange.store.queries import last_job_runs

    specs = load_jobs(ctx.instance)
    now = datetime.now()
    with ctx.db.session() as s:
        runs = last_job_runs(s)
    if not specs:
        click.echo("no jobs in jobs/")
    for spec in specs:
        run = runs.get(spec.id)
        state = "enabled" if spec.enabled else "disabled"
        if run is None:
            seen = "never run"
        else:
            # Unfinished and its process gone: a service closes it as abandoned within a minute.
            outcome = run.outcome or ("abandoned: its process ended" if gone(run, now) else "running")
            seen = f"last {run.started_at:%Y-%m-%d %H:%M:%S}: {outcome}"
        click.echo(f"{spec.id}\t{spec.when}\t{state}\t{seen}")


@jobs.command("run")
@click.argument("name")
@pass_ctx
def run_job(ctx: Context, name: str) -> None:
    """Run one job now, with the options of its jobs/NAME.toml.

    Example: exchange jobs run rescan
    """
    from exchange.schedule.registry import all_jobs
    from exchange.schedule.scheduler import run_now
    from exchange.schedule.spec import find_job, load_jobs

    specs = load_jobs(ctx.instance)
    spec = find_job(specs, name)
    if spec is None and name not in all_jobs():
        known = sorted({s.id for s in specs} | set(all_jobs()))
        raise NotFound(f"no job {name!r} (known: {', '.join(known)})")
    outcome = run_now(ctx.instance, ctx.db, spec, name) or "taken by another run"
    click.echo(f"{spec.id if spec else name}: {outcome}")
    if outcome.startswith("failed"):
        raise SystemExit(1)


COMMANDS = [jobs]
