"""The reader rows of issue 15's table, built in code: files that made the readers panic, abort
or allocate without bound in the service's own process. Small on disk; what they ask of a reader
is not. Used by tests/flows/test_sandbox.py, tests/flows/test_reliability_hostile.py and
bench/reliability.py --hostile."""
from __future__ import annotations

import random
import struct
import zipfile
from pathlib import Path

from tests import ods
from tests.flows.cluster import ADD_HEADERS, ADD_TITLE, person_id, pixel_bomb_png

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
    '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
    'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/></Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" '
    'sheetId="1" r:id="rId1"/></sheets></workbook>')
_REL = ('<Relationship Id="{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/{type}" Target="{target}"/>')


def column_letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def hand_xlsx(path: Path, sheet_data: str, shared_strings: bytes | None = None,
              dimension: str | None = None) -> Path:
    """A minimal workbook written by hand: one sheet with `sheet_data` (the <row> elements)."""
    rels = [_REL.format(id="rId1", type="worksheet", target="worksheets/sheet1.xml")]
    if shared_strings is not None:
        rels.append(_REL.format(id="rId2", type="sharedStrings", target="sharedStrings.xml"))
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">{dim}'
             f'<sheetData>{sheet_data}</sheetData></worksheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels",
                    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                    'openxmlformats.org/package/2006/relationships">' + "".join(rels)
                    + "</Relationships>")
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared_strings is not None:
            zf.writestr("xl/sharedStrings.xml", shared_strings)
    return path


def corner_cells_xlsx(path: Path, corners: int, column: int = 16384) -> Path:
    """A1 and `corners` cells at the far corner (XFD1048576 and its neighbours up and left):
    calamine allocates the whole rectangle between them (two cells: 17 billion)."""
    rows = ['<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>']
    for i in reversed(range(corners)):
        r = 1_048_576 - i
        rows.append(f'<row r="{r}"><c r="{column_letters(column - i)}{r}"><v>1</v></c></row>')
    return hand_xlsx(path, "".join(rows))


def inflating_strings_xlsx(path: Path, megabytes: float, seed: int = 3) -> Path:
    """A shared-string table of `megabytes` of XML that compresses about 4:1, well within the
    ratio limit, and one cell using it: calamine holds the whole table, several times its XML."""
    rnd = random.Random(seed)
    count = int(megabytes * 1024 * 1024 / 26)              # <si><t>0123456789</t></si>
    strings = "".join(f"<si><t>{rnd.getrandbits(40):010x}</t></si>" for _ in range(count))
    sst = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="{count}" '
           f'uniqueCount="{count}">{strings}</sst>').encode()
    return hand_xlsx(path, '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', sst)


def one_line_csv(path: Path, kilobytes: int) -> Path:
    """An employee_add CSV whose data row is one line of `kilobytes` KB of fields."""
    fields = ",".join("1" for _ in range(kilobytes * 512))
    path.write_text(f"{ADD_TITLE}\n{','.join(ADD_HEADERS)}\n{person_id(1)},张三,{fields}\n",
                    encoding="utf-8")
    return path


def cut_records_xls(path: Path) -> Path:
    """An .xls (xlwt) whose first BOUNDSHEET record is cut to no bytes: python-calamine panics
    (pyo3's PanicException, "range end index 4 out of range for slice of length 0")."""
    import olefile
    import xlwt

    wb = xlwt.Workbook()
    ws = wb.add_sheet("Sheet1")
    ws.write(0, 0, ADD_TITLE)
    for c, header in enumerate(ADD_HEADERS):
        ws.write(1, c, header)
    wb.save(str(path))
    raw = bytearray(path.read_bytes())
    with olefile.OleFileIO(str(path)) as ole:
        stream = ole.openstream("Workbook").read()
    base = raw.find(stream[:512])       # xlwt writes the stream in one run of sectors
    at = 0
    while at + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, at)
        if kind == 0x85:                # BOUNDSHEET
            struct.pack_into("<H", raw, base + at + 2, 0)
            break
        at += 4 + size
    else:
        raise AssertionError("no BOUNDSHEET record")
    path.write_bytes(bytes(raw))
    return path


def large_png(path: Path, megapixels: int = 260) -> Path:
    """A PNG of `megapixels` million black pixels, a few KB on disk: by default just over
    bomb_photo_pixels (a real photo over max_photo_pixels is photo.too_large, see test_photos)."""
    side = int((megapixels * 1_000_000) ** 0.5) + 1
    pixel_bomb_png(path, side)
    return path


def zip_of_large_pngs(path: Path, count: int = 40, megapixels: int = 260) -> Path:
    one = large_png(path.with_suffix(".one.png"), megapixels).read_bytes()
    path.with_suffix(".one.png").unlink()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(count):
            zf.writestr(f"{person_id(900_000 + i)}.png", one)
    return path


def repeated_cells_ods(path: Path, columns: int = 16_000) -> Path:
    """An OpenDocument sheet whose header row repeats one cell across `columns` columns: a few
    hundred bytes that calamine spells out cell by cell."""
    header = ods.row([ADD_HEADERS[0]]).replace("</table:table-row>",
                                               ods.cell("x", columns) + "</table:table-row>")
    return ods.ods_file(path, header)


def repeated_rows_ods(path: Path, rows: int = 1_048_000) -> Path:
    """An OpenDocument sheet with a data row repeated `rows` times (the sheet's whole height)."""
    return ods.ods_file(path, ods.row([ADD_TITLE]) + ods.row(ADD_HEADERS)
                        + ods.row([person_id(900_100), "张三"], rows))
