"""`exchange`: a thin layer over the library, one module per command group."""
from __future__ import annotations

import errno
import gc
import logging
import sys
from pathlib import Path
from typing import Any

import click

from exchange.config import COLLECTOR_THRESHOLDS, Instance
from exchange.errors import ConfigError, ExchangeError


class Context:
    """What every command gets: the instance, and its database opened on first use."""

    def __init__(self, home: str | None, command: str | None = None) -> None:
        self._home = home
        self._command = command
        self._instance: Instance | None = None
        self._db = None

    @property
    def instance(self) -> Instance:
        if self._instance is None:
            instance = Instance.locate(self._home)
            if not instance.rules_dir.is_dir():
                # Not an instance: `demo` makes one (a first try in an empty folder); any other
                # command stops here, before it creates a folder or a database in the wrong place.
                if self._command != "demo":
                    raise ConfigError(f"{instance.home} is not an instance (no rules folder): "
                                      f"run `exchange init {instance.home}` first")
                from exchange.config import init_instance

                instance = init_instance(instance.home)
                click.echo(f"instance created: {instance.home}", err=True)
            self._instance = instance
        return self._instance

    @property
    def db(self):  # type: ignore[no-untyped-def]
        if self._db is None:
            from exchange.store.db import open_database

            self.instance.ensure_folders()
            self._db = open_database(self.instance)
        return self._db

    def close(self) -> None:
        if self._instance is not None and "readers" in self._instance.__dict__:
            self._instance.readers.close()     # the reading workers' memory, before the books
        if self._db is not None:
            if self._instance is not None:     # units the command changed: their status books
                from exchange.view.refresh import flush

                flush(self._instance, self._db)
            self._db.dispose()


pass_ctx = click.make_pass_decorator(Context)


def require_unit(ctx: Context, code: str | None) -> None:
    """An operator's --unit names a registered unit (NotFound: `error: …`, exit 1); a typo
    otherwise read as "nothing to do" and exited 0."""
    if code is None:
        return
    from exchange.errors import NotFound
    from exchange.store.models import Unit

    with ctx.db.session() as s:
        if s.get(Unit, code) is None:
            raise NotFound(f"unknown unit {code!r} (see `exchange units list`)")


# Command -> the module of this package whose COMMANDS define it. A module is imported only
# when one of its commands is looked up: `exchange validate` need not load the PDF, scheduler,
# SFTP and watcher libraries that other commands use.
LAZY_COMMANDS = {
    "batches": "batches",
    "declarations": "declarations",
    "demo": "demo",
    "errors": "errors_cmd",
    "init": "instance_cmd",
    "jobs": "jobs",
    "master": "master",
    "photos": "photos",
    "process": "files",
    "report": "report",
    "serve": "serve",
    "status": "status",
    "templates": "templates_cmd",
    "units": "units",
    "validate": "files",
}


class LazyGroup(click.Group):
    """A group whose commands are imported from their modules on first lookup (click's
    documented lazy-loading pattern)."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, cmd_name: str) -> None:
        import importlib

        module = importlib.import_module(f"{__name__}.{self.lazy_commands[cmd_name]}")
        for command in getattr(module, "COMMANDS", ()):
            if command.name in self.lazy_commands:
                self.add_command(command)
        if cmd_name not in self.commands:
            raise RuntimeError(f"{module.__name__} defines no command {cmd_name!r}")


@click.group(cls=LazyGroup, lazy_commands=LAZY_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = Context(home, ctx.invoked_subcommand)
    ctx.call_on_close(ctx.obj.close)


# The file system refusing writes: a read-only mount, permissions, a full disk or quota.
UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT})


def machine_trouble(exc: BaseException) -> str | None:
    """What to tell the operator of an error that is the machine's, not the program's: the
    instance's folders cannot be written, the database is unwritable, busy or away."""
    from exchange.store.db import transient, trouble

    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in UNWRITABLE:
            return f"cannot write {seen.filename or 'the instance'}: {seen.strerror}"
        seen = seen.__cause__ or seen.__context__
    if transient(exc):
        return f"database unavailable: {trouble(exc)}"
    return None


def main() -> None:
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)
    except ExchangeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        why = machine_trouble(exc)
        if why is None:
            raise
        # The machine's trouble, not a bug: one line (was a traceback of 130). Nothing was
        # refused; waiting files stay in the inboxes, a file in hand in var/processing.
        click.echo(f"error: {why}; nothing was refused, files wait until it is fixed", err=True)
        sys.exit(1)
    finally:
        # The process ends now. Its last full collection would walk every object of the
        # imported libraries: 0.05-0.1 s of a short command. Frozen objects are still freed by
        # reference counting as modules are torn down; only cycles among them are left to the
        # OS, and Python does not promise to finalize objects alive at exit anyway.
        gc.freeze()


__all__ = ["cli", "main", "Context", "pass_ctx", "require_unit", "Path"]
