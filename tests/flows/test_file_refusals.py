"""Whole-file refusals: every file ends archived or quarantined with a receipt saying why."""
from __future__ import annotations

import io
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from exchange import codes as C
from exchange.store.models import Declaration, FileRecord
from tests import ods
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import process_one, receipt_of

# Reading and refusing files, before anything is stored: the database is incidental here (a file's
# row and its receipt), and the flows that store on PostgreSQL run on both backends elsewhere.
# SQLite only keeps the suite's time for what differs between the backends.
pytestmark = pytest.mark.backends("sqlite")

TITLE = "职工批量新增申报填写表"


def refused(instance, db, code: str, *, quarantined: bool):  # type: ignore[no-untyped-def]
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert [e["code"] for e in receipt["file_errors"]] == [code]
    assert receipt["status"] == ("quarantined" if quarantined else "rejected")
    assert receipt["counts"]["accepted"] == 0
    text = (instance.unit_outbox(result.unit, "receipts") / result.receipt_name).read_text(encoding="utf-8-sig")
    assert "原因：" in text and receipt["file_errors"][0]["message"] in text
    where = instance.quarantine if quarantined else instance.archive
    assert len([p for p in where.rglob("*") if p.is_file()]) == 1
    assert not any(instance.unit_inbox(result.unit).iterdir())
    with db.session() as s:
        assert s.scalars(select(Declaration)).all() == []
        assert s.scalars(select(FileRecord.file_code)).all() == [code]
    return receipt


def test_not_a_workbook(instance, db):  # type: ignore[no-untyped-def]
    (instance.unit_inbox("1001") / "photo.xlsx").write_bytes(bytes(range(256)) * 10)
    refused(instance, db, C.FILE_UNREADABLE, quarantined=True)


def test_bytes_without_nul_are_not_a_csv(instance, db):  # type: ignore[no-untyped-def]
    """A binary file with no NUL byte (a PDF's stream, say) named .csv is still refused whole."""
    blob = b"%PDF-1.4\n" + bytes(b for b in range(1, 256) if b not in (10, 13)) * 12
    (instance.unit_inbox("1001") / "名单.csv").write_bytes(blob)
    refused(instance, db, C.FILE_UNREADABLE, quarantined=True)


def test_a_gb18030_csv_with_a_stray_control_character_is_read_row_by_row(instance, db):  # type: ignore[no-untyped-def]
    """A BEL pasted into a name and an ESC into an address: those two rows are refused by cell
    (text.control), the file's other rows imported."""
    rows = [add_row(make_id("19900505", "611"), name="周\x07杰"),
            add_row(make_id("19900505", "621"), address="人民路\x1b6号"),
            add_row(make_id("19900505", "631"), name="吴用")]
    lines = [TITLE, ",".join(ADD_HEADERS)] + [",".join("" if v is None else str(v) for v in r)
                                              for r in rows]
    (instance.unit_inbox("1001") / "增员.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "partial" and receipt["counts"]["accepted"] == 1
    assert [(r["row"], [(e["column"], e["code"]) for e in r["errors"]]) for r in receipt["rows"]] == [
        (3, [("姓名", C.TEXT_CONTROL)]), (4, [("联系地址", C.TEXT_CONTROL)])]


HTML_TABLE = ('<html xmlns:x="urn:schemas-microsoft-com:office:excel"><head><meta charset="{charset}">'
              '</head><body><table><tr><td>身份证号</td><td>姓名</td></tr>'
              '<tr><td>320602198001012473</td><td>张三</td></tr></table></body></html>')
SPREADSHEET_2003 = ('<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n<Workbook xmlns='
                    '"urn:schemas-microsoft-com:office:spreadsheet"><Worksheet><Table><Row><Cell>'
                    '<Data>身份证号</Data></Cell></Row></Table></Worksheet></Workbook>')


@pytest.mark.parametrize("content", [
    HTML_TABLE.format(charset="utf-8").encode("utf-8"),
    ("\r\n  <!DOCTYPE html>" + HTML_TABLE.format(charset="gbk")).encode("gb18030"),
    "\ufeff".encode("utf-8") + HTML_TABLE.format(charset="utf-8").encode("utf-8"),
    HTML_TABLE.format(charset="unicode").encode("utf-16"),            # with its BOM
    SPREADSHEET_2003.encode("utf-8"),
], ids=["html", "doctype-gb18030", "bom", "utf-16", "xml-2003"])
def test_a_web_page_or_xml_saved_as_xls_says_what_it_is(instance, db, content):  # type: ignore[no-untyped-def]
    """An old web system's 导出Excel: an HTML table or Excel 2003's XML named .xls. Read as a CSV
    it was file.unknown_kind (不要改动标题和表头), which the clerk could not act on."""
    (instance.unit_inbox("1001") / "参保人员导出.xls").write_bytes(content)
    receipt = refused(instance, db, C.FILE_UNREADABLE, quarantined=True)
    assert "网页或 XML 格式的表格" in receipt["file_errors"][0]["message"]
    assert "另存为 .xlsx" in receipt["file_errors"][0]["message"]


def test_a_csv_whose_first_cell_is_text_in_brackets_is_still_a_csv(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "a.csv", ADD_HEADERS,
                  [add_row(make_id("19800101", "711"), "甲")], title="<职工批量新增申报填写表>",
                  fmt="csv")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1


def test_corrupt_zip(instance, db):  # type: ignore[no-untyped-def]
    (instance.unit_inbox("1001") / "broken.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    refused(instance, db, C.FILE_UNREADABLE, quarantined=True)


def test_encrypted_workbook(instance, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    import msoffcrypto.format.ooxml

    plain = make_workbook(tmp_path / "plain.xlsx", ADD_HEADERS, [add_row(make_id())], title=TITLE)
    with plain.open("rb") as src, (instance.unit_inbox("1001") / "locked.xlsx").open("wb") as dst:
        office = msoffcrypto.format.ooxml.OOXMLFile(src)
        office.encrypt("secret", dst)
    refused(instance, db, C.FILE_ENCRYPTED, quarantined=True)


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (300, 400), "white").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("name,members,code,phrase", [
    # Word and Excel's binary workbook are zips too: neither is a photo archive, whatever
    # images they hold.
    ("说明.docx", {"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>",
                   "word/media/image1.png": "PNG"}, C.FILE_UNREADABLE, "不是 Excel 工作簿"),
    ("名单.xlsb", {"[Content_Types].xml": "<Types/>", "xl/workbook.bin": "\x00",
                   "xl/worksheets/sheet1.bin": "\x00"}, C.FILE_UNREADABLE, ".xlsb"),
    ("名单.odt", {"mimetype": "application/vnd.oasis.opendocument.text",
                  "content.xml": "<office:document-content/>",
                  "Thumbnails/thumbnail.png": "PNG"}, C.FILE_UNREADABLE, "不是 Excel 工作簿"),
])
def test_office_documents_that_are_no_sheet(instance, db, name, members, code, phrase):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(instance.unit_inbox("1001") / name, "w") as z:
        for member, body in members.items():
            z.writestr(member, _png() if body == "PNG" else body)
    receipt = refused(instance, db, code, quarantined=True)
    assert receipt["kind"] is None and phrase in receipt["file_errors"][0]["message"]


def test_an_opendocument_sheet_saved_with_a_password(instance, db):  # type: ignore[no-untyped-def]
    """(Its repeated-cell bombs are in tests/flows/test_sandbox.py's HOSTILE table.)"""
    ods.ods_file(instance.unit_inbox("1001") / "名单.ods",
                 ods.row(ADD_HEADERS) + ods.row(add_row(make_id())), encrypted=True)
    refused(instance, db, C.FILE_ENCRYPTED, quarantined=True)


def _sheets(path: Path, sheets: dict[str, list[list]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, table in sheets.items():
        ws = wb.create_sheet(name)
        for row in table:
            ws.append(row)
    wb.save(path)
    return path


def test_staff_split_over_two_sheets_is_refused_not_half_read(instance, db):  # type: ignore[no-untyped-def]
    """Only one sheet of a workbook is read: a clerk who put one workshop on each sheet saw the
    first imported and the second silently left out. Now the file is refused, naming both."""
    head = [[TITLE], ADD_HEADERS]
    _sheets(instance.unit_inbox("1001") / "增员.xlsx", {
        "填表说明": [["填表说明：带*为必填项"], ["列名", "填写规则"], ["身份证号", "18位"]],
        "一车间": head + [add_row(make_id("19810101", s)) for s in ("711", "713")],
        "二车间": head + [add_row(make_id("19810101", s)) for s in ("715", "717", "719")]})
    receipt = refused(instance, db, C.FILE_SEVERAL_SHEETS, quarantined=False)
    assert "（一车间、二车间）" in receipt["file_errors"][0]["message"]


def test_sheet_names_are_quoted_on_one_line_and_short(instance, db):  # type: ignore[no-untyped-def]
    """A sheet's name is the file's choice: a line break in it split the receipt's reason line
    (a forged 处理结果 line could follow), a right-to-left override turned the text around, and
    a 20,000-character name made a 20 KB receipt."""
    import zipfile

    head = [[TITLE], ADD_HEADERS]
    path = _sheets(instance.unit_inbox("1001") / "增员.xlsx", {
        "AAAA": head + [add_row(make_id("19810101", "711"))],
        "BBBB": head + [add_row(make_id("19810101", "715"))]})
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b'name="AAAA"', "name=\"一车间&#10;处理结果：全部成功\"".encode()).replace(
        b'name="BBBB"', ("name=\"\u202e间车二" + "长" * 20000 + "\"").encode())
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    receipt = refused(instance, db, C.FILE_SEVERAL_SHEETS, quarantined=False)
    message = receipt["file_errors"][0]["message"]
    assert "\n" not in message and "\u202e" not in message and len(message) < 300
    assert "一车间\ufffd处理结果：全部成功" in message and "\ufffd间车二" + "长" * 27 + "…" in message
    text = next(instance.unit_outbox("1001", "receipts").glob("*.txt")).read_text("utf-8-sig")
    assert not any(line.startswith("处理结果：全部成功") for line in text.splitlines())


@pytest.mark.parametrize("second", [
    [[TITLE], ADD_HEADERS],                                             # the template, unfilled
    [[TITLE], ["序号", *ADD_HEADERS]] + [[n] for n in range(1, 51)],    # rows numbered in advance
    [["填表说明"], ["列名", "是否必填"], ["身份证号", "必填"], ["姓名", "必填"]],
], ids=["header-only", "numbered-rows", "instructions"])
def test_a_second_sheet_without_rows_is_no_second_sheet(instance, db, second):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19810101", s)) for s in ("721", "723")]
    _sheets(instance.unit_inbox("1001") / "增员.xlsx",
            {"增员": [[TITLE], ADD_HEADERS, *rows], "备用": second})
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 2


def test_empty_file_and_empty_sheet(instance, db):  # type: ignore[no-untyped-def]
    (instance.unit_inbox("1001") / "zero.xlsx").write_bytes(b"")
    refused(instance, db, C.FILE_EMPTY, quarantined=False)


def test_header_only_is_empty(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "h.xlsx", ADD_HEADERS, [], title=TITLE)
    refused(instance, db, C.FILE_EMPTY, quarantined=False)


def test_unknown_kind(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "u.xlsx", ["商品", "数量", "单价"], [["苹果", 3, 2.5]])
    refused(instance, db, C.FILE_UNKNOWN_KIND, quarantined=False)


def test_missing_required_column_names_it(instance, db):  # type: ignore[no-untyped-def]
    headers = [h for h in ADD_HEADERS if h != "缴费工资*"]
    rows = [r[:12] + r[13:] for r in [add_row(make_id())]]
    make_workbook(instance.unit_inbox("1001") / "m.xlsx", headers, rows, title=TITLE)
    receipt = refused(instance, db, C.FILE_MISSING_COLUMNS, quarantined=False)
    assert "缴费工资" in receipt["file_errors"][0]["message"]
    # The kind its message names is the receipt's (and validate --json's): it was null.
    assert receipt["kind"] == "employee_add"


def test_file_naming_another_unit(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "w.xlsx", ADD_HEADERS, [add_row(make_id())],
                  title=f"{TITLE}  单位编号：1002  单位名称：另一家公司")
    receipt = refused(instance, db, C.FILE_WRONG_UNIT, quarantined=False)
    assert "1002" in receipt["file_errors"][0]["message"]


def test_unknown_unit_folder(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("9999") / "w.xlsx", ADD_HEADERS, [add_row(make_id())], title=TITLE)
    refused(instance, db, C.FILE_UNKNOWN_UNIT, quarantined=True)


def test_over_size_limit(instance, db):  # type: ignore[no-untyped-def]
    (instance.home / "config.toml").write_text("[limits]\nmax_file_mb = 1\n", encoding="utf-8")
    from exchange.config import Instance

    small = Instance(instance.home)
    (small.unit_inbox("1001") / "big.csv").write_bytes(b"a,b\n" * 400_000)
    refused(small, db, C.FILE_TOO_LARGE, quarantined=True)


def test_over_row_limit_imports_nothing(instance, db):  # type: ignore[no-untyped-def]
    (instance.home / "config.toml").write_text("[limits]\nmax_rows = 5\n[intake]\nchunk_rows = 2\n",
                                               encoding="utf-8")
    from exchange.config import Instance

    small = Instance(instance.home)
    rows = [add_row(make_id("19800101", f"{i:03d}"), "甲") for i in range(1, 14, 2)]
    make_workbook(small.unit_inbox("1001") / "many.xlsx", ADD_HEADERS, rows, title=TITLE)
    receipt = refused(small, db, C.FILE_TOO_LARGE, quarantined=True)
    assert "5" in receipt["file_errors"][0]["message"]


def _with_far_cells(path: Path, cells: dict[str, str | None]) -> Path:
    """The clerk's workbook with cells far below or right of the data: formatted as text and
    left empty (None: Ctrl+Shift+↓ from the header selects down to row 1048576), or typed."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    for ref, value in cells.items():
        wb.active[ref].number_format = "@"
        wb.active[ref].value = value
    wb.save(path)
    return path


def test_cells_formatted_to_the_sheets_end_are_no_rows(instance, db):  # type: ignore[no-untyped-def]
    """A column formatted as text down to the sheet's last row, and a cell formatted far to the
    right, hold nothing: the file is read as the rows it holds. (They were refused as more than
    500,000 rows, and as more than 200 columns.)"""
    rows = [add_row(make_id("19800101", "013")), add_row(make_id("19800101", "021"), "李四")]
    _with_far_cells(make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS, rows,
                                  title=TITLE), {"A1048576": None, "XFD7": None, "N600000": None})
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 2


@pytest.mark.parametrize("ref, what", [("A1048576", "数据行数"), ("XFD3", "列数")])
def test_a_stray_space_far_away_is_refused_by_its_cell(instance, db, ref, what):  # type: ignore[no-untyped-def]
    """A space typed far away makes the sheet reach there (calamine would hold the rectangle up
    to it): refused, and the receipt names the cell for the clerk to clear."""
    rows = [add_row(make_id("19800101", "013"))]
    _with_far_cells(make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS, rows,
                                  title=TITLE), {ref: " "})
    receipt = refused(instance, db, C.FILE_TOO_LARGE, quarantined=True)
    message = receipt["file_errors"][0]["message"]
    assert what in message and f"单元格 {ref} 处填有内容" in message and "清除该单元格" in message


def _xls_with_far_cells(path: Path, rows: list[list[object]], cells: dict[tuple[int, int], str | None]
                        ) -> Path:
    """An 增员 .xls as old Excel or WPS saves it, with cells far away: a value, or (None) a
    cell formatted and left empty, which the sheet's DIMENSIONS record reaches as well."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    for i, row in enumerate([[TITLE], ["填表说明：带*为必填项"], list(ADD_HEADERS), *rows]):
        for j, value in enumerate(row):
            ws.write(i, j, value)
    yellow = xlwt.easyxf("pattern: pattern solid, fore_colour yellow")
    for (row, column), value in cells.items():
        ws.write(row - 1, column - 1, value, yellow)
    wb.save(str(path))
    return path


@pytest.mark.parametrize("cell, ref, what", [((65536, 256), "IV65536", "列数"),
                                             ((60000, 200), "GR60000", "所需内存"),
                                             ((65536, 150), "ET65536", "所需内存")])
@pytest.mark.parametrize("value", [" ", None], ids=["typed", "formatted"])
def test_an_xls_reaching_far_is_refused_by_its_cell(instance, db, cell, ref, what, value):  # type: ignore[no-untyped-def]
    """calamine reserves a legacy .xls sheet's whole rectangle (its DIMENSIONS record) before
    reading a cell: a space typed at IV65536, or a cell formatted there, made the reading
    worker die for want of memory, and the receipt said only 读取该文件所需内存. The sheet is now
    refused before calamine opens it, naming the cell; a formatted cell past the columns is let
    be when the rectangle is small (as in an xlsx)."""
    if value is None and what == "列数":
        what = "所需内存"                               # a blank past the columns holds nothing
    path = _xls_with_far_cells(instance.unit_inbox("1001") / "增员.xls",
                               [add_row(make_id("19800101", "013"))], {cell: value})
    assert path.exists()
    receipt = refused(instance, db, C.FILE_TOO_LARGE, quarantined=True)
    message = receipt["file_errors"][0]["message"]
    assert what in message and f"单元格 {ref} 处填有内容" in message and "清除该单元格" in message


def test_an_xls_cell_formatted_past_the_columns_is_let_be(instance, db):  # type: ignore[no-untyped-def]
    _xls_with_far_cells(instance.unit_inbox("1001") / "增员.xls",
                        [add_row(make_id("19800101", "013"))], {(5, 250): None})
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 1


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_is_refused_before_opening(instance, db):  # type: ignore[no-untyped-def]
    bomb = _zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                       "xl/worksheets/sheet1.xml": b"\x00" * (300 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    (instance.unit_inbox("1001") / "bomb.xlsx").write_bytes(bomb)
    refused(instance, db, C.FILE_HOSTILE, quarantined=True)


def test_a_zip_with_two_entries_of_one_name_is_refused(instance, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The same worksheet twice, the second empty: which one a reader takes differs between
    readers, so the one the guard looked at need not be the one read. Refused as hostile."""
    plain = make_workbook(tmp_path / "p.xlsx", ADD_HEADERS, [add_row(make_id())], title=TITLE)
    with zipfile.ZipFile(plain) as src:
        members = [(i.filename, src.read(i)) for i in src.infolist()]
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        warnings.simplefilter("ignore")                  # zipfile warns of the duplicate
        for name, data in members:
            out.writestr(name, data)
        out.writestr("xl/worksheets/sheet1.xml", b"<worksheet/>")
    (instance.unit_inbox("1001") / "twice.xlsx").write_bytes(buf.getvalue())
    receipt = refused(instance, db, C.FILE_HOSTILE, quarantined=True)
    assert "重名" in receipt["file_errors"][0]["message"]


LOL_DTD = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
           '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol2;</t></si></sst>')


# The guard looks at a member's first bytes and calls the parser only when the prologue is not
# the plain one spreadsheet programs write (guard._plain_prologue): every disguise of the DTD
# before the root must still reach it.
@pytest.mark.parametrize("lol", [
    b'<?xml version="1.0"?>' + LOL_DTD.encode(),
    b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\r\n' + LOL_DTD.encode(),
    b'<?xml version="1.0"?><!-- a comment first -->' + LOL_DTD.encode(),
    b'<?xml version="1.0"?><?mso-application progid="Excel.Sheet"?>' + LOL_DTD.encode(),
    b'<?xml version="1.0"?><?pi <sst ?>' + LOL_DTD.encode(),
    b'<?xml version="1.0" encoding="ISO-8859-1"?>' + LOL_DTD.encode(),
    b'\xff\xfe' + ('<?xml version="1.0" encoding="UTF-16"?>' + LOL_DTD).encode("utf-16-le"),
    LOL_DTD.encode(),
], ids=["declaration", "bom", "comment", "pi", "pi-with-tag", "latin-1", "utf-16", "bare"])
def test_xml_entity_bomb_is_refused(instance, db, tmp_path: Path, lol: bytes):  # type: ignore[no-untyped-def]
    plain = make_workbook(tmp_path / "p.xlsx", ADD_HEADERS, [add_row(make_id())], title=TITLE)
    with zipfile.ZipFile(plain) as src:
        members = {i.filename: src.read(i) for i in src.infolist()}
    members["xl/sharedStrings.xml"] = lol
    (instance.unit_inbox("1001") / "lol.xlsx").write_bytes(_zip_bytes(members))
    refused(instance, db, C.FILE_HOSTILE, quarantined=True)


@pytest.mark.parametrize("name", ["psnAdd.xlsx", "photos.zip"])
def test_a_zip_tools_password_is_told_as_a_password(instance, db, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    name: str) -> None:
    """A workbook (or a zip of photos) a clerk locked with a zip tool's password: its members'
    encryption flag is set, and no member can be read without the password. Refused as
    encrypted, with the message that says to remove the password; the reading worker does not
    die on it."""
    plain = make_workbook(tmp_path / "p.xlsx", ADD_HEADERS, [add_row(make_id())], title=TITLE)
    (instance.unit_inbox("1001") / name).write_bytes(_flagged_encrypted(plain.read_bytes()))
    refused(instance, db, C.FILE_ENCRYPTED, quarantined=True)


def _flagged_encrypted(data: bytes) -> bytes:
    """The zip with every entry's "encrypted" flag set, in its local header and in the central
    directory, as `zip -P` and 7-Zip's ZipCrypto leave them (Python cannot write encrypted
    zips; readers refuse such an entry without the password all the same)."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            at = info.header_offset + 6                    # local header: general-purpose flag
            out[at:at + 2] = struct.pack("<H", struct.unpack_from("<H", out, at)[0] | 0x1)
        at = zf.start_dir
    while out[at:at + 4] == b"PK\x01\x02":                  # central directory entries
        flag = at + 8
        out[flag:flag + 2] = struct.pack("<H", struct.unpack_from("<H", out, flag)[0] | 0x1)
        name, extra, comment = struct.unpack_from("<HHH", out, at + 28)
        at += 46 + name + extra + comment
    return bytes(out)


@pytest.mark.parametrize("name", ["~$psnAdd.xlsx", "psnAdd.xlsx.part", "up.filepart", "Thumbs.db",
                                  ".DS_Store", "desktop.ini", "x.tmp"])
def test_lock_and_partial_names_wait(instance, db, name: str):  # type: ignore[no-untyped-def]
    from exchange.intake.scan import process_inbox

    (instance.unit_inbox("1001") / name).write_bytes(b"anything")
    assert process_inbox(instance, db) == []
    assert (instance.unit_inbox("1001") / name).exists()


def test_a_link_in_an_inbox_is_refused_never_followed(instance, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A shared-folder inbox where a unit can make a symbolic link: a link to a workbook
    outside the instance was imported as the unit's file, its archived copy only the link; a
    link to /dev/zero would be hashed for ever. It is quarantined as itself, with a receipt."""
    outside = make_workbook(tmp_path / "elsewhere" / "增员.xlsx", ADD_HEADERS,
                            [add_row(make_id("19800101", "013"))], title="职工批量新增申报填写表")
    (instance.unit_inbox("1001") / "link.xlsx").symlink_to(outside)
    receipt = refused(instance, db, C.FILE_HOSTILE, quarantined=True)
    assert "链接" in receipt["file_errors"][0]["message"]
    [kept] = [p for p in instance.quarantine.rglob("*") if p.is_symlink()]
    assert kept.readlink() == outside and outside.is_file()
    (instance.unit_inbox("1001") / "zero.xlsx").symlink_to("/dev/zero")
    result = process_one(instance, db)
    assert receipt_of(instance, result)["file_errors"][0]["code"] == C.FILE_HOSTILE


def test_a_link_in_the_centres_inbox_is_refused_never_followed(instance, db):  # type: ignore[no-untyped-def]
    import json

    from exchange.intake.centre import process_centre_inbox

    centre = instance.inbox / "_centre"
    centre.mkdir(parents=True, exist_ok=True)
    (centre / "persons.csv").symlink_to("/etc/passwd")
    [receipt] = process_centre_inbox(instance, db)
    assert receipt["status"] == "quarantined"
    assert [e["code"] for e in receipt["file_errors"]] == [C.FILE_HOSTILE]
    assert not any(centre.iterdir())
    kept = [p for p in instance.quarantine.rglob("*") if p.is_symlink()]
    assert [p.readlink() for p in kept] == [Path("/etc/passwd")]
    written = list(instance.unit_outbox("_centre", "receipts").glob("*.json"))
    assert json.loads(written[0].read_text(encoding="utf-8"))["status"] == "quarantined"


def test_a_file_still_open_for_writing_is_not_taken(instance, db):  # type: ignore[no-untyped-def]
    """A copy into a shared-folder inbox that stalls longer than settle_seconds keeps its file
    open: it was claimed half written, and the rest, written into the claimed file, never read
    (the receipt said 全部成功 of half the rows). It waits until the writer has closed it."""
    import os
    import time

    from exchange.intake.scan import process_inbox

    path = instance.unit_inbox("1001") / "增员.csv"
    rows = [add_row(make_id("19800101", f"{n:03d}")) for n in range(11, 31, 2)]
    make_workbook(path, ADD_HEADERS, rows, title="职工批量新增申报填写表", fmt="csv")
    whole = path.read_bytes()
    cut = whole.index(b"\n", len(whole) // 2) + 1
    path.write_bytes(whole[:cut])
    with path.open("ab") as writer:                     # the copy stalls, its file open
        os.utime(path, (time.time() - 60, time.time() - 60))
        assert process_inbox(instance, db, settle_seconds=2.0) == []
        writer.write(whole[cut:])
    os.utime(path, (time.time() - 60, time.time() - 60))
    [result] = process_inbox(instance, db, settle_seconds=2.0)
    assert result.counts.accepted == 10 and result.counts.total == 10, receipt_of(instance, result)["file_errors"]
