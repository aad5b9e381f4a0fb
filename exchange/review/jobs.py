"""Scheduled work of submission, review and documents (jobs/*.toml say when).

Each job is `fn(instance, db, **options) -> str`, idempotent: submitting finds nothing pending
the second time, and documents are rewritten whole under the same names.

What a job needs is imported when it runs: every receipt names the next submission, so
`exchange process` reads jobs/ and so this registry, and the workbook and PDF writers (openpyxl,
reportlab: ~0.25 s and ~20 MB) are not for it.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from exchange.config import Instance
from exchange.errors import ConfigError, outcome
from exchange.schedule.registry import job
from exchange.store.db import Database


def resolve_month(value: str | None, today: date) -> list[str]:
    """"current", "previous", "YYYYMM", or None/"auto" (this month, and last month during the
    first three days of a month, so late approvals of last month are still printed)."""
    this = f"{today:%Y%m}"
    last = f"{(today.replace(day=1) - timedelta(days=1)):%Y%m}"
    if value in (None, "", "auto"):
        return [last, this] if today.day <= 3 else [this]
    if value == "current":
        return [this]
    if value == "previous":
        return [last]
    text = str(value)
    if len(text) == 6 and text.isdigit() and 1 <= int(text[4:]) <= 12:
        return [text]
    raise ConfigError(f"month: expected YYYYMM, 'current', 'previous' or 'auto', got {value!r}")


def _day(value: str | None, today: date) -> date:
    if value in (None, "", "today"):
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    try:
        return datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError as exc:
        raise ConfigError(f"day: expected YYYY-MM-DD, 'today' or 'yesterday', got {value!r}") from exc


@job("submit_batches")
def submit_batches(instance: Instance, db: Database, unit: str | None = None,
                   actor: str = "scheduler") -> str:
    """Put each unit's pending declarations into a numbered batch; write rosters and review books.
    Where the region submits on the unit's word (rules/region.toml submission = "unit_confirms")
    nothing is submitted: each unit confirms its own 待提交清单 (exchange.view.confirm)."""
    from exchange.review.submit import ensure_documents, submit_pending
    from exchange.view.confirm import on_word

    failed: list[str] = []
    if on_word(instance):
        batches = []
        text = "submission is on the unit's word (rules/region.toml): nothing submitted"
    else:
        batches = submit_pending(instance, db, unit=unit, actor=actor, failed=failed)
        count = sum(b.count for b in batches)
        text = (f"submitted {count} declaration(s) in {len(batches)} batch(es)"
                + (": " + ", ".join(f"{b.batch_no}({b.count})" for b in batches) if batches else ""))
    repaired = ensure_documents(instance, db, failed=failed)
    if repaired:
        text += f"; rewrote {len(repaired)} missing document(s)"
    return outcome(text, failed)


@job("photo_review")
def photo_review_job(instance: Instance, db: Database, unit: str | None = None,
                     actor: str = "scheduler") -> str:
    """Put waiting photos on review workbooks for the centre (outbox/_centre/photos/)."""
    from exchange.review.photos import ensure_photo_documents, send_photo_reviews

    failed: list[str] = []
    sent = send_photo_reviews(instance, db, unit=unit, actor=actor, failed=failed)
    repaired = ensure_photo_documents(instance, db, failed=failed)
    text = (f"sent {sum(r.count for r in sent)} photo(s) on {len(sent)} review(s)"
            + (": " + ", ".join(f"{r.review_no}({r.count})" for r in sent) if sent else ""))
    if repaired:
        text += f"; rewrote {len(repaired)} missing review workbook(s)"
    return outcome(text, failed)


@job("refresh_templates")
def refresh_templates_job(instance: Instance, db: Database, unit: str | None = None,
                          kinds: list[str] | None = None) -> str:
    """Fresh blank and pre-filled templates in every unit's outbox/templates/."""
    from exchange.outputs.templates import refresh_templates

    failed: list[str] = []
    written = refresh_templates(instance, db, unit=unit, kinds=kinds, failed=failed)
    units = {p.parent.parent.name for p in written}
    return outcome(f"wrote {len(written)} template(s) for {len(units)} unit(s)", failed)


@job("monthly_rosters")
def monthly_rosters_job(instance: Instance, db: Database, month: str | None = None,
                        unit: str | None = None) -> str:
    """增加/减少/缴费基数 申报花名册 of the month into outbox/<unit>/reports/."""
    from exchange.review.reports import monthly_rosters

    today = date.today()
    written = []
    failed: list[str] = []
    for m in resolve_month(month, today):
        written += monthly_rosters(instance, db, m, unit=unit, failed=failed)
    pages = sum(w.pages for w in written)
    return outcome(f"wrote {len(written)} monthly roster(s), {pages} page(s)", failed)


@job("unit_reports")
def unit_reports_job(instance: Instance, db: Database, unit: str | None = None,
                     month: str | None = None) -> str:
    """参保花名册, 当前缴费基数花名册, 应缴信息 and 错误日志 into outbox/<unit>/reports/."""
    from exchange.review.reports import unit_reports

    today = date.today()
    months = resolve_month(month or "current", today)
    failed: list[str] = []
    written = unit_reports(instance, db, unit=unit, month=months[-1], today=today, failed=failed)
    units = {w.path.parent.parent.name for w in written}
    return outcome(f"wrote {len(written)} report file(s) for {len(units)} unit(s)", failed)


@job("centre_digest")
def centre_digest_job(instance: Instance, db: Database, day: str | None = None) -> str:
    """每日汇总 of the day into outbox/_centre/reports/."""
    from exchange.review.reports import centre_digest

    written = centre_digest(instance, db, _day(day, date.today()))
    return f"wrote {written.path.name}: {written.rows} unit(s), {written.pages} page(s)"


__all__ = ["submit_batches", "photo_review_job", "refresh_templates_job", "monthly_rosters_job", "unit_reports_job",
           "centre_digest_job", "resolve_month"]
