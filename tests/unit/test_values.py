"""Month, date, wage, phone and code spellings clerks use."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from exchange.checks.names import normalise_name, valid_name
from exchange.checks.values import as_text, parse_date, parse_integer, parse_month, parse_phone
from exchange.kinds.load import load_rules

RULES = load_rules(Path(__file__).resolve().parents[2] / "rules")


@given(st.integers(min_value=1950, max_value=2099), st.integers(min_value=1, max_value=12))
def test_month_spellings(year: int, month: int) -> None:
    want = f"{year}{month:02d}"
    for spelling in (want, f"{year}-{month:02d}", f"{year}/{month}", f"{year}年{month}月",
                     *([f"{year}.{month}"] if month != 1 else []), f"{year}.{month:02d}",
                     f"{year}-{month}-01", datetime(year, month, 3),
                     f"{year}/{month}/1 0:00", f"{year}-{month:02d}-01 00:00:00",
                     f"{year}年{month}月份", f"{year}年{month}月1号",
                     date(year, month, 28), int(want), float(want)):
        assert parse_month(spelling) == want, spelling


@pytest.mark.parametrize("bad", ["2016-13", "201600", "abc", "16年7月", "2016年", "",
                                 "2026.1", " 2026.1 ", 2026.1,       # January or October?
                                 "20261", 20261, 20261.0, "45000", 99999])  # no Excel serial
def test_bad_months(bad: str) -> None:
    assert parse_month(bad) is None


@given(st.dates(min_value=date(1930, 1, 1), max_value=date(2099, 12, 31)))
def test_date_spellings(d: date) -> None:
    for spelling in (d.isoformat(), f"{d.year}/{d.month}/{d.day}", f"{d.year}年{d.month}月{d.day}日",
                     f"{d:%Y%m%d}", datetime(d.year, d.month, d.day), int(f"{d:%Y%m%d}"),
                     # a date cell saved as CSV: Excel, LibreOffice, another system's export
                     f"{d.year}/{d.month}/{d.day} 0:00", f"{d.isoformat()} 00:00:00",
                     f"{d.isoformat()}T08:30:15.250", f"{d.year}年{d.month}月{d.day}日 17:05",
                     f"{d.year}年{d.month}月{d.day}号"):
        assert parse_date(spelling) == d, spelling


@pytest.mark.parametrize("bad", ["2016-07-01 25:00", "2016-07-01 10:60", "2016-07-01 0:00:00 x",
                                 "2016-07-0110:00", "2016-07-01 10", "10:00"])
def test_a_date_with_no_time_of_day_after_it_is_no_date(bad: str) -> None:
    assert parse_date(bad) is None


def test_excel_serial_date() -> None:
    assert parse_date(42552) == date(2016, 7, 1)
    assert parse_date("42552") == date(2016, 7, 1)


@pytest.mark.parametrize("raw,want", [(5000, 5000), (5000.0, 5000), ("5,000", 5000), ("５０００", 5000),
                                      ("5000.00", 5000), ("5000元", 5000), (" 6000 ", 6000),
                                      ("￥5,000.00", 5000), ("¥5000", 5000), ("¥ 5,000", 5000)])
def test_integer_wages(raw: object, want: int) -> None:
    assert parse_integer(raw) == want


@pytest.mark.parametrize("raw", [5000.5, "5000.5", "五千", "", True, "1e3x", "5000¥", "¥¥5000"])
def test_not_integer_wages(raw: object) -> None:
    assert parse_integer(raw) is None


@pytest.mark.parametrize("raw", ["13912345678", 13912345678.0, "0513-85123456", "85123456",
                                 "+8613912345678", "010-12345678-123"])
def test_phones(raw: object) -> None:
    assert parse_phone(raw) is not None


@pytest.mark.parametrize("raw,want", [("139-1234-5678", "13912345678"), ("139 1234 5678", "13912345678"),
                                      ("+86 139-1234-5678", "13912345678"),
                                      ("(0513)85123456", "0513-85123456"),
                                      ("（0513）85123456-12", "0513-85123456-12"),
                                      ("0431-87654321转8001", "0431-87654321-8001"),
                                      ("0431-87654321 分机 801", "0431-87654321-801")])
def test_phones_as_clerks_write_them(raw: str, want: str) -> None:
    assert parse_phone(raw) == want


@pytest.mark.parametrize("raw", ["1391234567", "abc", "12345", "13912345678/0513-85123456",
                                 "139-1234-56789", "(051)385123456"])
def test_bad_phones(raw: str) -> None:
    assert parse_phone(raw) is None


@pytest.mark.parametrize("raw", ["21", "本科", "大学本科毕业", "21-本科", "21 本科", "21—大学本科毕业", "２１"])
def test_code_label_or_both(raw: str) -> None:
    assert RULES.tables["education"].lookup(raw) == "21"


@pytest.mark.parametrize("table,raw,want", [("post", "1", "01"), ("ethnicity", "1", "01"),
                                            ("ethnicity", "1-汉族", "01"), ("id_type", "8", "08"),
                                            ("relation", "2", "02"), ("sex", "1", "1")])
def test_a_code_that_lost_its_leading_zero_in_a_general_cell(table: str, raw: str, want: str) -> None:
    assert RULES.tables[table].lookup(raw) == want


@pytest.mark.parametrize("table,raw", [("ethnicity", "0"), ("ethnicity", "001"), ("post", "9-管理"),
                                       ("relation", "3"),
                                       # a digit typed twice is no code labelled with itself
                                       ("ethnicity", "99"), ("ethnicity", "77"), ("ethnicity", "66"),
                                       ("post", "11"), ("post", "011")])
def test_a_code_without_its_zero_still_names_only_itself(table: str, raw: str) -> None:
    assert RULES.tables[table].lookup(raw) is None


@pytest.mark.parametrize("raw", ["22-本科", "31-本科", "博士后", ""])
def test_code_and_label_must_agree(raw: str) -> None:
    assert RULES.tables["education"].lookup(raw) is None


@pytest.mark.parametrize("raw,ok", [("张三", True), ("买买提·艾力", True), ("买买提.艾力", True),
                                    ("买买提•艾力", True), ("张 三", False), ("张三1", False),
                                    ("·张三", False), ("张三!", False), ("  李四  ", True),
                                    ("王〇", True), ("李〇〇", True), ("王𠮷", True), ("王〇1", False)])
def test_names(raw: str, ok: bool) -> None:
    assert valid_name(normalise_name(raw)) is ok


def test_pasted_invisible_characters_are_dropped() -> None:
    from exchange.checks.columnar import judge_cells

    id_col = RULES.kinds["employee_add"].column("id_number")
    name_col = RULES.kinds["employee_add"].column("name")
    [(values, findings)] = judge_cells([(4, ("\ufeff11010519491231002x\u200b", "\u200b张三\xa0"))],
                                       (id_col, name_col), RULES.tables, date(2026, 11, 22)).as_rows()
    assert findings == [] and values == {"id_number": "11010519491231002X", "name": "张三"}


@pytest.mark.parametrize("mark", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u200e",
                                  "\u200f", "\u061c", "\u2066", "\u2067", "\u2068", "\u2069"])
def test_pasted_bidirectional_marks_are_dropped(mark: str) -> None:
    """A phone copied from a contact card comes as U+202A 139… U+202C; an override (U+202E)
    left in a name would turn the rest of the receipt's line around where the clerk reads it.
    Both engines' readings of a cell (as_text, the columnar text) leave every mark out."""
    from exchange.checks.columnar import judge_cells

    kind = RULES.kinds["employee_add"]
    columns = (kind.column("id_number"), kind.column("name"), kind.column("phone"))
    cells = (f"{mark}11010519491231002x", f"张{mark}三", f"{mark}13977960640{mark}")
    [(values, findings)] = judge_cells([(4, cells)], columns, RULES.tables,
                                       date(2026, 11, 22)).as_rows()
    assert findings == []
    assert values == {"id_number": "11010519491231002X", "name": "张三", "phone": "13977960640"}
    assert [as_text(c) for c in cells] == ["11010519491231002x", "张三", "13977960640"]


@pytest.mark.parametrize("prefix", ["'", "‘", "’", "＇", "' "])
def test_excel_text_prefix_typed_into_the_cell_is_dropped(prefix: str) -> None:
    """Clerks are told to put an apostrophe before a long number so that Excel keeps it as
    text; typed into a CSV (or with a Chinese input method, ‘) it stays in the cell."""
    from exchange.checks.columnar import judge_cells

    kind = RULES.kinds["employee_add"]
    columns = tuple(kind.column(f) for f in ("id_number", "name", "phone", "post", "change_month"))
    cells = tuple(prefix + c for c in ("11010519491231002x", "张三", "13977960640", "01", "202612"))
    [(values, findings)] = judge_cells([(4, cells)], columns, RULES.tables,
                                       date(2026, 11, 22)).as_rows()
    assert findings == []
    assert values == {"id_number": "11010519491231002X", "name": "张三", "phone": "13977960640",
                      "post": "01", "change_month": "202612"}


@given(st.text("0123456789Xx张三'‘’＇ \u3000\u200b\u202a\ufeff", max_size=12))
@settings(max_examples=300, deadline=None)
def test_both_readings_of_a_text_cell_agree(text: str) -> None:
    """values.as_text (headers, receipts, review books) and the columnar engine's text of a
    cell (every rule) read the same characters."""
    import polars as pl

    from exchange.checks.columnar import text_of

    columnar = pl.select(text_of(pl.lit(text, pl.Utf8))).item()
    assert as_text(text) == columnar


def test_outbox_files_are_readable_by_group_and_others(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    from exchange.outputs.atomic import write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "r.txt", "回执")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "r.txt").stat().st_mode)
    assert mode == 0o644 and not list(tmp_path.glob(".*.tmp"))


CELL_POOL = [None, "", "  ", "\u3000", 1, 1.0, True, False, 0, "1", "01", "男", "女", "2", 2.0,
             "汉族", "汉", "本科", "21-本科", "21", 21, "博士后", "202612", 202612, 202612.0,
             "2026-12", "2026年12月", datetime(2026, 12, 1), date(1980, 1, 1), "1980-01-01",
             29221, 29221.0, 5000, 5000.0, "5,000", 1200, 99999, "5000.5", "320602198001012473",
             "32060219800101247x", "320602198001012474", 3.20602198001012e17, "张三", "张 三",
             "买买提·艾力", "13912345678", "１３９１２３４５６７８", "0513-85123456", "人民路1号"]


@settings(deadline=None, max_examples=40)
@given(st.lists(st.lists(st.sampled_from(CELL_POOL), min_size=14, max_size=14), min_size=1,
                max_size=40), st.integers(min_value=1, max_value=7))
def test_judging_by_column_agrees_with_each_row_alone(rows, chunk) -> None:  # type: ignore[no-untyped-def]
    """Chunks judged column by column, each column's distinct cells once (where 1, 1.0 and True
    must stay apart), give what each row judged on its own gives."""
    from exchange.checks.columnar import judge_cells

    columns = RULES.kinds["employee_add"].columns
    today = date(2026, 11, 22)
    numbered = [(i + 4, tuple(r[:len(columns)])) for i, r in enumerate(rows)]
    together = []
    for start in range(0, len(numbered), chunk):
        together += judge_cells(numbered[start:start + chunk], columns, RULES.tables, today).as_rows()
    alone = [judge_cells([r], columns, RULES.tables, today).as_rows()[0] for r in numbered]
    assert [(v, [(f.code, f.field, dict(f.params)) for f in fs]) for v, fs in together] == \
        [(v, [(f.code, f.field, dict(f.params)) for f in fs]) for v, fs in alone]
