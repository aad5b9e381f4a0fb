"""ID photos (证件照): `<证件号码>.jpg|.png`, or a .zip of them, dropped into a unit's inbox.

Each photo is one receipt row. It must name a person of the unit (on file there, or with an open
enrolment there), decode as JPEG or PNG, and be at least the minimum size in rules/region.toml
[photo]. It is turned upright (EXIF orientation), cropped to the card's ratio around its centre,
resized to the card size (default 236×295) and written as a fresh JPEG: no EXIF, ICC profile or
comment survives. The result waits for the centre's review in the `photos` table, stored at
var/photos/<unit>/<证件号码>-<hash>.jpg. A newer photo of a person supersedes a pending one; the
same photo sent again is noted, not stored twice.

Every byte of the upload is read and decoded in a sandboxed reading worker (exchange.read.sandbox,
exchange.read.images): hostile input is refused for the whole file there before any photo is
stored (zip path tricks, links, sizes and ratios; pixel bombs by every image's declared
dimensions against config.toml [limits] bomb_photo_pixels). This module judges what the worker
made of each photo against the records, and stores the card JPEGs.

What is a photo upload goes by content and name together (issue 21): an image named as an image,
or a zip of images; a file named as an image whose bytes are no image (a damaged .jpg) is a photo
upload whose one photo is `photo.unreadable`; an image named otherwise (扫描件.xlsx) is no workbook
and is refused whole as `file.unreadable`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks import ids
from exchange.checks.finding import Finding
from exchange.config import Instance
from exchange.errors import FileRejected
from exchange.messages import PHOTO_WORDS
from exchange.outputs.atomic import atomic_path
from exchange.read.guard import Sniffed
from exchange.read.images import IMAGE_FORMATS, IMAGE_SUFFIXES, Normalised, named_as_image
from exchange.read.sandbox import Upload
from exchange.results import FileResult, RowOutcome
from exchange.store import queries as Q
from exchange.store.models import OPEN_STATUSES, Declaration, Person, Photo

PHOTO_KIND = "photo"
PHOTO_FORMATS = ("jpeg", "png", "zip")          # what read.guard.sniff says of a photo upload
# Kinds whose open declaration makes someone "a person of this unit" before they are on file:
# a photo usually travels with the enrolment.
ENROLMENT_KINDS = ("resident_add", "employee_add")
FILE_FIELD = "file"


def is_photo_upload(sniffed: Sniffed, name: str) -> bool:
    """A zip that is no workbook, an image named as one, or a file named as an image whose bytes
    are neither a workbook nor an image (a damaged photo, judged photo.unreadable)."""
    if sniffed.format == "zip":
        return True
    if sniffed.format in IMAGE_FORMATS or sniffed.format == "csv":
        return named_as_image(name)
    return False


# Judging and storing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoRun:
    """What the pipeline tells the photo step about this file (see judge.Options)."""
    importing: bool
    file_id: int | None
    actor: str
    today: date
    scope: frozenset[str] | None = None          # a school sub-account's classes


def examine_photos(instance: Instance, session: Session, upload: Upload, unit_code: str, name: str,
                   result: FileResult, run: PhotoRun, sink: Callable[[RowOutcome], None]) -> None:
    """Judge (and when importing, store) every photo of an upload; one RowOutcome each. The
    photos are read and decoded by the upload's sandboxed worker."""
    rules = instance.rules.region.photo
    result.kind, result.kind_label = PHOTO_KIND, PHOTO_WORDS["kind_label"]
    result.awaits_submission = False        # photos wait for the centre's photo review instead
    photos = upload.photos(name)            # every image's declared size checked first
    if not photos:
        raise FileRejected(C.FILE_EMPTY)
    numbers = {entry: _id_of(entry, run.today) for entry in photos}
    known = people_of_unit(session, unit_code, [n for n, _ in numbers.values() if n])
    seen: dict[str, int] = {}
    for row, entry in enumerate(photos, start=1):
        number, problem = numbers[entry]
        findings: list[Finding] = []
        notes: tuple[Finding, ...] = ()

        def finding(code: str, **params: Any) -> Finding:
            return Finding(row, code, PHOTO_WORDS["column"], FILE_FIELD, {"value": entry, **params})

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
            made, digest = upload.photo(row - 1, rules)
            if isinstance(made, Normalised):
                assert digest is not None and number is not None
                notes = (store_photo(instance, session, unit_code, number, entry, digest, made,
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
                 "id_number": number or entry[:40], "name": person[0] if person else None,
                 "column": f.column, "code": f.code, "message": f.message, "created_at": now}
                for f in findings])
        sink(RowOutcome(row, tuple(findings), (entry,), number or None,
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
                digest: str, made: Normalised, file_id: int | None, actor: str,
                row: int) -> tuple[Finding, ...]:
    """Write the card JPEG and record it pending review (`digest`: the source's SHA-256); the
    note the receipt shows."""
    rules = instance.rules.region.photo

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


__all__ = ["examine_photos", "PhotoRun", "people_of_unit", "is_photo_upload", "PHOTO_KIND",
           "PHOTO_FORMATS"]
