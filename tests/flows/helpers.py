"""Shared steps of the flow tests: process what waits, read the receipt back."""
from __future__ import annotations

import json

from exchange.intake.scan import process_inbox


def process_one(instance, db):  # type: ignore[no-untyped-def]
    results = process_inbox(instance, db)
    assert len(results) == 1, results
    return results[0]


def receipt_of(instance, result) -> dict:  # type: ignore[no-untyped-def]
    """The JSON receipt of a processed file: in its unit's outbox, or its sub-account's."""
    name = result.receipt_name.replace(".txt", ".json")
    outbox = instance.unit_outbox(result.unit)
    [path] = [d / name for d in (outbox / "receipts", *outbox.glob("@*/receipts")) if (d / name).is_file()]
    return json.loads(path.read_text(encoding="utf-8"))


def triples(receipt: dict) -> list[tuple[int, str | None, str]]:
    return sorted(((r["row"], e["column"], e["code"]) for r in receipt["rows"] for e in r["errors"]),
                  key=lambda t: (t[0], t[1] or "", t[2]))
