"""The shared-string table's quick reading gives exactly what ElementTree gives (or fails where
it fails), for tables as Excel, LibreOffice and WPS write them and for odd ones: rich text,
phonetic runs, entities, carriage returns, comments, prefixes, other encodings, read in
blocks as small as a few bytes."""
from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.read import slices
from exchange.read.slices import _tree_strings, shared_strings

MEMBER = "xl/sharedStrings.xml"
NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PLAIN = st.text(alphabet=st.sampled_from(list("aZ0 张三·_x000D_&<>]\"'\r\n\t")), max_size=12)
FORBIDDEN = st.builds(lambda a, b, c: a + b + c, PLAIN, st.sampled_from(["\x01", "\ufffe"]), PLAIN)
TEXT = st.one_of(*[PLAIN] * 12, FORBIDDEN)       # one in 13 strings has a character XML forbids


def escaped(text: str, gt: bool, cr_ref: bool) -> bytes:
    out = text.replace("&", "&amp;").replace("<", "&lt;")
    if gt:
        out = out.replace(">", "&gt;")
    if cr_ref:
        out = out.replace("\r", "&#13;")
    return out.encode()


@st.composite
def si(draw: Any, prefix: bytes) -> bytes:
    p = prefix
    text = escaped(draw(TEXT), draw(st.booleans()), draw(st.booleans()))
    form = draw(st.sampled_from(["plain", "space", "rich", "phonetic", "empty", "bare"]))
    if form == "plain":
        return b"<%ssi><%st>%s</%st></%ssi>" % (p, p, text, p, p)
    if form == "space":
        return b'<%ssi><%st xml:space="preserve">%s</%st></%ssi>' % (p, p, text, p, p)
    if form == "rich":
        return (b"<%ssi><%sr><%srPr><%sb/></%srPr><%st>%s</%st></%sr><%sr><%st>!</%st></%sr></%ssi>"
                % (p, p, p, p, p, p, text, p, p, p, p, p, p, p))
    if form == "phonetic":
        return (b'<%ssi><%st>%s</%st><%srPh sb="0" eb="1"><%st>yomi</%st></%srPh></%ssi>'
                % (p, p, text, p, p, p, p, p, p))
    return b"<%ssi><%st/></%ssi>" % (p, p, p) if form == "empty" else b"<%ssi/>" % p


@st.composite
def table(draw: Any) -> bytes:
    prefix = draw(st.sampled_from([b"", b"", b"x:"]))
    items = draw(st.lists(si(prefix), max_size=8))
    gap = draw(st.sampled_from([b"", b"\n", b"\r\n  "]))
    if draw(st.booleans()) and items:
        items.insert(draw(st.integers(0, len(items))), b"<!-- <si><t>no</t></si> -->")
    declaration = draw(st.sampled_from([b"", b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
                                        b"<?xml version='1.0'?>", b'<?xml version="1.0" encoding="utf-8"?>']))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    xmlns = b' xmlns:x="%s"' % NS if prefix else b' xmlns="%s"' % NS
    root = b"%ssst" % prefix
    return bom + declaration + b"<%s%s count=\"%d\">" % (root, xmlns, len(items)) + gap.join(items) + b"</%s>" % root


def book(data: bytes) -> zipfile.ZipFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(MEMBER, data)
    return zipfile.ZipFile(io.BytesIO(buf.getvalue()))


def outcome(read: Any, data: bytes) -> Any:
    try:
        return read(book(data), MEMBER)
    except Exception as exc:                  # noqa: BLE001 - both readers must fail alike
        return type(exc).__name__


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=table())
def test_the_quick_reading_is_elementtrees(monkeypatch: pytest.MonkeyPatch, block: int,
                                           data: bytes) -> None:
    monkeypatch.setattr(slices, "READ_BYTES", block)
    assert outcome(shared_strings, data) == outcome(_tree_strings, data)


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0" encoding="GBK"?><sst xmlns="%s"><si><t>\xd5\xc5\xc8\xfd</t></si></sst>' % NS,
    b'<?xml version="1.0" encoding="ISO-8859-1"?><sst xmlns="%s"><si><t>caf\xe9</t></si></sst>' % NS,
    b'<sst xmlns="%s"><si><t>a</t></si>' % NS,                          # never closed
    b'<sst xmlns="%s" a="1" a="2"><si><t>a</t></si></sst>' % NS,        # not well-formed
    b'<sst xmlns="%s"><si><t>a]]>b</t></si></sst>' % NS,
    b'<sst xmlns="%s"><si><t>a\x01b</t></si></sst>' % NS,
    b'<sst xmlns="%s"/>' % NS,
    b'<sst xmlns="%s"><si><t>a</t></si></sst><!-- after -->' % NS,
    b'<sst xmlns="%s"><si><t>a</t></si><!-- <si><t>no</t></si> --><si><t>b</t></si></sst>' % NS,
    b'<?xml version="1.0" encoding="ISO-8859-1"?><sst xmlns="%s"><si><t>\xc3\xa9</t></si></sst>' % NS,
    b'<sst xmlns="%s"><si><t>\xef\xbf\xbe</t></si></sst>' % NS,
])
def test_odd_tables(data: bytes) -> None:
    """Another encoding, a table never closed or not well-formed, text XML forbids: as
    ElementTree reads them (a GBK table decoded as GBK, a broken one refused)."""
    assert outcome(shared_strings, data) == outcome(_tree_strings, data)


def test_a_large_table_across_many_blocks() -> None:
    """150,000 strings as LibreOffice writes them (a rich one now and then): the same list."""
    parts = []
    for i in range(150_000):
        if i % 997 == 0:
            parts.append(b'<si><r><rPr><sz val="11"/></rPr><t xml:space="preserve">%d \xe5\xbc\xa0</t></r></si>' % i)
        else:
            parts.append(b'<si><t xml:space="preserve">\xe5\xbc\xa0\xe4\xb8\x89%d</t></si>' % i)
    data = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="%s" count="1">'
            % NS + b"".join(parts) + b"</sst>")
    quick = shared_strings(book(data), MEMBER)
    assert quick == _tree_strings(book(data), MEMBER)
    assert len(quick) == 150_000 and quick[997] == "997 张" and quick[1] == "张三1"


def test_a_string_larger_than_any_cell_is_left_to_elementtree(monkeypatch: pytest.MonkeyPatch) -> None:
    """An <si> not closed within SI_BYTES is not searched for again block after block (that
    would be quadratic): ElementTree reads the table, which gives the same strings."""
    data = (b'<sst xmlns="%s"><si><t>a</t></si><si><t>' % NS + b"x" * (slices.SI_BYTES + 10)
            + b"</t></si></sst>")
    expected = _tree_strings(book(data), MEMBER)
    calls: list[str] = []
    monkeypatch.setattr(slices, "_tree_strings", lambda zf, member: calls.append(member) or expected)
    assert shared_strings(book(data), MEMBER) == expected == ["a", "x" * (slices.SI_BYTES + 10)]
    assert calls == [MEMBER]


def test_a_table_mostly_of_rich_text_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past RICH_ALONE rich strings making a quarter of those read, one ElementTree parse of the
    table instead of one per string; a few rich ones among plain ones are parsed alone."""
    def table_of(rich_every: int) -> bytes:
        parts = [b"<si><r><rPr><b/></rPr><t>%d</t></r></si>" % i if i % rich_every == 0
                 else b"<si><t>%d</t></si>" % i for i in range(3 * slices.RICH_ALONE)]
        return b'<sst xmlns="%s">' % NS + b"".join(parts) + b"</sst>"

    reference = _tree_strings
    calls: list[str] = []
    monkeypatch.setattr(slices, "_tree_strings", lambda zf, m: calls.append(m) or reference(zf, m))
    for rich_every, whole in [(1, True), (2, True), (10, False)]:
        calls.clear()
        data = table_of(rich_every)
        assert shared_strings(book(data), MEMBER) == reference(book(data), MEMBER)
        assert calls == ([MEMBER] if whole else [])
