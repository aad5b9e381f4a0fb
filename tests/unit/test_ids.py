"""GB 11643 IDs: generated IDs pass, any single changed character fails, clerk spellings fold."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, strategies as st

from exchange import codes as C
from exchange.checks.ids import check_char, id_problem, looks_numeric, normalise_id, sex_code

TODAY = date(2026, 11, 22)
regions = st.sampled_from(["110101", "320602", "350102", "220102", "652801", "440305"])
births = st.dates(min_value=date(1920, 1, 1), max_value=TODAY - timedelta(days=1))
seqs = st.integers(min_value=0, max_value=999)


def build(region: str, born: date, seq: int) -> str:
    first = f"{region}{born:%Y%m%d}{seq:03d}"
    return first + check_char(first)


@given(regions, births, seqs)
def test_generated_ids_are_valid(region: str, born: date, seq: int) -> None:
    assert id_problem(build(region, born, seq), TODAY) is None


@given(regions, births, seqs, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_one_changed_character_fails(region: str, born: date, seq: int, pos: int, ch: str) -> None:
    good = build(region, born, seq)
    bad = good[:pos] + ch + good[pos + 1:]
    if bad != good:
        assert id_problem(bad, TODAY) is not None


@given(regions, births, seqs)
def test_lowercase_x_and_full_width_are_folded(region: str, born: date, seq: int) -> None:
    good = build(region, born, seq)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in good.lower())
    assert normalise_id(full_width) == good
    assert normalise_id(f" {good[:6]} {good[6:].lower()} ") == good


def test_known_id_with_x_check_character() -> None:
    assert check_char("11010519491231002") == "X"
    assert id_problem("11010519491231002X", TODAY) is None
    assert id_problem("11010519491231002x".upper(), TODAY) is None


def test_each_failure_has_its_code() -> None:
    assert id_problem("32060219800101247", TODAY) == C.ID_FORMAT          # 17 characters
    assert id_problem("3206021980010124A3", TODAY) == C.ID_FORMAT
    assert id_problem("320602198002302471", TODAY) == C.ID_BIRTHDATE      # 30 February
    assert id_problem(build("320602", date(2030, 1, 1), 1), TODAY) == C.ID_BIRTHDATE
    good = build("320602", date(1980, 1, 1), 247)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert id_problem(wrong, TODAY) == C.ID_CHECKSUM


def test_sex_from_seventeenth_digit() -> None:
    assert sex_code(build("320602", date(1980, 1, 1), 247)) == "1"
    assert sex_code(build("320602", date(1980, 1, 1), 248)) == "2"


def test_scientific_notation_is_recognised_as_numeric() -> None:
    assert looks_numeric("3.20602E+17")
    assert looks_numeric("3.206021980010125e+17")
    assert not looks_numeric("320602198001012473")


def test_an_id_excel_kept_to_15_digits_says_so_as_text_too() -> None:
    """Typed back as text, or saved as a CSV, an ID Excel had stored as a number ends in 000
    and fails its check: the clerk is told the column was a number (id.numeric), not to check
    the digits one by one."""
    from datetime import date

    from exchange import codes as C
    from exchange.checks.ids import check_char, id_problem

    base = "22010620180602023"
    assert id_problem(base + check_char(base), date(2026, 12, 7)) is None
    assert id_problem("220106201806020000", date(2026, 12, 7)) == C.ID_NUMERIC
    wrong = "1" if check_char(base) != "1" else "2"
    assert id_problem(base + wrong, date(2026, 12, 7)) == C.ID_CHECKSUM
