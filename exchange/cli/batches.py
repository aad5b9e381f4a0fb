"""`exchange batches`: numbered submissions (批次号) — list, show, submit now."""
from __future__ import annotations

import click

from exchange.cli import Context, pass_ctx, require_unit
from exchange.cli._filters import Where, where_options
from exchange.cli._render import emit_json, emit_made, emit_table, records
from exchange.review import queries as RQ

BATCH_COLUMNS = ["batch_no", "unit", "status", "count", "approved", "rejected", "waiting",
                 "created_at", "reviewed_at"]
NO_CONDITIONS = Where(None, None, None, None, None, None)   # `exchange batches` alone


@click.group("batches", invoke_without_command=True)
@click.pass_context
def batches(ctx: click.Context) -> None:
    """Submission batches (批次): list them, show one, or submit pending declarations now.

    Without a subcommand, lists the latest batches.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_batches)


@batches.command("list")
@where_options("Submitted")
@click.option("--status", "--state", "status", type=click.Choice(["submitted", "reviewed"]),
              help="Only batches in this state (submitted: waiting for review; reviewed: decided).")
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def list_batches(ctx: Context, where: Where | None = None, status: str | None = None,
                 limit: int = 100, as_json: bool = False) -> None:
    """List batches with their review progress, newest first: by unit, state, the day or month
    they were submitted, and (like the pages' 申报类型 and 证件号码) the kinds or the person
    they hold.

    Example: exchange batches list --unit 1001 --kind employee_add --since 2026-11 --until 2026-12
    """
    conditions = (where or NO_CONDITIONS).resolve(ctx.instance.rules.kinds)
    with ctx.db.session() as s:
        rows = RQ.batches(s, status=status, limit=limit, **conditions)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    emit_table("batches", BATCH_COLUMNS, [[getattr(r, c) for c in BATCH_COLUMNS] for r in rows],
               right=("count", "approved", "rejected", "waiting"),
               footer=f"{len(rows)} batch(es)")


@batches.command("show")
@click.argument("batch_no")
@click.option("--json", "as_json", is_flag=True, help="One JSON object for programs.")
@pass_ctx
def show(ctx: Context, batch_no: str, as_json: bool) -> None:
    """Show one batch and its declarations with their review state.

    Example: exchange batches show 1001-20261122-001
    """
    with ctx.db.session() as s:
        batch = RQ.batch_by_no(s, batch_no)
        head = {"batch_no": batch.batch_no, "unit": batch.unit_code, "status": batch.status,
                "count": batch.count, "created_at": batch.created_at,
                "reviewed_at": batch.reviewed_at}
        rows = RQ.declarations(s, batch=batch_no, limit=None)
    if as_json:
        emit_json({**head, "declarations": [r.as_dict() for r in rows]})
        return
    cols = ["serial", "kind", "id_number", "name", "status", "decided_at", "reviewer", "reason"]
    emit_table(f"batch {batch.batch_no} ({batch.unit_code}, {batch.status})", cols,
               [[getattr(r, c) for c in cols] for r in sorted(rows, key=lambda r: r.serial)],
               right=("serial",), footer=f"{len(rows)} declaration(s)")


@batches.command("submit")
@click.option("--unit", help="Only this unit's pending declarations.")
@click.option("--documents", "rewrite", metavar="BATCH_NO",
              help="Instead of submitting, rewrite this batch's roster and review workbook.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def submit(ctx: Context, unit: str | None, rewrite: str | None, as_json: bool) -> None:
    """Submit pending declarations now: one numbered batch per unit, with its roster PDF in
    outbox/<unit>/rosters/ and its review workbook in outbox/_centre/batches/.

    Example: exchange batches submit --unit 1001
    """
    from exchange.review.submit import ensure_documents, submit_pending, write_batch_documents

    if rewrite:
        with ctx.db.session() as s:
            batch_id = RQ.batch_by_no(s, rewrite).id
        for path in write_batch_documents(ctx.instance, ctx.db, batch_id):
            click.echo(f"wrote {path}")
        return
    require_unit(ctx, unit)
    done = submit_pending(ctx.instance, ctx.db, unit=unit, actor="cli")
    emit_made(done, ensure_documents(ctx.instance, ctx.db), as_json,
              "nothing pending" + (f" for unit {unit}" if unit else ""),
              lambda b: f"{b.batch_no}: unit {b.unit_code}, {b.count} declaration(s)")


COMMANDS = [batches]
__all__ = ["batches", "records"]
