"""OpenDocument spreadsheets (.ods) written in code, as LibreOffice saves them: the `mimetype`
member first and stored, content.xml, and a manifest. Tests use it for a clerk's sheet
(`write_ods`) and for hostile bodies (`ods_file`: repeated rows and cells, a password)."""
from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
       'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
       'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')


def ods_file(path: Path, body: str, *, sheet: str = "Sheet1", encrypted: bool = False) -> Path:
    """An .ods whose one sheet's table holds `body` (table:table-row elements)."""
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_NS} '
               f'office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="{escape(sheet)}">{body}</table:table>'
               f"</office:spreadsheet></office:body></office:document-content>")
    secret = '<manifest:encryption-data manifest:checksum-type="SHA1"/>' if encrypted else ""
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{MIMETYPE}"/>'
                '<manifest:file-entry manifest:full-path="content.xml" '
                f'manifest:media-type="text/xml">{secret}</manifest:file-entry></manifest:manifest>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", MIMETYPE, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return path


def cell(value: Any, repeated: int = 1) -> str:
    """One table:table-cell: text, a number, a date, or empty (None)."""
    more = f' table:number-columns-repeated="{repeated}"' if repeated > 1 else ""
    if value is None or value == "":
        return f"<table:table-cell{more}/>"
    if isinstance(value, bool) or not isinstance(value, (int, float, date)):
        return (f'<table:table-cell{more} office:value-type="string">'
                f"<text:p>{escape(str(value))}</text:p></table:table-cell>")
    if isinstance(value, date):
        day = value.date() if isinstance(value, datetime) else value
        return (f'<table:table-cell{more} office:value-type="date" '
                f'office:date-value="{day.isoformat()}"><text:p>{day}</text:p></table:table-cell>')
    return (f'<table:table-cell{more} office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>")


def row(values: Sequence[Any], repeated: int = 1) -> str:
    more = f' table:number-rows-repeated="{repeated}"' if repeated > 1 else ""
    return f"<table:table-row{more}>{''.join(map(cell, values))}</table:table-row>"


def write_ods(path: Path, table: Sequence[Sequence[Any]], sheet: str = "Sheet1") -> Path:
    """A sheet of these rows, from A1."""
    return ods_file(path, "".join(row(r) for r in table), sheet=sheet)
