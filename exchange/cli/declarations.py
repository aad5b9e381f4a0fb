"""`exchange declarations`: imported rows and where they stand (待提交 → 已提交 → 通过/不通过)."""
from __future__ import annotations

from pathlib import Path

import click

from exchange.cli import Context, pass_ctx
from exchange.cli._filters import Where, status_option, where_options
from exchange.cli._render import emit_json, emit_table
from exchange.review import queries as RQ

COLUMNS = ["serial", "unit", "kind", "id_number", "name", "status", "enrolment", "batch_no",
           "created_at", "decided_at", "reason"]


@click.command("declarations")
@where_options("Imported")
@status_option()
@click.option("--enrolment", type=click.Choice(RQ.ENROLMENTS),
              help="Only resident enrolments the system judged new, renewal or transfer_in.")
@click.option("--batch", "batch_no", help="Only this batch number.")
@click.option("--export", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every matching declaration (no --limit) to FILE.xlsx or FILE.csv.")
@click.option("--limit", type=int, default=200, show_default=True, help="At most this many (newest first); 0 = all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def declarations(ctx: Context, where: Where, status: str | None, enrolment: str | None,
                 batch_no: str | None, export: Path | None, limit: int, as_json: bool) -> None:
    """List declarations (业务流水号) by unit, kind, state, person, batch and the day or month
    they were imported (申报日期), as the query pages 待审核数据查询, 申报历史查询 and
    已提交信息管理 did.

    Example: exchange declarations --unit 1001 --kind 职工增加申报 --state 审核不通过 --since 2026-11-01 --until 2026-11-30

    With --export, the answer as a workbook or CSV (导出Excel), e.g. Changchun's 新参保查询:
    exchange declarations --unit S2201 --enrolment new --since 2026-09 --until 2026-12 --export 新参保.xlsx
    """
    conditions = where.resolve(ctx.instance.rules.kinds)
    if export is not None and export.suffix.lower() not in (".xlsx", ".csv"):
        raise click.BadParameter("the export file must end in .xlsx or .csv", param_hint="--export")
    with ctx.db.session() as s:
        rows = RQ.declarations(s, status=status, batch=batch_no, enrolment=enrolment,
                               limit=None if export is not None else limit or None, **conditions)
    if export is not None:
        from exchange.review.exports import export_declarations

        n = export_declarations(ctx.instance.rules.kinds, rows, export)
        click.echo(f"wrote {n} declaration(s) to {export}")
        return
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    emit_table("declarations", COLUMNS, [[getattr(r, c) for c in COLUMNS] for r in rows],
               right=("serial",), footer=f"{len(rows)} declaration(s)")


COMMANDS = [declarations]
