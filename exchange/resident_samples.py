"""Sample community and school for `exchange demo`: units, master data, and the files their
clerks would drop (households first, then enrolments, suspensions, class transfers, photos).

`write_resident_samples(instance, db)` registers the units D3001 (a community, Putian-style) and
D4001 (a school, Changchun-style, with a class account), loads their persons through
`exchange master load`, and writes messy files into their inboxes, oldest first in the order
they must be processed. Running it again re-sends the same files: rows come back as 重复.
"""
from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
from PIL import Image, ImageDraw

from exchange.accounts import add_sub_account, add_unit
from exchange.checks.ids import check_char
from exchange.config import Instance
from exchange.master import load_master
from exchange.store.db import Database
from exchange.store.models import Unit

COMMUNITY = "D3001"
SCHOOL = "D4001"
CLASS_LOGIN = "d4001-c2024-01"
# The samples' SFTP logins: (login, unit, password, who); `exchange demo` prints them.
LOGINS = [(COMMUNITY, COMMUNITY, "demo-3001", "community"), (SCHOOL, SCHOOL, "demo-4001", "school"),
          (CLASS_LOGIN, SCHOOL, "demo-class", "the school's class 2024-01")]
# Logins the school makes itself with its 用户维护表 sample: they start with the default password.
MAINTAINED = [(f"{SCHOOL.lower()}-xiaoxue", "the school's department, made by its user workbook; a new password is asked at first login"),
              (f"{SCHOOL.lower()}-c2024-02", "the school's class 2024-02, made by its user workbook; a new password is asked at first login")]


def _id(birth: str, seq: str, region: str) -> str:
    first = region + birth + seq
    return first + check_char(first)


PT, CC = "350302", "220102"
# Community D3001 (Putian): heads and residents.
HEAD_LIN, HEAD_CHEN = _id("19700315", "151", PT), _id("19680720", "262", PT)
RENEWING = _id("19720101", "374", PT)            # archive here, suspended: 续保
MOVING_IN = _id("19950505", "484", PT)           # archive in another community: 调入
INSURED_AWAY = _id("19880808", "595", PT)        # insured in another community now
OWING = _id("19600606", "616", PT)               # archive here, arrears
NEW_CHILD = _id("20210909", "727", PT)           # no archive: 新参保
NEW_WIFE = _id("19730303", "824", PT)
# School D4001 (Changchun): classes 2024-01, 2024-02 and the graduating 2018-09.
PARENT_WANG, PARENT_LI = _id("19800101", "111", CC), _id("19820202", "222", CC)
CLASS_01 = [_id("20170101", f"{n:03d}", CC) for n in (311, 312, 313)]
CLASS_02 = [_id("20160202", f"{n:03d}", CC) for n in (421, 422)]
GRADUATING = [_id("20110303", f"{n:03d}", CC) for n in (531, 532, 533)]
FRESH = [_id("20180404", f"{n:03d}", CC) for n in (641, 642)]


def _book(path: Path, title: str, headers: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([title])
    ws.append(["填表说明：带*为必填项；证件号码请设置为文本格式。"])
    ws.append(headers)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def _photo(width: int, height: int, colour: str, *, orientation: int | None = None,
           fmt: str = "JPEG") -> bytes:
    """A passport-like picture: a face on a plain background (EXIF orientation if asked)."""
    im = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(im)
    draw.ellipse((width * 0.3, height * 0.2, width * 0.7, height * 0.6), fill=(240, 200, 170))
    draw.rectangle((width * 0.2, height * 0.65, width * 0.8, height), fill=(40, 40, 90))
    out = io.BytesIO()
    if fmt == "JPEG":
        exif = Image.Exif()
        exif[0x010F] = "DemoPhone"
        if orientation:
            exif[0x0112] = orientation
            im = im.rotate(90, expand=True)       # stored sideways, as a phone does
        im.save(out, "JPEG", exif=exif.tobytes(), quality=85)
    else:
        im.save(out, fmt)
    return out.getvalue()


ELSEWHERE = "D3999"


def _master(instance: Instance, db: Database, work: Path) -> None:
    headers = ["个人编号", "身份证号*", "姓名*", "性别", "单位编号", "参保状态", "险种", "最大缴费月份",
               "欠费金额", "户主身份证号", "班级编号"]
    r = "390"
    rows = [
        ["R0001", RENEWING, "林秀兰", "女", COMMUNITY, "暂停", r, "202512", 0, HEAD_LIN, ""],
        ["R0002", MOVING_IN, "黄志明", "男", ELSEWHERE, "终止", r, "202512", 0, "", ""],
        ["R0003", INSURED_AWAY, "郑丽娟", "女", ELSEWHERE, "参保", r, "202612", 0, "", ""],
        ["R0004", OWING, "陈金水", "男", COMMUNITY, "暂停", r, "202412", 360, HEAD_CHEN, ""],
        ["R0005", HEAD_LIN, "林建国", "男", COMMUNITY, "参保", r, "202612", 0, HEAD_LIN, ""],
    ]
    names = ["王子涵", "王浩然", "王欣怡", "李梓萱", "李思远", "张雅婷", "张俊杰", "张佳怡"]
    students = [(n, "2024-01", 0) for n in CLASS_01] + [(n, "2024-02", 0) for n in CLASS_02] + \
               [(n, "2018-09", 0) for n in GRADUATING]
    for i, (number, class_code, _) in enumerate(students):
        owed = 150 if number == CLASS_02[1] else 0
        rows.append([f"S{i + 1:04d}", number, names[i % len(names)] + ("" if i < 8 else "二"),
                     "", SCHOOL, "参保", r, "202612", owed, PARENT_WANG if i % 2 else PARENT_LI,
                     class_code])
    load_master(instance, db, _book(work / "resident_persons.xlsx", "参保人员信息", headers, rows))


def write_resident_samples(instance: Instance, db: Database, inbox_dir: Path | None = None,
                           *, sub_account: bool = False) -> list[Path]:
    """Register the sample community and school, load their persons, drop their files.

    `inbox_dir` is the inbox root (default: the instance's); files go to <inbox_dir>/<unit>/.
    With `sub_account`, the class account's own upload goes to <unit>/@<login>/ (processed by
    exchange.intake.subaccounts.process_sub_account_inboxes). Returns the files written, in the
    order they should be processed (their modification times follow that order).
    """
    root = inbox_dir or instance.inbox
    with db.session() as s:
        add_unit(instance, s, COMMUNITY, "城厢区凤凰山街道凤凰社区", unit_type="30", password=LOGINS[0][2])
        add_unit(instance, s, SCHOOL, "长春市朝阳区示范小学", unit_type="40", password=LOGINS[1][2])
        # The community the residents insured or stopped elsewhere are in: on file (master
        # data), with no login, as a persons load requires.
        s.merge(Unit(code=ELSEWHERE, name="荔城区拱辰街道另一社区", unit_type="30", arrears=0))
    with db.session() as s:
        add_sub_account(instance, s, SCHOOL, CLASS_LOGIN, role="class", classes=["2024-01"],
                        password=LOGINS[2][2])
    work = instance.var / "demo"
    work.mkdir(parents=True, exist_ok=True)
    _master(instance, db, work)
    community, school = root / COMMUNITY, root / SCHOOL
    household_headers = ["户主身份证号*", "户主姓名*", "联系电话*", "操作"]
    add_headers = ["证件类型", "证件号码*", "姓名*", "性别", "民族", "出生日期", "户主身份证号*", "与户主关系",
                   "人员类别*", "联系电话", "是否计生补助对象", "班级编号", "备注"]
    school_add_headers = ["证件号码*", "姓名*", "人员类别*", "班级编号", "备注"]
    files = [
        _book(community / "户主信息表.xlsx", f"户主信息表  单位编号：{COMMUNITY}", household_headers, [
            [HEAD_LIN, "林建国", "13905941234", "新增"],
            [HEAD_CHEN, "陈金水", "13805942345", ""],                 # 操作 left blank: 新增
            [HEAD_LIN[:15], "林某", "13905941234", "新增"],           # a 15-digit ID
            [_id("19650101", "939", PT), "无此户", "0594-2345678", "删除"],   # never registered
        ]),
        _book(community / "城乡居民参保申报表.xlsx", "城乡居民参保申报表", add_headers, [
            ["", NEW_CHILD, "林小宝", "男", "汉族", "2021-09-09", HEAD_LIN, "孙子", "学龄前儿童", "", "", "", "新生儿"],
            ["居民身份证", RENEWING, "林秀兰", "女", "汉", "", HEAD_LIN, "妻", "21-成年居民", "13905940001", "是", "", ""],
            ["", MOVING_IN.lower(), "黄志明", "", "", "", HEAD_CHEN, "子", "成年居民", "", "", "", "外社区调入"],
            ["", INSURED_AWAY, "郑丽娟", "", "", "", HEAD_CHEN, "女儿", "成年居民", "", "", "", ""],
            ["", OWING, "陈金水", "", "", "", HEAD_CHEN, "本人", "老年居民", "", "", "", ""],
            ["", NEW_WIFE, "吴 美玲", "女", "", "", _id("19700101", "999", PT), "妻", "居民", "", "", "", ""],
            ["", float(_id("19740404", "836", PT)[:17] + "0"), "吴美华", "", "", "", HEAD_LIN, "配偶", "退休人员", "", "", "", ""],   # Excel ate the digits
        ]),
        # The school lists its classes (班级维护) and keeps its users (用户管理) itself.
        _book(school / "班级信息表.xlsx", "班级信息表", ["班级编号*", "班级名称*", "年级", "院系"], [
            ["2024-01", "一年级1班", "2024级", "小学部"], ["2024-02", "一年级2班", "2024级", "小学部"],
            ["2018-09", "六年级毕业班", "2018级", "小学部"], ["2024 03", "一年级3班", "2024级", "小学部"]]),
        _book(school / "用户维护表.xlsx", "用户维护表", ["操作", "登录名*", "角色", "班级编号", "用户名称"], [
            ["新增", MAINTAINED[0][0], "系", "", "小学部"],     # the 院系's classes
            ["新增", MAINTAINED[1][0], "班级", "2024-02", "一年级2班"],
            ["新增", CLASS_LOGIN, "班级", "2024-01", ""]]),                # taken already
        # A school enrols a pupil with 证件号码, 姓名 and class (Changchun); no household head.
        _book(school / "新生参保.xlsx", "城乡居民参保申报表", school_add_headers, [
            [FRESH[0], "孙一鸣", "中小学生", "2024-01", ""],
            [FRESH[1], "孙一诺", "学生", "", "漏填班级"],
        ]),
        _book(school / "学生停保.xlsx", "城乡居民暂停参保申报表（班级停保）", ["证件号码*", "姓名*", "暂停原因*", "备注", "班级编号"], [
            ["", "", "毕业", "2018级毕业，全班停保", "2018-09"],
            ["", "", "毕业", "", "2024-02"],                             # one student owes 150
            [CLASS_01[2], "王欣怡", "转学或退学", "转学外地", ""],
        ]),
        _book(school / "学生转班表.xlsx", "学生转班表", ["证件号码*", "姓名*", "目标班级编号*"], [
            [CLASS_01[0], "王子涵", "2024-02"], [CLASS_01[1], "王浩然", "2024-01"],
            [CLASS_02[0], "李梓萱", "2030-01"]]),
    ]
    photos = community / "照片.zip"
    with zipfile.ZipFile(photos, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{RENEWING}.jpg", _photo(480, 640, "#dde6f0"))
        zf.writestr(f"photos/{NEW_CHILD}.JPG", _photo(600, 800, "#ffffff", orientation=6))
        zf.writestr(f"{HEAD_LIN}.png", _photo(90, 120, "#e0e0ff", fmt="PNG"))       # too small
        zf.writestr(f"{INSURED_AWAY}.jpg", _photo(480, 640, "#dde6f0"))            # not of this unit
        zf.writestr("__MACOSX/._x.jpg", b"\0")
    files.append(photos)
    single = school / f"{CLASS_01[0]}.jpg"
    single.write_bytes(_photo(413, 579, "#f4f4f4"))
    files.append(single)
    if sub_account:
        files.append(_book(root / SCHOOL / f"@{CLASS_LOGIN}" / "班级停保.xlsx", "学生停保",
                           ["证件号码*", "姓名*", "暂停原因*", "备注", "班级编号"],
                           [[CLASS_01[1], "王浩然", "转学", "", ""],
                            ["", "", "毕业", "不是本班", "2024-02"]]))
    # A community's households must be registered before residents are declared under them:
    # oldest first.
    start = time.time() - 60
    for i, path in enumerate(files):
        os.utime(path, (start + i, start + i))
    return files


__all__ = ["write_resident_samples", "COMMUNITY", "SCHOOL", "CLASS_LOGIN"]
