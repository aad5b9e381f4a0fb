"""`exchange demo`: process sample files end to end and show where the outputs are."""
from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from exchange.cli import Context, pass_ctx
from exchange.demo import run_demo


@click.command("demo")
@pass_ctx
def demo(ctx: Context) -> None:
    """Create a sample unit with master data, drop messy files into its inbox, process them.

    Run it again to see re-sent rows counted as duplicates.

    Example: exchange demo
    """
    instance = ctx.instance
    results = run_demo(instance, ctx.db)
    table = Table(title="Processed files")
    for col in ("unit", "file", "kind", "status", "accepted", "failed", "duplicate"):
        table.add_column(col, no_wrap=True)
    for r in results:
        c = r.counts
        table.add_row(r.unit, r.name, r.kind or "-", r.status, str(c.accepted), str(c.failed),
                      str(c.duplicate))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    units = sorted({r.unit for r in results})
    for unit in units:
        console.print(f"receipts:        {instance.unit_outbox(unit, 'receipts')}")
        console.print(f"error workbooks: {instance.unit_outbox(unit, 'errors')}")
    console.print(f"archive:         {instance.archive}")
    console.print(f"quarantine:      {instance.quarantine}")
    console.print("next: exchange validate FILE --unit D1001 --json | exchange process | exchange --help")


COMMANDS = [demo]
