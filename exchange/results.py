"""What processing a file yields: per-row outcomes and the file's result (plain data)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exchange.checks.finding import Finding
from exchange.messages import file_message

if TYPE_CHECKING:
    from exchange.work import Sender


@dataclass(slots=True)      # not frozen: made once per row, and a frozen one costs 3x as much
class RowOutcome:
    row: int
    findings: tuple[Finding, ...] = ()
    raw: tuple[Any, ...] = ()           # the cells as written, in kind column order
    id_number: str | None = None
    name: str | None = None
    serial: int | None = None           # declaration imported, or the earlier one it duplicates
    # Facts about an accepted row the receipt shows beside it (codes.NOTE_*): how many students
    # a 班级停保 row covers, a photo stored. Never failures.
    notes: tuple[Finding, ...] = ()

    @property
    def duplicate(self) -> bool:
        return bool(self.findings) and all(f.is_duplicate for f in self.findings)

    @property
    def ok(self) -> bool:
        return not self.findings or self.duplicate

    @property
    def failed(self) -> bool:
        return not self.ok

    def as_dict(self) -> dict[str, Any]:
        errors = [f.as_dict() for f in self.findings if not f.is_duplicate]
        out: dict[str, Any] = {"row": self.row, "ok": self.ok, "errors": errors}
        if self.duplicate:
            out["duplicate"] = True
            out["notes"] = [f.as_dict() for f in self.findings]
        elif self.notes:
            out["notes"] = [f.as_dict() for f in self.notes]
        if self.serial is not None:
            out["serial"] = self.serial
        return out


@dataclass
class Counts:
    total: int = 0
    accepted: int = 0
    failed: int = 0
    duplicate: int = 0

    def add(self, outcome: RowOutcome) -> None:
        self.total += 1
        if outcome.duplicate:
            self.duplicate += 1
        elif outcome.ok:
            self.accepted += 1
        else:
            self.failed += 1

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "accepted": self.accepted, "failed": self.failed,
                "duplicate": self.duplicate}


@dataclass(frozen=True)
class FileError:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return file_message(self.code, self.params)

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class FileResult:
    unit: str
    name: str
    received_at: datetime
    file_id: int | None = None
    kind: str | None = None
    kind_label: str | None = None
    counts: Counts = field(default_factory=Counts)
    file_error: FileError | None = None
    quarantined: bool = False
    receipt_name: str | None = None
    error_book_name: str | None = None
    awaits_submission: bool = True   # accepted rows are pending (待提交) until the nightly batch
    withdrawal: bool = False         # accepted rows withdrew declarations (nothing to submit)
    # What the receipt says happens next (issue 21.16): after pending_hint when awaits_submission
    # (exchange.view.confirm.next_step), or alone (a 待提交清单 sent back: its batch).
    next_step: str = ""
    submitted_batch: int | None = None   # the batch a 待提交清单 sent back submitted (its id)
    sender: Sender | None = None         # who sent it (exchange.work); None for `validate`
    # Rows below the header that are the form's own (合计, 制表人：, 单位（盖章）, 注：): not read.
    footer_rows: list[int] = field(default_factory=list)
    # Rows hidden in the sheet (filtered out, or hidden by hand): not read either.
    hidden_rows: list[int] = field(default_factory=list)
    # Pre-filled rows left as they were (KindSpec.skip_untouched): no declaration, not read.
    untouched_rows: list[int] = field(default_factory=list)
    # Of the whole file, for the clerk to act on (note.whole_staff): (code, message).
    warnings: list[dict[str, str]] = field(default_factory=list)
    # Of the whole file, what its accepted rows will do (note.stop_month): (code, message).
    notes: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.quarantined:
            return "quarantined"
        if self.file_error is not None:
            return "rejected"
        if self.counts.failed and not (self.counts.accepted or self.counts.duplicate):
            return "rejected"
        if self.counts.failed:
            return "partial"
        return "accepted"
