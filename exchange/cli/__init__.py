"""`exchange`: a thin layer over the library, one module per command group."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from exchange.config import Instance
from exchange.errors import ConfigError, ExchangeError


class Context:
    """What every command gets: the instance, and its database opened on first use."""

    def __init__(self, home: str | None) -> None:
        self._home = home
        self._instance: Instance | None = None
        self._db = None

    @property
    def instance(self) -> Instance:
        if self._instance is None:
            self._instance = Instance.locate(self._home)
        return self._instance

    @property
    def db(self):  # type: ignore[no-untyped-def]
        if self._db is None:
            from exchange.store.db import open_database

            self.instance.ensure_folders()
            self._db = open_database(self.instance)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), envvar="EXCHANGE_HOME",
              help="Instance folder (default: $EXCHANGE_HOME, else the current folder).")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.pass_context
def cli(ctx: click.Context, home: str | None, verbose: bool) -> None:
    """报盘交换 · Declaration Exchange.

    Units drop Excel templates into inbox/<unit>/; receipts, error workbooks and
    rosters come back in outbox/<unit>/.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ctx.obj = Context(home)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)
    except ExchangeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _register() -> None:
    """Every module of this package that defines COMMANDS adds them to the group."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register()
__all__ = ["cli", "main", "Context", "pass_ctx", "Path"]
