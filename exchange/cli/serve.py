"""`exchange serve`: everything on one machine (watchers, SFTP, scheduler)."""
from __future__ import annotations

import click

from exchange.cli import Context, pass_ctx


@click.command("serve")
@click.option("--port", type=click.IntRange(1, 65535), help="SFTP port (default: [sftp].port in config.toml).")
@pass_ctx
def serve(ctx: Context, port: int | None) -> None:
    """Run the service: watched inboxes, the SFTP server and scheduled jobs.

    Files dropped into inbox/<unit>/ (over SFTP or a shared folder) are processed
    within seconds; jobs/*.toml run on their schedules. Stops cleanly on SIGTERM or
    Ctrl-C, after the file being processed. Logs go to var/logs/exchange.log and stderr.

    Example: exchange serve
    """
    from exchange.serve import serve as run
    from exchange.sftp.server import limit_malloc_arenas

    limit_malloc_arenas()      # before any thread starts: each would get an arena of its own
    ctx.instance.ensure_folders()
    run(ctx.instance, sftp_port=port)


COMMANDS = [serve]
