"""The rule engine (exchange.checks.columnar, columnar_rows, engine) on generated chunks of
clerks' cells in every kind's columns: a chunk judged whole gives each row what that row judged
alone gives, and what the chunk cut in two gives (values, codes, columns, message parameters;
the in-file repeats are the file's, so rows found repeating are left out of the row-alone
comparison); a row's values are what its frame and its field's column hold. Concrete cases pin what the differential
tests against the per-row engine it replaced (issue 19) established."""
from __future__ import annotations

import math
from datetime import date, datetime
from decimal import InvalidOperation, Overflow
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from exchange.checks.columnar import RULES as COLUMN_RULES, judge_cells, judge_chunks
from exchange.checks.ids import id_problem
from exchange.kinds.load import load_rules
from exchange.read.slices import CellError

from tests.unit.test_values import CELL_POOL

RULES = load_rules(Path(__file__).resolve().parents[2] / "rules")
TODAY = date(2026, 11, 22)
KINDS = {**{f"kind:{k}": s for k, s in RULES.kinds.items()},
         **{f"master:{k}": s for k, s in RULES.master.items()}}

# What clerks type: digits in both widths, IDs, names with every dot, dates and months in many
# spellings, separators, zero-width characters, line breaks, a control character.
ALPHABET = ("0123456789０１２３４５６７８９XxEe+-./:年月日元,，、;；·•・ \u3000\t\r\n\u200b\ufeff"
            "张三李四买提艾力汉族本科男女是否男性博士@_abc\x07")
TEXTS = st.text(ALPHABET, max_size=22)
PIECES = st.sampled_from(["320602198001012473", "32060219800101247x", "11010519491231002X",
                          "2026", "12", "202611", "2026-11", "20260230", "1980-02-29", "13912345678",
                          "21", "01", "310", "390", "5000", "1e3", "1_000", "-5", "0513-85123456",
                          "+86 139 1234 5678", "3.20602E+17", "[21]本科", "21-本科", "新增", "1班",
                          "0.08", "8%", "8‰", "％", "1.005", "0.0000005", ".5", "-0", "1_0", "5元",
                          "99999999999999999999999999.995", "1e-7", "0.1234565", "12.345"])
CELLS = st.one_of(
    st.sampled_from(CELL_POOL), TEXTS,
    st.lists(st.one_of(PIECES, TEXTS), min_size=1, max_size=3).map("".join),
    st.integers(min_value=-10**6, max_value=10**19), st.integers(min_value=190001, max_value=210012),
    st.integers(min_value=19000101, max_value=21001231), st.integers(min_value=1, max_value=80000),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=1, max_value=3e17).map(lambda f: math.floor(f) + 0.0),
    st.dates(min_value=date(1, 1, 1)), st.datetimes(min_value=datetime(1, 1, 1)),
    st.booleans(), st.none(), st.sampled_from([CellError("#N/A"), CellError("#VALUE!")]))


def _outcome(parsed: list) -> list:
    return [(values, [(f.row, f.code, f.column, f.field, dict(f.params)) for f in findings])
            for values, findings in parsed]


def test_every_column_type_has_a_columnar_rule() -> None:
    assert {c.type for s in KINDS.values() for c in s.columns} <= set(COLUMN_RULES)


def _same(rows: list, spec) -> None:  # type: ignore[no-untyped-def]
    """Whole, alone and in halves, the same; the values are the frame's."""
    judged = judge_cells(rows, spec.columns, RULES.tables, TODAY)
    whole = _outcome(judged.as_rows())
    alone = [_outcome(judge_cells([r], spec.columns, RULES.tables, TODAY).as_rows())[0]
             for r in rows]
    half = len(rows) // 2
    halves = [_outcome(judge_cells(part, spec.columns, RULES.tables, TODAY).as_rows())
              for part in (rows[:half], rows[half:])]
    assert whole == alone and whole == halves[0] + halves[1]
    frame = judged.frame()
    for i, (values, _) in enumerate(whole):
        for col in spec.columns:
            if col.field in values:
                value = frame[col.field][i]
                value = tuple(value) if isinstance(value, pl.Series) else value
                assert values[col.field] == value, (col.field, rows[i])
    for col in spec.columns:          # what FileRun reads instead of each row's dict
        assert judged.column(col.field) == [values.get(col.field) for values, _ in whole], \
            (col.field, rows)
    assert len(whole) == len(rows)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_cells_judge_a_row_alone_as_in_its_chunk(kind: str, data: st.DataObject) -> None:
    spec = KINDS[kind]
    width = len(spec.columns)
    rows = data.draw(st.lists(st.lists(CELLS, min_size=width, max_size=width + 1).map(tuple),
                              min_size=1, max_size=25))
    _same([(i + 4, r) for i, r in enumerate(rows)], spec)



@pytest.mark.parametrize("kind", ["kind:employee_add", "kind:wage", "kind:unit_change"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_chunks_judged_together_judge_as_each_alone(kind: str, data: st.DataObject) -> None:
    """Small files' chunks judged by one query (judge_chunks): each chunk's values, findings
    and frame as judge_cells gives them for the chunk alone, empty chunks included."""
    spec = KINDS[kind]
    width = len(spec.columns)
    drawn = data.draw(st.lists(st.lists(st.lists(CELLS, min_size=width, max_size=width)
                                        .map(tuple), max_size=6), min_size=1, max_size=4))
    chunks = [[(i + 4, r) for i, r in enumerate(rows)] for rows in drawn]
    together = judge_chunks(chunks, spec.columns, RULES.tables, TODAY)
    assert len(together) == len(chunks)
    for chunk, judged in zip(chunks, together):
        alone = judge_cells(chunk, spec.columns, RULES.tables, TODAY)
        assert judged.rows == alone.rows
        assert _outcome(judged.as_rows()) == _outcome(alone.as_rows())
        assert judged.frame().equals(alone.frame())

def test_a_chunk_past_small_chunk_judges_as_its_small_pieces() -> None:
    """A chunk of more than SMALL_CHUNK rows finds its failing cells with polars, a small one in
    Python (`_where`, `_picked`): the same values, findings and frame either way."""
    from exchange.checks.columnar import SMALL_CHUNK

    spec = KINDS["kind:employee_add"]
    good = ["320602198001012473", "张三", "男", "汉族", "1980-01-01", "2000-07-01", "1", "21",
            "01", "13912345678", "南通市", "202612", 5000, "310"]
    bad = [3.20602198001012e17, "张 三", "9", "汉族", "19800230", None, "1", "博士后", "01",
           "139", "南通市", "2026-13", 99999.5, "999"]
    width = len(spec.columns)
    rows = [(i + 4, tuple((bad if i % 7 == 3 else good)[:width])) for i in range(SMALL_CHUNK + 50)]
    whole = judge_cells(rows, spec.columns, RULES.tables, TODAY)
    pieces = [judge_cells(rows[at:at + 100], spec.columns, RULES.tables, TODAY)
              for at in range(0, len(rows), 100)]
    assert _outcome(whole.as_rows()) == [o for piece in pieces for o in _outcome(piece.as_rows())]
    assert any(findings for _, findings in _outcome(whole.as_rows()))
    assert whole.frame().equals(pl.concat([piece.frame() for piece in pieces]))
    for col in spec.columns:
        assert whole.column(col.field) == [v for piece in pieces for v in piece.column(col.field)]


# Row rules ----------------------------------------------------------------------------------
from decimal import Decimal  # noqa: E402

from exchange import codes as C  # noqa: E402
from exchange.checks.accounts import AccountContext, AccountFacts, AccountView  # noqa: E402
from exchange.checks.columnar_rows import FileRepeats  # noqa: E402
from exchange.checks.context import CheckContext, OpenDeclaration, PersonRecord, UnitRecord  # noqa: E402
from exchange.checks.engine import judge_chunk, parse_chunk, repeat_key, rule_names  # noqa: E402
from exchange.store.imports import fingerprint  # noqa: E402
from exchange.checks.ids import check_char  # noqa: E402


def _an_id(birth: str, seq: int) -> str:
    first = f"320602{birth}{seq:03d}"
    return first + check_char(first)


IDS = st.builds(_an_id, st.sampled_from(["19800101", "19991231", "20000229", "19491001"]),
                st.integers(min_value=0, max_value=6))
UNIT = UnitRecord("1001", "单位")
# The persons on file: insured here, elsewhere, stopped or without a unit; with arrears or not.
PERSONS = st.lists(st.builds(
    PersonRecord, IDS, st.sampled_from(["张三", "李四"]),
    person_no=st.sampled_from([None, "", "7", "5000"]),
    unit_code=st.sampled_from([None, "1001", "1002"]), status=st.sampled_from([None, "1", "2"]),
    arrears=st.sampled_from([Decimal(0), Decimal("12.5"), Decimal("0.01")]),
    staff_no=st.sampled_from([None, "5000", "0"]), class_code=st.sampled_from([None, "1班"]),
    paid_months=st.dictionaries(st.sampled_from(["310", "510", "110"]),
                                st.sampled_from(["", "201912", "202001", "202612"]), max_size=2),
    last_paid_month=st.sampled_from([None, "", "201501", "202001", "202612"])),
    max_size=8).map(lambda people: {p.id_number: p for p in people})
# Declarations on file: serials 1 to 6 (the cells name them), of this unit or another.
DECLARATION_KINDS = ["employee_add", "employee_stop", "wage", "no_such_kind"]
DECLARATIONS = st.lists(st.builds(
    OpenDeclaration, st.integers(min_value=1, max_value=6), st.sampled_from(DECLARATION_KINDS),
    st.sampled_from(["pending", "submitted", "approved", "rejected", "withdrawn", "odd"]),
    st.sampled_from(["1001", "1001", "1002"]), st.one_of(st.none(), IDS)), max_size=6,
    unique_by=lambda d: d.serial)
ROW_CELLS = st.one_of(IDS, IDS, st.sampled_from(["男", "女", "1", "2", "0", "", None, "1980-01-01",
                                            "1999-12-31", 19800101, "202612", "201501", 202001,
                                            "201912", 5000, 1200, 99999, 3000.0, "4000", "张三",
                                            3, "5", 6.0, "310", "310,510", "110、310", ",",
                                            "employee_add", "职工减少申报", "wage", "202001"]),
                      CELLS)
ROW_KINDS = sorted(RULES.kinds)


@pytest.mark.parametrize("key, cells, expected", [
    ("id_number", ["a", "b", None, "a", "", "c", "b", "a"], [(7, 4), (10, 5), (11, 4)]),
    ("serial", [7, 8, 7, None, 9, 8, 7, 10], [(6, 4), (9, 5), (10, 4)]),
])
def test_in_file_repeats_of_a_first_chunk_and_of_the_next(key: str, cells: list,
                                                          expected: list) -> None:
    """A file's first chunk and each later one (joined against the keys seen): each repeat
    names the first row of its key in the file; blank keys repeat nothing."""
    repeats = FileRepeats(key)
    first = pl.DataFrame({"row": list(range(4, 8)), key: cells[:4]})
    later = pl.DataFrame({"row": list(range(8, 12)), key: cells[4:]})
    assert [*repeats.findings(first).iter_rows(), *repeats.findings(later).iter_rows()] == expected
    assert FileRepeats(None).findings(first).is_empty()


def test_in_file_repeats_never_pair_two_keys_by_their_hash() -> None:
    """The keys seen are narrowed by hash, then matched by the key itself: a key seen earlier
    whose hash equals a new key's (a collision, forged here) is not the new key's first row."""
    repeats = FileRepeats("id_number")
    repeats.findings(pl.DataFrame({"row": [2, 3], "id_number": ["a", "b"]}))
    forged = pl.DataFrame({"_key": ["c"]}).select(pl.col("_key").hash().alias("_h"),
                                                   pl.lit("z").alias("_key"),
                                                   pl.lit(3, pl.Int64).alias("_first"))
    repeats.seen = pl.concat([repeats.seen, forged])
    later = pl.DataFrame({"row": [4, 5, 6], "id_number": ["c", "a", "c"]})
    assert list(repeats.findings(later).iter_rows()) == [(5, 2), (6, 4)]


def _engine(spec, rows: list, ctx, repeats: FileRepeats | None = None) -> dict:  # type: ignore[no-untyped-def]
    """Row -> findings as FileRun judges a chunk: cells, in-file repeats, fingerprints of the
    clean rows, the facts and the row rules."""
    chunk = parse_chunk(rows, spec, RULES.tables, TODAY, repeats or FileRepeats(repeat_key(spec)))
    for p in chunk.rows:
        if not p.findings:
            p.fingerprint = fingerprint(spec.kind, UNIT.code, p.values)
    found = judge_chunk(chunk, ctx, rule_names(spec, ctx.scope))
    return {p.outcome_row: _flat(f) for p, f in zip(chunk.rows, found)}


def _flat(findings: list) -> list:
    return [(f.code, f.column, f.field, dict(f.params)) for f in findings]


def _compare(spec, rows: list, people: dict, declarations: list,  # type: ignore[no-untyped-def]
             data: st.DataObject | None, accounts: AccountFacts | None = None) -> dict:
    """Rows judged by the engine as FileRun does, with these persons, declarations (and
    accounts) on file and some of the rows' fingerprints imported before: whole, each row alone
    (rows repeating an earlier one of the file left out) and in two chunks of one file."""
    ctx = CheckContext(RULES, spec, UNIT, TODAY, persons=people) if accounts is None else \
        AccountContext(RULES, spec, UNIT, TODAY, persons=people, facts=accounts)
    ctx.declarations = {d.serial: d for d in declarations}
    for d in sorted(declarations, key=lambda d: -d.serial):     # Q.unit_declarations' order
        if d.id_number and d.unit_code == UNIT.code and d.status != "withdrawn":
            ctx.by_person.setdefault(d.id_number, []).append(d)
    ctx.open_by_person = {d.id_number: d for d in declarations
                          if d.id_number and d.status in ("pending", "submitted")}
    chunk = parse_chunk(rows, spec, RULES.tables, TODAY, FileRepeats(repeat_key(spec)))
    clean = [fingerprint(spec.kind, UNIT.code, p.values) for p in chunk.rows if not p.findings]
    again = data.draw(st.lists(st.sampled_from(clean), max_size=2)) if clean and data else []
    ctx.imported = {f: 90 + i for i, f in enumerate(again)}
    ctx.imported["0" * 64] = 99
    whole = _engine(spec, rows, ctx)
    repeating = {n for n, fs in whole.items() if any(f[0] == C.DUPLICATE_IN_FILE for f in fs)}
    for number, cells in rows:
        if number not in repeating:
            assert _engine(spec, [(number, cells)], ctx) == {number: whole[number]}, cells
    repeats, half = FileRepeats(repeat_key(spec)), len(rows) // 2
    assert {**_engine(spec, rows[:half], ctx, repeats), **_engine(spec, rows[half:], ctx, repeats)} \
        == whole
    return whole


@pytest.mark.parametrize("kind", ROW_KINDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_row_rules_judge_a_row_alone_as_in_its_chunk(kind: str, data: st.DataObject) -> None:
    """The row rules written as masks, joins against the persons' records (paid months by
    insurance), the declarations on file (a withdrawal's target by serial or by person, a
    person's open declaration) and the imported fingerprints, an as-of join against the wage
    bounds, and the in-file repeat of a person: a row judged alone as in its chunk, a file
    judged in two chunks as in one."""
    spec = RULES.kinds[kind]
    width = len(spec.columns)
    drawn = data.draw(st.lists(st.lists(ROW_CELLS, min_size=width, max_size=width).map(tuple),
                               min_size=1, max_size=30))
    _compare(spec, [(i + 4, r) for i, r in enumerate(drawn)], data.draw(PERSONS),
             data.draw(DECLARATIONS), data)


def _plausible(col, ids: list[str]) -> st.SearchStrategy:  # type: ignore[no-untyped-def]
    """Cells a clerk would write in this column: mostly valid, sometimes blank or wrong."""
    table = RULES.tables.get(col.table or "")
    valid = {"id": st.sampled_from(ids), "name": st.sampled_from(["张三", "李四"]),
             "codes": st.sampled_from(["310", "310,510", "510、110", ","]),
             "month": st.sampled_from(["201912", "202001", 202612, "2026-12"]),
             "date": st.sampled_from(["1980-01-01", "1999-12-31"]),
             "wage": st.sampled_from([5000, 3000, "4000"]),
             "serial": st.one_of(st.integers(1, 6), st.none()),        # or by ID
             "phone": st.just("13912345678"), "postcode": st.just("226001"),
             "email": st.just("a@b.cn"), "year": st.just("2026"),
             }.get(col.type)
    if col.type in ("code", "id_type") and table is not None:
        valid = st.sampled_from([e.code for e in table.entries] + ["no_such_code"])
    if valid is None:
        valid = st.just(col.example or "人民路1号")
    return st.one_of(valid, valid, valid, st.sampled_from([None, "", "x"]))


@pytest.mark.parametrize("kind", ROW_KINDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_row_rules_judge_persons_and_declarations_on_file_alike_whole_or_alone(
        kind: str, data: st.DataObject) -> None:
    """As above, on rows a clerk would write: a few persons, several rows of one person, IDs on
    file or not, blank cells, serials and IDs of declarations on file (this unit's or another's,
    pending or decided), rows imported before."""
    spec = RULES.kinds[kind]
    ids = data.draw(st.lists(IDS, min_size=1, max_size=3, unique=True))
    people = {p.id_number: p for p in data.draw(st.lists(st.builds(
        PersonRecord, st.sampled_from(ids), st.sampled_from(["张三", "李四"]),
        unit_code=st.sampled_from([None, "1001", "1002"]), status=st.sampled_from([None, "1", "2"]),
        paid_months=st.dictionaries(st.sampled_from(["310", "510", "110"]),
                                    st.sampled_from(["", "201912", "202001", "202612"]),
                                    max_size=2),
        last_paid_month=st.sampled_from([None, "", "201501", "202001", "202612"]),
        arrears=st.sampled_from([Decimal(0), Decimal("12.5")])), max_size=4))}
    declarations = data.draw(st.lists(st.builds(
        OpenDeclaration, st.integers(min_value=1, max_value=6), st.sampled_from(DECLARATION_KINDS),
        st.sampled_from(["pending", "submitted", "approved", "withdrawn"]),
        st.sampled_from(["1001", "1001", "1002"]), st.one_of(st.none(), st.sampled_from(ids))),
        max_size=6, unique_by=lambda d: d.serial))     # a serial is the declaration's key
    cells = st.tuples(*(_plausible(c, ids) for c in spec.columns))
    drawn = data.draw(st.lists(cells, min_size=1, max_size=12))
    _compare(spec, [(i + 4, r) for i, r in enumerate(drawn)], people, declarations, data)


def test_the_row_rules_kept_for_a_unit_and_day_are_not_another_units_or_days() -> None:
    """The row rules' masks are made once per kind, unit, day and columns (_rules_of) and kept:
    the same person added by the unit that insures them and by another, and a stop judged on
    two days, each judged as its own unit and day would be, whatever was judged before."""
    add, stop = RULES.kinds["employee_add"], RULES.kinds["employee_stop"]
    number = _an_id("19800101", 7)
    people = {number: PersonRecord(number, "张三", unit_code="1001", status="1")}
    cells = {"id_number": number, "name": "张三", "education": "21", "post": "01",
             "change_month": "202612", "wage": 5000}
    row = [(4, tuple(cells.get(c.field) for c in add.columns))]
    other = UnitRecord("1002", "另一单位")

    def codes(unit: UnitRecord) -> list:
        ctx = CheckContext(RULES, add, unit, TODAY, persons=people)
        return [f[0] for f in _engine(add, row, ctx)[4]]

    for _ in range(2):
        assert C.PERSON_ALREADY_INSURED in codes(UNIT)
        assert C.PERSON_INSURED_ELSEWHERE in codes(other)
        assert C.PERSON_ALREADY_INSURED not in codes(other)
    # A stop of someone not on file, judged for 1001 then 1002: the message names no unit, but
    # the rules are made for each.
    stop_row = [(4, tuple({"id_number": _an_id("19800101", 8), "name": "李四"}.get(c.field)
                          for c in stop.columns))]
    for unit in (UNIT, other, UNIT):
        ctx = CheckContext(RULES, stop, unit, TODAY, persons={})
        assert C.PERSON_NOT_ON_FILE in [f[0] for f in _engine(stop, stop_row, ctx)[4]]


def test_a_withdrawal_by_id_finds_the_pending_declaration_behind_a_decided_one() -> None:
    """By ID (and type), the person's declarations newest first: one pending among them is the
    target; none pending names the newest; another unit's or another type's are not looked at."""
    first, second, third = (_an_id("19800101", n) for n in range(3))
    declarations = [OpenDeclaration(6, "wage", "approved", "1001", first),
                    OpenDeclaration(5, "wage", "pending", "1001", first),
                    OpenDeclaration(4, "employee_add", "approved", "1001", second),
                    OpenDeclaration(3, "employee_add", "submitted", "1001", second),
                    OpenDeclaration(2, "wage", "pending", "1002", third)]
    rows = [(4, (None, first, "wage")), (5, (None, first, None)), (6, (None, second, None)),
            (7, (None, third, None)), (8, (None, first, "employee_add")), (9, (2, None, None)),
            (10, (6, None, "employee_add")), (11, (None, None, None))]
    found = _compare(RULES.kinds["withdraw"], rows, {}, declarations, None)
    assert {n: [f[0] for f in fs] for n, fs in found.items() if fs} == {
        6: [C.DECLARATION_NOT_PENDING], 7: [C.DECLARATION_NOT_FOUND],
        8: [C.DECLARATION_NOT_FOUND], 9: [C.DECLARATION_NOT_FOUND],
        10: [C.DECLARATION_KIND_MISMATCH], 11: [C.REQUIRED]}
    assert found[6][0][3]["serial"] == 4


LOGINS = ["c2024-01", "d1", "1001", "a b", "x-1", "0c"]
SCHOOL_CLASSES = ["2024-01", "2024-02", "2025-01"]
ACCOUNTS = st.builds(AccountView, st.sampled_from(LOGINS), st.sampled_from(["1001", "1001", "1002"]),
                     st.sampled_from(["unit", "department", "class", "class"]),
                     st.sampled_from([None, "", "2024-01", "2024-01,2024-02", "2025-01,9999"]),
                     st.sampled_from(["active", "deleted"]))

# A sender that is one of the school's department or class logins.
ACTORS = st.builds(AccountView, st.sampled_from(LOGINS), st.just("1001"),
                   st.sampled_from(["department", "class"]),
                   st.sampled_from(["2024-01", "2024-01,2024-02,2025-01", ""]),
                   st.sampled_from(["active", "active", "deleted"]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_account_rules_judge_the_user_maintenance_alike_whole_or_alone(
        data: st.DataObject) -> None:
    """用户维护表: logins new, taken, a unit's, deleted or another school's; classes given,
    kept from the account or listed under a department; a sender that is a department or class
    login (or deleted), or the school itself; a login named twice in the file."""
    spec = RULES.kinds["user_maintenance"]
    accounts = {a.login: a for a in data.draw(st.lists(ACCOUNTS, max_size=5))}
    facts = AccountFacts(
        accounts=accounts, unit_codes=frozenset(data.draw(st.sets(st.sampled_from(LOGINS)))),
        classes=frozenset(data.draw(st.sets(st.sampled_from(SCHOOL_CLASSES)))),
        departments=data.draw(st.dictionaries(st.sampled_from(["数学系", "一年级组"]), st.lists(
            st.sampled_from(SCHOOL_CLASSES), max_size=3, unique=True), max_size=2)),
        actor=data.draw(st.one_of(st.none(), ACCOUNTS, ACTORS, ACTORS)))
    cells = st.tuples(
        st.sampled_from(["新增", "修改", "密码还原", "注销", "edit", "delete", None, "x"]),
        st.sampled_from(LOGINS + [None, ""]),
        st.sampled_from(["系", "班级", "department", None, "x"]),
        st.sampled_from(["2024-01", "2024-01,2024-02", " 2024-01 ,2024-01,", "2025-01，2", "a b",
                         "2024-01/2", "9999", "", None, "2025-01," + "9" * 33]),
        st.sampled_from(["数学系", "一年级组", None, ""]))
    rows = [(i + 4, r) for i, r in enumerate(data.draw(st.lists(cells, min_size=1, max_size=6)))]
    seen: dict[str, int] = {}
    for number, values in ((n, dict(zip(("operation", "login"), r))) for n, r in rows):
        login = values["login"]                  # as account_book's enrich finds repeats
        if login and seen.setdefault(login, number) != number:
            facts.repeats[number] = seen[login]
    _compare(spec, rows, {}, [], data, facts)


# Whole numbers in text: 5000.0000000000000001 is not 5000 (a float would say it is).
DECIMAL_TEXTS = st.builds(
    lambda whole, fraction, exponent: whole + (f".{fraction}" if fraction is not None else "")
    + (f"e{exponent}" if exponent is not None else ""),
    st.from_regex(r"[1-9][0-9]{0,17}", fullmatch=True),
    st.one_of(st.none(), st.from_regex(r"[0-9]{0,22}", fullmatch=True)),
    st.one_of(st.none(), st.integers(min_value=-25, max_value=12)))


@settings(max_examples=300, deadline=None)
@given(st.lists(DECIMAL_TEXTS, min_size=1, max_size=20))
def test_a_wage_in_text_is_whole_exactly_as_decimal_says(texts: list) -> None:
    from exchange.checks.values import parse_integer

    spec = RULES.kinds["employee_add"]
    at = [c.field for c in spec.columns].index("wage")
    rows = [(i + 4, tuple(t if j == at else None for j in range(len(spec.columns))))
            for i, t in enumerate(texts)]
    for text, (values, findings) in zip(texts, judge_cells(rows, spec.columns, RULES.tables,
                                                           TODAY).as_rows()):
        want = parse_integer(text)
        if want is not None and want >= 2**53:       # beyond a float's digits: not compared
            continue
        assert values.get("wage") == want, text
        assert (C.WAGE_NOT_INTEGER in [f.code for f in findings]) == (want is None), text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_blank_column_is_judged_once_then_remembered(kind: str) -> None:
    """A column the header lacks is blank in every file: its judgement (nothing, `required`, its
    default) is remembered by every rule, not judged by each file's query again; the
    judgements are the same either way, for a blank among text and among numbers."""
    from exchange.checks.columnar import _BLANK_KEYS, _compiled

    spec = KINDS[kind]
    width = len(spec.columns)
    chunks = [[(4, (None,) * width), (5, ("x",) * width)], [(4, (None,) * width), (5, (7,) * width)]]
    first = [_outcome(judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows())
             for rows in chunks]
    for plan in _compiled(spec.columns, RULES.tables, TODAY):
        if plan.prefix is not None:            # a rule judged alone (email) remembers nothing
            assert all(key in plan.memo for key in _BLANK_KEYS)
    again = [_outcome(judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows())
             for rows in chunks]
    assert again == first


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_formulas_error_value_is_told_in_every_column(kind: str) -> None:
    """A cell showing a formula's error value (#N/A …) is `cell.formula_error` in every column of
    every kind, quoting it, required or not, with a default or not, free text too; it is never
    read as a value (a free-text 联系地址 of "#N/A" was stored), and text typed as #N/A is not
    such a cell."""
    from exchange import codes as C

    spec = KINDS[kind]
    width = len(spec.columns)
    rows = [(4, (CellError("#N/A"),) * width), (5, ("#N/A",) * width)]
    (values, findings), (_, typed) = judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows()
    assert [(f.field, f.code, f.params) for f in findings] == \
        [(c.field, C.FORMULA_ERROR, {"value": "#N/A"}) for c in spec.columns]
    assert "#N/A" in findings[0].message and values == {}
    assert C.FORMULA_ERROR not in [f.code for f in typed]


# IDs of the right form whose birth digits are any eight digits or a real day (from before 1890
# to after today), and whose check character is right half the time.
ID_BIRTHS = st.one_of(st.text("0123456789", min_size=8, max_size=8),
                      st.dates(min_value=date(1850, 1, 1), max_value=date(2100, 12, 31))
                      .map(lambda d: f"{d:%Y%m%d}"))
FORMED_IDS = st.builds(lambda head, born, tail, check, right: (
    head + born + tail + (check_char(head + born + tail) if right else check)),
    st.text("0123456789", min_size=6, max_size=6), ID_BIRTHS,
    st.text("0123456789", min_size=3, max_size=3), st.sampled_from("0123456789X"), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(FORMED_IDS, st.text("0123456789Xx", min_size=16, max_size=19)),
                min_size=1, max_size=25))
def test_the_id_rule_judges_as_the_gb11643_functions(numbers: list) -> None:
    """The column rule's birth date (a strptime) and MOD 11-2 check (base 13: see _id) give
    the codes ids.id_problem gives, digit for digit."""
    spec = RULES.kinds["employee_add"]
    at = [c.field for c in spec.columns].index("id_number")
    rows = [(i + 4, tuple(n if j == at else None for j in range(len(spec.columns))))
            for i, n in enumerate(numbers)]
    judged = judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows()
    for number, (values, findings) in zip(numbers, judged):
        codes = [f.code for f in findings if f.field == "id_number"]
        assert codes == [c for c in [id_problem(number.upper(), TODAY)] if c], number
        assert values.get("id_number") == (None if codes else number.upper())


def test_a_struct_field_in_a_rule_is_compiled_not_shared() -> None:
    """polars panics when asked whether a struct field's expression keeps length: _shared
    leaves such a subtree unshared and the stage still computes what it says."""
    from exchange.checks.columnar import _expr, _shared

    field = pl.col("s").str.extract_groups(r"(\d+)-(\d+)").struct[1]
    stage = {"v": field + field, "c": field.str.len_chars()}
    frame = pl.DataFrame({"s": ["12-345", "x", None]})
    out = frame.lazy()
    for part in _shared(stage, "_t"):
        out = out.with_columns(_expr(text).alias(name) for name, text in part.items())
    assert out.select("v", "c").collect().rows() == frame.select(
        **{k: e for k, e in stage.items()}).rows()


@given(st.dates(min_value=date(1930, 1, 1), max_value=TODAY))    # a birth date is past
@settings(max_examples=30, deadline=None)
def test_a_date_saved_to_csv_with_its_time_of_day_is_read_as_its_date(d: date) -> None:
    """Excel's CSV writes a date cell as 1980/1/1 0:00, LibreOffice's as 1980-01-01 00:00:00:
    the 出生日期 and the 变更日期 are the date and its month, not date.invalid and month.invalid;
    so are 1980年1月1号 and, for a month, 2026年12月份."""
    spec = RULES.kinds["employee_add"]
    fields = [c.field for c in spec.columns]
    spellings = [f"{d.year}/{d.month}/{d.day} 0:00", f"{d.isoformat()} 00:00:00",
                 f"{d.isoformat()}T08:30:15", f"{d.year}年{d.month}月{d.day}日 17:05",
                 f"{d.year}年{d.month}月{d.day}号"]
    rows = [(i + 4, tuple(s if f in ("birth_date", "change_month") else None for f in fields))
            for i, s in enumerate(spellings)]
    for spelling, (values, findings) in zip(spellings, judge_cells(
            rows, spec.columns, RULES.tables, TODAY).as_rows()):
        assert (values.get("birth_date"), values.get("change_month")) == (d.isoformat(), f"{d:%Y%m}"), \
            spelling
        assert not {"date.invalid", "month.invalid"} & {f.code for f in findings}, spelling
    month = [(4, tuple(f"{d.year}年{d.month}月份" if f == "change_month" else None for f in fields))]
    (values, _), = judge_cells(month, spec.columns, RULES.tables, TODAY).as_rows()
    assert values.get("change_month") == f"{d:%Y%m}"
    late = [(4, tuple("2016-07-01 25:00" if f in ("birth_date", "change_month") else None
                      for f in fields))]
    (values, findings), = judge_cells(late, spec.columns, RULES.tables, TODAY).as_rows()
    assert {"date.invalid", "month.invalid"} <= {f.code for f in findings}


def test_cells_as_a_general_cell_or_a_currency_format_saves_them() -> None:
    """01-汉族 and 01 typed into General cells became 1; a wage formatted as currency is saved to
    CSV as ￥5,000.00; a mobile written 138-0013-8000, a landline (0513)85123456."""
    spec = RULES.kinds["employee_add"]
    fields = [c.field for c in spec.columns]
    cells = [{"ethnicity": 1, "post": 1, "wage": "￥5,000.00", "phone": "139-1234-5678"},
             {"ethnicity": "1", "post": 1.0, "wage": "¥5000", "phone": "（0513）85123456"},
             {"ethnicity": "1-汉族", "post": "7", "wage": "5000¥", "phone": "139-1234-567"}]
    rows = [(i + 4, tuple(c.get(f) for f in fields)) for i, c in enumerate(cells)]
    judged = judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows()
    assert [{f: v.get(f) for f in ("ethnicity", "post", "wage", "phone")} for v, _ in judged] == [
        {"ethnicity": "01", "post": "01", "wage": 5000, "phone": "13912345678"},
        {"ethnicity": "01", "post": "01", "wage": 5000, "phone": "0513-85123456"},
        {"ethnicity": "01", "post": None, "wage": None, "phone": None}]
    assert [(f.column, f.code) for f in judged[2][1] if f.code != "required"] == [
        ("工作岗位", "code.unknown"), ("联系电话", "phone.invalid"), ("缴费工资", "wage.not_integer")]


def test_names_with_rare_han_characters_and_zero() -> None:
    """〇 (U+3007) and the extensions' characters (𠮷, 䶮) are in names; digits are not."""
    spec = RULES.kinds["employee_add"]
    fields = [c.field for c in spec.columns]
    names = ["王〇", "李〇〇", "王𠮷", "张䶮", "王0", "王〇1"]
    rows = [(i + 4, tuple(n if f == "name" else None for f in fields)) for i, n in enumerate(names)]
    judged = judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows()
    assert [v.get("name") for v, _ in judged] == names[:4] + [None, None]


def test_a_month_that_may_be_january_or_october_is_not_guessed() -> None:
    """2026.10 in a General cell is the number 2026.1, which a CSV saves as the text 2026.1: as
    a number it was refused; as text it was read as January. Neither is guessed now."""
    spec = RULES.kinds["employee_add"]
    fields = [c.field for c in spec.columns]
    months = ["2026.1", 2026.1, "2026.10", "2026.01", "2026.2", "2026/1"]
    rows = [(i + 4, tuple(m if f == "change_month" else None for f in fields)) for i, m in enumerate(months)]
    judged = judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows()
    assert [v.get("change_month") for v, _ in judged] == [None, None, "202610", "202601", "202602", "202601"]
    assert ["month.invalid" in {f.code for f in fs} for _, fs in judged] == [True, True] + [False] * 4


def test_numbers_no_spreadsheet_writes_and_the_date_zero_are_not_values() -> None:
    """NaN, infinity and numbers past 1e300 (a script's, never Excel's or WPS's) are judged as
    Excel's invalid-number error, #NUM!: a NaN in 户主姓名 was imported as the name "nan". A date
    cell of 0 (an empty formula result formatted as a date, shown 1900-01-00, read 1899-12-30;
    calamine also reads a NaN with a date format so) is no month: it was the month 189912."""
    columns = RULES.kinds["wage"].columns
    row = {c.field: None for c in columns}
    row.update(person_no="P1", id_number="320602198001012473", name="张三", start_month=202612,
               wage=6000)

    def judged(**cells):  # type: ignore[no-untyped-def]
        values = tuple({**row, **cells}[c.field] for c in columns)
        [(_, findings)] = judge_cells([(4, values)], columns, RULES.tables, TODAY).as_rows()
        return [(f.code, f.field, dict(f.params).get("value")) for f in findings]

    assert judged() == []
    for bad in (math.nan, math.inf, -math.inf, 1e305):
        assert judged(wage=bad) == [(C.FORMULA_ERROR, "wage", "#NUM!")]
        assert judged(name=bad)[0][:2] == (C.FORMULA_ERROR, "name")
    assert [f[:2] for f in judged(start_month=datetime(1899, 12, 30))] == [
        (C.MONTH_INVALID, "start_month")]
    assert judged(start_month=datetime(1900, 1, 31)) == []


def test_free_text_stays_as_written() -> None:
    """DESIGN: data stays as written. Addresses and remarks were folded (NFKC) as codes and IDs
    are read: 监护人：插父 reached the centre's review workbook as 监护人:插父, ①号楼 as 1号楼. Only
    invisible characters, the surrounding spaces and a leading apostrophe go."""
    columns = RULES.kinds["resident_add"].columns
    row = {c.field: None for c in columns}
    row.update(id_number="350302201205061238", name="林小明", category="12", class_code="2024-01",
               remark="'监护人：插父（父亲）\u200b①号楼\u3000")
    values = tuple(row[c.field] for c in columns)
    [(parsed, findings)] = judge_cells([(4, values)], columns, RULES.tables, TODAY).as_rows()
    assert findings == []
    assert parsed["remark"] == "监护人：插父（父亲）①号楼"
    columns = RULES.kinds["employee_add"].columns
    row = {c.field: None for c in columns}
    row.update(address=" 人民路１号Ⅲ区 ")
    [(parsed, _)] = judge_cells([(4, tuple(row[c.field] for c in columns))], columns, RULES.tables,
                                TODAY).as_rows()
    assert parsed["address"] == "人民路１号Ⅲ区"


def test_a_class_code_excel_turned_into_a_date_or_a_lost_number_is_no_code() -> None:
    """2024-01 typed into a General cell is a date to Excel (Jan-24 in its CSV); a long number
    keeps 15 digits (1E+20); TRUE is no code. Each was added by the 班级信息表 as a class that
    could never be deleted; they are refused, with the advice to format the column as text."""
    columns = RULES.kinds["class_info"].columns

    def judged(code):  # type: ignore[no-untyped-def]
        values = tuple({"class_code": code, "name": "一年级1班"}.get(c.field) for c in columns)
        [(parsed, findings)] = judge_cells([(4, values)], columns, RULES.tables, TODAY).as_rows()
        return parsed.get("class_code"), [f.code for f in findings]

    for code in ("2024-01", 2024, 2024.0, "一年级1班"):
        assert judged(code) == (str(code).removesuffix(".0"), [])
    for code in (datetime(2024, 1, 1), "Jan-24", 1e20, True):
        parsed, codes = judged(code)
        assert parsed is None and codes == [C.FORMAT_INVALID]
    values = tuple({"class_code": "Jan-24", "name": "x"}.get(c.field) for c in columns)
    [(_, [finding])] = judge_cells([(4, values)], columns, RULES.tables, TODAY).as_rows()
    assert "“文本”" in finding.message
