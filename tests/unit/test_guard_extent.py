"""guard.check_extent and check_member_rows: the quick look (`_beyond`) that lets most sheets
through without reading every reference must refuse exactly what the full check refuses."""
from __future__ import annotations

import io
import itertools
import zipfile

import pytest

from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.read.guard import TITLE_ROOM, check_extent, check_member_rows, column_number
from tests.flows.hostile_files import column_letters


def refused(check, *args) -> str | None:
    try:
        check(*args)
    except FileRejected as exc:
        return exc.params["what"]
    return None


LIMITS = [Limits(), Limits(max_columns=5, max_rows=270), Limits(max_columns=26, max_rows=9_969),
          Limits(max_columns=703, max_rows=1_000)]


@pytest.mark.parametrize("limits", LIMITS)
def test_a_cell_just_past_a_limit_is_refused_and_one_at_it_is_not(limits: Limits) -> None:
    last_row = limits.max_rows + TITLE_ROOM
    columns = [1, 2, 25, 26, 27, 52, 53, 200, 201, 702, 703, 704, 16_384, limits.max_columns - 1,
               limits.max_columns, limits.max_columns + 1]
    rows = [1, 9, 10, 99_999, 100_000, 499_999, 500_000, 9_999_999, last_row - 1, last_row,
            last_row + 1]
    for column, row, case, quote, spaces in itertools.product(
            [c for c in columns if c > 0], rows, (str.upper, str.lower), '"\'', ("", " ")):
        ref = case(column_letters(column)) + str(row)
        xml = f'<row r="1"><c{spaces} s="1" r{spaces}={spaces}{quote}{ref}{quote}><v>1</v></c></row>'
        want = ("column_count" if column > limits.max_columns else
                "row_count" if row > last_row else None)
        assert refused(check_extent, xml.encode(), limits) == want, (ref, limits)
    assert column_number(b"gr") == 200


def member(xml: bytes) -> zipfile.ZipFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("sheet.xml", xml)
    return zipfile.ZipFile(buf)


@pytest.mark.parametrize("limits", LIMITS)
def test_a_row_just_past_the_limit_is_refused_and_one_at_it_is_not(limits: Limits) -> None:
    last_row = limits.max_rows + TITLE_ROOM
    rows = (1, last_row - 1, last_row, last_row + 1, 9_999_999, 10 ** (len(str(last_row)) - 1))
    # With a namespace prefix (looked at by _beyond) and without (by the quicker _rows_beyond),
    # quoted and spaced as XML allows.
    for row, ns, (quote, space), padding in itertools.product(
            rows, ("x:", ""), (('"', ""), ("'", " "), ('"', "\n")), (0, 5000)):
        # padding: a row number cut between two blocks is seen whole
        xml = (b" " * padding + f'<{ns}row{space} spans="1:2" r{space}={space}{quote}{row}{quote}>'
               f'<{ns}c r="A{row}"/></{ns}row>'.encode())
        got = refused(check_member_rows, member(xml), "sheet.xml", limits, 4096)
        assert got == ("row_count" if row > last_row else None), (row, ns, quote, limits)
    # A row number that is not a row's (no cell follows) is not counted; a leading zero is no more.
    assert refused(check_member_rows, member(b'<row r="9999999"></row><row r="0000007"><c/></row>'),
                   "sheet.xml", LIMITS[0]) is None
