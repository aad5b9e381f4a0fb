"""`exchange declarations`: imported rows and where they stand (待提交 → 已提交 → 通过/不通过)."""
from __future__ import annotations

import click

from exchange.cli import Context, pass_ctx
from exchange.cli._render import emit_json, emit_table, period_bounds
from exchange.review import queries as RQ

COLUMNS = ["serial", "unit", "kind", "id_number", "name", "status", "batch_no", "created_at",
           "decided_at", "reason"]


@click.command("declarations")
@click.option("--unit", help="Only this unit.")
@click.option("--status", type=click.Choice(RQ.STATUSES), help="Only declarations in this state.")
@click.option("--kind", help="Only this kind (employee_add, wage ...).")
@click.option("--person", help="ID number or name.")
@click.option("--batch", "batch_no", help="Only this batch number.")
@click.option("--period", help="Imported in this period: YYYY, YYYYMM, YYYY-MM or YYYY-MM-DD.")
@click.option("--limit", type=int, default=200, show_default=True, help="At most this many (newest first); 0 = all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def declarations(ctx: Context, unit: str | None, status: str | None, kind: str | None,
                 person: str | None, batch_no: str | None, period: str | None, limit: int,
                 as_json: bool) -> None:
    """List declarations (业务流水号) by unit, state, kind, person, batch or period.

    Example: exchange declarations --unit 1001 --status rejected --period 202611
    """
    if kind and kind not in ctx.instance.rules.kinds:
        raise click.BadParameter(f"unknown kind {kind!r} (known: {', '.join(sorted(ctx.instance.rules.kinds))})",
                                 param_hint="--kind")
    since, until = period_bounds(period)
    with ctx.db.session() as s:
        rows = RQ.declarations(s, unit=unit, status=status, kind=kind, person=person,
                               batch=batch_no, since=since, until=until, limit=limit or None)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    emit_table("declarations", COLUMNS, [[getattr(r, c) for c in COLUMNS] for r in rows],
               right=("serial",), footer=f"{len(rows)} declaration(s)")


COMMANDS = [declarations]
