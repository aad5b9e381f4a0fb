"""A panic inside the rule engine's compiled library (polars raises a Rust panic as
PanicException, a BaseException) is the judged file's internal error: that file is quarantined
with a receipt, and the files after it are judged as usual."""
from __future__ import annotations

import polars as pl
import pytest

from exchange import codes as C
from exchange.checks import columnar
from exchange.errors import EngineFailed, contained
from exchange.intake.scan import process_inbox
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import receipt_of

TITLE = "职工批量新增申报填写表"


def _panic() -> None:
    """A real panic of polars 2.1: asking whether a struct field's expression keeps length."""
    pl.col("a").str.extract_groups("(a)").struct[0].meta.is_length_preserving()


def test_a_panic_is_an_ordinary_error_for_the_guards() -> None:
    with pytest.raises(pl.exceptions.PanicException):
        _panic()
    with pytest.raises(EngineFailed) as raised:
        contained(_panic)()
    assert isinstance(raised.value, Exception)
    with pytest.raises(KeyboardInterrupt):         # nothing else is converted
        contained(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))()


def test_a_file_the_engine_panics_on_is_quarantined_and_the_next_is_judged(
        instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    judgement = columnar.CellJudgement

    def panicking(rows, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any("炸" in str(cell) for _, cells in rows for cell in cells):
            _panic()
        return judgement(rows, *args, **kwargs)

    monkeypatch.setattr(columnar, "CellJudgement", panicking)
    make_workbook(instance.unit_inbox("1001") / "a-增员.xlsx", ADD_HEADERS,
                  [add_row(make_id("19800101", "611"), "炸")], title=TITLE)
    first = process_inbox(instance, db)
    make_workbook(instance.unit_inbox("1001") / "b-增员.xlsx", ADD_HEADERS,
                  [add_row(make_id("19800101", "621"), "王五")], title=TITLE)
    second = process_inbox(instance, db)
    bad, good = receipt_of(instance, first[0]), receipt_of(instance, second[0])
    assert bad["status"] == "quarantined"
    assert [e["code"] for e in bad["file_errors"]] == [C.FILE_UNREADABLE]
    # The program failed, not the file: the clerk is not told it is damaged, nor to save it
    # again (it said 文件已损坏或不完整。请用 Excel 打开后另存为 …).
    message = bad["file_errors"][0]["message"]
    assert "内部错误" in message and "无需重新报送" in message and "损坏" not in message
    assert good["status"] == "accepted" and good["counts"]["accepted"] == 1
    held = [p.name for p in instance.quarantine.rglob("*") if p.is_file()]
    assert len(held) == 1 and "a-增员" in held[0]


@pytest.mark.parametrize("name", ["unit_dues", "declaration_due", "registration",
                                  "totals_by_unit_type"])
def test_the_money_code_on_polars_is_contained_too(name: str) -> None:
    """The unit's view and the reports call these inside their own per-unit guards."""
    from exchange.amounts import register

    assert getattr(register, name).__wrapped__.__name__ == name
