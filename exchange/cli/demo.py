"""`exchange demo`: process sample files end to end and show where the outputs are."""
from __future__ import annotations

import click

from exchange.cli import Context, pass_ctx


@click.command("demo")
@pass_ctx
def demo(ctx: Context) -> None:
    """Create sample units with master data, drop messy files into their inboxes, process
    them, and submit the employer's accepted rows (roster PDF, centre review workbook).

    Run it again to see re-sent rows counted as duplicates.

    Example: exchange demo
    """
    from rich.console import Console
    from rich.table import Table

    from exchange.demo import run_demo

    instance = ctx.instance
    results, documents = run_demo(instance, ctx.db)
    table = Table(title="Processed files")
    for col in ("unit", "file", "kind", "status", "accepted", "failed", "duplicate"):
        table.add_column(col, no_wrap=True)
    for r in results:
        c = r.counts
        table.add_row(r.unit, r.name, r.kind or "-", r.status, str(c.accepted), str(c.failed),
                      str(c.duplicate))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    # Paths are echoed plainly: rich would wrap long ones and break copy-and-paste.
    for unit in sorted({r.unit for r in results}):
        click.echo(f"receipts:        {instance.unit_outbox(unit, 'receipts')}")
        click.echo(f"error workbooks: {instance.unit_outbox(unit, 'errors')}")
    for path in documents:
        label = "photo review:" if path.parent.name == "photos" else "submitted batch:"
        click.echo(f"{label:<17}{path}")
    click.echo(f"archive:         {instance.archive}")
    click.echo(f"quarantine:      {instance.quarantine}")
    click.echo("next: exchange validate FILE --unit D1001 --json | exchange process | exchange --help")


COMMANDS = [demo]
