"""Output of the query commands: a rich table for people, one JSON document for programs."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Callable, Sequence

import click

if TYPE_CHECKING:
    from rich.console import Console


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1, default=_plain))


def console() -> Console:
    from rich.console import Console

    out = sys.stdout          # CliRunner's while a test invokes a command
    width = None if out.isatty() else 160
    return Console(file=out, width=width, soft_wrap=False, highlight=False)


def emit_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
               *, right: Sequence[str] = (), footer: str | None = None) -> None:
    """A readable table; `right` names numeric columns."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(_plain(v)) for v in row])
    c = console()
    c.print(table)
    if footer:
        c.print(footer)


def emit_made(made: Sequence[Any], repaired: Sequence[Any], as_json: bool, nothing: str,
              line: Callable[[Any], str]) -> None:
    """What a command that makes numbered documents made (each with its `documents`), and the
    missing documents it wrote again; `nothing` when it made none."""
    if as_json:
        emit_json([m.as_dict() for m in made])
        return
    if not made:
        click.echo(nothing)
    for m in made:
        click.echo(line(m))
        for path in m.documents:
            click.echo(f"  {path}")
    for path in repaired:
        click.echo(f"rewrote missing {path}")


def records(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in zip(columns, row)} for row in rows]


__all__ = ["emit_json", "emit_table", "emit_made", "records", "console", "sys"]


def period_bounds(period: str | None) -> tuple[Any, Any]:
    """(since, until) of a --period option (YYYY, YYYYMM, YYYY-MM, YYYY-MM-DD), or (None, None)."""
    from exchange.review import queries as RQ

    if not period:
        return None, None
    try:
        return RQ.parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
