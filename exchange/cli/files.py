"""`exchange validate` and `exchange process`: judging and importing files."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exchange.cli import Context, pass_ctx, require_unit
from exchange.config import CENTRE
from exchange.messages import STATUS_LABELS
from exchange.text import log_safe

if TYPE_CHECKING:
    from exchange.config import Instance
    from exchange.results import FileResult


@click.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unit", required=True, help="The unit the file would come from.")
@click.option("--json", "as_json", is_flag=True, help="Print the machine contract (DESIGN §9).")
@pass_ctx
def validate(ctx: Context, file: Path, unit: str, as_json: bool) -> None:
    """Check FILE against the rules and current records without changing anything.

    Exit status is 0 whenever the file could be judged, whatever was found.

    Example: exchange validate psnAdd.xlsx --unit 1001 --json
    """
    from exchange.outputs.receipt import skipped_fields
    from exchange.pipeline import validate_file

    ctx.instance.readers.start()        # the reading worker starts while the database opens
    with tempfile.TemporaryDirectory(prefix="validate-") as tmp:
        v = validate_file(ctx.instance, ctx.db, file, unit, Path(tmp))
        r = v.result
        if as_json:
            out = sys.stdout
            head = {"kind": r.kind, "status": r.status,
                    "file_errors": [r.file_error.as_dict()] if r.file_error else [],
                    "counts": r.counts.as_dict(), **skipped_fields(r)}
            body = json.dumps(head, ensure_ascii=False)
            out.write(body[:-1] + ', "rows": [')
            for i, line in enumerate(v.lines()):       # each row already as its JSON text
                out.write(("" if i == 0 else ", ") + line)
            out.write("]}\n")
            return
        click.echo(f"{file.name}: {r.kind or '-'} {r.status} ({STATUS_LABELS[r.status]})")
        if r.file_error:
            click.echo(f"  {r.file_error.code}: {r.file_error.message}")
        c = r.counts
        click.echo(f"  rows {c.total}: accepted {c.accepted}, failed {c.failed}, duplicate {c.duplicate}")
        for said in (*r.warnings, *r.notes):          # of the whole file, as the receipt says them
            click.echo(f"  {said['code']} {said['message']}")
        for row in v.rows():
            for e in row["errors"]:
                click.echo(f"  row {row['row']}: {e['code']} {e['message']}")


def _line(instance: Instance, r: FileResult) -> str:
    c = r.counts
    # A sub-account's file is answered in its own outbox (the sender, decided at the claim).
    outbox = r.sender.outbox if r.sender else instance.unit_outbox(r.unit)
    where = outbox / "receipts" / (r.receipt_name or "")
    # A name with a line break, controls or undecodable bytes stays one printable line.
    return log_safe(f"{r.unit}/{r.name}: {r.status} kind={r.kind or '-'} accepted={c.accepted} "
                    f"failed={c.failed} duplicate={c.duplicate} receipt={where}")


def _centre_line(instance: Instance, receipt: dict) -> str:
    return (f"{CENTRE}/{receipt['file']}: {receipt['status']} kind={receipt.get('kind') or '-'}"
            f" receipt={instance.unit_outbox(CENTRE, 'receipts')}")


@click.command("process")
@click.option("--unit", help="Only this unit's inboxes (its sub-account folders included).")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def process(ctx: Context, unit: str | None, files: tuple[Path, ...]) -> None:
    """Process waiting files: every inbox `serve` takes (inbox/<unit>/, the sub-account
    folders inbox/<unit>/@<login>/ and inbox/_centre/), or FILES copied into --unit's inbox
    first.

    Files left half-done by a stopped service are finished first.

    Example: exchange process            (every inbox)
             exchange process --unit 1001 psnAdd.xlsx
    """
    from exchange.errors import DatabaseBusy
    from exchange.intake.scan import process_waiting, recover
    from exchange.intake.watch import recover_centre

    instance = ctx.instance
    instance.rules          # broken rules stop here (config error), not blame every file
    db = ctx.db
    if files:
        if not unit:
            raise click.UsageError("FILES need --unit")
        if unit != CENTRE:
            require_unit(ctx, unit)       # a typo made inbox/<typo>/, and its files waited there
        inbox = instance.unit_inbox(unit)
        inbox.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, inbox / f.name)
    try:
        recovered = recover(instance, db, force=True)
        for r in recovered:
            click.echo(_line(instance, r))
        # The centre's files a stopped or failed run left in var/processing (a disk full while
        # a review workbook was handled): the message below promises they are judged again.
        recovered_centre = recover_centre(instance, db, force=True,
                                          on_receipt=lambda r: click.echo(_centre_line(instance, r)))
        done = process_waiting(instance, db, unit=unit,
                               on_result=lambda r: click.echo(_line(instance, r)))
    except DatabaseBusy as exc:
        raise click.ClickException(
            f"database busy or unreachable, or disk full ({exc}); nothing was refused: the file "
            "being worked on stays in var/processing and is judged again by the next "
            "`exchange process` or the service") from exc
    for receipt in done.centre:
        click.echo(_centre_line(instance, receipt))
    if not (recovered or recovered_centre or done.files or done.centre):
        click.echo("no files waiting")


COMMANDS = [validate, process]
