"""ID photos decoded: a photo upload's entries, pixel bombs refused, each photo made a card JPEG.

Runs in a reading worker (exchange.read.sandbox), never in the service: Pillow decodes untrusted
bytes here. exchange.photos judges the results against the database and stores them.

Hostile input is refused for the whole file before any photo is decoded: zip path tricks, links,
sizes and ratios by guard.check_zip_members; pixel bombs by reading every image's declared
dimensions (the header only) against config.toml [limits] bomb_photo_pixels. A real photo may
still be too large to decode in the worker's memory: at most [limits] max_photo_pixels are
decoded at once. A camera's (baseline) JPEG is decoded at a DCT scale, so a 48-MP phone photo
costs 0.8 MP; any other image over the bound is photo.too_large, and is never decoded.
"""
from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterator

from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from exchange import codes as C
from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.names import ignored
from exchange.kinds.spec import PhotoRules
from exchange.read.guard import check_zip_members

# What a photo may be: the card is a JPEG made anew whatever it came as. MPO: the JPEG variant
# many phones write; HEIF: an iPhone's HEIC (pillow-heif); WebP: what browsers and chat apps
# save; BMP: Paint's and old scanners'. Pillow is told to try these decoders only (its JPEG
# decoder opens MPO).
OPENERS = ("JPEG", "PNG", "HEIF", "WEBP", "BMP")
DECODABLE = frozenset(OPENERS) | {"MPO"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jfif", ".png", ".heic", ".heif", ".webp", ".bmp")  # .jfif: Windows' "save image as"
IMAGE_FORMATS = ("jpeg", "png", "heif", "webp", "bmp")    # what guard.sniff says of an image

register_heif_opener()


@dataclass(frozen=True)
class Entry:
    """One photo of an upload: the file itself, or a member of its zip. Opened as a stream
    whenever needed: no photo's bytes are held whole (a 25-MP PNG may be 70 MB)."""
    name: str                        # as dropped: the file name, or the zip member's path
    path: Path
    member: zipfile.ZipInfo | None = None

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self.member is None:
            with self.path.open("rb") as fh:
                yield fh
        else:
            # The declared size was bounded by check_zip_members; zipfile never yields more.
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
                yield fh


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


# What a damaged image, or a damaged or encrypted zip member, raises when opened or decoded.
UNREADABLE = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, zipfile.BadZipFile,
              RuntimeError, NotImplementedError)


def _open(fh: IO[bytes]) -> Image.Image:
    """Open an image reading its header only. Pillow's own bomb guard is a backstop; our bounds
    are checked by the caller before anything is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(fh, formats=OPENERS)
        except Image.DecompressionBombError as exc:
            raise FileRejected(C.FILE_HOSTILE, what="pixels") from exc


def declared_pixels(entry: Entry) -> int | None:
    """Width × height from the image header, without decoding; None when not an image."""
    try:
        with entry.open() as fh, _open(fh) as im:
            width, height = im.size
    except FileRejected:
        raise
    except UNREADABLE:
        return None
    return width * height


def normalise(fh: IO[bytes], rules: PhotoRules, limits: Limits) -> Normalised | tuple[str, dict[str, Any]]:
    """The card-size JPEG, or (finding code, params) when the photo cannot be used.

    Frugal with memory, since the worker's is bounded: the size is judged from the header; a
    JPEG is decoded at the smallest DCT scale still twice the card (draft: 1/2 to 1/8, a 25-MP
    photo in 3 MB instead of 75); a PNG, which cannot be, is reduced at once after decoding."""
    try:
        with _open(fh) as im:
            if im.format not in DECODABLE:
                return C.PHOTO_UNREADABLE, {}
            width, height = im.size
            if width * height > limits.bomb_photo_pixels:
                raise FileRejected(C.FILE_HOSTILE, what="pixels")
            if im.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8):
                width, height = height, width            # turned a quarter: upright sizes
            if width < rules.min_width or height < rules.min_height:
                return C.PHOTO_TOO_SMALL, {"width": width, "height": height,
                                           "min_width": rules.min_width,
                                           "min_height": rules.min_height}
            profile, mode = im.info.get("icc_profile"), im.mode
            im.draft("RGB", (rules.width * 2, rules.height * 2))
            if _decoded_pixels(im, width * height) > limits.max_photo_pixels:
                return C.PHOTO_TOO_LARGE, {
                    "width": width, "height": height, "megapixels": round(width * height / 10_000),
                    "limit": limits.max_photo_pixels // 10_000, "card_width": rules.width,
                    "card_height": rules.height}
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            factor = min(im.size[0] // (rules.width * 2), im.size[1] // (rules.height * 2))
            upright = im.reduce(factor) if factor > 1 else im.copy()
    except FileRejected:
        raise
    except UNREADABLE:
        return C.PHOTO_UNREADABLE, {}
    rgb = _on_white(upright)
    card = _in_srgb(_crop_to_ratio(rgb, rules.width, rules.height).resize(
        (rules.width, rules.height), Image.Resampling.LANCZOS), profile, mode)
    # A fresh image carries no info dict: nothing of the source's metadata can be written out.
    clean = Image.new("RGB", card.size, "white")
    clean.paste(card)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=rules.quality, optimize=True)
    return Normalised(out.getvalue(), width, height)


def _decoded_pixels(im: Image.Image, declared: int) -> int:
    """The pixels decoding `im` holds at once, after its draft: a baseline JPEG's DCT-scaled
    size (draft() sets it). A progressive JPEG keeps every coefficient of the full image, as
    much memory as decoding it whole (a 48-MP one: 158 MB against 19); nothing else drafts."""
    if im.format in ("JPEG", "MPO") and im.info.get("progressive"):
        return declared
    return im.size[0] * im.size[1]


def _on_white(im: Image.Image) -> Image.Image:
    """RGB; transparent parts (PNG) become white, as on a printed card. A 16-bit grey PNG (a
    scanner's "16 位灰度") is brought to 8 bits first: Pillow's conversion to RGB clips every
    value above 255, and the card came out white."""
    if im.mode == "I" or im.mode.startswith("I;16"):
        im = im.convert("I").point(lambda v: v * (1 / 256), "L")
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        back = Image.new("RGB", rgba.size, "white")
        back.paste(rgba, mask=rgba.getchannel("A"))
        return back
    return im.convert("RGB")


def _in_srgb(card: Image.Image, profile: bytes | None, mode: str) -> Image.Image:
    """The card's colours in sRGB, the colours a JPEG without a profile is shown in, where the
    photo came with an RGB colour profile of another space: a phone's Display P3 (an iPhone's
    photos), read as sRGB, came out dull and greyish. A profile that cannot be used (damaged,
    or of another kind of image) is left aside, as every profile was before."""
    if not profile or mode not in ("RGB", "RGBA"):
        return card
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if "srgb" in ImageCms.getProfileDescription(source).lower():
            return card
        converted = ImageCms.profileToProfile(card, source, _srgb(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return card
    return converted if converted is not None else card


def _srgb() -> ImageCms.ImageCmsProfile:
    global _SRGB
    if _SRGB is None:
        _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB


_SRGB: ImageCms.ImageCmsProfile | None = None


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
        found = [Entry(name, path)]
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
        found = [Entry(member_name(info), path, info) for info in infos]
    # Every image's declared size first: a pixel bomb refuses the file before anything is decoded.
    for entry in found:
        pixels = declared_pixels(entry)
        if pixels is not None and pixels > limits.bomb_photo_pixels:
            raise FileRejected(C.FILE_HOSTILE, what="pixels")
    return found


def decode(entry: Entry, rules: PhotoRules, limits: Limits) -> Decoded:
    """The card JPEG made of a photo (or why not), and the SHA-256 of its bytes as sent."""
    try:
        sha = hashlib.sha256()
        with entry.open() as fh:
            while block := fh.read(1 << 20):
                sha.update(block)
        digest = sha.hexdigest()
        with entry.open() as fh:
            return normalise(fh, rules, limits), digest
    except UNREADABLE:          # a damaged or encrypted member: that photo is unreadable
        return (C.PHOTO_UNREADABLE, {}), None


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name as the clerk's computer wrote it. Windows in a Chinese locale (its
    "send to compressed folder", older WinRAR and 7-Zip defaults) writes names in GBK without
    the zip's UTF-8 flag, which zipfile reads as CP437: 社区照片/ became ╔τ╟°╒╒╞¼/ in the
    receipt. A name that is not GB18030 either stays as zipfile read it."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except UnicodeError:
        return info.filename


def _litter(info: zipfile.ZipInfo) -> bool:
    """Folders, macOS resource forks, Thumbs.db and the like: not photos, not reported."""
    parts = PurePosixPath(info.filename.replace("\\", "/")).parts
    return info.is_dir() or not parts or parts[0] == "__MACOSX" or ignored(parts[-1])
