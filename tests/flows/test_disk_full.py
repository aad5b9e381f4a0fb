"""A full disk is never the file's fault (issue 21 item 11).

With the instance's folders on a nearly full file system, valid files were quarantined as
`file.unreadable`: writing their receipts or error workbooks failed (ENOSPC) and the pipeline took
that for a file it could not judge. Now ENOSPC and EDQUOT, at any stage (staging outputs,
publishing them, moving the file), count as trouble that is not the file's: the file stays
claimed, no receipt is written, and it is judged again once there is space, as with a busy
database.
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select

import exchange.outputs.answers as answers
import exchange.pipeline as pipeline
from exchange.config import Instance, init_instance
from exchange.errors import DatabaseBusy
from exchange.intake.scan import process_inbox, recover
from exchange.store.db import Database, disk_full, open_database
from exchange.store.models import Declaration, FileRecord
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook, set_database_url

TITLE = "职工批量新增申报填写表"


def _enospc(*_args: Any, **_kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _drop(instance: Instance, name: str = "a.xlsx", seq: str = "731") -> Path:
    return make_workbook(instance.unit_inbox("1001") / name, ADD_HEADERS,
                         [add_row(make_id("19800101", seq), "甲"),
                          add_row(make_id("19800102", "73X"), "乙")], title=TITLE)   # one bad row


@pytest.fixture
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "DB_RETRY_WAITS", (0.01,))


def _fail_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, times: int = 2) -> list[int]:
    """`module.name` raises ENOSPC for its first `times` calls (a retry included), then works."""
    real = getattr(module, name)
    calls: list[int] = []

    def full_then_real(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            _enospc()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, full_then_real)
    return calls


def _unit_files(instance: Instance, part: str) -> list[str]:
    folder = instance.unit_outbox("1001", part)
    return sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []


def test_disk_full_is_recognised_through_wrappers() -> None:
    from xlsxwriter.exceptions import FileCreateError

    full = OSError(errno.ENOSPC, "No space left on device")
    assert disk_full(full) and disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert disk_full(FileCreateError(full))                 # how xlsxwriter reports it
    try:
        try:
            raise full
        except OSError as exc:
            raise RuntimeError("writing the receipt failed") from exc
    except RuntimeError as wrapped:
        assert disk_full(wrapped)
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk_full(ValueError("bad cell"))


def test_no_space_for_the_receipt_leaves_the_file_claimed(instance, db, no_waits, monkeypatch):  # type: ignore[no-untyped-def]
    calls = _fail_once(monkeypatch, pipeline, "write_receipts")
    _drop(instance)
    with pytest.raises(DatabaseBusy):
        process_inbox(instance, db)
    assert len(calls) == 2                                  # judged again once, then given up
    assert _unit_files(instance, "receipts") == [] and not any(instance.quarantine.rglob("*"))
    with db.session() as s:
        assert s.scalars(select(FileRecord.status)).all() == ["claimed"]
        assert s.scalar(select(func.count()).select_from(Declaration)) == 0
    [result] = recover(instance, db)                        # space again: judged from the start
    assert (result.status, result.counts.accepted, result.counts.failed) == ("partial", 1, 1)
    assert len([n for n in _unit_files(instance, "receipts") if n.endswith(".txt")]) == 1
    assert len(_unit_files(instance, "errors")) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1


def test_no_space_to_publish_leaves_the_judged_file_for_placing(instance, db, no_waits, monkeypatch):  # type: ignore[no-untyped-def]
    _fail_once(monkeypatch, answers, "publish", times=1)
    _drop(instance)
    with pytest.raises(DatabaseBusy):
        process_inbox(instance, db)
    with db.session() as s:                                 # judged and recorded, not placed
        [rec] = s.scalars(select(FileRecord)).all()
        assert (rec.status, rec.stored_path) == ("partial", None)
    assert not any(instance.quarantine.rglob("*"))
    assert recover(instance, db) == []                      # placed, not judged again
    with db.session() as s:
        [rec] = s.scalars(select(FileRecord)).all()
        assert rec.stored_path and Path(rec.stored_path).is_file()
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1
    assert len([n for n in _unit_files(instance, "receipts") if n.endswith(".json")]) == 1
    assert list(instance.processing.iterdir()) == []


# A real full file system: a small tmpfs (needs root, as CI has; skipped elsewhere).
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave: int) -> Path:
    """A filler file that leaves about `leave` bytes free on `mount`."""
    filler = mount / "filler"
    st = os.statvfs(mount)
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.parametrize("free_kb", [8, 16])
# XlsxWriter leaves its ZipFile open when saving the book fails; its __del__ then fails again on
# the full disk (an "exception ignored" pytest reports as a warning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_valid_files_on_a_nearly_full_disk_wait_for_space(small_disk: Path, tmp_path: Path,
                                                          no_waits: None, free_kb: int) -> None:
    home = small_disk / "inst"
    init_instance(home)
    set_database_url(home, f"sqlite:///{tmp_path / 'db' / 'exchange.db'}")  # the database elsewhere
    instance = Instance(home)
    db = open_database(instance)
    try:
        from exchange.accounts import add_unit

        with db.session() as s:
            add_unit(instance, s, "1001", "南通示例科技有限公司", password="pw-1001")
        names = [f"f{i}.xlsx" for i in range(6)]
        for i, name in enumerate(names):
            _drop(instance, name, f"74{i}")
        filler = _fill(small_disk, free_kb * 1024)
        done: list[Any] = []
        for _ in range(len(names)):                         # each call stops at the first full
            try:
                done += process_inbox(instance, db)
                break
            except DatabaseBusy:
                continue
        assert [r for r in done if r.quarantined] == []     # nothing called unreadable
        assert not any((instance.quarantine).rglob("*.xlsx"))
        filler.unlink()                                     # space returns
        done += recover(instance, db)
        done += process_inbox(instance, db)
        assert sorted(r.name for r in done) == names
        assert {(r.status, r.counts.accepted, r.counts.failed) for r in done} == {("partial", 1, 1)}
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Declaration)) == len(names)
        assert [p for p in instance.processing.iterdir()] == []
    finally:
        db.dispose()

