"""Judging a chunk of data rows (issue 19), the one engine: cells judged column by column
(exchange.checks.columnar), the in-file repeats across chunks (FileRepeats), then the chunk's
records as frames (the facts) and the kind's row rules as masks and joins over them
(exchange.checks.columnar_rows, columnar_resident); findings per row, in the order the receipt
shows them: the cells' in column order, the in-file repeat, then the row rules' in the kind's
order. `duplicate.imported` replaces a clean row's findings.

exchange.judge.FileRun reads the records once per chunk (its queries and hooks fill a
CheckContext) and calls `parse_chunk` and `judge_chunk`; the rows' `values` dicts are what the
store, the declarations and the hooks read.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

import polars as pl

from exchange import codes as C
from exchange.checks.accounts import AccountContext
from exchange.checks.columnar import CellJudgement, judge_cells
from exchange.checks import columnar_resident
from exchange.checks.columnar_resident import resident_facts
from exchange.checks.columnar_rows import (ROW_RULES, Facts, FileRepeats, account_frames,
                                           declarations_frame, imported_frame, judge_rows,
                                           paid_frame, persons_frame)
from exchange.checks.context import CheckContext
from exchange.checks.finding import Finding
from exchange.checks.resident import OWN_SCOPE_EFFECTS, ResidentContext
from exchange.errors import contained
from exchange.kinds.spec import CodeTable, KindSpec

# The rules that read a resident chunk's facts (households, classes, repeats, scope).
RESIDENT_RULES = frozenset(n for n, f in ROW_RULES.items()
                           if f.__module__ == columnar_resident.__name__)
# The rules every declaration is held to after its kind's (FileRun's, not named in the TOML).
DECLARATION_RULES = ("person_pending", "duplicate_imported")


class Parsed:
    """One data row: its cells as written (in the kind's column order), parsed values, findings.

    `values` is made when first read, for the whole chunk at once (`Values`): `validate` reads
    few rows' values, the import all of them."""
    __slots__ = ("outcome_row", "raw", "_values", "findings", "fingerprint", "_chunk", "_at")

    def __init__(self, outcome_row: int, raw: tuple[Any, ...], values: dict[str, Any] | None,
                 findings: list[Finding], chunk: "Values | None" = None, at: int = 0) -> None:
        self.outcome_row = outcome_row
        self.raw = raw
        self._values = values
        self.findings = findings
        self.fingerprint = ""          # set once per row by FileRun.context()
        self._chunk, self._at = chunk, at

    @property
    def values(self) -> dict[str, Any]:
        if self._values is None:
            assert self._chunk is not None
            self._values = self._chunk.row(self._at)
        return self._values


class Values:
    """A chunk's rows' values dicts, made together when one is first read."""

    def __init__(self, judged: CellJudgement) -> None:
        self.judged: CellJudgement | None = judged
        self.rows: list[dict[str, Any]] = []

    def row(self, i: int) -> dict[str, Any]:
        if self.judged is not None:
            self.rows, self.judged = self.judged.row_values(), None
        return self.rows[i]


@dataclass
class Chunk:
    """A chunk's rows and its judged cells as columns (CellJudgement.frame)."""
    rows: list[Parsed]
    frame: pl.DataFrame
    judged: CellJudgement | None = None

    def column(self, field_name: str) -> list[Any]:
        """A field's parsed values, row by row (None where a row's values hold none)."""
        if self.judged is None or field_name not in self.judged.fields:
            return [p.values.get(field_name) for p in self.rows]
        return self.judged.column(field_name)

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def repeat_key(kind: KindSpec) -> str | None:
    """What makes a row the repeat of an earlier one of the file: a withdrawal's serial, else
    the kind's person."""
    return "serial" if kind.action == "withdraw" else kind.person_field


def rule_names(kind: KindSpec, scope: frozenset[str] | None) -> list[str]:
    """The row rules a chunk of `kind` is judged by; a class or department account's rows stay
    within its classes (class_scope; a kind about classes or accounts keeps its own scope)."""
    names = list(kind.checks)
    if scope is not None and kind.effect not in OWN_SCOPE_EFFECTS:
        names.append("class_scope")
    return names + list(DECLARATION_RULES)


@contained
def parse_chunk(rows: list[tuple[int, tuple[Any, ...]]], kind: KindSpec,
                tables: dict[str, CodeTable], today: date, repeats: FileRepeats) -> Chunk:
    """A chunk's cells judged, each row's values and findings, and its repeats of earlier rows
    of the file (`duplicate.in_file`)."""
    judged = judge_cells(rows, kind.columns, tables, today)
    frame = judged.frame()
    values = Values(judged)
    parsed = [Parsed(number, raw, None, findings, values, i)
              for i, ((number, raw), findings) in enumerate(zip(rows, judged.findings()))]
    at = {p.outcome_row: p for p in parsed}
    for number, first_row in repeats.findings(frame).iter_rows():
        at[number].findings.append(Finding(number, C.DUPLICATE_IN_FILE,
                                           params={"first_row": first_row}))
    return Chunk(parsed, frame, judged)


def facts_of(chunk: Chunk, ctx: CheckContext, names: list[str]) -> Facts:
    """The chunk's frame (with its rows' fingerprints) and the records the context holds; a
    kind of record the context has none of is None (the joins read it as empty, and the rules
    about it are skipped: columnar_rows.about)."""
    fingerprints = pl.Series("fingerprint", [p.fingerprint or None for p in chunk.rows],
                             dtype=pl.Utf8)
    frame = chunk.frame.with_columns(fingerprints) if "fingerprint" in chunk.frame.columns \
        else chunk.frame.hstack([fingerprints])
    if isinstance(ctx, ResidentContext) or RESIDENT_RULES.intersection(names):
        facts: Facts = resident_facts(frame, ctx)
    else:
        facts = Facts(frame, ctx.kind, ctx.rules, ctx.today, ctx.unit,
                      _frame_of(persons_frame, ctx.persons))
    facts.paid = _frame_of(paid_frame, ctx.persons)
    facts.declarations = _frame_of(declarations_frame, list(ctx.declarations.values()))
    facts.by_person = _frame_of(declarations_frame,
                                [d for ds in ctx.by_person.values() for d in ds])
    facts.pending = _frame_of(declarations_frame, list(ctx.open_by_person.values()))
    facts.imported = _frame_of(imported_frame, ctx.imported)
    if isinstance(ctx, AccountContext):
        facts.accounts = account_frames(ctx.facts)
    return facts


def _frame_of(make: Callable[[Any], pl.DataFrame], records: Any) -> pl.DataFrame | None:
    """The records as a frame; None when there are none."""
    return make(records) if records else None


@contained
def judge_chunk(chunk: Chunk, ctx: CheckContext, names: list[str]) -> list[list[Finding]]:
    """Each row's findings: its cells' and in-file repeat's, then the row rules'."""
    found = judge_rows(facts_of(chunk, ctx, names), names)
    out = []
    for p in chunk.rows:
        more = found.get(p.outcome_row)
        if not more:
            out.append(list(p.findings))
        elif more[0].code == C.DUPLICATE_IMPORTED:
            out.append(more)
        else:
            out.append(p.findings + more)
    return out


__all__ = ["Chunk", "DECLARATION_RULES", "Parsed", "Values", "facts_of", "judge_chunk", "parse_chunk",
           "repeat_key", "rule_names"]
