"""PDF rosters read back: page subtotals and totals add up, pages are numbered, the header repeats,
signatures close the roster, and the CJK font is embedded."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from exchange.errors import ConfigError
from exchange.outputs import rosters
from exchange.outputs.rosters import Column, Roster, Section, render_roster

COLUMNS = [Column("姓名", 22), Column("身份证号", 40, fixed=True),
           Column("缴费工资", 22, "right", total=True), Column("备注", 40)]


def _rows(n: int, note: str = "") -> list[list[object]]:
    return [[f"职工{chr(0x4e00 + i % 500)}", f"32060219800101{i:04d}", 3000 + i, note]
            for i in range(n)]


def _pages(path: Path) -> list[list[str]]:
    return [[line.strip() for line in (p.extract_text() or "").splitlines() if line.strip()]
            for p in PdfReader(str(path)).pages]


def _summary(lines: list[str], label: str) -> tuple[int, int]:
    """(count, wage sum) of the 本页小计 / 合计 row: label, 共 n 人, --, sum, --."""
    i = lines.index(label)
    count = int(re.fullmatch(r"共 (\d+) 人", lines[i + 1]).group(1))  # type: ignore[union-attr]
    assert lines[i + 2] == "--"
    return count, int(lines[i + 3])


def test_page_subtotals_totals_and_page_numbers_add_up(tmp_path: Path) -> None:
    rows = _rows(130)
    target = tmp_path / "r.pdf"
    stats = render_roster(Roster([Section("测试职工增加申报花名册", ["单位编号：1001", "单位名称：示例"],
                                          COLUMNS, rows)], date(2026, 11, 22)), target)
    pages = _pages(target)
    assert stats.pages == len(pages) > 1 and stats.rows == 130
    start = 0
    for number, lines in enumerate(pages, start=1):
        assert f"第 {number} 页  共 {len(pages)} 页" in lines
        assert "测试职工增加申报花名册" in lines and "缴费工资" in lines and "序号" in lines
        count, total = _summary(lines, "本页小计")
        assert count > 0
        assert total == sum(r[2] for r in rows[start:start + count])       # type: ignore[misc]
        start += count
        last = number == len(pages)
        assert ("合计" in lines) == last
        assert ("制表人：______________" in lines) == last
    assert start == 130
    assert _summary(pages[-1], "合计") == (130, sum(r[2] for r in rows))  # type: ignore[misc]
    last = pages[-1]
    for word in ("申报单位（盖章）：", "申报单位负责人：______________", "复核人：______________",
                 "制表日期：2026-11-22"):
        assert word in last


def test_cjk_font_is_embedded_and_nothing_else_is_used(tmp_path: Path) -> None:
    target = tmp_path / "r.pdf"
    render_roster(Roster([Section("花名册", ["单位编号：1001"], COLUMNS, _rows(3))]), target)
    fonts = {}
    for page in PdfReader(str(target)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts[str(font["/BaseFont"])] = font
    assert fonts and all("WenQuanYi" in name for name in fonts), fonts.keys()
    for font in fonts.values():
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor          # TrueType outlines, embedded (subset)


def test_long_cells_wrap_and_rows_never_split_across_pages(tmp_path: Path) -> None:
    note = "本行备注很长，" * 12
    target = tmp_path / "r.pdf"
    stats = render_roster(Roster([Section("花名册", [], COLUMNS, _rows(40, note))]), target)
    pages = _pages(target)
    counts = [_summary(lines, "本页小计")[0] for lines in pages]
    assert sum(counts) == 40 and stats.pages == len(pages) >= 2
    # Every row's ID appears exactly once in the whole document.
    text = "\n".join("\n".join(lines) for lines in pages)
    assert all(text.count(f"32060219800101{i:04d}") == 1 for i in range(40))


def test_empty_roster_is_one_page_with_zero_totals(tmp_path: Path) -> None:
    target = tmp_path / "r.pdf"
    stats = render_roster(Roster([Section("花名册", [], COLUMNS, [])]), target)
    lines = _pages(target)[0]
    assert stats.pages == 1
    assert _summary(lines, "本页小计") == (0, 0) and _summary(lines, "合计") == (0, 0)


def test_sections_have_their_own_totals_and_share_page_numbers(tmp_path: Path) -> None:
    a, b = _rows(5), _rows(7)
    target = tmp_path / "r.pdf"
    render_roster(Roster([Section("甲表", [], COLUMNS, a), Section("乙表", [], COLUMNS[:2], b)]),
                  target)
    pages = _pages(target)
    assert len(pages) == 2
    assert "甲表" in pages[0] and "第 1 页  共 2 页" in pages[0]
    assert _summary(pages[0], "合计") == (5, sum(r[2] for r in a))   # type: ignore[misc]
    assert "乙表" in pages[1] and "第 2 页  共 2 页" in pages[1]
    assert "共 7 人" in pages[1] and "制表人：______________" in pages[1]
    assert "制表人：______________" not in pages[0]


def test_wide_rosters_turn_to_landscape(tmp_path: Path) -> None:
    wide = [Column(f"列{i}", 30) for i in range(9)]
    target = tmp_path / "r.pdf"
    render_roster(Roster([Section("宽表", [], wide, [[str(i)] * 9 for i in range(3)])]), target)
    box = PdfReader(str(target)).pages[0].mediabox
    assert float(box.width) > float(box.height)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_first_page_renders_to_png(tmp_path: Path) -> None:
    target = tmp_path / "r.pdf"
    render_roster(Roster([Section("测试花名册", ["单位编号：1001"], COLUMNS, _rows(30))]), target)
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-png", str(target),
                    str(tmp_path / "page")], check=True, timeout=60)
    png = next(tmp_path.glob("page*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000


def test_missing_font_is_a_config_error_naming_the_package(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.setenv(rosters.FONT_ENV, str(tmp_path / "none.ttf"))
    monkeypatch.setattr(rosters, "FONT_CANDIDATES", ())
    with pytest.raises(ConfigError, match="fonts-wqy-zenhei"):
        rosters.find_font()


def test_font_named_by_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    found = rosters.find_font()
    monkeypatch.setenv(rosters.FONT_ENV, str(found))
    assert rosters.find_font() == found


HANAZONO = Path(rosters.FALLBACK_CANDIDATES[0])


@pytest.mark.skipif(not HANAZONO.is_file(), reason="fonts-hanazono is not installed")
def test_a_name_in_cjk_extension_b_is_drawn_by_the_fallback_font(tmp_path: Path) -> None:
    """WenQuanYi has no 𠮷 (U+20BB7): the roster drew a blank in 王𠮷's name. The character is
    drawn in HanaMin B, embedded beside WenQuanYi; the rest of the line stays in WenQuanYi, and
    the text reads back whole (its ToUnicode map in UTF-16). A character no font has (U+30EDE,
    extension G) is still laid out."""
    target = tmp_path / "r.pdf"
    rows = [["王𠮷", "320602198001010011", 3000, "䶮"], ["李𪚥明", "320602198001010022", 4000, "𰻞"]]
    render_roster(Roster([Section("花名册", ["单位编号：1001"], COLUMNS, rows)]), target)
    fonts = {str(f.get_object()["/BaseFont"]) for page in PdfReader(str(target)).pages
             for f in page["/Resources"]["/Font"].values()}
    assert any("WenQuanYi" in f for f in fonts) and any("HanaMin" in f for f in fonts), fonts
    text = PdfReader(str(target)).pages[0].extract_text().replace("\n", "")
    assert "王𠮷" in text and "李𪚥明" in text and "䶮" in text      # reportlab wrote <20BB7>
    layout_fonts = rosters.Fonts(rosters.cjk_font())
    runs = layout_fonts.runs("王𠮷李")
    assert [t for _, t in runs] == ["王", "𠮷", "李"] and runs[0][0] == runs[2][0] == rosters.FONT_NAME
    assert "Fallback" in runs[1][0] and layout_fonts.runs("abc 123") == [(rosters.FONT_NAME, "abc 123")]


def test_without_a_fallback_font_the_roster_is_still_written(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    monkeypatch.setenv(rosters.FALLBACK_ENV, str(tmp_path / "none.ttf"))
    target = tmp_path / "r.pdf"
    render_roster(Roster([Section("花名册", ["单位编号：1001"], COLUMNS,
                                  [["王𠮷", "320602198001010011", 3000, ""]])]), target)
    fonts = {str(f.get_object()["/BaseFont"]) for page in PdfReader(str(target)).pages
             for f in page["/Resources"]["/Font"].values()}
    assert fonts and all("WenQuanYi" in f for f in fonts)
