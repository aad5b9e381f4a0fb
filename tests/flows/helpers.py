"""Shared steps of the flow tests: process what waits, read the receipt back."""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from exchange.intake.centre import process_centre_inbox
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


def fill_review(book: Path, key: str, decisions: dict, target: Path, reviewer: str = "张审核") -> Path:
    """Fill 审核结论 / 不通过原因 / 审核人 of a review workbook by its `key` column (业务流水号,
    照片编号) as the back office would: {key: (conclusion, reason)}."""
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[3]]
    col = {h: headers.index(h) + 1 for h in (key, "审核结论", "不通过原因", "审核人")}
    for r in range(4, ws.max_row + 1):
        found = ws.cell(r, col[key]).value
        if found in decisions:
            conclusion, reason = decisions[found]
            for header, value in (("审核结论", conclusion), ("不通过原因", reason or None),
                                  ("审核人", reviewer)):
                cell = ws.cell(r, col[header])
                cell.value = value
                if cell.data_type == "f":       # typed as text ('=…): openpyxl makes it a formula
                    cell.data_type = "s"
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def decide_review(instance, db, book: Path, key: str, decisions: dict, name: str) -> dict:  # type: ignore[no-untyped-def]
    """Drop the filled workbook into inbox/_centre/ and process it: the centre's receipt."""
    fill_review(book, key, decisions, instance.unit_inbox("_centre") / name)
    receipts = process_centre_inbox(instance, db)
    assert len(receipts) == 1
    return receipts[0]


def fill_list(wb: openpyxl.Workbook, answer: str = "是", keep: set[int] | None = None) -> openpyxl.Workbook:
    """A clerk's 待提交清单 (exchange.view.confirm): 确认提交 set to `answer`, and, as in Excel,
    the rows of the declarations not in `keep` deleted (None: all kept)."""
    ws = wb.worksheets[0]
    ws["B4"] = answer
    if keep is not None:
        for row in range(ws.max_row, 10, -1):
            if ws.cell(row, 1).value not in keep:
                ws.delete_rows(row)
    return wb


def submit_on_word(instance) -> None:  # type: ignore[no-untyped-def]
    """rules/region.toml: submission = "unit_confirms" (issue 16.5) instead of nightly."""
    region = instance.rules_dir / "region.toml"
    text = region.read_text(encoding="utf-8")
    assert 'submission = "nightly"' in text
    region.write_text(text.replace('submission = "nightly"', 'submission = "unit_confirms"'),
                      encoding="utf-8")
    instance.__dict__.pop("rules", None)
