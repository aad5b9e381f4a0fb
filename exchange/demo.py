"""`exchange demo`: a sample unit, master data and messy files, processed end to end."""
from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl

from exchange.accounts import add_unit
from exchange.checks.ids import check_char
from exchange.config import Instance
from exchange.intake.scan import process_inbox
from exchange.master import load_master
from exchange.results import FileResult
from exchange.store.db import Database
from exchange.store.models import Unit

DEMO_UNIT = "D1001"
DEMO_PASSWORD = "demo-1001"


def _id(birth: str, seq: str, region: str = "320602") -> str:
    first = region + birth + seq
    return first + check_char(first)


def _month(offset: int = 1) -> str:
    today = date.today()
    y, m = divmod(today.month - 1 + offset, 12)
    return f"{today.year + y}{m + 1:02d}"


def _book(path: Path, title: str, headers: list[str], rows: list[list[Any]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([title])
    ws.append(["填表说明：带*为必填项；身份证号请设置为文本格式。"])   # input grammar
    ws.append(headers)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def write_samples(instance: Instance, db: Database) -> list[Path]:
    """Register the demo unit and its staff, and drop the files a hurried clerk would send."""
    with db.session() as s:
        add_unit(instance, s, DEMO_UNIT, "南通示例科技有限公司", password=DEMO_PASSWORD)
        # The unit the person insured elsewhere is in: on file (master data), with no login.
        s.merge(Unit(code="D9999", name="崇川区另一家公司", arrears=0))
    work = instance.var / "demo"
    work.mkdir(parents=True, exist_ok=True)
    staff = [_id("19850315", "123"), _id("19900720", "246"), _id("19781101", "357")]
    elsewhere = _id("19920202", "468")
    persons = _book(work / "persons.xlsx", "参保人员信息",
                    ["个人编号", "身份证号*", "姓名*", "性别", "单位编号", "参保状态", "险种", "最大缴费月份",
                     "欠费金额", "缴费基数", "单位内部职工号"],
                    [["P0001", staff[0], "李四", "男", DEMO_UNIT, "参保", "310,510", "202610", 0, 6000, "A01"],
                     ["P0002", staff[1], "周敏", "女", DEMO_UNIT, "参保", "310,510", "202610", 0, 5200, "A02"],
                     ["P0003", staff[2], "赵六", "男", DEMO_UNIT, "参保", "310", "202610", 860, 4800, "A03"],
                     ["P0004", elsewhere, "钱八", "女", "D9999", "参保", "310", "202610", 0, 5000, ""]])
    load_master(instance, db, persons)
    inbox = instance.unit_inbox(DEMO_UNIT)
    month = _month()
    add_headers = ["身份证号*", "姓名*", "性别", "民族", "出生日期", "参加工作日期", "户籍性质", "文化程度*",
                   "工作岗位*", "联系电话", "联系地址", "变更日期*", "缴费工资*", "参保险种"]
    good = _id("19950606", "135")
    add_rows: list[list[Any]] = [
        [good, "张三", "男", "汉族", "1995-06-06", "2018-07-01", "本地城镇", "本科", "管理", "13912345678", "崇川区", month, 5000, ""],
        [_id("19960707", "28X"[:2] + "2").lower(), "买买提·艾力", "", "维吾尔族", "", "", "", "21-本科", "02", "", "", month.replace(month[4:], "-" + month[4:]), "6,000", "基本医疗,生育"],
        [float(_id("19970808", "311")), "王五", "", "", "", "", "", "大专", "工勤", "", "", month, 4500, ""],
        [_id("19980909", "422"), "刘 洋", "", "", "", "", "", "高中", "生产", "", "", month, 4500, ""],
        [_id("19991010", "533"), "陈静", "男", "", "", "", "", "硕士", "技术", "", "", month, 4500.5, ""],
        [_id("20000111", "644"), "孙悦", "", "", "", "", "", "研究生", "服务", "", "", month, 30000, ""],
        [_id("19931212", "755"), "吴磊", "", "", "", "", "", "博士后", "管理", "", "", "2026年13月", 5000, ""],
        [elsewhere, "钱八", "", "", "", "", "", "本科", "管理", "", "", month, 5000, ""],
        [good, "张三", "男", "汉族", "1995-06-06", "2018-07-01", "本地城镇", "本科", "管理", "13912345678", "崇川区", month, 5000, ""],
    ]
    files = [_book(inbox / "psnAdd.xlsx", f"职工批量新增申报填写表  单位编号：{DEMO_UNIT}", add_headers, add_rows)]
    stop = inbox / "职工批量减少申报填写表.xls"
    _legacy_xls(stop, "职工批量减少申报填写表", ["个人编号", "身份证号*", "姓名*", "停保原因", "备注"],
                [["P0001", staff[0], "李四", "", "合同到期"], ["P0003", staff[2], "赵六", "辞职", ""]])
    files.append(stop)
    wage = inbox / "工资申报.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([["个人编号", "身份证号码*", "姓名*", "单位内部职工号", "申报开始时间*", "现工资*"],
                               ["P0002", staff[1], "周敏", "A02", month, "5800"],
                               ["P0002", staff[1], "周小敏", "A02", month, "5800"]])
    wage.write_bytes(buf.getvalue().encode("gb18030"))
    files.append(wage)
    junk = inbox / "扫描件.xlsx"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    files.append(junk)
    (inbox / "~$psnAdd.xlsx").write_bytes(b"lock")      # Excel's lock file: left alone
    return files


def _legacy_xls(path: Path, title: str, headers: list[str], rows: list[list[Any]]) -> None:
    """Old .xls as the web systems' templates were; fall back to xlsx bytes without xlwt."""
    try:
        import xlwt
    except ImportError:
        _book(path, title, headers, rows)
        return
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    for i, row in enumerate([[title], headers, *rows]):
        for j, value in enumerate(row):
            ws.write(i, j, value)
    wb.save(str(path))


def run_demo(instance: Instance, db: Database) -> tuple[list[FileResult], list[Path]]:
    """Process the samples, then submit the employer's pending rows, put the uploaded photos
    on a review and write every login's templates, as the nightly jobs would (a clerk trying
    the demo over SFTP looks in templates/ first).

    Returns the file results and the documents (roster PDF, the centre's review workbooks).
    """
    from exchange.outputs.templates import refresh_templates
    from exchange.review.photos import send_photo_reviews
    from exchange.review.submit import submit_pending

    instance.ensure_folders()
    write_samples(instance, db)
    extra = _resident_samples(instance, db)
    results = process_inbox(instance, db)
    documents = [p for b in submit_pending(instance, db, unit=DEMO_UNIT, actor="demo")
                 for p in b.documents]
    documents += [p for r in send_photo_reviews(instance, db, actor="demo") for p in r.documents]
    refresh_templates(instance, db)
    return results + extra, documents


def _resident_samples(instance: Instance, db: Database) -> list[FileResult]:
    """Community and school samples, where the resident kinds are installed."""
    try:
        from exchange.resident_samples import write_resident_samples  # type: ignore[import-not-found]
    except ImportError:
        return []
    write_resident_samples(instance, db)
    return []


def demo_logins() -> list[tuple[str, str, str, str]]:
    """(login, unit, password, who) of every SFTP login the demo makes."""
    logins = [(DEMO_UNIT, DEMO_UNIT, DEMO_PASSWORD, "employer")]
    try:
        from exchange.resident_samples import LOGINS, MAINTAINED, SCHOOL  # type: ignore[import-not-found]
    except ImportError:
        return logins
    from exchange.accounts import DEFAULT_PASSWORD

    return logins + list(LOGINS) + [(login, SCHOOL, DEFAULT_PASSWORD, who)
                                    for login, who in MAINTAINED]
