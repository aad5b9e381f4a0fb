"""`exchange report`: a summary per unit, and the PDF rosters and reports written on demand."""
from __future__ import annotations

from datetime import date, datetime

import click

from exchange.cli import Context, pass_ctx
from exchange.cli._render import emit_json, emit_table, period_bounds
from exchange.review import queries as RQ
from exchange.errors import ConfigError

SUMMARY_COLUMNS = ["unit", "name", "pending", "submitted", "approved", "rejected", "withdrawn",
                   "batches", "files", "errors"]


@click.group("report", invoke_without_command=True)
@click.pass_context
def report(ctx: click.Context) -> None:
    """Reports: a summary table per unit, or PDF rosters and reports written now.

    Without a subcommand, prints the summary of every unit.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(summary_cmd)


@report.command("summary")
@click.option("--unit", help="Only this unit.")
@click.option("--period", help="Only what happened in YYYY, YYYYMM, YYYY-MM or YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def summary_cmd(ctx: Context, unit: str | None = None, period: str | None = None,
                as_json: bool = False) -> None:
    """Declarations by state, batches, files and error-log entries per unit.

    Example: exchange report summary --period 202611
    """
    since, until = period_bounds(period)
    with ctx.db.session() as s:
        rows = RQ.summary(s, unit=unit, since=since, until=until)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    emit_table("summary" + (f" {period}" if period else ""), SUMMARY_COLUMNS,
               [[getattr(r, c) for c in SUMMARY_COLUMNS] for r in rows],
               right=tuple(SUMMARY_COLUMNS[2:]), footer=f"{len(rows)} unit(s)")


def _months(month: str | None) -> list[str]:
    from exchange.review.jobs import resolve_month

    try:
        return resolve_month(month or "current", date.today())
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from exc


@report.command("rosters")
@click.option("--month", help="YYYYMM, current (default), previous.")
@click.option("--unit", help="Only this unit.")
@pass_ctx
def rosters_cmd(ctx: Context, month: str | None, unit: str | None) -> None:
    """Write the month's 增加/减少/缴费基数 申报花名册 (PDF) into outbox/<unit>/reports/.

    Example: exchange report rosters --month 202611 --unit 1001
    """
    from exchange.review.reports import monthly_rosters

    written = []
    for m in _months(month):
        written += monthly_rosters(ctx.instance, ctx.db, m, unit=unit)
    if not written:
        click.echo("no approved declarations in that month")
    for w in written:
        click.echo(f"{w.path}  ({w.rows} row(s), {w.pages} page(s))")


@report.command("unit")
@click.option("--unit", help="Only this unit (default: every unit).")
@click.option("--month", help="The error log's month: YYYYMM, current (default), previous.")
@pass_ctx
def unit_cmd(ctx: Context, unit: str | None, month: str | None) -> None:
    """Write 参保花名册, 当前缴费基数花名册, 应缴信息 and 错误日志 into outbox/<unit>/reports/.

    Example: exchange report unit --unit 1001
    """
    from exchange.review.reports import unit_reports

    written = unit_reports(ctx.instance, ctx.db, unit=unit, month=_months(month)[-1])
    for w in written:
        click.echo(f"{w.path}" + (f"  ({w.rows} row(s), {w.pages} page(s))" if w.pages else ""))


@report.command("digest")
@click.option("--day", help="YYYY-MM-DD (default: today).")
@pass_ctx
def digest_cmd(ctx: Context, day: str | None) -> None:
    """Write the centre's daily digest (PDF) into outbox/_centre/reports/.

    Example: exchange report digest --day 2026-11-22
    """
    from exchange.review.reports import centre_digest

    try:
        when = datetime.strptime(day, "%Y-%m-%d").date() if day else date.today()
    except ValueError as exc:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--day") from exc
    w = centre_digest(ctx.instance, ctx.db, when)
    click.echo(f"{w.path}  ({w.rows} unit(s), {w.pages} page(s))")


COMMANDS = [report]
