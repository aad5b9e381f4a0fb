"""Notices (issue 16.4): the centre's inbox/_centre/notices/ reaches the units it addresses."""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from exchange import codes as C
from exchange.intake.centre import process_centre_inbox
from exchange.store.models import Account, Unit

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def units(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.add(Unit(code="3001", name="东城社区", unit_type="30"))
        s.add(Unit(code="4001", name="实验小学", unit_type="40"))
        s.add(Account(login="c-a", unit_code="4001", role="class", scope="2024-A", failures=0))
        s.add(Account(login="c-gone", unit_code="4001", role="class", scope="2024-B", failures=0,
                      status="deleted"))


def drop(instance, name: str, data: bytes) -> list[dict]:  # type: ignore[no-untyped-def]
    folder = instance.unit_inbox("_centre") / "notices"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return []


def got(instance, unit: str, sub: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    folder = instance.unit_outbox(unit) / sub / "notices" if sub else instance.unit_outbox(unit, "notices")
    return sorted(p.name.split("-", 1)[1] for p in folder.glob("*")) if folder.is_dir() else []


def centre_receipts(instance) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(instance.unit_outbox("_centre", "receipts").glob("*.json"))]


def test_each_unit_finds_only_what_is_addressed_to_it(instance, db):  # type: ignore[no-untyped-def]
    units(db)
    drop(instance, "[全部]缴费通知.pdf", PDF)
    drop(instance, "[类型30]社区通知.pdf", PDF)
    drop(instance, "[1001，4001]名单.txt", "请核对名单。\n".encode("gb18030"))
    drop(instance, "学校通知.txt", "收件单位：类型40\n下周一起开始学生参保登记。\n".encode("utf-8"))
    wb = openpyxl.Workbook()
    wb.active.append(["截止日期", "2026-12-31"])
    wb.save(instance.unit_inbox("_centre") / "notices" / "[1002]表格.xlsx")
    done = process_centre_inbox(instance, db)
    assert len(done) == 5 and all(r["status"] == "accepted" for r in done), done
    assert got(instance, "1001") == ["名单.txt", "缴费通知.pdf"]
    assert got(instance, "1002") == ["缴费通知.pdf", "表格.xlsx"]
    assert got(instance, "3001") == ["社区通知.pdf", "缴费通知.pdf"]
    assert got(instance, "4001") == ["名单.txt", "学校通知.txt", "缴费通知.pdf"]
    # The school's class login gets the school's notices; a deleted login does not.
    assert got(instance, "4001", "@c-a") == ["名单.txt", "学校通知.txt", "缴费通知.pdf"]
    assert not (instance.unit_outbox("4001") / "@c-gone").exists()
    # The copies are the notices, byte for byte; the inbox is empty.
    [pdf] = instance.unit_outbox("3001", "notices").glob("*社区通知.pdf")
    assert pdf.read_bytes() == PDF
    assert not list((instance.unit_inbox("_centre") / "notices").iterdir())
    # The centre's receipts list who received each.
    by_file = {r["file"]: r for r in centre_receipts(instance)}
    assert [x["unit"] for x in by_file["[类型30]社区通知.pdf"]["recipients"]] == ["3001"]
    assert [x["unit"] for x in by_file["[全部]缴费通知.pdf"]["recipients"]] == ["1001", "1002", "3001", "4001"]
    [school] = by_file["学校通知.txt"]["recipients"]
    assert school == {"unit": "4001", "name": "实验小学", "sub_accounts": ["c-a"],
                      "stored_as": by_file["学校通知.txt"]["published_as"]}
    assert (instance.unit_outbox("4001", "notices") / school["stored_as"]).read_bytes().startswith(
        "收件单位：类型40".encode())


def test_bad_notices_get_a_receipt_and_reach_nobody(instance, db):  # type: ignore[no-untyped-def]
    units(db)
    drop(instance, "通知.pdf", PDF)                                  # no address
    drop(instance, "[1001,9999]通知.pdf", PDF)                       # 9999 unknown
    drop(instance, "[类型77]通知.pdf", PDF)                          # no such type
    drop(instance, "[全部]通知.exe", b"MZ\x90\x00")                   # not a notice type
    drop(instance, "[全部]假的.pdf", b"<html>not a pdf</html>")      # content is not a PDF
    drop(instance, "空白.txt", "收件单位：全部\n\n".encode())           # nothing after the address
    done = {r["file"]: r for r in process_centre_inbox(instance, db)}
    codes = {name: r["file_errors"][0]["code"] for name, r in done.items()}
    assert codes == {"通知.pdf": C.NOTICE_NO_ADDRESS, "[1001,9999]通知.pdf": C.NOTICE_UNKNOWN_UNITS,
                     "[类型77]通知.pdf": C.NOTICE_UNKNOWN_UNITS, "[全部]通知.exe": C.NOTICE_UNSAFE,
                     "[全部]假的.pdf": C.NOTICE_UNSAFE, "空白.txt": C.NOTICE_EMPTY}
    assert "9999" in done["[1001,9999]通知.pdf"]["file_errors"][0]["message"]
    assert done["[全部]假的.pdf"]["status"] == "quarantined"
    for unit in ("1001", "1002", "3001", "4001"):
        assert got(instance, unit) == []


def test_a_notice_left_in_processing_is_delivered_by_recovery(instance, db):  # type: ignore[no-untyped-def]
    """A process that stopped after claiming a notice: recovery routes it as a notice again."""
    from exchange.intake.watch import recover_centre

    units(db)
    work = instance.processing / "centre-20261205101010000000-notice~[类型30]停电通知.pdf"
    work.parent.mkdir(parents=True, exist_ok=True)
    work.write_bytes(PDF)
    assert recover_centre(instance, db, force=True) == 1
    assert got(instance, "3001") == ["停电通知.pdf"] and got(instance, "1001") == []
    [receipt] = centre_receipts(instance)
    assert receipt["file"] == "[类型30]停电通知.pdf" and receipt["kind"] == "notice"
    assert not work.exists()


def test_two_notices_of_one_name_on_one_day_are_both_kept_and_a_resent_one_is_not_doubled(instance, db):  # type: ignore[no-untyped-def]
    """The centre sends 缴费通知.pdf in the morning and a corrected one of the same name in the
    afternoon; a clerk re-sends the morning one by mistake. Each unit's folder keeps both
    notices once each, and every receipt names the file as the unit stores it."""
    units(db)
    morning, corrected = PDF, PDF.replace(b"trailer", b"%corrected\ntrailer")
    drop(instance, "[全部]缴费通知.pdf", morning)
    [first] = process_centre_inbox(instance, db)
    drop(instance, "[全部]缴费通知.pdf", corrected)
    [second] = process_centre_inbox(instance, db)
    # Only the school gets this one: the other units never saw the corrected notice either.
    drop(instance, "[4001]缴费通知.pdf", morning)
    [again] = process_centre_inbox(instance, db)
    drop(instance, "[3001]缴费通知.pdf", corrected)
    [again_3001] = process_centre_inbox(instance, db)

    assert first["published_as"] != second["published_as"]
    assert first["published_as"].endswith("-缴费通知.pdf") and second["published_as"].endswith("-缴费通知（2）.pdf")
    for unit, sub in (("1001", ""), ("3001", ""), ("4001", ""), ("4001", "@c-a")):
        folder = (instance.unit_outbox(unit) / sub if sub else instance.unit_outbox(unit)) / "notices"
        stored = {p.name: p.read_bytes() for p in folder.iterdir()}
        assert stored == {first["published_as"]: morning, second["published_as"]: corrected}, (unit, sub)
    # Re-sent, the same bytes: nothing new; the receipt names the copy the unit already holds.
    assert again["counts"]["already_held"] == 1
    assert [r["stored_as"] for r in again["recipients"]] == [first["published_as"]]
    assert [r["stored_as"] for r in again_3001["recipients"]] == [second["published_as"]]
    assert again_3001["counts"] == {"units": 1, "sub_accounts": 0, "already_held": 1}
    for receipt in (first, second):
        assert {r["stored_as"] for r in receipt["recipients"]} == {receipt["published_as"]}
        assert receipt["counts"]["already_held"] == 0


def test_files_of_one_name_handled_in_one_second_keep_their_own_receipts_and_copies(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    """A clerk at the centre sends a notice, then at once the corrected one of the same name:
    both handled within the same second. Each gets its own receipt and archived copy (the second
    once overwrote the first's receipt, so the first's answer was lost)."""
    from datetime import datetime as real

    import exchange.intake.centre as centre

    units(db)
    ticks = iter(range(10**6))

    class OneSecond(real):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return real(2026, 12, 5, 9, 30, 0, next(ticks))

    monkeypatch.setattr(centre, "datetime", OneSecond)
    corrected = PDF.replace(b"trailer", b"%corrected\ntrailer")
    for data in (PDF, corrected):
        drop(instance, "[全部]缴费通知.pdf", data)
        assert [r["status"] for r in process_centre_inbox(instance, db)] == ["accepted"]
    receipts = centre_receipts(instance)
    assert len(receipts) == 2
    assert receipts[0]["published_as"] != receipts[1]["published_as"]
    archived = sorted(p.read_bytes() for p in instance.archive.rglob("*缴费通知.pdf"))
    assert archived == sorted([PDF, corrected])
