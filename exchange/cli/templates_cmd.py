"""`exchange templates`: blank and pre-filled templates for units."""
from __future__ import annotations

from pathlib import Path

import click

from exchange.cli import Context, pass_ctx, require_unit


@click.command("templates")
@click.option("--unit", help="Only this unit (default: every unit).")
@click.option("--kind", "kinds", multiple=True, help="Only this kind; repeatable.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write here instead of outbox/<unit>/templates/ (one folder per unit when --unit is not given).")
@pass_ctx
def templates(ctx: Context, unit: str | None, kinds: tuple[str, ...], out: Path | None) -> None:
    """Write each kind's template (.xlsx) for units: title naming the unit, drop-down lists, an
    instructions sheet; stop, wage and change templates pre-filled with the insured staff.

    Example: exchange templates --unit 1001 --kind employee_stop
    """
    from exchange.outputs.templates import refresh_templates

    unknown = [k for k in kinds if k not in ctx.instance.rules.kinds]
    if unknown:
        raise click.BadParameter(f"unknown kind(s) {', '.join(unknown)} (known: "
                                 f"{', '.join(sorted(ctx.instance.rules.kinds))})", param_hint="--kind")
    require_unit(ctx, unit)
    written = refresh_templates(ctx.instance, ctx.db, unit=unit, kinds=list(kinds) or None, out_dir=out)
    if not written:
        click.echo("no templates written")
    for path in written:
        click.echo(str(path))


COMMANDS = [templates]
