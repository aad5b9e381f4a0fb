"""The centre's photo review: uploaded photos go on a review workbook with the pictures in it; the
filled workbook (or CSV) dropped back decides them once; the unit gets a result workbook."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from sqlalchemy import select

from exchange import codes as C
from exchange.cli import cli
from exchange.intake.centre import process_centre_inbox
from exchange.intake.scan import process_inbox
from exchange.review import photos as PR
from exchange.review.photos import send_photo_reviews
from exchange.store.models import Photo, PhotoReview, RowError
from tests.flows.helpers import decide_review
from tests.flows.residents import STUDENTS_01, STUDENTS_02, school  # noqa: F401
from tests.flows.test_photos import jpeg

A, B, C2 = STUDENTS_01[0], STUDENTS_01[1], STUDENTS_02[0]


def upload(instance, db, *numbers: str, size: tuple[int, int] = (400, 500)) -> None:  # type: ignore[no-untyped-def]
    for number in numbers:
        (instance.unit_inbox("S2201") / f"{number}.jpg").write_bytes(jpeg(*size))
    process_inbox(instance, db)


def state(db) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """The newest photo of each person: (status, reason)."""
    with db.session() as s:
        return {p.id_number: (p.status, p.reason) for p in s.scalars(select(Photo).order_by(Photo.id))}


def photo_ids(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return {p.id_number: p.id for p in s.scalars(select(Photo).order_by(Photo.id))}


def decide(instance, db, book: Path, decisions: dict[int, tuple[str, str | None]], name: str) -> dict:  # type: ignore[no-untyped-def]
    return decide_review(instance, db, book, "照片编号", decisions, name)


def refusals(receipt: dict) -> list[tuple[object, str]]:
    return [(r["photo"], e["code"]) for r in receipt["rows"] for e in r["errors"]]


def result_rows(path: Path) -> dict[str, tuple[str, str | None]]:
    ws = openpyxl.load_workbook(path).worksheets[0]
    headers = [c.value for c in ws[3]]
    at = {h: headers.index(h) for h in ("证件号码", "审核结论", "不通过原因")}
    return {row[at["证件号码"]]: (row[at["审核结论"]], row[at["不通过原因"]])
            for row in ws.iter_rows(min_row=4, values_only=True)}


def test_photos_go_on_one_review_workbook_with_their_pictures(instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, A, B)
    sent = send_photo_reviews(instance, db)
    assert [(r.unit_code, r.count) for r in sent] == [("S2201", 2)]
    book = sent[0].documents[0]
    assert book.parent == instance.unit_outbox("_centre", "photos")
    assert book.name == f"{sent[0].review_no}.照片审核.xlsx" and sent[0].review_no.startswith("ZP-S2201-")
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    assert len(ws._images) == 2                                   # each photo shown in its row
    headers = [c.value for c in ws[3]]
    rows = [dict(zip(headers, r)) for r in ws.iter_rows(min_row=4, values_only=True)]
    assert [(r["证件号码"], r["姓名"], r["班级编号"], r["审核结论"]) for r in rows] == [
        (A, "王小一", "2024-01", None), (B, "王小二", "2024-01", None)]
    meta = dict(wb["_meta"].iter_rows(values_only=True))
    assert meta["kind"] == "photo_review" and meta["review"] == sent[0].review_no
    assert wb["_meta"].sheet_state == "hidden"
    # Sent once: the next run finds nothing waiting.
    assert send_photo_reviews(instance, db) == []


def test_decisions_are_applied_once_and_the_unit_gets_its_result(instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, A, B)
    review = send_photo_reviews(instance, db)[0]
    ids = photo_ids(db)
    receipt = decide(instance, db, review.documents[0], {
        ids[A]: ("通过", None), ids[B]: ("不通过", None)}, "照片审核1.xlsx")   # no reason
    assert receipt["kind"] == "photo_review" and receipt["status"] == "partial"
    assert receipt["review"] == review.review_no
    assert receipt["counts"] == {"approved": 1, "rejected": 0, "repeated": 0, "refused": 1, "undecided": 0}
    assert refusals(receipt) == [(ids[B], C.REVIEW_PHOTO_REASON_REQUIRED)]
    assert state(db) == {A: ("approved", None), B: ("pending", None)}
    result = instance.unit_outbox("S2201", "results") / f"{review.review_no}.照片审核结果.xlsx"
    assert result_rows(result) == {A: ("通过", None), B: ("未处理", None)}

    receipt = decide(instance, db, review.documents[0], {
        ids[A]: ("通过", None), ids[B]: ("不通过", "背景不是白色")}, "照片审核2.xlsx")
    assert receipt["status"] == "accepted"
    assert (receipt["counts"]["repeated"], receipt["counts"]["rejected"]) == (1, 1)
    assert state(db) == {A: ("approved", None), B: ("rejected", "背景不是白色")}
    assert result_rows(result) == {A: ("通过", None), B: ("不通过", "背景不是白色")}
    with db.session() as s:
        assert s.scalar(select(PhotoReview.status)) == "reviewed"
        logged = s.scalars(select(RowError).where(RowError.code == C.REVIEW_PHOTO_REJECTED)).all()
        assert [(e.id_number, e.kind) for e in logged] == [(B, "photo")]
        assert "背景不是白色" in logged[0].message

    # A contradicting decision is refused; the recorded one stands.
    receipt = decide(instance, db, review.documents[0], {ids[A]: ("不通过", "模糊")}, "照片审核3.xlsx")
    assert receipt["status"] == "rejected" and refusals(receipt) == [(ids[A], C.REVIEW_PHOTO_CONFLICT)]
    assert "审核为“审核通过”" in receipt["rows"][0]["errors"][0]["message"]
    assert state(db)[A] == ("approved", None)


def test_bad_rows_are_refused_with_reasons(instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, A)
    first = send_photo_reviews(instance, db)[0]
    upload(instance, db, B)
    second = send_photo_reviews(instance, db)[0]
    ids = photo_ids(db)
    book = openpyxl.load_workbook(first.documents[0])
    ws = book.worksheets[0]
    headers = [c.value for c in ws[3]]
    for values in ([first.review_no, 9999, "通过"], [first.review_no, "abc", "通过"],
                   [first.review_no, ids[A], "待定"], [first.review_no, ids[B], "通过"]):
        row = ws.max_row + 1
        for header, value in zip(("审核单号", "照片编号", "审核结论"), values):
            ws.cell(row, headers.index(header) + 1).value = value
    target = instance.unit_inbox("_centre") / "错填.xlsx"
    book.save(target)
    receipt = process_centre_inbox(instance, db)[0]
    assert refusals(receipt) == [(9999, C.REVIEW_PHOTO_UNKNOWN), ("abc", C.REVIEW_PHOTO_INVALID),
                                 (ids[A], C.REVIEW_CONCLUSION_UNKNOWN),
                                 (ids[B], C.REVIEW_PHOTO_NOT_IN_REVIEW)]
    assert receipt["counts"]["undecided"] == 1 and receipt["status"] == "rejected"
    assert f"不在审核单 {first.review_no} 中" in receipt["rows"][3]["errors"][0]["message"]
    assert second.review_no != first.review_no
    assert state(db) == {A: ("pending", None), B: ("pending", None)}


def test_a_newer_upload_supersedes_the_photo_under_review(instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, A)
    review = send_photo_reviews(instance, db)[0]
    old = photo_ids(db)[A]
    upload(instance, db, A, size=(500, 640))                        # the clerk sends a better one
    receipt = decide(instance, db, review.documents[0], {old: ("通过", None)}, "旧照片.xlsx")
    assert refusals(receipt) == [(old, C.REVIEW_PHOTO_SUPERSEDED)]
    again = send_photo_reviews(instance, db)
    assert [r.count for r in again] == [1] and again[0].review_no != review.review_no
    with db.session() as s:
        # Nothing is left to decide on the first review: it is closed.
        assert s.scalar(select(PhotoReview.status).where(
            PhotoReview.review_no == review.review_no)) == "reviewed"


def test_csv_decisions_with_the_same_columns(instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, A, B)
    review = send_photo_reviews(instance, db)[0]
    ids = photo_ids(db)
    path = instance.unit_inbox("_centre") / "photo-decisions.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["审核单号", "照片编号", "审核结论", "不通过原因", "审核人"])
        w.writerow([review.review_no, ids[A], "同意", "", "李审核"])
        w.writerow([review.review_no, ids[B], "不同意", "面部不清晰", "李审核"])
    receipt = process_centre_inbox(instance, db)[0]
    assert receipt["kind"] == "photo_review"
    assert (receipt["counts"]["approved"], receipt["counts"]["rejected"]) == (1, 1)
    with db.session() as s:
        assert {p.reviewer for p in s.scalars(select(Photo))} == {"李审核"}


def test_large_uploads_are_split_over_reviews(instance, db, school, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(PR, "PHOTOS_PER_REVIEW", 2)
    upload(instance, db, A, B, C2)
    sent = send_photo_reviews(instance, db)
    assert [r.count for r in sent] == [2, 1]
    assert len({r.review_no for r in sent}) == 2 and all(r.documents[0].exists() for r in sent)


def test_cli_lists_sends_decides_and_the_job_rewrites_a_lost_workbook(home, instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, A, B)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, ["--home", str(home), *args])

    listed = json.loads(run("photos", "list", "--status", "pending", "--json").output)
    assert sorted(p["id_number"] for p in listed) == sorted([A, B])
    out = run("photos", "send")
    assert out.exit_code == 0 and "2 photo(s)" in out.output
    ids = photo_ids(db)
    refused = run("photos", "decide", str(ids[B]), "--reject")
    assert refused.exit_code == 1 and C.REVIEW_PHOTO_REASON_REQUIRED in refused.output
    done = run("photos", "decide", str(ids[B]), "--reject", "--reason", "戴了帽子", "--json")
    assert done.exit_code == 0 and json.loads(done.output)["counts"]["rejected"] == 1
    assert state(db)[B] == ("rejected", "戴了帽子")
    # The workbook is lost (a crash after the commit): the job writes it again.
    book = next(instance.unit_outbox("_centre", "photos").glob("*.照片审核.xlsx"))
    book.unlink()
    job = run("jobs", "run", "photo_review")
    assert job.exit_code == 0 and "rewrote 1" in job.output, job.output
    ws = openpyxl.load_workbook(book).worksheets[0]
    assert [r[3] for r in ws.iter_rows(min_row=4, values_only=True)] == [A]   # only A waits


def test_a_declaration_review_handler_leaves_photo_workbooks_alone(instance, db, school):  # type: ignore[no-untyped-def]
    from exchange.review.decisions import read_decisions

    upload(instance, db, A)
    book = send_photo_reviews(instance, db)[0].documents[0]
    assert read_decisions(instance, book) is None


def test_the_centre_digest_counts_the_photos_still_waiting(instance, db, school):  # type: ignore[no-untyped-def]
    from datetime import date

    from pypdf import PdfReader

    from exchange.review.reports import centre_digest, digest_figures

    upload(instance, db, A, B)
    with db.session() as s:
        assert digest_figures(s, date.today())["S2201"]["photos_waiting"] == 2
    send_photo_reviews(instance, db)
    runner = CliRunner()
    runner.invoke(cli, ["--home", str(instance.home), "photos", "decide", str(photo_ids(db)[A]), "--approve"])
    with db.session() as s:
        assert digest_figures(s, date.today())["S2201"]["photos_waiting"] == 1
    text = "".join(page.extract_text() for page in PdfReader(centre_digest(instance, db).path).pages)
    assert "待审核照片" in text


def test_a_photo_row_showing_another_person_is_refused(instance, db, school):  # type: ignore[no-untyped-def]
    """A reviewer sorted only some columns: a row's 照片编号 named one pupil's photo and its
    证件号码 another's. It was decided by the 照片编号 alone; now it is refused, naming both."""
    upload(instance, db, A, B)
    review = send_photo_reviews(instance, db)[0]
    ids = photo_ids(db)
    book = openpyxl.load_workbook(review.documents[0])
    ws = book.worksheets[0]
    headers = [c.value for c in ws[3]]
    at = {h: headers.index(h) + 1 for h in ("照片编号", "证件号码", "审核结论")}
    for row in range(4, ws.max_row + 1):
        if ws.cell(row, at["照片编号"]).value == ids[A]:
            ws.cell(row, at["证件号码"]).value = B            # the row now shows B
        ws.cell(row, at["审核结论"]).value = "通过"
    target = instance.unit_inbox("_centre") / "错位.xlsx"
    book.save(target)
    receipt = process_centre_inbox(instance, db)[0]
    assert refusals(receipt) == [(ids[A], C.REVIEW_MISMATCH)]
    assert receipt["rows"][0]["errors"][0]["message"].startswith(f"照片 {ids[A]} 是")
    assert state(db) == {A: ("pending", None), B: ("approved", None)}
