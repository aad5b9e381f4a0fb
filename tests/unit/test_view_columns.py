"""The view's fast writers against the plain one-value-at-a-time reading.

`Sheet.table` writes the commonest cells inline (no call per cell); `display.contents` says what
a declaration asks for a column at a time. Each is checked against the obvious reading on
generated values, the awkward ones included: controls, markup, formula starts, lone surrogates,
integers beyond 64 bits, bools, Decimals, dates, lists, mixed columns."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from exchange.kinds.spec import CodeEntry, CodeTable, ColumnSpec, KindSpec
from exchange.messages import REVIEW_WORDS as RW
from exchange.review.display import WHO_FIELDS, content, contents, display_value
from exchange.view import sheets
from exchange.view.sheets import Column, Sheet, _cell

TEXT = st.text(alphabet=st.sampled_from(list("张三ab1 =+-@<>&\"'\x01\x0b\ufffe\ud800\t\n") + ["语"]),
               max_size=6)
VALUE = st.one_of(st.none(), st.just(""), TEXT, st.integers(min_value=-2**70, max_value=2**70),
                  st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                  st.decimals(places=2, allow_nan=False, allow_infinity=False),
                  st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2099, 1, 1)),
                  st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2099, 1, 1)))
# Columns as they come: most of one type (the fast paths), some mixed (cell by cell).
COLUMN = st.one_of(st.lists(st.one_of(st.none(), TEXT)), st.lists(st.one_of(st.none(), st.integers(
    min_value=-2**63, max_value=2**63 - 1))), st.lists(st.one_of(st.none(), st.datetimes(
        min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2099, 1, 1)))), st.lists(VALUE))


def _by_cell(rows: list[tuple], styles: list[int], first: int) -> str:
    """The rows as the writer once made them: each cell on its own (_cell)."""
    out = []
    for r, values in enumerate(rows, first):
        out.append(f'<row r="{r}">' + "".join(_cell(f"{sheets.letters(i)}{r}", v, styles[i - 1])
                                               for i, v in enumerate(values, 1)) + "</row>")
    return "".join(out)


@settings(max_examples=150, deadline=None)
@given(st.lists(COLUMN, min_size=1, max_size=4), st.lists(st.booleans(), min_size=4, max_size=4))
def test_a_table_is_written_as_cell_by_cell(columns: list[list], text_columns: list[bool]) -> None:
    n = min(len(c) for c in columns)
    rows = list(zip(*(c[:n] for c in columns)))
    spec = [Column(f"c{i}", text=text_columns[i]) for i in range(len(columns))]
    sheet = Sheet("t", io.StringIO())
    written = sheet.table(spec, {c.key: c.key for c in spec}, rows)
    header_end = sheet.spool.getvalue().index("</row>") + len("</row>")
    styles = [sheets.STYLE["text"] if c.text else 0 for c in spec]
    assert written == n
    assert sheet.spool.getvalue()[header_end:] == _by_cell(rows, styles, 2)


def test_awkward_values_are_written_as_cell_by_cell() -> None:
    rows = [("a\ud800b", 2**70), ("<x>", -5)]
    sheet = Sheet("t", io.StringIO())
    sheet.table([Column("a"), Column("b")], {"a": "A", "b": "B"}, rows)
    body = sheet.spool.getvalue()
    assert '<t xml:space="preserve">a\ufffdb</t>' in body and "<v>1180591620717411303424</v>" in body
    assert "&lt;x&gt;" in body


TABLES = {"edu": CodeTable("edu", (CodeEntry("21", "大学本科"), CodeEntry("31", "大专"))),
          "ins": CodeTable("ins", (CodeEntry("310", "职工医疗"), CodeEntry("510", "生育")))}


def _kind(change_fields: tuple[str, ...] = ()) -> KindSpec:
    columns = (ColumnSpec("id_number", "身份证号", "id_number"), ColumnSpec("name", "姓名", "name"),
               ColumnSpec("education", "文化程度", "code", table="edu"),
               ColumnSpec("insurances", "参保险种", "codes", table="ins"),
               ColumnSpec("wage", "缴费工资", "wage"), ColumnSpec("phone", "联系电话", "text"),
               ColumnSpec("post", "工作岗位", "code", table="nowhere"))
    return KindSpec(kind="k", title="测试表", label="测试", columns=columns,
                    change_fields=change_fields)


def _one(kind: KindSpec, payload: dict, old: dict | None) -> str:
    """content() as it read before contents(): a column at a time, one declaration."""
    if kind.change_fields:
        parts = []
        for name in kind.change_fields:
            new = payload.get(name)
            if new in (None, ""):
                continue
            col = kind.column(name)
            before = display_value(col, (old or {}).get(name), TABLES)
            parts.append(RW["field_value"].format(header=col.header, value=RW["change_arrow"].format(
                old=before, new=display_value(col, new, TABLES))))
        return RW["joiner"].join(parts)
    parts = []
    for col in kind.columns:
        if col.field in WHO_FIELDS:
            continue
        text = display_value(col, payload.get(col.field), TABLES)
        if text:
            parts.append(RW["field_value"].format(header=col.header, value=text))
    return RW["joiner"].join(parts)


PAYLOAD = st.fixed_dictionaries({}, optional={
    "id_number": TEXT, "education": st.one_of(st.none(), st.sampled_from(["21", "31", "99", ""])),
    "insurances": st.one_of(st.none(), st.lists(st.sampled_from(["310", "510", "x"])),
                            st.just("310，510"), st.lists(st.lists(st.just("a")))),
    "wage": st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), TEXT),
    "phone": st.one_of(st.none(), TEXT, st.booleans()), "post": st.one_of(st.none(), TEXT)})


@settings(max_examples=200, deadline=None)
@given(st.lists(PAYLOAD, max_size=8), st.booleans())
def test_contents_says_what_content_said_one_by_one(payloads: list[dict], change: bool) -> None:
    kind = _kind(("wage", "education") if change else ())
    olds = [{"wage": 3000, "education": "31"} if i % 2 else None for i in range(len(payloads))]
    memo: dict = {}
    expected = [_one(kind, p, o) for p, o in zip(payloads, olds)]
    assert contents(kind, payloads, olds, TABLES, memo) == expected
    assert contents(kind, payloads, olds, TABLES, memo) == expected      # from the memo
    assert [content(kind, p, o, TABLES) for p, o in zip(payloads, olds)] == expected


def test_contents_of_a_plain_register() -> None:
    kind = _kind()
    payloads = [{"education": "21", "insurances": ["310", "510"], "wage": 5000, "phone": "139"},
                {"name": "张三", "wage": ""}]
    assert contents(kind, payloads, [None, None], TABLES) == [
        "文化程度：大学本科；参保险种：职工医疗、生育；缴费工资：5000；联系电话：139", ""]
