"""`exchange photos`: uploaded ID photos and the centre's photo review — list, send, decide."""
from __future__ import annotations

import click
from sqlalchemy import select

from exchange.cli import Context, pass_ctx
from exchange.cli._render import emit_json, emit_made, emit_table, records
from exchange.store.models import Photo, PhotoReview

PHOTO_COLUMNS = ["id", "unit", "id_number", "status", "review_no", "uploaded_at", "decided_at",
                 "reviewer", "reason", "source_name"]
STATUSES = ["pending", "approved", "rejected", "superseded"]


@click.group("photos", invoke_without_command=True)
@click.pass_context
def photos(ctx: click.Context) -> None:
    """ID photos units uploaded (证件照) and their review by the centre.

    Without a subcommand, lists the photos waiting for review.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_photos, status="pending")


@photos.command("list")
@click.option("--unit", help="Only this unit's photos.")
@click.option("--status", type=click.Choice(STATUSES), help="Only photos in this state.")
@click.option("--id-number", help="Only this person's photos.")
@click.option("--limit", type=int, default=200, show_default=True, help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def list_photos(ctx: Context, unit: str | None = None, status: str | None = None,
                id_number: str | None = None, limit: int = 200, as_json: bool = False) -> None:
    """List photos with their review state, newest first.

    Example: exchange photos list --unit S2201 --status rejected
    """
    q = (select(Photo, PhotoReview.review_no).outerjoin(PhotoReview, PhotoReview.id == Photo.review_id)
         .order_by(Photo.id.desc()).limit(limit))
    if unit:
        q = q.where(Photo.unit_code == unit)
    if status:
        q = q.where(Photo.status == status)
    if id_number:
        q = q.where(Photo.id_number == id_number.strip().upper())
    with ctx.db.session() as s:
        rows = [[p.id, p.unit_code, p.id_number, p.status, review_no, p.created_at, p.decided_at,
                 p.reviewer, p.reason, p.source_name] for p, review_no in s.execute(q)]
    if as_json:
        emit_json(records(PHOTO_COLUMNS, rows))
        return
    emit_table("photos", PHOTO_COLUMNS, rows, right=("id",), footer=f"{len(rows)} photo(s)")


@photos.command("send")
@click.option("--unit", help="Only this unit's waiting photos.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array for programs.")
@pass_ctx
def send(ctx: Context, unit: str | None, as_json: bool) -> None:
    """Put waiting photos on review workbooks now (outbox/_centre/photos/), as the nightly
    photo_review job does; also rewrites a missing workbook of an unreviewed review.

    Example: exchange photos send --unit S2201
    """
    from exchange.review.photos import ensure_photo_documents, send_photo_reviews

    sent = send_photo_reviews(ctx.instance, ctx.db, unit=unit, actor="cli")
    emit_made(sent, ensure_photo_documents(ctx.instance, ctx.db), as_json,
              "no photo waiting" + (f" for unit {unit}" if unit else ""),
              lambda r: f"{r.review_no}: unit {r.unit_code}, {r.count} photo(s)")


@photos.command("decide")
@click.argument("photo_id", type=int)
@click.option("--approve", "conclusion", flag_value="approved", help="Approve the photo.")
@click.option("--reject", "conclusion", flag_value="rejected", help="Reject it (needs --reason).")
@click.option("--reason", help="Why it is rejected; the unit reads it.")
@click.option("--reviewer", help="Who decided (default: cli).")
@click.option("--json", "as_json", is_flag=True, help="The receipt as JSON.")
@pass_ctx
def decide(ctx: Context, photo_id: int, conclusion: str | None, reason: str | None,
           reviewer: str | None, as_json: bool) -> None:
    """Decide one photo, by the same rules as a returned review workbook; the unit's result
    workbook is rewritten. Exit status 1 when the decision was refused.

    Example: exchange photos decide 17 --reject --reason "background not white"
    """
    from exchange.messages import CONCLUSIONS
    from exchange.review.decisions import DecisionRow
    from exchange.review.photos import apply_photo_decisions

    if conclusion is None:
        raise click.UsageError("give --approve or --reject")
    report = apply_photo_decisions(ctx.instance, ctx.db, [DecisionRow(
        0, photo_id, CONCLUSIONS[conclusion][0], reason, reviewer or "cli")], actor="cli")
    receipt = report.receipt()
    if as_json:
        emit_json(receipt)
    else:
        click.echo(receipt["summary"])
        for row in receipt["rows"]:
            for e in row["errors"]:
                click.echo(f"  {e['code']}: {e['message']}")
    if report.refused:
        raise SystemExit(1)


COMMANDS = [photos]
__all__ = ["photos"]
