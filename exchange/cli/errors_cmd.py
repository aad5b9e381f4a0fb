"""`exchange errors`: the error log (错误日志) — failed rows and rejected declarations."""
from __future__ import annotations

from pathlib import Path

import click

from exchange.cli import Context, pass_ctx
from exchange.cli._filters import Where, where_options
from exchange.cli._render import emit_json, emit_table

COLUMNS = ["time", "unit", "kind", "file", "row", "id_number", "name", "column", "code", "message"]


@click.command("errors")
@where_options("Logged")
@click.option("--code", help="An error code, or a family such as 'id' or 'review'.")
@click.option("--export", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the entries to FILE.xlsx or FILE.csv instead of printing them.")
@click.option("--limit", type=int, default=500, show_default=True, help="At most this many printed; 0 = all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def errors(ctx: Context, where: Where, code: str | None, export: Path | None, limit: int,
           as_json: bool) -> None:
    """Query the error log (错误日志) by unit, kind (业务标识), person, code and date range (起始日期 /
    截止日期), as Putian's 错误日志信息 page did; print it or export it.

    Example: exchange errors --unit C3001 --kind 居民参保 --since 2026-11-01 --until 2026-11-30 --export errors.xlsx
    """
    conditions = where.resolve(ctx.instance.rules.kinds)
    if export is not None:
        if export.suffix.lower() not in (".xlsx", ".csv"):
            raise click.BadParameter("the export file must end in .xlsx or .csv", param_hint="--export")
        from exchange.review.errorlog import export_errors

        with ctx.db.session() as s:
            n = export_errors(ctx.instance, s, export, code=code, **conditions)
        click.echo(f"wrote {n} entr{'y' if n == 1 else 'ies'} to {export}")
        return
    from exchange.review.reports import error_rows

    kinds = ctx.instance.rules.kinds
    with ctx.db.session() as s:
        found = error_rows(s, code=code, limit=limit or None, **conditions)
        rows = [[e.created_at, e.unit_code, kinds[e.kind].label if e.kind in kinds else e.kind,
                 name, e.row, e.id_number, e.name, e.column, e.code, e.message]
                for e, name in found]
    if as_json:
        emit_json([dict(zip(COLUMNS, r)) for r in rows])
        return
    emit_table("error log", COLUMNS, rows, right=("row",), footer=f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}")


COMMANDS = [errors]
