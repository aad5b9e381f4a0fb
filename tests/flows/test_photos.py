"""ID photos: checked, turned upright, cropped and resized to the card, stripped, kept for review;
hostile zips and pixel bombs refused with a receipt."""
from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select

from exchange import codes as C
from exchange.accounts import add_sub_account
from exchange.cli import cli
from exchange.errors import ConfigError
from exchange.intake.subaccounts import process_sub_account_inboxes
from exchange.store.models import Photo, RowError
from tests.conftest import make_id
from tests.flows.helpers import process_one, receipt_of, triples
from tests.flows.residents import (CC, PARENT, RESIDENT_ADD, STUDENTS_01, STUDENTS_02, drop,  # noqa: F401
                                   school)

A, B = STUDENTS_01[0], STUDENTS_01[1]


def jpeg(width: int = 400, height: int = 500, *, orientation: int | None = None,
         split: bool = False, fmt: str = "JPEG") -> bytes:
    """A JPEG (or `fmt`: HEIF, WEBP, BMP); `split`: left half red, right half blue (to see which
    way it was turned)."""
    im = Image.new("RGB", (width, height), "gray")
    if split:
        im.paste((255, 0, 0), (0, 0, width // 2, height))
        im.paste((0, 0, 255), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"                        # Make: metadata that must not survive
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    if fmt == "JPEG":
        im.save(out, "JPEG", exif=exif.tobytes(), comment=b"secret comment",
                icc_profile=b"\0" * 128)
    elif fmt == "BMP":
        im.save(out, "BMP")
    else:
        if fmt == "HEIF":
            from pillow_heif import register_heif_opener

            register_heif_opener()
        im.save(out, fmt, exif=exif.tobytes(), quality=90)
    return out.getvalue()


def png_rgba(width: int = 300, height: int = 400) -> bytes:
    im = Image.new("RGBA", (width, height), (0, 128, 0, 0))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width × height but holds almost nothing: a pixel bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def gbk_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A zip as Windows in a Chinese locale writes it: names in GBK, without the UTF-8 flag
    (zipfile itself would write UTF-8 and set the flag; placeholders are swapped for the GBK
    bytes afterwards, in the local headers and the central directory alike)."""
    swaps = [(f"~{i:0{len(name.encode('gbk')) - 1}d}".encode(), name.encode("gbk"))
             for i, (name, _) in enumerate(members)]
    make_zip(path, [(placeholder.decode(), data) for (placeholder, _), (_, data) in
                    zip(swaps, members)])
    raw = path.read_bytes()
    for placeholder, gbk in swaps:
        assert raw.count(placeholder) == 2
        raw = raw.replace(placeholder, gbk)
    path.write_bytes(raw)
    return path


def test_zip_names_written_in_gbk_are_shown_as_written(instance, db, school):  # type: ignore[no-untyped-def]
    gbk_zip(instance.unit_inbox("S2201") / "照片.zip",
            [(f"三年级照片/{A}.jpg", jpeg()), ("张三.jpg", jpeg())])
    with zipfile.ZipFile(instance.unit_inbox("S2201") / "照片.zip") as zf:
        assert not any(i.flag_bits & 0x800 for i in zf.infolist())     # as Windows wrote it
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["counts"] == {"total": 2, "accepted": 1, "failed": 1, "duplicate": 0}
    text = (instance.unit_outbox("S2201", "receipts") / result.receipt_name).read_text("utf-8-sig")
    assert f"三年级照片/{A}.jpg" in text and "“张三.jpg”" in text


def photos(db) -> list[Photo]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(s.scalars(select(Photo).order_by(Photo.id)))


def test_photo_is_turned_cropped_resized_and_stripped(instance, db, school):  # type: ignore[no-untyped-def]
    (instance.unit_inbox("S2201") / f"{A}.jpg").write_bytes(jpeg(400, 500, orientation=6, split=True))
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert (receipt["kind"], receipt["status"], receipt["counts"]["accepted"]) == ("photo", "accepted", 1)
    [row] = receipt["rows"]
    assert row["ok"] and row["id_number"] == A and [n["code"] for n in row["notes"]] == [C.NOTE_PHOTO_SAVED]
    text = (instance.unit_outbox("S2201", "receipts") / result.receipt_name).read_text(encoding="utf-8-sig")
    assert "照片上传" in text and "236×295" in text
    [photo] = photos(db)
    assert (photo.status, photo.id_number, photo.width, photo.height) == ("pending", A, 500, 400)
    stored = instance.home / photo.path
    assert stored.parent == instance.var / "photos" / "S2201"
    with Image.open(stored) as out:
        assert (out.format, out.size, out.mode) == ("JPEG", (236, 295), "RGB")
        assert not out.getexif() and not {"exif", "icc_profile", "comment"} & set(out.info)
        top, bottom = out.getpixel((118, 20)), out.getpixel((118, 275))
    # Orientation 6: the left (red) half of the stored pixels is the top once upright.
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]


@pytest.mark.parametrize("name, fmt, turned", [
    ("{}.heic", "HEIF", True),        # an iPhone's
    ("{}.webp", "WEBP", True),        # saved from a browser or a chat app
    ("{}.jfif", "JPEG", True),        # Windows' "save image as" names JPEGs so
    ("{}.bmp", "BMP", False),         # Paint's, an old scanner's (no EXIF)
])
def test_photos_in_the_formats_phones_and_windows_save(instance, db, school, name, fmt, turned):  # type: ignore[no-untyped-def]
    """Were "not an Excel workbook: save it as .xlsx"; now made card JPEGs like any photo,
    upright, without the source's metadata."""
    (instance.unit_inbox("S2201") / name.format(A)).write_bytes(
        jpeg(400, 500, orientation=6 if turned else None, split=True, fmt=fmt))
    receipt = receipt_of(instance, process_one(instance, db))
    assert (receipt["kind"], receipt["status"], receipt["counts"]["accepted"]) == ("photo", "accepted", 1)
    [photo] = photos(db)
    assert (photo.id_number, photo.width, photo.height) == (A, 500, 400) if turned else (A, 400, 500)
    with Image.open(instance.home / photo.path) as out:
        assert (out.format, out.size, out.mode) == ("JPEG", (236, 295), "RGB")
        assert not out.getexif() and not {"exif", "icc_profile", "comment"} & set(out.info)
        top, left = out.getpixel((118, 20)), out.getpixel((20, 150))
    if turned:      # orientation 6: the left (red) half is the top once upright
        assert top[0] > 200 > top[2]
    else:
        assert left[0] > 200 > left[2]


@pytest.mark.parametrize("mode", ["I;16", "CMYK", "L"])
def test_a_grey_scan_of_16_bits_and_a_print_shops_cmyk_keep_their_tones(instance, db, school, mode):  # type: ignore[no-untyped-def]
    """A scanner's 16-bit grey PNG and a print shop's CMYK JPEG become cards with the photo's
    tones: a grey ramp, dark on the left, light on the right. The 16-bit scan came out white
    (Pillow's conversion to RGB clips every value above 255)."""
    if mode == "I;16":
        im = Image.new(mode, (400, 500))
        im.putdata([x * 164 for _ in range(500) for x in range(400)])
        fmt, name = "PNG", f"{A}.png"
    else:
        im = Image.new("L", (400, 500))
        im.putdata([x * 255 // 399 for _ in range(500) for x in range(400)])
        im = im.convert(mode)
        fmt, name = "JPEG", f"{A}.jpg"
    out = io.BytesIO()
    im.save(out, fmt)
    assert Image.open(io.BytesIO(out.getvalue())).mode == mode
    (instance.unit_inbox("S2201") / name).write_bytes(out.getvalue())
    receipt = receipt_of(instance, process_one(instance, db))
    assert (receipt["status"], receipt["counts"]["accepted"]) == ("accepted", 1)
    [photo] = photos(db)
    with Image.open(instance.home / photo.path) as card:
        dark, mid, light = (card.getpixel((x, 150))[0] for x in (20, 118, 215))
    assert dark < 40 and 90 < mid < 170 and light > 200, (dark, mid, light)


def display_p3_profile() -> bytes:
    """An ICC profile of Display P3 (an iPhone's photos), as the ICC format lays one out: a v2
    display profile of its primaries (adapted to D50) and a 2.2 gamma. No profile ships here."""
    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    name = b"Display P3\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + bytes(79)),
            (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
            (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)), (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text\0\0\0\0none\0")]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (struct.pack(">I4sI", offset + len(data), b"lcms", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acspAPPL" + bytes(24)
              + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_phones_display_p3_photo_keeps_its_colours(instance, db, school, fmt: str):  # type: ignore[no-untyped-def]
    """A photo with a Display P3 profile (an iPhone's) is converted to sRGB, in which the card
    (a JPEG without a profile) is shown: its green, read as sRGB, came out dull. P3's (60, 160,
    60) is a purer green in sRGB; a grey stays grey. A damaged profile is left aside."""
    profile = display_p3_profile()
    im = Image.new("RGB", (400, 500), (128, 128, 128))
    im.paste((60, 160, 60), (0, 0, 400, 250))
    for number, icc in ((A, profile), (B, profile[:150])):           # B: cut short
        out = io.BytesIO()
        im.save(out, fmt, icc_profile=icc)
        (instance.unit_inbox("S2201") / f"{number}.{fmt.lower()}").write_bytes(out.getvalue())
        receipt = receipt_of(instance, process_one(instance, db))
        assert (receipt["status"], receipt["counts"]["accepted"]) == ("accepted", 1)
    cards = {}
    for photo in photos(db):
        with Image.open(instance.home / photo.path) as card:
            assert "icc_profile" not in card.info
            cards[photo.id_number] = card.getpixel((118, 40)), card.getpixel((118, 260))
    (r, g, b), grey = cards[A]
    assert r < 30 and g > 155 and b < 50 and abs(grey[0] - grey[1]) <= 3 and abs(grey[1] - grey[2]) <= 3
    (r, g, b), _ = cards[B]                           # as sRGB, the profile unusable
    assert 50 < r < 70 and 150 < g < 170 and 50 < b < 70


def test_a_zip_of_heic_and_webp_photos(instance, db, school):  # type: ignore[no-untyped-def]
    make_zip(instance.unit_inbox("S2201") / "照片.zip", [
        (f"{A}.HEIC", jpeg(fmt="HEIF")), (f"{B}.webp", jpeg(fmt="WEBP")),
        (f"{STUDENTS_02[0]}.heic", b"\x00\x00\x00\x18ftypheic" + bytes(200))])   # damaged
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(3, "照片文件名", C.PHOTO_UNREADABLE)]
    assert {p.id_number for p in photos(db)} == {A, B}


def test_zip_of_photos_one_receipt_row_each(instance, db, school):  # type: ignore[no-untyped-def]
    newcomer = make_id("20170101", "521", CC)        # enrolled, not yet on file: may send a photo
    enrol = ["", newcomer, "孙新", "", "", "", PARENT, "子", "学生", "", "", "2024-01", ""]
    drop(instance, "S2201", "新生.xlsx", RESIDENT_ADD, [enrol], title="城乡居民参保申报表")
    process_one(instance, db)
    unknown = make_id("20100101", "999", CC)
    truncated = jpeg()[:600]
    make_zip(instance.unit_inbox("S2201") / "照片.zip", [
        (f"{A}.jpg", jpeg()),                               # 1 fine
        (f"{B}.png", png_rgba(100, 120)),                   # 2 too small
        (f"{unknown}.jpg", jpeg()),                         # 3 nobody of this school
        ("readme.txt", b"hello"),                           # 4 not a photo
        ("zhang.jpg", jpeg()),                              # 5 not an ID
        (f"class2/{A.lower()}.JPG", jpeg(300, 300)),        # 6 same person again
        (f"{STUDENTS_02[0]}.jpg", truncated),               # 7 damaged
        (f"{newcomer}.png", png_rgba()),                    # 8 enrolment pending: fine
        ("__MACOSX/._x.jpg", b"junk"), ("Thumbs.db", b"junk"), ("empty/", b"")])
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["status"] == "partial" and receipt["error_workbook"] is None
    assert receipt["counts"] == {"total": 8, "accepted": 2, "failed": 6, "duplicate": 0}
    assert triples(receipt) == [
        (2, "照片文件名", C.PHOTO_TOO_SMALL), (3, "照片文件名", C.PHOTO_UNKNOWN_PERSON),
        (4, "照片文件名", C.PHOTO_UNREADABLE), (5, "照片文件名", C.ID_FORMAT),
        (6, None, C.DUPLICATE_IN_FILE), (7, "照片文件名", C.PHOTO_UNREADABLE)]
    assert [r["row"] for r in receipt["rows"]] == list(range(1, 9))    # every photo listed
    assert "100×120" in receipt["rows"][1]["errors"][0]["message"]
    assert {p.id_number for p in photos(db)} == {A, newcomer}
    with db.session() as s:                                   # kept in the error log (错误日志)
        logged = sorted((e.row, e.code) for e in s.scalars(select(RowError).where(RowError.kind == "photo")))
    assert logged == [(2, C.PHOTO_TOO_SMALL), (3, C.PHOTO_UNKNOWN_PERSON), (4, C.PHOTO_UNREADABLE),
                      (5, C.ID_FORMAT), (6, C.DUPLICATE_IN_FILE), (7, C.PHOTO_UNREADABLE)]
    with Image.open(instance.home / [p for p in photos(db) if p.id_number == newcomer][0].path) as out:
        assert out.getpixel((5, 5)) == (255, 255, 255) or min(out.getpixel((5, 5))) > 245  # alpha on white


def test_same_photo_again_is_noted_a_new_one_supersedes(instance, db, school):  # type: ignore[no-untyped-def]
    first = jpeg()
    (instance.unit_inbox("S2201") / f"{A}.jpg").write_bytes(first)
    process_one(instance, db)
    (instance.unit_inbox("S2201") / f"{A}.jpg").write_bytes(first)
    receipt = receipt_of(instance, process_one(instance, db))
    assert [n["code"] for n in receipt["rows"][0]["notes"]] == [C.NOTE_PHOTO_SAME]
    assert len(photos(db)) == 1
    (instance.unit_inbox("S2201") / f"{A}.jpg").write_bytes(jpeg(600, 700))
    process_one(instance, db)
    assert [p.status for p in photos(db)] == ["superseded", "pending"]


def test_card_size_comes_from_rules(instance, db, school):  # type: ignore[no-untyped-def]
    region = instance.rules_dir / "region.toml"
    region.write_text(region.read_text(encoding="utf-8").replace("width = 236", "width = 300")
                      .replace("height = 295", "height = 400"), encoding="utf-8")
    instance.__dict__.pop("rules", None)
    (instance.unit_inbox("S2201") / f"{A}.png").write_bytes(png_rgba(900, 1000))
    process_one(instance, db)
    with Image.open(instance.home / photos(db)[0].path) as out:
        assert out.size == (300, 400)


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.parametrize("trick", ["parent", "absolute", "drive", "symlink", "ratio"])
def test_hostile_zip_is_refused_with_a_receipt(instance, db, school, trick):  # type: ignore[no-untyped-def]
    members: dict[str, list[tuple[str | zipfile.ZipInfo, bytes]]] = {
        "parent": [(f"../{A}.jpg", jpeg())],
        "absolute": [(f"/tmp/{A}.jpg", jpeg())],
        "drive": [(f"C:/{A}.jpg", jpeg())],
        "symlink": [(symlink(f"{A}.jpg"), b"/etc/passwd")],
        "ratio": [(f"{A}.jpg", b"\0" * (24 << 20))],         # 24 MB of zeros: a zip bomb
    }
    make_zip(instance.unit_inbox("S2201") / "照片.zip", [(f"{B}.jpg", jpeg()), *members[trick]])
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["status"] == "quarantined" and receipt["rows"] == []
    assert [e["code"] for e in receipt["file_errors"]] == [C.FILE_HOSTILE]
    assert ("压缩比" if trick == "ratio" else "非法路径") in receipt["file_errors"][0]["message"]
    assert list(instance.quarantine.rglob("*照片.zip")) and not photos(db)
    assert not (instance.var / "photos").exists()


def test_pixel_bomb_is_refused_before_decoding(instance, db, school):  # type: ignore[no-untyped-def]
    (instance.unit_inbox("S2201") / f"{A}.png").write_bytes(png_header_only(30000, 30000))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "quarantined"
    assert [e["code"] for e in receipt["file_errors"]] == [C.FILE_HOSTILE]
    assert "像素" in receipt["file_errors"][0]["message"]
    # In a zip, one bomb refuses the whole upload before any photo is kept.
    make_zip(instance.unit_inbox("S2201") / "照片.zip",
             [(f"{B}.jpg", jpeg()), (f"{A}.png", png_header_only(16000, 16000))])
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "quarantined" and not photos(db)
    # A BMP's header declares its size as well: 40,000 × 40,000 in 60 bytes.
    bmp = (b"BM" + struct.pack("<IHHI", 60, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 40000, 40000,
                                                                    1, 24, 0, 0, 0, 0, 0, 0) + bytes(6))
    (instance.unit_inbox("S2201") / f"{A}.bmp").write_bytes(bmp)
    receipt = receipt_of(instance, process_one(instance, db))
    assert [e["code"] for e in receipt["file_errors"]] == [C.FILE_HOSTILE] and not photos(db)


def test_pixel_bounds_come_from_config(home, instance, db, school):  # type: ignore[no-untyped-def]
    from exchange.config import Instance

    config = home / "config.toml"
    text = re.sub(r"max_photo_pixels = \d+", "max_photo_pixels = 100000",
                  config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    small = Instance(home)
    # 160,000 pixels: more than may be decoded (and too small to decode scaled down), far from
    # a bomb. The photo fails, the file is archived.
    (small.unit_inbox("S2201") / f"{A}.jpg").write_bytes(jpeg(400, 400))
    receipt = receipt_of(small, process_one(small, db))
    assert receipt["status"] == "rejected" and triples(receipt) == [(1, "照片文件名", C.PHOTO_TOO_LARGE)]
    assert "400×400" in receipt["rows"][0]["errors"][0]["message"]
    config.write_text(re.sub(r"bomb_photo_pixels = \d+", "bomb_photo_pixels = 150000", text),
                      encoding="utf-8")
    small = Instance(home)
    (small.unit_inbox("S2201") / f"{A}.jpg").write_bytes(jpeg(400, 400))
    assert receipt_of(small, process_one(small, db))["file_errors"][0]["code"] == C.FILE_HOSTILE
    config.write_text(re.sub(r"bomb_photo_pixels = \d+", "bomb_photo_pixels = 90000", text),
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[limits\]\.bomb_photo_pixels: must not be below"):
        Instance(home)


def big_jpeg(width: int, height: int, **save: object) -> bytes:
    """A camera-sized JPEG: grey, a red top half (to see the card is the photo's centre)."""
    im = Image.new("RGB", (width, height), "gray")
    im.paste((200, 0, 0), (0, 0, width, height // 2))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80, **save)
    return out.getvalue()


def test_a_phones_48_megapixel_photo_is_a_photo_not_a_bomb(instance, db, school):  # type: ignore[no-untyped-def]
    """A phone's 48-MP mode (8064 × 6048) and a flatbed scan at 600 dpi are over the 25 MP that
    may be decoded at once. A camera writes baseline JPEGs, decoded at 1/8 of their size (6 MP):
    kept. What cannot be decoded scaled down (a progressive JPEG keeps every coefficient; a PNG,
    HEIC or BMP decodes whole) fails as photo.too_large with its size and what to do, and is
    never decoded; the upload's other photos are kept. Before, each was a pixel bomb: the whole
    upload quarantined as 文件结构异常…出于安全原因拒绝处理."""
    (instance.unit_inbox("S2201") / f"{A}.jpg").write_bytes(big_jpeg(6048, 8064))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted", receipt
    [photo] = photos(db)
    card = Image.open(instance.var / "photos" / "S2201" / Path(photo.path).name)
    assert card.size == (236, 295)
    top, bottom = card.getpixel((118, 100)), card.getpixel((118, 200))
    assert top[0] > 150 and top[1] < 60 and abs(bottom[0] - bottom[1]) < 20    # red above grey

    other = STUDENTS_01[2]
    make_zip(instance.unit_inbox("S2201") / "照片.zip", [
        (f"{B}.jpg", big_jpeg(6048, 8064, progressive=True)), (f"{other}.jpg", jpeg())])
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "partial"
    assert triples(receipt) == [(1, "照片文件名", C.PHOTO_TOO_LARGE)]
    message = receipt["rows"][0]["errors"][0]["message"]
    assert "6048×8064" in message and "4877 万" in message and "2500 万" in message
    assert "缩小" in message
    assert {p.id_number for p in photos(db)} == {A, other}


def test_class_account_sends_photos_of_its_class_only(instance, db, school):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-01", role="class", classes=["2024-01"])
    make_zip(instance.unit_inbox("S2201") / "@c2024-01" / "照片.zip",
             [(f"{A}.jpg", jpeg()), (f"{STUDENTS_02[0]}.jpg", jpeg())])
    [result] = process_sub_account_inboxes(instance, db)
    assert triples(receipt_of(instance, result)) == [(2, "照片文件名", C.CLASS_OUT_OF_SCOPE)]


def test_validate_json_covers_photos(home, instance, db, school, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{A}.jpg"
    path.write_bytes(jpeg())
    result = CliRunner().invoke(cli, ["--home", str(home), "validate", str(path), "--unit", "S2201", "--json"])
    out = json.loads(result.output)
    assert result.exit_code == 0 and out["kind"] == "photo" and out["status"] == "accepted"
    assert out["rows"][0]["ok"] and out["rows"][0]["notes"][0]["code"] == C.NOTE_PHOTO_SAVED
    assert not photos(db) and not (instance.var / "photos").exists()       # nothing changed


def process_inbox_all(instance, db):  # type: ignore[no-untyped-def]
    from exchange.intake.scan import process_inbox

    return process_inbox(instance, db)
