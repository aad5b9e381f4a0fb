"""guard.check_extent and check_member_rows: the quick look (`_beyond`) that lets most sheets
through without reading every reference must refuse exactly what the full check refuses."""
from __future__ import annotations

import io
import itertools
import zipfile

import pytest

from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.read.guard import (TITLE_ROOM, check_extent, check_member_extent, check_member_rows,
                                 column_number)
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
               f'<{ns}c r="A{row}"><{ns}v>1</{ns}v></{ns}c></{ns}row>'.encode())
        got = refused(check_member_rows, member(xml), "sheet.xml", limits, 4096)
        assert got == ("row_count" if row > last_row else None), (row, ns, quote, limits)
    # A row number that is not a row's (no cell follows) is not counted; a leading zero is no more.
    assert refused(check_member_rows, member(b'<row r="9999999"></row><row r="0000007"><c>'
                                             b'<v>1</v></c></row>'), "sheet.xml", LIMITS[0]) is None


# Cells that hold nothing, as writers leave them: formatted and never filled (Excel, openpyxl),
# emptied, or spelled out with an empty value. calamine leaves them out of a sheet's rectangle.
EMPTY_CELLS = ['<{ns}c r="{ref}" s="1"/>', '<{ns}c r="{ref}" s="1" t="n"></{ns}c>',
               '<{ns}c r="{ref}" t="s"/>', '<{ns}c r="{ref}" s="2">\n  </{ns}c>',
               '<{ns}c r="{ref}"><{ns}v></{ns}v></{ns}c>', '<{ns}c r="{ref}" t="inlineStr"/>',
               '<{ns}c s="1"/>']
FILLED_CELLS = ['<{ns}c r="{ref}"><{ns}v>1</{ns}v></{ns}c>', '<{ns}c r="{ref}" t="s"><{ns}v>0</{ns}v></{ns}c>',
                '<{ns}c r="{ref}" t="inlineStr"><{ns}is><{ns}t> </{ns}t></{ns}is></{ns}c>',
                '<{ns}c r="{ref}"><{ns}f>A1</{ns}f></{ns}c>', '<{ns}c t="str"><{ns}v>x</{ns}v></{ns}c>']


def far_sheet(cell: str, ref: str, ns: str, padding: int = 0) -> bytes:
    row = "".join(ch for ch in ref if ch.isdigit())
    return (f'<{ns}row r="1"><{ns}c r="A1"><{ns}v>1</{ns}v></{ns}c></{ns}row>' + " " * padding +
            f'<{ns}row r="{row}">' + cell.format(ns=ns, ref=ref) + f'</{ns}row>').encode()


def said(check, *args) -> tuple[str, str | None] | None:
    """(what, cell) of a check's refusal, or None."""
    try:
        check(*args)
    except FileRejected as exc:
        return exc.params.get("what", exc.code), exc.params.get("cell")
    return None


@pytest.mark.parametrize("ns", ["", "x:"])
def test_a_far_cell_holding_nothing_is_let_be_and_one_holding_a_value_is_refused_by_name(
        ns: str) -> None:
    limits = Limits()
    for ref, what in (("A1048576", "row_count"), ("XFD5", "column_count"),
                      ("XFD1048576", "column_count"), ("GS500030", "column_count"),
                      ("B500031", "row_count")):
        far_row = what == "row_count" or ref == "XFD1048576"
        # padding: the far cell cut between two blocks of 4096 bytes, at every place in it
        for padding in (0, *range(4096 - 140, 4096 - 20, 7)):
            for cell in EMPTY_CELLS + FILLED_CELLS:
                xml = far_sheet(cell, ref, ns, padding)
                filled, named = cell in FILLED_CELLS, 'r="{ref}"' in cell
                # The whole sheet (a small one) and a block at a time (a large one, before it
                # is read): a named cell by its name; one that does not name itself (`r` is
                # optional) by its row, its column being its place in the row (the first).
                want = None if not filled else (what, ref) if named else \
                    ("row_count", None) if far_row else None
                assert said(check_extent, xml, limits) == want, (cell, ref)
                assert said(check_member_extent, member(xml), "sheet.xml", limits, 4096) == want, \
                    (cell, ref, padding)
                # A large sheet's rows, before it is read (its slices are checked as read).
                want = ("row_count", None) if filled and far_row else None
                assert said(check_member_rows, member(xml), "sheet.xml", limits, 4096) == want, \
                    (cell, ref, padding)
    # The cells near the data are read as before: only the far ones are looked at.
    assert said(check_extent, far_sheet(FILLED_CELLS[0], "GR500030", ns), limits) is None


def test_a_block_ending_inside_a_shared_string_cell_is_not_a_damaged_index() -> None:
    """check_member_extent reads a sheet a block at a time: a block that ends after a shared
    string cell's `<v>`, or inside its index, holds no damaged index (the next block begins
    with the cell whole); an index that is not a whole number is refused wherever blocks end."""
    xml = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>{r * 37}</v></c><c r="B{r}"><v>{r}</v></c>'
                  f'</row>' for r in range(1, 80)).encode()
    bad = xml.replace(b"<v>1110</v>", b"<v>1_110</v>")
    assert bad != xml
    for block in range(560, 660):                  # every place across a few cells
        assert said(check_member_extent, member(xml), "sheet.xml", Limits(), block) is None
        assert said(check_member_extent, member(bad), "sheet.xml", Limits(), block) == \
            ("file.unreadable", None), block


def test_a_far_cell_with_long_attributes_cut_between_blocks_is_still_refused() -> None:
    """A cell whose start tag is longer than the overlap carried from one block to the next
    (its `<c` before the overlap, its reference in it) cannot hide at a block's end: it is not
    seen whole in the next block, so it counts as holding a value in the first. (A reference
    itself cut by the block's end is seen in neither: such a sheet meets the reading worker's
    limits instead, as any sheet past the guard's look does.)"""
    cell = '<c s="1" xx="' + "p" * 700 + '" r="{ref}"><v>1</v></c>'
    cases = 0
    for padding in range(4096 - 820, 4096 - 10, 3):
        xml = far_sheet(cell, "XFD5", "", padding)
        start, ref_end = xml.index(b'<c s="1"'), xml.index(b'r="XFD5"') + len(b'r="XFD5"')
        if not (start < 4096 - 512 and ref_end <= 4096 < xml.index(b"</c>", start)):
            continue
        cases += 1
        assert said(check_member_extent, member(xml), "sheet.xml", Limits(), 4096) == \
            ("column_count", "XFD5"), padding
    assert cases > 2


@pytest.mark.parametrize("fragment", [b' t="s"', b' t="e"', b"<row ", b'<row r="1"', b"<mergeCell ",
                                      b"<c ", b' hidden="1"'])
@pytest.mark.parametrize("stream_above", [0, 1 << 40], ids=["sliced", "whole"])
def test_a_flood_of_tag_pieces_is_refused_in_linear_time(tmp_path, fragment: bytes,  # type: ignore[no-untyped-def]
                                                        stream_above: int) -> None:
    """A tag of a million attribute-like pieces that never closes: each of the guard's and the
    slices' looks at a cell or row ran on to the tag's end, so the time grew with the square of
    its length (a 1.7 MB file took the reading worker's whole minute, every file of every unit
    waiting behind it). A MiB of it is refused in well under a second."""
    import random
    import signal
    import time

    import openpyxl

    from exchange.read.guard import sniff
    from exchange.read.tables import open_book

    book = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.append(["身份证号", "姓名"])
    wb.save(book)
    letters = random.Random(7).choices(b"abcdefghijklmnopqrstuvwxyz", k=1 << 20)
    junk = b"".join(fragment + bytes(letters[i:i + 8]) for i in range(0, 1 << 20, len(fragment) + 8))
    source = zipfile.ZipFile(io.BytesIO(book.getvalue()))
    path = tmp_path / "flood.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>",
                                    b'<row r="8"><c r="A8"' + junk + b"><v>1</v></c></row></sheetData>")
            z.writestr(info.filename, data)
    limits = Limits()

    def too_slow(*_: object) -> None:
        raise AssertionError("still reading after 20 s")

    signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(20)
    started = time.monotonic()
    try:
        with pytest.raises(FileRejected):
            with open_book(path, sniff(path, limits), limits, stream_above=stream_above) as opened:
                for sheet in opened.sheets:
                    list(sheet.rows)
    finally:
        signal.alarm(0)
    assert time.monotonic() - started < 3


FODS = ('<?xml version="1.0" encoding="UTF-8"?>\n\n<office:document xmlns:office='
        '"urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:version="1.3" '
        'office:mimetype="application/vnd.oasis.opendocument.spreadsheet"><office:body>'
        '<office:spreadsheet><table:table table:name="Sheet1"/></office:spreadsheet></office:body>'
        '</office:document>\n')


@pytest.mark.parametrize("name, content, reason", [
    ("员工.fods", FODS, "fods"),                       # LibreOffice's flat XML: Excel cannot open it
    ("导出.xls", "<html><body><table><tr><td>身份证号</td></tr></table></body></html>", "web_table"),
    ("增员.xlsb", "not a workbook, just bytes", "corrupt"),   # was file.unknown_kind (keep the headers)
])
def test_text_that_is_no_table_is_refused_for_what_it_is(tmp_path, name, content, reason) -> None:  # type: ignore[no-untyped-def]
    from exchange import codes as C
    from exchange.messages import file_message
    from exchange.read.guard import sniff

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FileRejected) as refused_as:
        sniff(path, Limits())
    assert (refused_as.value.code, refused_as.value.params) == (C.FILE_UNREADABLE, {"reason": reason})
    message = file_message(C.FILE_UNREADABLE, {"reason": reason})
    assert ("LibreOffice 或 WPS" in message) == (reason == "fods") and ("用 Excel 打开" in message) != (reason == "fods")


def test_a_csv_renamed_to_xlsx_is_still_read_as_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from exchange.read.guard import sniff

    path = tmp_path / "增员.xlsx"
    path.write_text("身份证号,姓名\n", encoding="gb18030")
    assert sniff(path, Limits()).format == "csv"
