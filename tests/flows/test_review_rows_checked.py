"""A review workbook's rows are taken at their word only where the word is the batch's own: each
row's person, batch and visibility are checked, and what the reviewer wrote reaches the unit as
written."""
from __future__ import annotations

from pathlib import Path

import openpyxl
from sqlalchemy import select

from exchange import codes as C
from exchange.intake.centre import process_centre_inbox
from exchange.store.models import Batch, Declaration
from tests.flows.helpers import fill_review
from tests.flows.test_review_cycle import _serials, _submit, declared  # noqa: F401 (fixture)


def _book(instance) -> Path:  # type: ignore[no-untyped-def]
    return next(instance.unit_outbox("_centre", "batches").glob("*.审核.xlsx"))


def _drop(instance, db, wb: openpyxl.Workbook, name: str) -> dict:  # type: ignore[no-untyped-def]
    wb.save(instance.unit_inbox("_centre") / name)
    [receipt] = process_centre_inbox(instance, db)
    return receipt


def _codes(receipt: dict) -> list[tuple[int, str]]:
    return [(r["row"], e["code"]) for r in receipt["rows"] for e in r["errors"]]


def _status(db, serial: int) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        d = s.get(Declaration, serial)
        return d.status, d.decision_reason


def test_the_reviewers_reason_reaches_the_unit_with_its_chinese_punctuation(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    serial = _serials(db)
    reason = "身份证号码有误，请核对后重报（附件缺失）：见说明"
    filled = fill_review(_book(instance), "业务流水号", {serial["赵小红"]: ("不通过", f" {reason}\u200b")},
                         Path(instance.home) / "filled.xlsx")
    receipt = _drop(instance, db, openpyxl.load_workbook(filled), "审核.xlsx")
    assert receipt["counts"]["rejected"] == 1
    assert _status(db, serial["赵小红"]) == ("rejected", reason)
    with db.session() as s:
        batch_no = s.scalar(select(Batch.batch_no))
    result = openpyxl.load_workbook(instance.unit_outbox("1001", "results") / f"{batch_no}.审核结果.xlsx")
    ws = result.worksheets[0]
    headers = [c.value for c in ws[3]]
    rows = {r[headers.index("姓名")]: r for r in ws.iter_rows(min_row=4, values_only=True)}
    assert rows["赵小红"][headers.index("不通过原因")] == reason
