"""ID photos decoded: a photo upload's entries, pixel bombs refused, each photo made a card JPEG.

Runs in a reading worker (exchange.read.sandbox), never in the service: Pillow decodes untrusted
bytes here. exchange.photos judges the results against the database and stores them.

Hostile input is refused for the whole file before any photo is decoded: zip path tricks, links,
sizes and ratios by guard.check_zip_members; pixel bombs by reading every image's declared
dimensions (the header only) against config.toml [limits] max_photo_pixels.
"""
from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from exchange import codes as C
from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.intake.ignore import ignored
from exchange.kinds.spec import PhotoRules
from exchange.read.guard import check_zip_members

DECODABLE = {"JPEG", "MPO", "PNG"}               # MPO: the JPEG variant many phones write
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGE_FORMATS = ("jpeg", "png")                 # what guard.sniff says of an image


@dataclass(frozen=True)
class Entry:
    name: str                        # as dropped: the file name, or the zip member's path
    read: Callable[[], bytes]


@dataclass(frozen=True)
class Normalised:
    jpeg: bytes
    width: int                       # of the source, upright
    height: int


# (the card JPEG, or the finding code and params of a photo that cannot be used; the source's
# SHA-256 when it could be read)
Decoded = tuple["Normalised | tuple[str, dict[str, Any]]", "str | None"]


def named_as_image(name: str) -> bool:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower() in IMAGE_SUFFIXES


def _open(data: bytes) -> Image.Image:
    """Open an image reading its header only. Pillow's own bomb guard is a backstop; our bound is
    checked by the caller before anything is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise FileRejected(C.FILE_HOSTILE, what="pixels") from exc


def declared_pixels(data: bytes) -> int | None:
    """Width × height from the image header, without decoding; None when not an image."""
    try:
        with _open(data) as im:
            width, height = im.size
    except FileRejected:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None
    return width * height


def normalise(data: bytes, rules: PhotoRules, limits: Limits) -> Normalised | tuple[str, dict[str, Any]]:
    """The card-size JPEG, or (finding code, params) when the photo cannot be used."""
    try:
        with _open(data) as im:
            if im.format not in DECODABLE:
                return C.PHOTO_UNREADABLE, {}
            if im.size[0] * im.size[1] > limits.max_photo_pixels:
                raise FileRejected(C.FILE_HOSTILE, what="pixels")
            im.load()
            upright = ImageOps.exif_transpose(im)
    except FileRejected:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return C.PHOTO_UNREADABLE, {}
    width, height = upright.size
    if width < rules.min_width or height < rules.min_height:
        return C.PHOTO_TOO_SMALL, {"width": width, "height": height, "min_width": rules.min_width,
                                   "min_height": rules.min_height}
    rgb = _on_white(upright)
    card = _crop_to_ratio(rgb, rules.width, rules.height).resize(
        (rules.width, rules.height), Image.Resampling.LANCZOS)
    # A fresh image carries no info dict: nothing of the source's metadata can be written out.
    clean = Image.new("RGB", card.size, "white")
    clean.paste(card)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=rules.quality, optimize=True)
    return Normalised(out.getvalue(), width, height)


def _on_white(im: Image.Image) -> Image.Image:
    """RGB; transparent parts (PNG) become white, as on a printed card."""
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        back = Image.new("RGB", rgba.size, "white")
        back.paste(rgba, mask=rgba.getchannel("A"))
        return back
    return im.convert("RGB")


def _crop_to_ratio(im: Image.Image, width: int, height: int) -> Image.Image:
    """The largest centred box of the card's width:height ratio."""
    w, h = im.size
    if w * height > h * width:                      # too wide: trim the sides
        new_w = max(1, round(h * width / height))
        left = (w - new_w) // 2
        return im.crop((left, 0, left + new_w, h))
    new_h = max(1, round(w * height / width))        # too tall: trim top and bottom
    top = (h - new_h) // 2
    return im.crop((0, top, w, top + new_h))


# Entries -----------------------------------------------------------------------------------------
def entries(path: Path, name: str, fmt: str, limits: Limits) -> list[Entry]:
    """The photos of an upload, every one's declared size checked: the file itself, or the
    members of a zip (checked first). A zip with no image in it is not a photo upload."""
    if fmt != "zip":
        found = [Entry(name, path.read_bytes)]
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                infos = [i for i in check_zip_members(zf, limits) if not _litter(i)]
        except zipfile.BadZipFile as exc:
            raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc
        if len(infos) > limits.max_photos_per_zip:
            raise FileRejected(C.FILE_TOO_LARGE, what="zip_members", limit=limits.max_photos_per_zip)
        if infos and not any(named_as_image(i.filename) for i in infos):
            raise FileRejected(C.FILE_UNREADABLE, reason="not_workbook")
        found = [Entry(info.filename, _member_reader(path, info)) for info in infos]
    # Every image's declared size first: a pixel bomb refuses the file before anything is decoded.
    for entry in found:
        data = read_entry(entry)
        pixels = declared_pixels(data) if data is not None else None
        if pixels is not None and pixels > limits.max_photo_pixels:
            raise FileRejected(C.FILE_HOSTILE, what="pixels")
    return found


def decode(entry: Entry, rules: PhotoRules, limits: Limits) -> Decoded:
    data = read_entry(entry)
    if data is None:
        return (C.PHOTO_UNREADABLE, {}), None
    return normalise(data, rules, limits), hashlib.sha256(data).hexdigest()


def _litter(info: zipfile.ZipInfo) -> bool:
    """Folders, macOS resource forks, Thumbs.db and the like: not photos, not reported."""
    parts = PurePosixPath(info.filename.replace("\\", "/")).parts
    return info.is_dir() or not parts or parts[0] == "__MACOSX" or ignored(parts[-1])


def _member_reader(path: Path, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        # The declared size was bounded by check_zip_members; zipfile never yields more than it.
        with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
            return fh.read(info.file_size + 1)
    return read


def read_entry(entry: Entry) -> bytes | None:
    try:
        return entry.read()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return None                  # damaged or encrypted member: that photo is unreadable
