"""城乡居民参保申报表: the head first, 续保/调入 or 新参保 decided and recorded, arrears, classes."""
from __future__ import annotations

from sqlalchemy import select

from exchange import codes as C
from exchange.store.models import Declaration
from tests.conftest import make_id
from tests.flows.helpers import process_one, receipt_of, triples
from tests.flows.residents import (CC, HEAD, IN_ARREARS, INSURED_ELSEWHERE, MEMBER, NEWBORN,  # noqa: F401
                                   PARENT, PT, RESIDENT_ADD, STOPPED_ELSEWHERE, SUSPENDED_HERE,
                                   community, drop, school)

TITLE = "城乡居民参保申报表"


def enrol(number: str, name: str, head: str = HEAD, **cells: str) -> list[str]:
    return [cells.get("id_type", ""), number, name, cells.get("sex", ""), cells.get("ethnicity", ""),
            cells.get("birth", ""), head, cells.get("relation", ""), cells.get("category", "成年居民"),
            cells.get("phone", ""), cells.get("family_planning", ""), cells.get("class_code", ""), ""]


def payloads(db) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return {d.id_number: d.payload for d in s.scalars(select(Declaration))}


def test_system_decides_renewal_transfer_or_new_enrolment(instance, db, community):  # type: ignore[no-untyped-def]
    rows = [enrol(NEWBORN, "林小宝", relation="孙子", category="学龄前儿童", sex="男"),
            enrol(SUSPENDED_HERE, "林一", relation="本人", family_planning="是"),
            enrol(STOPPED_ELSEWHERE, "林二", id_type="01-居民身份证", relation="配偶")]
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, rows, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "resident_add" and receipt["status"] == "accepted"
    found = payloads(db)
    assert found[NEWBORN]["enrolment"] == "new" and found[NEWBORN]["category"] == "11"
    assert found[SUSPENDED_HERE]["enrolment"] == "renewal"
    assert found[STOPPED_ELSEWHERE]["enrolment"] == "transfer_in"
    assert found[STOPPED_ELSEWHERE]["from_unit"] == "C3002"
    # 是否计生补助对象 defaults to 否; 证件类型 to 居民身份证.
    assert found[NEWBORN]["family_planning"] == "0" and found[SUSPENDED_HERE]["family_planning"] == "1"
    assert {p["id_type"] for p in found.values()} == {"01"}


def test_enrolment_rules(instance, db, community):  # type: ignore[no-untyped-def]
    unregistered = make_id("19660606", "904", PT)
    rows = [enrol(make_id("20180101", "905", PT), "林小", head=unregistered),  # head not registered
            enrol(INSURED_ELSEWHERE, "陈三"),                                   # insured in C3002
            enrol(MEMBER, "林五"),                                              # insured here
            enrol(IN_ARREARS, "黄四"),                                          # renewal with arrears
            enrol(SUSPENDED_HERE, "林壹"),                                      # name off the archive
            enrol(make_id("20180202", "906", PT), "林小", sex="男"),            # sex against the ID
            enrol(make_id("20180303", "907", PT), "林小", head=HEAD[:15], category="外星人")]
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, rows, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [
        (4, "户主身份证号", C.HOUSEHOLD_MISSING),
        (5, "证件号码", C.PERSON_INSURED_ELSEWHERE),
        (6, "证件号码", C.PERSON_ALREADY_INSURED),
        (7, "证件号码", C.ARREARS),
        (8, "姓名", C.RECORD_MISMATCH),
        (9, "性别", C.SEX_MISMATCH),
        (10, "人员类别", C.CODE_UNKNOWN), (10, "户主身份证号", C.ID_FORMAT)]
    assert "续保" in receipt["rows"][3]["errors"][0]["message"]
    assert "88.50" in receipt["rows"][3]["errors"][0]["message"]
    # A resident's, not an employer's words (无需再办理增加).
    assert receipt["rows"][2]["errors"][0]["message"] == \
        "该人员已在本单位参保，无需再次参保登记；信息有变请报送城乡居民变更申报表。"


def test_arrears_block_for_renewals_is_a_regional_switch(instance, db, community):  # type: ignore[no-untyped-def]
    region = instance.rules_dir / "region.toml"
    region.write_text(region.read_text(encoding="utf-8").replace(', "resident_renewal"', ""),
                      encoding="utf-8")
    instance.__dict__.pop("rules", None)
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, [enrol(IN_ARREARS, "黄四")], title=TITLE)
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1


def test_school_declares_students_into_a_class(instance, db, school):  # type: ignore[no-untyped-def]
    rows = [enrol(make_id("20170101", "501", CC), "孙小一", head=PARENT, category="中小学生",
                  class_code="2025-01"),
            enrol(make_id("20170202", "502", CC), "孙小二", head=PARENT, category="中小学生")]
    drop(instance, "S2201", "新生.xlsx", RESIDENT_ADD, rows, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(5, "班级编号", C.REQUIRED)]
    assert payloads(db)[make_id("20170101", "501", CC)]["class_code"] == "2025-01"


def test_resent_enrolment_counts_as_duplicate(instance, db, community):  # type: ignore[no-untyped-def]
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, [enrol(NEWBORN, "林小宝")], title=TITLE)
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1
    drop(instance, "C3001", "参保.xlsx", RESIDENT_ADD, [enrol(NEWBORN, "林小宝")], title=TITLE)
    assert receipt_of(instance, process_one(instance, db))["counts"]["duplicate"] == 1
