"""Which kind a file is: template metadata, then title and file name, then header coverage."""
from __future__ import annotations

import re
from dataclasses import dataclass

from exchange import codes as C
from exchange.errors import FileRejected
from exchange.kinds.spec import KindSpec, normalise_label
from exchange.read.guard import column_letters
from exchange.read.header import map_columns, twin_columns

_UNIT_IN_TITLE = re.compile(r"单位编号[:：]?\s*([0-9A-Za-z_\-]+)")  # input grammar


@dataclass(frozen=True)
class Detected:
    kind: KindSpec
    mapping: dict[int, str]


def _mentions(kind: KindSpec, text: str) -> bool:
    folded = normalise_label(text)
    return any(normalise_label(h) in folded for h in (kind.title, *kind.hints))


def detect_kind(kinds: list[KindSpec], header: tuple[str, ...], titles: list[str],
                file_name: str, meta: dict[str, str]) -> Detected:
    """Choose the kind, or refuse with file.unknown_kind / file.missing_columns."""
    by_name = {k.kind: k for k in kinds}
    scored = []
    for kind in kinds:
        mapping = map_columns(header, kind)
        if mapping:
            scored.append((kind, mapping))
    chosen: tuple[KindSpec, dict[int, str]] | None = None
    if meta.get("kind") in by_name:
        kind = by_name[meta["kind"]]
        chosen = (kind, map_columns(header, kind))
    if chosen is None:
        text = " ".join(titles) + " " + file_name
        named = [(k, m) for k, m in scored if _mentions(k, text)]
        # The most specific title wins: "职工批量减少" over "职工" hints of several kinds.
        named.sort(key=lambda km: -len(km[1]))
        if named and (len(named) == 1 or len(named[0][1]) > len(named[1][1])):
            chosen = named[0]
    if chosen is None:
        scored.sort(key=lambda km: (-len(km[1]), len(km[0].columns)))
        if scored and len(scored[0][1]) >= 2:
            best = scored[0]
            ties = [km for km in scored[1:] if len(km[1]) == len(best[1])]
            if not ties or len(best[1]) == len(best[0].columns):
                chosen = best
    if chosen is None:
        raise FileRejected(C.FILE_UNKNOWN_KIND)
    kind, mapping = chosen
    missing = [c.header for c in kind.required if c.field not in mapping.values()]
    if missing or not mapping:
        raise FileRejected(C.FILE_MISSING_COLUMNS, title=kind.title,
                           columns="、".join(missing or [c.header for c in kind.columns]))
    for field_name, positions in twin_columns(header, kind).items():
        raise FileRejected(C.FILE_DUPLICATE_COLUMNS, column=kind.column(field_name).header,
                           count=len(positions),
                           letters="、".join(column_letters(p + 1) for p in positions))
    return Detected(kind, mapping)


def unit_named(titles: list[str], meta: dict[str, str]) -> str | None:
    """The unit a file names in its metadata or title rows, if any."""
    if meta.get("unit"):
        return meta["unit"]
    for line in titles:
        m = _UNIT_IN_TITLE.search(line)
        if m:
            return m.group(1)
    return None
