"""`exchange master load`: units and persons from the centre."""
from __future__ import annotations

from pathlib import Path

import click

from exchange.cli import Context, pass_ctx
from exchange.messages import file_message


@click.group("master")
def master() -> None:
    """Master data (units, persons on file)."""


@master.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def load(ctx: Context, file: Path) -> None:
    """Upsert units or persons from a workbook or CSV, by unit code / ID number.

    Example: exchange master load persons.xlsx
    """
    from exchange.master import load_master

    report = load_master(ctx.instance, ctx.db, file)
    if report.file_error:
        code, params = report.file_error
        raise click.ClickException(f"{code}: {file_message(code, params)}")
    click.echo(f"{report.kind}: loaded {report.loaded} rows ({report.created} new, "
               f"{report.updated} updated), refused {report.refused_count}")
    if report.footer_rows:
        click.echo(f"  rows {', '.join(map(str, report.footer_rows[:20]))} read past: totals, "
                   f"signatures or notes ({len(report.footer_rows)})")
    for row, findings in report.refused[:200]:
        for f in findings:
            click.echo(f"  row {row}: {f.code} {f.message}")
    if report.refused_count > 200:
        click.echo(f"  ... {report.refused_count - 200} more refused rows")


COMMANDS = [master]
