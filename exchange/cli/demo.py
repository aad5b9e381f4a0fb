"""`exchange demo`: process sample files end to end and show where the outputs are."""
from __future__ import annotations

import click

from exchange.cli import Context, pass_ctx
from exchange.config import Instance


@click.command("demo")
@click.option("--serve", "then_serve", is_flag=True,
              help="Keep the service running afterwards (as `exchange serve`), to log in over SFTP.")
@click.option("--port", type=int, help="With --serve: the SFTP port (default: [sftp].port).")
@pass_ctx
def demo(ctx: Context, then_serve: bool, port: int | None) -> None:
    """Create sample units with master data, drop messy files into their inboxes, process
    them, and submit the employer's accepted rows (roster PDF, centre review workbook).
    Prints how to log in to each sample unit over SFTP (WinSCP, FileZilla, sftp).

    Run it again to see re-sent rows counted as duplicates.

    Example: exchange demo --serve
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
        click.echo(f"templates:       {instance.unit_outbox(unit, 'templates')}")
    for path in documents:
        label = "photo review:" if path.parent.name == "photos" else "submitted batch:"
        click.echo(f"{label:<17}{path}")
    click.echo(f"archive:         {instance.archive}")
    click.echo(f"quarantine:      {instance.quarantine}")
    click.echo("next: exchange validate FILE --unit D1001 --json | exchange process | exchange --help")
    _print_logins(instance, port)
    if then_serve:
        from exchange.serve import serve

        click.echo("serving until Ctrl-C (or SIGTERM) ...")
        serve(instance, sftp_port=port)
    else:
        click.echo("start the server with: exchange serve   (or run: exchange demo --serve)")


def _print_logins(instance: Instance, port: int | None) -> None:
    """How to try the demo's units with an SFTP client: host, port, login, password."""
    from exchange.demo import demo_logins

    sftp = instance.settings.sftp
    # A server listening on every address is reached from this machine at the loopback one.
    host = "127.0.0.1" if sftp.host in ("0.0.0.0", "::", "") else sftp.host
    click.echo(f"SFTP logins (WinSCP/FileZilla: protocol SFTP; or sftp -P {port or sftp.port} LOGIN@{host}):")
    for login, unit, password, who in demo_logins():
        click.echo(f"  host {host}  port {port or sftp.port}  login {login:<16} password {password:<11}"
                   f"  ({who}, unit {unit})")


COMMANDS = [demo]
