"""ID photos (证件照): `<证件号码>.jpg|.png`, or a .zip of them, dropped into a unit's inbox.

Each photo is one receipt row. It must name a person of the unit (on file there, or with an open
enrolment there), decode as JPEG or PNG, and be at least the minimum size in rules/region.toml
[photo]. It is turned upright (EXIF orientation), cropped to the card's ratio around its centre,
resized to the card size (default 236×295) and written as a fresh JPEG: no EXIF, ICC profile or
comment survives. The result waits for the centre's review in the `photos` table, stored at
var/photos/<unit>/<证件号码>-<hash>.jpg. A newer photo of a person supersedes a pending one; the
same photo sent again is noted, not stored twice.

Hostile input is refused for the whole file before any photo is stored: zip path tricks, links,
sizes and ratios by exchange.read.guard.check_zip_members; pixel bombs by reading every image's
declared dimensions (the header only) against config.toml [limits] max_photo_pixels before any
image is decoded.
"""
from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks import ids
from exchange.checks.finding import Finding
from exchange.config import Instance, Limits
from exchange.errors import FileRejected
from exchange.intake.ignore import ignored
from exchange.kinds.spec import PhotoRules
from exchange.messages import PHOTO_WORDS
from exchange.outputs.atomic import atomic_path
from exchange.read.guard import Sniffed, check_zip_members
from exchange.results import FileResult, RowOutcome
from exchange.store import queries as Q
from exchange.store.models import OPEN_STATUSES, Declaration, Person, Photo

PHOTO_KIND = "photo"
PHOTO_FORMATS = ("jpeg", "png", "zip")          # what read.guard.sniff says of a photo upload
DECODABLE = {"JPEG", "MPO", "PNG"}               # MPO: the JPEG variant many phones write
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Kinds whose open declaration makes someone "a person of this unit" before they are on file:
# a photo usually travels with the enrolment.
ENROLMENT_KINDS = ("resident_add", "employee_add")
FILE_FIELD = "file"


@dataclass(frozen=True)
class Entry:
    name: str                        # as dropped: the file name, or the zip member's path
    read: Callable[[], bytes]


@dataclass(frozen=True)
class Normalised:
    jpeg: bytes
    width: int                       # of the source, upright
    height: int


def is_photo_upload(sniffed: Sniffed) -> bool:
    return sniffed.format in PHOTO_FORMATS


# Decoding ----------------------------------------------------------------------------------------
def _open(data: bytes) -> Image.Image:
    """Open an image reading its header only. Pillow's own bomb guard (a process-wide setting we
    leave alone) is a backstop; our bound is checked by the caller before anything is decoded."""
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
def entries(path: Path, name: str, sniffed: Sniffed, limits: Limits) -> Iterator[Entry]:
    """The photos of an upload: the file itself, or the members of a zip (checked first)."""
    if sniffed.format != "zip":
        yield Entry(name, path.read_bytes)
        return
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in check_zip_members(zf, limits) if not _litter(i)]
            if len(infos) > limits.max_photos_per_zip:
                raise FileRejected(C.FILE_TOO_LARGE, what="zip_members", limit=limits.max_photos_per_zip)
            for info in infos:
                yield Entry(info.filename, _member_reader(path, info))
    except zipfile.BadZipFile as exc:
        raise FileRejected(C.FILE_UNREADABLE, reason="corrupt") from exc


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


def _read(entry: Entry) -> bytes | None:
    try:
        return entry.read()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return None                  # damaged or encrypted member: that photo is unreadable


# Judging and storing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoRun:
    """What the pipeline tells the photo step about this file (see pipeline.Options)."""
    importing: bool
    file_id: int | None
    actor: str
    today: date
    scope: frozenset[str] | None = None          # a school sub-account's classes


def examine_photos(instance: Instance, session: Session, path: Path, unit_code: str, name: str,
                   result: FileResult, sniffed: Sniffed, run: PhotoRun,
                   sink: Callable[[RowOutcome], None]) -> None:
    """Judge (and when importing, store) every photo of an upload; one RowOutcome each."""
    limits, rules = instance.settings.limits, instance.rules.region.photo
    result.kind, result.kind_label = PHOTO_KIND, PHOTO_WORDS["kind_label"]
    result.awaits_submission = False        # photos wait for the centre's photo review instead
    photos = list(entries(path, name, sniffed, limits))
    if not photos:
        raise FileRejected(C.FILE_EMPTY)
    # Every image's declared size first: a pixel bomb refuses the file before anything is stored.
    for entry in photos:
        data = _read(entry)
        pixels = declared_pixels(data) if data is not None else None
        if pixels is not None and pixels > limits.max_photo_pixels:
            raise FileRejected(C.FILE_HOSTILE, what="pixels")
    numbers = {e.name: _id_of(e.name, run.today) for e in photos}
    known = people_of_unit(session, unit_code, [n for n, _ in numbers.values() if n])
    seen: dict[str, int] = {}
    for row, entry in enumerate(photos, start=1):
        number, problem = numbers[entry.name]
        findings: list[Finding] = []
        notes: tuple[Finding, ...] = ()

        def finding(code: str, **params: Any) -> Finding:
            return Finding(row, code, PHOTO_WORDS["column"], FILE_FIELD, {"value": entry.name, **params})

        if problem:
            findings.append(finding(problem))
        elif number in seen:
            findings.append(Finding(row, C.DUPLICATE_IN_FILE, params={"first_row": seen[number]}))
        elif number not in known:
            findings.append(finding(C.PHOTO_UNKNOWN_PERSON))
        elif run.scope is not None and known[number][1] not in run.scope:
            findings.append(finding(C.CLASS_OUT_OF_SCOPE, allowed="、".join(sorted(run.scope)),
                                    what="scope_student", value=known[number][1] or ""))
        else:
            seen[number] = row
            data = _read(entry)
            made = normalise(data, rules, limits) if data is not None else (C.PHOTO_UNREADABLE, {})
            if isinstance(made, Normalised):
                assert data is not None and number is not None
                notes = (store_photo(instance, session, unit_code, number, entry.name, data, made,
                                     run.file_id, run.actor, row) if run.importing else
                         (finding(C.NOTE_PHOTO_SAVED, width=rules.width, height=rules.height),))
            else:
                findings.append(finding(made[0], **made[1]))
        person = known.get(number or "")
        if findings and run.importing:
            # 错误日志: failed photos are kept and queried like failed rows.
            now = datetime.now().replace(microsecond=0)
            Q.add_row_errors(session, [
                {"file_id": run.file_id, "unit_code": unit_code, "kind": PHOTO_KIND, "row": row,
                 "id_number": number or entry.name[:40], "name": person[0] if person else None,
                 "column": f.column, "code": f.code, "message": f.message, "created_at": now}
                for f in findings])
        sink(RowOutcome(row, tuple(findings), (entry.name,), number or None,
                        person[0] if person else None, None, notes if not findings else ()))


def _id_of(entry_name: str, today: date) -> tuple[str | None, str | None]:
    """(ID, None) from `<证件号码>.jpg`, or (None, the id.* code of what is wrong with it)."""
    pure = PurePosixPath(entry_name.replace("\\", "/"))
    if pure.suffix.lower() not in IMAGE_SUFFIXES:
        return None, C.PHOTO_UNREADABLE
    number = ids.normalise_id(pure.stem)
    if ids.looks_numeric(number):
        return None, C.ID_NUMERIC
    problem = ids.id_problem(number, today)
    return (None, problem) if problem else (number, None)


def people_of_unit(s: Session, unit: str, numbers: list[str]) -> dict[str, tuple[str, str | None]]:
    """ID -> (name, class) of those among `numbers` who belong to the unit: on file there, or
    with an open enrolment there."""
    out: dict[str, tuple[str, str | None]] = {}
    wanted = sorted(set(numbers))
    for i in range(0, len(wanted), Q.IN_CHUNK):
        chunk = wanted[i:i + Q.IN_CHUNK]
        for number, name, class_code in s.execute(
                select(Person.id_number, Person.name, Person.class_code).where(
                    Person.id_number.in_(chunk), Person.unit_code == unit)):
            out[number] = (name, class_code)
        for number, name, payload in s.execute(
                select(Declaration.id_number, Declaration.name, Declaration.payload).where(
                    Declaration.id_number.in_(chunk), Declaration.unit_code == unit,
                    Declaration.kind.in_(ENROLMENT_KINDS), Declaration.status.in_(OPEN_STATUSES))):
            out.setdefault(number, (name or "", (payload or {}).get("class_code")))
    return out


def store_photo(instance: Instance, s: Session, unit: str, number: str, source_name: str,
                data: bytes, made: Normalised, file_id: int | None, actor: str,
                row: int) -> tuple[Finding, ...]:
    """Write the card JPEG and record it pending review; the note the receipt shows."""
    rules = instance.rules.region.photo
    digest = hashlib.sha256(data).hexdigest()

    def note(code: str, **params: Any) -> tuple[Finding, ...]:
        return (Finding(row, code, PHOTO_WORDS["column"], FILE_FIELD, {"value": source_name, **params}),)

    same = s.scalar(select(Photo.id).where(Photo.unit_code == unit, Photo.id_number == number,
                                          Photo.sha256 == digest,
                                          Photo.status.in_(("pending", "approved"))))
    if same is not None:
        return note(C.NOTE_PHOTO_SAME)
    relative = Path("var") / "photos" / unit / f"{number}-{digest[:12]}.jpg"
    target = instance.home / relative
    # Named by content: a retry after a crash rewrites the same file, an orphan is harmless.
    with atomic_path(target) as tmp:
        tmp.write_bytes(made.jpeg)
    now = datetime.now().replace(microsecond=0)
    s.execute(update(Photo).where(Photo.unit_code == unit, Photo.id_number == number,
                                  Photo.status == "pending").values(status="superseded", decided_at=now))
    photo = Photo(unit_code=unit, id_number=number, file_id=file_id, source_name=source_name[:255],
                  sha256=digest, path=relative.as_posix(), width=made.width, height=made.height,
                  status="pending", created_at=now)
    s.add(photo)
    s.flush()
    Q.audit(s, actor, "photo", file_id=file_id, row=row, detail=f"{number} photo={photo.id}")
    return note(C.NOTE_PHOTO_SAVED, width=rules.width, height=rules.height)


__all__ = ["examine_photos", "PhotoRun", "people_of_unit", "is_photo_upload", "normalise", "PHOTO_KIND",
           "PHOTO_FORMATS"]
