"""`exchange report`: a summary per unit, and the PDF rosters and reports written on demand."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

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


# ---- issue 17: money ---------------------------------------------------------------------------
def _as_of(month: str | None) -> date:
    """The last day of --month (YYYYMM), or today for the current month or none given."""
    import calendar

    today = date.today()
    m = _months(month)[-1] if month else f"{today:%Y%m}"
    if m == f"{today:%Y%m}":
        return today
    year, mon = int(m[:4]), int(m[4:])
    return date(year, mon, calendar.monthrange(year, mon)[1])


def _table_or_json(data: dict, as_json: bool, title: str, columns: list[str], key: str,
                   footer: str) -> None:
    """The JSON object, or its `key` list as a table (every column but the first right-aligned)."""
    if as_json:
        emit_json(data)
        return
    emit_table(title, columns, [[x[c] if x[c] is not None else "" for c in columns] for x in data[key]],
               right=tuple(columns[1:]), footer=footer)


money_json = click.option("--json", "as_json", is_flag=True,
                          help="One JSON object for programs (amounts as strings).")


@report.command("dues")
@click.option("--unit", required=True, help="The unit.")
@click.option("--month", help="YYYYMM, current (default), previous: the month whose dues are shown.")
@money_json
@pass_ctx
def dues_cmd(ctx: Context, unit: str, month: str | None, as_json: bool) -> None:
    """Amounts due (应缴信息) of a unit: per month and insurance, per person with paid-to month
    and arrears (loaded and computed), and per class for schools.

    Example: exchange report dues --unit 1001 --month 202611 --json
    """
    from exchange.amounts.register import class_payments, unit_dues

    with ctx.db.session() as s:
        dues = unit_dues(ctx.instance.rules, s, unit, _as_of(month))
    data = dues.as_dict()
    data["classes"] = [{"class_code": c.class_code, "insured": c.insured, "due": f"{c.due:.2f}",
                        "paid": f"{c.paid:.2f}", "unpaid": f"{c.unpaid:.2f}",
                        "arrears_loaded": f"{c.arrears_loaded:.2f}"} for c in class_payments(dues)]
    _table_or_json(data, as_json, f"dues {unit} {dues.month}",
                   ["period", "insurance", "count", "person", "unit", "total"], "lines",
                   "due {due}, arrears loaded {arrears_loaded}, computed {arrears_computed} "
                   "({persons} person(s))".format(**data["totals"]))


@report.command("registration")
@click.option("--unit", required=True, help="The unit.")
@click.option("--period", help="YYYY, YYYYMM, YYYY-MM or YYYY-MM-DD (default: this month; this "
                               "year with --by-month).")
@click.option("--by-month", is_flag=True,
              help="New, renewal, transfer-in and suspension counts month by month instead.")
@money_json
@pass_ctx
def registration_cmd(ctx: Context, unit: str, period: str | None, by_month: bool, as_json: bool) -> None:
    """登记情况: new, renewed, transferred-in and suspended residents (or employees added and
    stopped) declared in the period, the unit's insured count and the amount due; with
    --by-month, the resident counts of each month of the period.

    Example: exchange report registration --unit C3001 --period 2026 --by-month
    """
    from exchange.amounts.register import MONTH_ITEMS, registration, registration_months

    label = period or (f"{date.today():%Y}" if by_month else f"{date.today():%Y%m}")
    since, until = period_bounds(label)
    with ctx.db.session() as s:
        if by_month:
            months = registration_months(s, unit, since, until)
            data: dict[str, Any] = {
                "unit": unit, "period": label,
                "months": [{"month": m, **counts} for m, counts in months],
                "total": {item: sum(c[item] for _, c in months) for item in MONTH_ITEMS}}
            _table_or_json(data, as_json, f"registration {unit} {label} by month",
                           ["month", *MONTH_ITEMS], "months",
                           ", ".join(f"{item} {n}" for item, n in data["total"].items()))
            return
        reg = registration(ctx.instance.rules, s, unit, since, until, label)
    data = reg.as_dict()
    _table_or_json(data, as_json, f"registration {unit} {label}", ["item", "count", "due"], "lines",
                   f"insured {reg.insured}, due {data['due']}")


COMMANDS = [report]
