"""`exchange init`: a fresh instance folder."""
from __future__ import annotations

from pathlib import Path

import click

from exchange.config import init_instance
from exchange.store.db import open_database


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Create an instance in DIRECTORY with the default config, rules and jobs.

    Example: exchange init /srv/exchange
    """
    instance = init_instance(directory)
    db = open_database(instance)
    db.dispose()
    click.echo(f"instance ready: {instance.home}")


COMMANDS = [init]
