"""错误工作簿: the same template with only the failed rows, a 失败原因 column, bad cells marked.

Written with XlsxWriter in constant-memory mode: each row goes to a temporary file as it comes,
so a file with many failures needs little memory; about twice as fast as openpyxl's write-only
mode, which makes an object per cell (bench/bench_error_book.py). The looks are workbook.py's
styles, translated once per look and number format.

Still, a cell costs ~9 µs: a book of 100,000 failed rows takes 14 s. ErrorBook, which the
pipeline uses, writes a small book itself and hands a large one (more than SPILL_ROWS failed
rows) to a helper process, `python -m exchange.outputs.error_book`, which writes it on the other
core while the pipeline goes on judging and importing. They speak over a socketpair with
multiprocessing's Connection (pickled messages, its own framing, short writes handled), as the
reading workers do (exchange.read.sandbox).
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from exchange.checks.values import as_text
from exchange.children import python_argv, python_env, stop_child
from exchange.errors import ErrorBookFailed
from exchange.kinds.spec import KindSpec
from exchange.messages import ERROR_BOOK_WORDS as W, PRODUCT_NAME, TEMPLATE_WORDS as T
from exchange.outputs.aids import FormAids, list_ranges
from exchange.outputs.looks import (BAD_FILL, BAD_FONT, BOX, HEADER_FILL, HEADER_FONT, META_SHEET,
                                    REASON_FONT, REQUIRED_FONT, TEXT_FORMAT, TITLE_FONT, FontLook,
                                    column_width, guard_value)
from exchange.read.slices import CellError, UnsavedFormula
from exchange.results import RowOutcome
from exchange.text import travel_safe

TEXT_TYPES = ("id", "text", "phone", "postcode", "class", "month")
# The error values Excel takes as constants in a formula, and XlsxWriter writes as an error
# cell (`t="e"`) when given one as a formula's value.
ERROR_CONSTANTS = frozenset(("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"))
# Cell notes (comments) on the marked cells of the first NOTE_ROWS failed rows only: Excel and
# WPS slow down on thousands of notes. Every failed row keeps its marked cells and its 失败原因.
NOTE_ROWS = 2000
HEADER_ROWS = 3                       # title, note, header; the failed rows start at row 4
CELL_LIMIT = 32767                    # UTF-16 units Excel holds in a cell (or a note)
SPILL_ROWS = 1000                     # failed rows an ErrorBook writes itself; more: a helper
BATCH_ROWS = 500                      # failed rows per message to the helper
# The helper yields the cores to the pipeline and the reading worker: the book is needed only
# at the end, the rows as soon as they are read.
HELPER_NICENESS = 10
HELPER_GRACE = 5.0                    # seconds a helper has to stop once told, then killed
CUT_MARK = "\u2026"                   # "…" ends a value cut to CELL_LIMIT: seen, never silent
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")       # what XML cannot hold: Excel's _xHHHH_
_SURROGATE = re.compile("[\ud800-\udfff]").search
_ESCAPE = re.compile(r"(?=_x[0-9A-Fa-f]{4}_)")         # where such an escape, or its text, starts

# The number formats openpyxl gives cells of these types (openpyxl.cell.cell.TIME_FORMATS).
TIME_FORMATS = {dt.datetime: "yyyy-mm-dd h:mm:ss", dt.date: "yyyy-mm-dd", dt.time: "h:mm:ss",
                dt.timedelta: "[hh]:mm:ss"}

# The looks of the cells: (font, fill, border colour) from looks.py.
LOOKS: dict[str, tuple[FontLook | None, str | None, str | None]] = {
    "title": (TITLE_FONT, None, None),
    "note": (REASON_FONT, None, None),
    "header": (HEADER_FONT, HEADER_FILL, BOX),
    "required": (REQUIRED_FONT, HEADER_FILL, BOX),
    "codes_header": (HEADER_FONT, None, None),
    "cell": (None, None, BOX),
    "bad": (BAD_FONT, BAD_FILL, BOX),
    "reason": (REASON_FONT, None, BOX),
    "codes": (None, None, None),
}


def format_properties(font: FontLook | None, fill: str | None, border: str | None,
                      number_format: str | None) -> dict[str, Any]:
    """A look (any part may be None) as XlsxWriter format properties."""
    props: dict[str, Any] = {}
    if font is not None:
        props.update({k: v for k, v in (("font_name", font.name), ("font_size", font.size),
                                         ("bold", font.bold),
                                         ("font_color", font.color and f"#{font.color}")) if v})
    if fill is not None:
        props.update(pattern=1, bg_color=f"#{fill}")
    if border is not None:
        props.update(border=1, border_color=f"#{border}")
    if number_format is not None:
        props["num_format"] = number_format
    return props


class ErrorBookWriter:
    """Open with the kind and unit, `add()` failed rows, `close()` to save (or `discard()`)."""

    def __init__(self, path: Path, kind: KindSpec, unit_code: str, unit_name: str, source: str,
                 aids: FormAids | None = None, small: bool = False) -> None:
        """`small`: a book of at most SPILL_ROWS rows, made in memory: constant-memory mode
        keeps rows and parts in a dozen temporary files, which cost a small book ~5 times its
        writing (bench/README.md, `bench_small_files.py`, 2026-12-06). `aids`: the template's
        drop-downs and 说明 rows (exchange.outputs.aids.form_aids), laid out at close."""
        import xlsxwriter

        self.path = path
        self.kind = kind
        self.aids = aids
        self.unit_code = unit_code
        self.rows = 0
        self.fields = [col.field for col in kind.columns]
        self.as_text = [col.type in TEXT_TYPES for col in kind.columns]
        self.meta = {"kind": kind.kind, "version": str(kind.version), "unit": unit_code,
                     "source": "error_book"}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.wb: Any = xlsxwriter.Workbook(str(path), {
            "constant_memory": not small, "in_memory": small, "strings_to_numbers": False,
            "strings_to_formulas": False, "strings_to_urls": False, "nan_inf_to_errors": False,
            "remove_timezone": True,
            "tmpdir": str(path.parent)})           # rows kept beside the book: staged with it
        self.wb.set_properties({"author": PRODUCT_NAME})
        self._formats: dict[tuple[str, str | None], Any] = {}
        ws = self.ws = self.wb.add_worksheet(W["sheet"])
        ws.set_comments_author(PRODUCT_NAME)
        ncols = len(kind.columns)
        for i, col in enumerate(kind.columns):
            ws.set_column(i, i, column_width(col.type, col.header))
        ws.set_column(ncols, ncols, 60)
        ws.set_column(ncols + 1, ncols + 1, None, None, {"hidden": True})
        ws.freeze_panes(HEADER_ROWS, 0)
        # Printed for the clerk who corrects on paper: A4 landscape at full size (a template's
        # dozen columns and the reasons do not fit one page's width legibly), the title and
        # header on every page, and the ID and name on every page the columns run on to.
        ws.set_paper(9)
        ws.set_landscape()
        ws.repeat_rows(0, HEADER_ROWS - 1)
        ws.repeat_columns(0, 1)
        title = W["title"].format(title=kind.title, unit=unit_code, unit_name=unit_name, source=source)
        self._put(0, 0, title, "title")
        self._put(1, 0, W["note"], "note")
        for i, col in enumerate(kind.columns):
            self._put(2, i, ("*" if col.required else "") + col.header,
                      "required" if col.required else "header")
        self._put(2, ncols, W["reason_header"], "required")
        self._put(2, ncols + 1, W["codes_header"], "codes_header")

    def _format(self, look: str, number_format: str | None) -> Any:
        fmt = self._formats.get((look, number_format))
        if fmt is None:
            fmt = self.wb.add_format(format_properties(*LOOKS[look], number_format))
            self._formats[(look, number_format)] = fmt
        return fmt

    def _put(self, row: int, col: int, value: Any, look: str, force_text: bool = False) -> None:
        """One cell. Strings are always text, never formulas; formula-looking ones and forced text
        also get the text format; dates the format their type brings. A formula's error value
        stays one (its constant as the formula, the value cached): as text, a book sent back
        unmended would have #N/A read as an address or a name. A formula whose file held no
        value it made is left blank, for the clerk to fill (its text, or the formula in this
        book's other cells, would be read as what it never was)."""
        ws = self.ws
        if value is None or value == "" or value.__class__ is UnsavedFormula:
            ws.write_blank(row, col, None, self._format(look, None))
            return
        if value.__class__ is CellError and value in ERROR_CONSTANTS:
            ws.write_formula(row, col, "=" + value, self._format(look, None), value)
            return
        if not isinstance(value, str):
            if force_text and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = as_text(value)       # as the receipt shows it: 3.20602E+17 for a lost ID
            elif force_text or isinstance(value, float) and not math.isfinite(value):
                value = str(value)
            elif isinstance(value, bool):
                ws.write_boolean(row, col, value, self._format(look, None))
                return
            elif isinstance(value, (int, float)):
                ws.write_number(row, col, value, self._format(look, None))
                return
            elif type(value) in TIME_FORMATS:
                ws.write_datetime(row, col, value, self._format(look, TIME_FORMATS[type(value)]))
                return
            else:
                value = str(value)
        value, formula_like = guard_value(value, clean=False)   # _write_text escapes controls
        fmt = self._format(look, TEXT_FORMAT if force_text or formula_like else None)
        _write_text(ws, row, col, value, fmt)

    def add(self, outcome: RowOutcome) -> None:
        row = HEADER_ROWS + self.rows                       # 0-based
        bad = {f.field: f for f in outcome.findings if f.field}
        for col, (field, as_text, value) in enumerate(zip(self.fields, self.as_text, outcome.raw)):
            finding = bad.get(field) if bad else None
            self._put(row, col, value, "cell" if finding is None else "bad", as_text)
            if finding is not None and self.rows < NOTE_ROWS:
                self.ws.write_comment(row, col, _storable(finding.message))
        ncols = len(self.fields)
        reasons = "；".join(f.message.rstrip("。") for f in outcome.findings if not f.is_duplicate) + "。"
        self._put(row, ncols, reasons, "reason")
        self._put(row, ncols + 1, ",".join(f.code for f in outcome.findings), "codes")
        self.rows += 1

    def close(self) -> None:
        if self.aids is not None:
            self._add_aids(self.aids)
        meta = self.wb.add_worksheet(META_SHEET)   # workbook.add_meta_sheet, for openpyxl books
        plain = self._format("codes", None)
        for r, (key, value) in enumerate(self.meta.items()):
            _write_text(meta, r, 0, key, plain)
            _write_text(meta, r, 1, value, plain)
        meta.hide()
        self.ws.activate()
        self.wb.close()

    def _add_aids(self, aids: FormAids) -> None:
        """As the template has them (DESIGN §6, the same conventions): each coded column's
        drop-down over the failed rows, its entries in a hidden sheet, and the 说明 sheet of
        the columns' rules. The clerk corrects 操作 or 人员类别 from the list, as in the template."""
        plain = self._format("codes", None)
        if aids.lists and self.rows:
            placed, columns = list_ranges(aids)
            lists = self.wb.add_worksheet(T["lists_sheet"])
            for k, choices in enumerate(columns):
                for i, choice in enumerate(choices):
                    _write_text(lists, i, k, choice, plain)
            lists.hide()
            for item in aids.lists:
                self.ws.data_validation(HEADER_ROWS, item.index, HEADER_ROWS + self.rows - 1,
                                        item.index, {"validate": "list",
                                                     "source": "=" + placed[item.source],
                                                     "show_error": item.strict})
        guide = self.wb.add_worksheet(T["help_sheet"])
        guide.set_column(0, 0, 22)
        guide.set_column(1, 1, 10)
        guide.set_column(2, 2, 90)
        _write_text(guide, 0, 0, T["help_title"].format(title=self.kind.title, unit=self.unit_code,
                                                       version=self.kind.version),
                    self._format("title", None))
        header = self._format("header", None)
        for j, word in enumerate(T["help_header"]):
            _write_text(guide, 2, j, word, header)
        for r, values in enumerate(aids.help_rows, start=3):
            for j, value in enumerate(values):
                _write_text(guide, r, j, value, plain)

    def discard(self) -> None:
        """Give up the book: no file is written, and the rows' temporary files go."""
        for ws in self.wb.worksheets():
            handle, name = getattr(ws, "row_data_fh", None), getattr(ws, "row_data_filename", None)
            if handle is not None and not handle.closed:
                handle.close()
            if name:
                Path(name).unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def _write_text(ws: Any, row: int, col: int, text: str, fmt: Any) -> None:
    """A string cell that reads back as the text given: never a formula, number or URL (the
    workbook's options turn those off), never markup, cut with a mark when too long."""
    if text.startswith("<r>") and text.endswith("</r>"):
        # In constant-memory mode XlsxWriter passes a string of this shape through as rich-text
        # XML; given as a rich string (runs in the cell's own font) it is escaped as text. Runs
        # are escaped twice, though: a literal _xHHHH_ is split between runs, where it escapes
        # nothing, and a control character is written as the text of its escape.
        text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = _storable(text)
    if text.startswith("<r>") and text.endswith("</r>"):
        cuts = [0, 1, *(m.start() + 3 for m in _ESCAPE.finditer(text)), len(text)]
        runs: list[Any] = [text[0]]
        for start, end in zip(cuts[1:], cuts[2:]):
            runs += [fmt, text[start:end]]
        ws.write_rich_string(row, col, *runs, fmt)
    else:
        ws.write_string(row, col, text, fmt)


def _storable(text: str) -> str:
    """What a cell or a note can hold: no XML-forbidden U+FFFE/U+FFFF (written as Excel's
    escape, the same text in every XlsxWriter version), at most CELL_LIMIT UTF-16 units (a
    character past U+FFFF takes two), a longer text cut and ended with CUT_MARK."""
    if "\ufffe" in text or "\uffff" in text:
        text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    if _SURROGATE(text):                              # no UTF-8 can hold a lone one
        text = travel_safe(text)
    if len(text) <= CELL_LIMIT // 2:                  # short enough whatever the characters
        return text
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) <= 2 * CELL_LIMIT:
        return text
    # "ignore" drops the first half of a pair the cut would split
    return units[:2 * (CELL_LIMIT - len(CUT_MARK))].decode("utf-16-le", "ignore") + CUT_MARK


class ErrorBook:
    """An error workbook, written here or by a helper process: `add()` failed rows, then
    `close()` to save it or `discard()` to give it up. Up to SPILL_ROWS rows are kept and
    written at close; the row after them starts the helper, which is handed every row. With
    `helper=False` they go to an ErrorBookWriter here instead. ErrorBookFailed when the helper
    fails."""

    def __init__(self, path: Path, kind: KindSpec, unit_code: str, unit_name: str, source: str,
                 helper: bool = True, aids: FormAids | None = None) -> None:
        self.args = (path, kind, unit_code, unit_name, source, aids)
        self.use_helper = helper
        self.pending: list[RowOutcome] = []
        self.helper: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None        # to the helper
        self.writer: ErrorBookWriter | None = None

    def add(self, outcome: RowOutcome) -> None:
        if self.writer is not None:
            self.writer.add(outcome)
            return
        self.pending.append(outcome)
        if self.helper is None and len(self.pending) > SPILL_ROWS:
            if not self.use_helper:
                self._write_here()
                return
            mine, theirs = socket.socketpair()
            with mine, theirs:
                self.helper = subprocess.Popen(
                    python_argv("-m", __name__, str(theirs.fileno())),
                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, env=python_env())
                self.conn = Connection(mine.detach())
            self._send(self.args)
        if self.helper is not None and len(self.pending) >= BATCH_ROWS:
            self._send(self.pending)
            self.pending = []

    def _write_here(self, small: bool = False) -> ErrorBookWriter:
        """From now on the rows go to a writer in this process; the kept ones first (`small`:
        they are all the rows there are)."""
        writer = self.writer = ErrorBookWriter(*self.args, small=small)
        for outcome in self.pending:
            writer.add(outcome)
        self.pending = []
        return writer

    def _send(self, item: Any) -> None:
        assert self.conn is not None
        try:
            self.conn.send(item)
        except OSError as exc:            # a closed peer: BrokenPipeError, ConnectionResetError
            raise ErrorBookFailed(f"the error-book helper stopped: {self._outcome()}") from exc

    def close(self) -> None:
        helper = self.helper
        if helper is None:
            writer = self.writer or self._write_here(small=True)
            try:
                writer.close()
            except BaseException:
                writer.discard()
                raise
            finally:
                self.writer = None
            return
        try:
            if self.pending:
                self._send(self.pending)
            self.pending = []
            self._send(None)
            answer = self._outcome()
        finally:
            self._stop()
        if answer != "ok":                # the helper has left no book behind
            raise ErrorBookFailed(answer)

    def _outcome(self) -> str:
        """What the helper says last: "ok", or why it could not write the book."""
        assert self.helper is not None and self.conn is not None
        try:
            return str(self.conn.recv())
        except (EOFError, OSError) as exc:
            return f"no answer ({exc or 'the helper ended'}), exit status {self.helper.poll()}"

    def discard(self) -> None:
        """Give up the book: nothing is left behind, here or by the helper (told by the end of
        its input)."""
        self.pending = []
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.discard()
        self._stop()

    def _stop(self) -> None:
        """Close the channel (a helper reading sees its end, one writing fails) and wait for
        the helper; kill it if it has not stopped within HELPER_GRACE."""
        helper, self.helper = self.helper, None
        conn, self.conn = self.conn, None
        if helper is not None and conn is not None:
            stop_child(helper, conn, HELPER_GRACE)
        elif conn is not None:
            conn.close()


def _helper_main() -> None:
    """`python -m exchange.outputs.error_book FD`: on the Connection FD, ErrorBookWriter's
    arguments, then lists of RowOutcome, then None to save the book; answered "ok", or why the
    book could not be written (its input is read to the end first, so the pipeline never
    blocks). Input that ends without the None is a book given up: nothing is left behind."""
    os.nice(HELPER_NICENESS)
    conn = Connection(int(sys.argv[1]))
    writer: ErrorBookWriter | None = None
    ended = False                                   # the None that asks for the book has come
    try:
        writer = ErrorBookWriter(*conn.recv())
        while (batch := conn.recv()) is not None:
            for row in batch:
                writer.add(row)
        ended = True
        writer.close()
        answer = "ok"
    except (EOFError, ConnectionResetError):
        answer = "given up"
    except Exception as exc:    # the book's own trouble (a full disk), or a damaged message
        answer = f"{type(exc).__name__}: {exc}"
    if answer != "ok":
        if writer is not None:
            writer.discard()
        while not ended:
            try:
                ended = conn.recv() is None
            except (EOFError, OSError):
                break
    try:
        conn.send(answer)
    except OSError:                                 # given up: no one is listening
        pass


if __name__ == "__main__":
    _helper_main()
