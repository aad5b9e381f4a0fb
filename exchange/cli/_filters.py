"""The query pages' conditions (查询条件) shared by `declarations`, `batches` and `errors`:
unit, kind (业务种类), person (证件号码 or 姓名) and a date range (起始日期 / 截止日期, 核算期)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import click

from exchange.kinds.spec import KindSpec

DATE_HELP = "2026-12-01, 20261201, 2026-12 or 2026"


@dataclass(frozen=True)
class Where:
    """The conditions as typed; `resolve` checks them and gives the query's keywords."""
    unit: str | None
    kind: str | None
    person: str | None
    period: str | None
    since: str | None
    until: str | None

    def resolve(self, kinds: dict[str, KindSpec]) -> dict[str, Any]:
        from exchange.review import queries as RQ

        kind = None
        if self.kind:
            try:
                kind = RQ.kind_of(kinds, self.kind)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--kind") from exc
        for hint, value in (("--period", self.period), ("--since", self.since), ("--until", self.until)):
            try:
                if value:
                    RQ.parse_period(value)      # each date alone, to name the one that is wrong
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=hint) from exc
        since, until = RQ.date_range(self.period, self.since, self.until)
        if since and until and since >= until:
            raise click.BadParameter("the range is empty: it starts after it ends",
                                     param_hint="--since")
        return {"unit": self.unit or None, "kind": kind, "person": self.person or None,
                "since": since, "until": until}


def where_options(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add --unit, --kind, --person, --period, --since and --until to a command, which receives
    them as one `where` (a Where); `what` names the time the range bounds."""
    options = [
        click.option("--unit", help="Only this unit (its code)."),
        click.option("--kind", help="Only this kind: its name (employee_add), its label or its "
                                    "template's title, as the query pages named it."),
        click.option("--person", help="An ID number, or a name (exact)."),
        click.option("--period", help=f"{what} in this year, month or day ({DATE_HELP})."),
        click.option("--since", help=f"{what} on or after this day or month ({DATE_HELP})."),
        click.option("--until", help=f"{what} on or before this day or month, which is included "
                                     f"({DATE_HELP})."),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            where = Where(*(kwargs.pop(k) for k in ("unit", "kind", "person", "period", "since", "until")))
            return command(*args, where=where, **kwargs)
        for option in reversed(options):
            run = option(run)
        return run
    return decorate


def status_option(help_text: str = "Only declarations in this state: pending, submitted, approved, "
                                   "rejected, withdrawn, or its Chinese label as the pages show it."
                  ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--status (alias --state) for a declaration state, in English or as the pages say it."""
    def to_status(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from exchange.review import queries as RQ

        if not value:
            return None
        try:
            return RQ.status_of(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return click.option("--status", "--state", "status", callback=to_status, help=help_text)


__all__ = ["Where", "where_options", "status_option", "DATE_HELP"]
