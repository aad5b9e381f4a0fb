"""Several `exchange serve` nodes on one instance folder and one PostgreSQL database, and the
checks that nothing was lost or done twice. Shared by tests/flows/test_reliability*.py and
bench/reliability.py.

Each node is its own process with its own SFTP port; they share inbox/, outbox/ and var/ the way
nodes on a network share do. A node's peak RSS is its own high-water mark (VmHWM in
/proc/<pid>/status, read until it ends): wait4's ru_maxrss would not do, since Linux carries the
parent's high-water mark across the fork and exec that start a child.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import func, select

from exchange.checks.ids import check_char
from exchange.config import Instance, init_instance
from exchange.store.db import Database
from exchange.store.models import AuditEntry, Declaration, FileRecord
from tests.flows.serving import wait_until

ADD_HEADERS = ["身份证号*", "姓名*", "性别", "民族", "出生日期", "参加工作日期", "户籍性质", "文化程度*",
               "工作岗位*", "联系电话", "联系地址", "变更日期*", "缴费工资*", "参保险种"]
ADD_TITLE = "职工批量新增申报填写表"
FINAL = ("accepted", "partial", "rejected", "quarantined")
REFUSED = ("rejected", "quarantined")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def configure(home: Path, database_url: str, **settings: Any) -> Instance:
    """A fresh instance on `database_url`; `settings` are `key=value` lines of config.toml
    (settle_seconds, lease_seconds, max_rows, ...), each replacing the line with that key."""
    init_instance(home)
    config = home / "config.toml"
    text = config.read_text(encoding="utf-8")
    for key, value in {"url": json.dumps(database_url), "host": '"127.0.0.1"', **settings}.items():
        text, n = re.subn(rf"(?m)^{key}\s*=\s*[^#\n]*?(\s*(#.*)?)$", rf"{key} = {value}\1", text,
                          count=1)
        if n != 1:
            raise ValueError(f"config.toml has no {key} line")
    config.write_text(text, encoding="utf-8")
    return Instance(home)


def rescan_every(instance: Instance, seconds: int) -> None:
    """The rescan job (crash recovery, missed files) every `seconds` instead of minutes."""
    path = instance.jobs_dir / "rescan.toml"
    text, n = re.subn(r"(?m)^seconds\s*=\s*\d+", f"seconds = {seconds}", path.read_text("utf-8"))
    assert n == 1
    path.write_text(text, encoding="utf-8")



class Node:
    """One `exchange serve` process on its own SFTP port."""

    def __init__(self, instance: Instance, name: str, port: int | None = None,
                 host: str | None = None, env: dict[str, str] | None = None) -> None:
        self.instance, self.name = instance, name
        self.port = port or free_port()
        self.host = host                         # EXCHANGE_NODE: as if on a machine of that name
        self.env = env or {}                     # more environment (test hooks)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = instance.home / f"node-{name}.log"
        self.peak_mb: list[float] = []           # one figure per process that ran as this node
        self.tree_peak_mb: list[float] = []      # the same with its reading workers' RSS added
        self.pids: list[int] = []

    def start(self, timeout: float = 60.0, may_die: bool = False) -> "Node":
        """Start and wait until it serves; with `may_die`, an exit meanwhile is no failure
        (a node that dies at a poison file during its start-up recovery)."""
        env = {k: v for k, v in os.environ.items() if k not in ("EXCHANGE_HOME", "EXCHANGE_NODE")}
        env.update(self.env)
        if self.host:
            env["EXCHANGE_NODE"] = self.host
        mark = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            proc = self.proc = subprocess.Popen(
                [sys.executable, "-c", "from exchange.cli import main; main()",
                 "--home", str(self.instance.home), "serve", "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        self.pids.append(proc.pid)
        self.peak_mb.append(0.0)
        self.tree_peak_mb.append(0.0)
        threading.Thread(target=self._sample_peak, args=(proc, len(self.peak_mb) - 1),
                         daemon=True).start()
        wait_until(lambda: proc.poll() is not None or "serving " in self.output(mark),
                   timeout, f"node {self.name} to start")
        if proc.poll() is not None and not may_die:
            raise AssertionError(f"node {self.name} did not start:\n{self.output(mark)[-3000:]}")
        return self

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; its exit code (-N: killed by signal N)."""
        assert self.proc is not None
        wait_until(lambda: self.proc is not None and self.proc.poll() is not None, timeout,
                   f"node {self.name} to end")
        return self.proc.returncode

    @property
    def node_id(self) -> str:
        """How the database names this node's claims (exchange.intake.claim.node_name)."""
        assert self.proc is not None
        return f"{self.host or socket.gethostname()}-{self.proc.pid}"

    def output(self, since: int = 0) -> str:
        try:
            with self.log.open("rb") as fh:
                fh.seek(since)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _sample_peak(self, proc: "subprocess.Popen[bytes]", slot: int) -> None:
        """Follow the process's VmHWM (a high-water mark: the last reading holds all before it)."""
        import psutil

        status = Path(f"/proc/{proc.pid}/status")
        while proc.returncode is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_mb[slot] = max(self.peak_mb[slot], int(line.split()[1]) / 1024)
                node = psutil.Process(proc.pid)
                tree = node.memory_info().rss
                for child in node.children(recursive=True):
                    try:
                        tree += child.memory_info().rss
                    except psutil.Error:
                        pass
                self.tree_peak_mb[slot] = max(self.tree_peak_mb[slot], tree / 1024 / 1024)
            except (OSError, ValueError, IndexError, psutil.Error):
                return                              # gone (or a zombie without memory)
            time.sleep(0.05)

    def _reap(self) -> int:
        assert self.proc is not None
        _pid, status = os.waitpid(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.proc.returncode

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM: finish the file in hand, then exit (0 when all went well; -9 if it hung)."""
        assert self.proc is not None
        proc = self.proc
        proc.send_signal(signal.SIGTERM)
        timer = threading.Timer(timeout, proc.send_signal, (signal.SIGKILL,))
        timer.start()
        try:
            return self._reap()
        finally:
            timer.cancel()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine loses power."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


# Files -------------------------------------------------------------------------------------------
def person_id(i: int) -> str:
    """A valid ID, different for every i below 14,000,000."""
    birth = date(1962, 1, 1) + timedelta(days=i % 14_000)
    first = f"320602{birth:%Y%m%d}{i // 14_000 % 1000:03d}"
    return first + check_char(first)


def bad_id(i: int) -> str:
    good = person_id(i)
    return good[:17] + ("0" if good[17] != "0" else "1")          # wrong check character


@dataclass
class Planned:
    """A file to drop and what its receipt must say."""
    unit: str
    name: str
    path: Path
    accepted_ids: list[str] = field(default_factory=list)
    failed: int = 0
    expect_status: str | None = None      # a refusal: rejected | quarantined | refused (either)
    expect_code: str | None = None


def write_add_file(path: Path, unit: str, first: int, rows: int, bad_every: int = 0) -> Planned:
    """An employee_add workbook (streamed, so big ones are cheap) with every `bad_every`-th row
    failing its ID check."""
    import openpyxl

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append([ADD_TITLE])
    ws.append(ADD_HEADERS)
    plan = Planned(unit, path.name, path)
    for i in range(first, first + rows):
        bad = bad_every and (i - first) % bad_every == bad_every - 1
        number = bad_id(i) if bad else person_id(i)
        ws.append([number, "张三", "", "汉族", "", "", "", "21", "01", "13912345678", "南通市崇川区",
                   "202612", 5000, ""])
        if bad:
            plan.failed += 1
        else:
            plan.accepted_ids.append(number)
    wb.save(path)
    return plan


def drop_shared(instance: Instance, plan: Planned) -> None:
    """Over the shared folder: copied under a temp name, then renamed (as clients do)."""
    target = instance.unit_inbox(plan.unit) / plan.name
    part = target.with_name(target.name + ".part")
    part.write_bytes(plan.path.read_bytes())
    os.rename(part, target)


def drop_sftp(port: int, plans: Sequence[Planned], password_of: Callable[[str], str]) -> None:
    """Over SFTP to one node, one connection per unit."""
    import paramiko

    by_unit: dict[str, list[Planned]] = {}
    for p in plans:
        by_unit.setdefault(p.unit, []).append(p)
    for unit, group in by_unit.items():
        transport = paramiko.Transport(("127.0.0.1", port))
        try:
            transport.connect(username=unit, password=password_of(unit))
            client = paramiko.SFTPClient.from_transport(transport)
            assert client is not None
            for p in group:
                client.put(str(p.path), f"/inbox/{p.name}")
            client.close()
        finally:
            transport.close()


# Checks ------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    files: int = 0
    rows: int = 0
    accepted: int = 0
    failed: int = 0
    receipts: int = 0
    declarations: int = 0
    problems: list[str] = field(default_factory=list)


def receipts_of(instance: Instance, units: Iterable[str]) -> list[Path]:
    return [p for u in units for p in instance.unit_outbox(u, "receipts").glob("*.json")]


def check_outcome(instance: Instance, db: Database, plans: Sequence[Planned]) -> Outcome:
    """Every dropped file has exactly one receipt and one placed row; every accepted row exactly
    one declaration with one import audit entry; no outbox file is partial; nothing is left
    in the inboxes or in var/processing."""
    out = Outcome(files=len(plans))
    units = sorted({p.unit for p in plans})
    problems = out.problems
    by_key = {(p.unit, p.name): p for p in plans}

    # Receipts: exactly one per file, saying what the file held.
    seen: Counter[tuple[str, str]] = Counter()
    receipts: dict[tuple[str, str], dict[str, Any]] = {}
    for path in receipts_of(instance, units):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            problems.append(f"unreadable receipt {path.name}: {exc}")
            continue
        key = (data["unit"], data["file"])
        seen[key] += 1
        receipts[key] = data
    out.receipts = sum(seen.values())
    for key, n in seen.items():
        if n != 1:
            problems.append(f"{key}: {n} receipts")
        if key not in by_key:
            problems.append(f"{key}: a receipt for a file nobody dropped")
    for key, plan in by_key.items():
        data = receipts.get(key)
        if data is None:
            problems.append(f"{key}: no receipt")
            continue
        counts = data["counts"]
        out.rows += counts["total"]
        if plan.expect_status:
            allowed = REFUSED if plan.expect_status == "refused" else (plan.expect_status,)
            if data["status"] not in allowed or not data["file_errors"]:
                problems.append(f"{key}: status {data['status']}, expected {plan.expect_status}")
            codes = [e["code"] for e in data["file_errors"]]
            if plan.expect_code and codes != [plan.expect_code]:
                problems.append(f"{key}: file codes {codes}, expected {[plan.expect_code]}")
            continue
        if (counts["accepted"], counts["failed"]) != (len(plan.accepted_ids), plan.failed):
            problems.append(f"{key}: counts {counts}, expected accepted={len(plan.accepted_ids)} "
                            f"failed={plan.failed}")
        out.accepted += counts["accepted"]
        out.failed += counts["failed"]

    # No partial outbox file: no temp names left, every workbook a whole zip.
    for unit in units:
        for path in instance.unit_outbox(unit).rglob("*"):
            if not path.is_file():
                continue
            if path.name.startswith(".") or path.name.endswith((".tmp", ".part")):
                problems.append(f"temp file left in the outbox: {path}")
            elif path.suffix == ".xlsx":
                try:
                    with zipfile.ZipFile(path) as zf:
                        if zf.testzip() is not None:
                            problems.append(f"damaged workbook {path.name}")
                except zipfile.BadZipFile:
                    problems.append(f"partial workbook {path.name}")

    # The database: one placed row per file, one declaration per accepted row, audit whole.
    with db.session() as s:
        records = s.execute(select(FileRecord.id, FileRecord.unit_code, FileRecord.name,
                                   FileRecord.status, FileRecord.stored_path)).all()
        rows_per_file = Counter((r.unit_code, r.name) for r in records)
        for key, n in rows_per_file.items():
            if n != 1:
                problems.append(f"{key}: {n} rows in files")
        for r in records:
            if r.status not in FINAL or not r.stored_path:
                problems.append(f"file id={r.id} {r.name}: status={r.status} stored={r.stored_path}")
            elif receipts.get((r.unit_code, r.name), {}).get("status") not in (r.status, None):
                problems.append(f"file id={r.id}: row says {r.status}, receipt says otherwise")
        decl = s.execute(select(Declaration.serial, Declaration.id_number, Declaration.file_id,
                                Declaration.row)).all()
        out.declarations = len(decl)
        per_person = Counter(d.id_number for d in decl)
        expected = Counter(i for p in plans for i in p.accepted_ids)
        if per_person != expected:
            extra = [k for k in per_person if per_person[k] != expected.get(k)]
            missing = [k for k in expected if k not in per_person]
            problems.append(f"declarations differ from accepted rows: {len(extra)} wrong, "
                            f"{len(missing)} missing")
        if len({(d.file_id, d.row) for d in decl}) != len(decl):
            problems.append("two declarations from one row")
        imports = Counter(s.scalars(select(AuditEntry.serial).where(AuditEntry.action == "import")))
        if any(imports.get(d.serial) != 1 for d in decl) or sum(imports.values()) != len(decl):
            problems.append("import audit entries are not one per declaration")
        file_audit = Counter(s.scalars(select(AuditEntry.file_id).where(
            AuditEntry.action.like("file.%"))))
        if any(file_audit.get(r.id) != 1 for r in records):
            problems.append("file audit entries are not one per file")
        total_files = s.scalar(select(func.count()).select_from(FileRecord))
        if total_files != len(plans):
            problems.append(f"{total_files} rows in files for {len(plans)} dropped files")

    # Nothing left behind.
    for unit in units:
        left = [p.name for p in instance.unit_inbox(unit).iterdir() if not p.name.startswith(".")]
        if left:
            problems.append(f"inbox/{unit} still holds {left[:5]}")
    leftovers = list(instance.processing.iterdir()) if instance.processing.exists() else []
    if leftovers:
        problems.append(f"var/processing still holds {[p.name for p in leftovers][:5]}")
    return out


# Hostile files -----------------------------------------------------------------------------------
def _plain_xlsx(path: Path) -> None:
    """A small genuine employee_add workbook to tamper with."""
    write_add_file(path, "x", 0, 3)


def _rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes | Callable[[Any], None]]) -> None:
    """Copy a zip, replacing members: bytes, or a writer(fh) that streams the new content."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename not in replace:
                zout.writestr(info, zin.read(info.filename))
        for name, content in replace.items():
            if isinstance(content, bytes):
                zout.writestr(name, content)
            else:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zout.open(info, "w", force_zip64=True) as fh:
                    content(fh)


def zip_bomb_xlsx(path: Path, megabytes: int = 400) -> None:
    """A workbook whose sheet inflates to `megabytes` of XML (honestly declared sizes)."""
    tmp = path.with_suffix(".src")
    _plain_xlsx(tmp)
    row = b'<row r="9"><c r="A9" t="n"><v>1</v></c></row>' * 2000
    head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
            b'.org/spreadsheetml/2006/main"><sheetData>')

    def write(fh: Any) -> None:
        fh.write(head)
        for _ in range(megabytes * (1 << 20) // len(row)):
            fh.write(row)
        fh.write(b"</sheetData></worksheet>")

    _rewrite_zip(tmp, path, {"xl/worksheets/sheet1.xml": write})
    tmp.unlink()


def lying_zip_bomb_xlsx(path: Path, megabytes: int = 400) -> None:
    """The same bomb, but every header claims the sheet inflates to 64 KB: a guard that trusts
    declared sizes lets it through, so the reader itself must stop at the declared size."""
    zip_bomb_xlsx(path, megabytes)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    small = (64 * 1024).to_bytes(4, "little")
    # Central directory entry: uncompressed size at +24; local header: at +22. The member was
    # written as zip64, so the 32-bit fields hold 0xFFFFFFFF and the zip64 extra the real size.
    name = info.filename.encode()
    pos = 0
    while (pos := data.find(name, pos)) != -1:
        for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            fixed = 30 if sig == b"PK\x03\x04" else 46
            start = pos - fixed
            if start >= 0 and data[start:start + 4] == sig:
                data[start + size_at:start + size_at + 4] = small
                extra_len_at = 28 if sig == b"PK\x03\x04" else 30
                extra_len = int.from_bytes(data[start + extra_len_at:start + extra_len_at + 2], "little")
                extra = start + fixed + len(name)
                end = extra + extra_len
                while extra + 4 <= end:                      # the zip64 field: real sizes
                    tag = int.from_bytes(data[extra:extra + 2], "little")
                    n = int.from_bytes(data[extra + 2:extra + 4], "little")
                    if tag == 1 and n >= 8:
                        data[extra + 4:extra + 12] = (64 * 1024).to_bytes(8, "little")
                    extra += 4 + n
        pos += len(name)
    path.write_bytes(bytes(data))


def billion_laughs_xlsx(path: Path) -> None:
    """Nested XML entities inside the shared strings of a real workbook."""
    tmp = path.with_suffix(".src")
    _plain_xlsx(tmp)
    ents = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">' for i in range(1, 10)]
    body = ('<?xml version="1.0"?><!DOCTYPE sst [' + "".join(ents) + ']>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
            'uniqueCount="1"><si><t>&lol9;</t></si></sst>').encode()
    _rewrite_zip(tmp, path, {"xl/sharedStrings.xml": body})
    tmp.unlink()


def pixel_bomb_png(path: Path, side: int = 60_000) -> None:
    """A PNG that declares side x side pixels (3.6 gigapixels) in a few hundred bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (side * 3 + 1) * 4, 9)   # a few rows; decoders allocate first
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))


def many_rows_csv(path: Path, rows: int) -> None:
    """An employee_add CSV with `rows` data rows (valid ones: only the row limit refuses it)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(ADD_TITLE + "\n" + ",".join(ADD_HEADERS) + "\n")
        for i in range(rows):
            fh.write(f"{person_id(i)},张三,,汉族,,,,21,01,13912345678,南通市,202612,5000,\n")


def many_rows_xlsx(path: Path, rows: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append([ADD_TITLE])
    ws.append(ADD_HEADERS)
    for i in range(rows):
        ws.append([person_id(i), "张三", "", "汉族", "", "", "", "21", "01", "13912345678", "南通市",
                   "202612", 5000, ""])
    wb.save(path)


def garbage(folder: Path, unit: str, count: int, seed: int = 7) -> list[Planned]:
    """Files that are not what their names say: random bytes, cut-off zips, HTML saved as .xls,
    empty files, OLE headers with nothing behind them, binary CSV, zips of zips."""
    import io
    import random

    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    real = folder / "real.xlsx"
    _plain_xlsx(real)
    whole = real.read_bytes()
    makers: list[tuple[str, Callable[[int], bytes]]] = [
        ("random.xlsx", lambda n: rnd.randbytes(rnd.randint(1, 200_000))),
        ("cut.xlsx", lambda n: whole[:rnd.randint(10, len(whole) - 10)]),
        ("page.xls", lambda n: b"<html><body><table><tr><td>1</td></tr></table></body></html>"),
        ("empty.csv", lambda n: b""),
        ("ole.xls", lambda n: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rnd.randbytes(4096)),
        ("binary.csv", lambda n: bytes(rnd.randrange(256) for _ in range(5000))),
        ("pdf.xlsx", lambda n: b"%PDF-1.4\n" + rnd.randbytes(3000)),
    ]

    def nested(n: int) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("inner.zip", whole)
            zf.writestr("../../escape.xlsx", whole)
        return buf.getvalue()

    makers.append(("nested.zip", nested))
    plans = []
    for n in range(count):
        suffix, make = makers[n % len(makers)]
        path = folder / f"garbage-{n:04d}-{suffix}"
        path.write_bytes(make(n))
        plans.append(Planned(unit, path.name, path, expect_status="refused"))
    real.unlink()
    return plans
