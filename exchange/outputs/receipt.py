"""回执: a Chinese text receipt and its JSON twin, rendered from the same FileResult."""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Iterable

from exchange.names import safe_name
from exchange.codes import NOTE_ENROLMENT
from exchange.messages import (ENROLMENT_WORDS, NEXT_STEP_WORDS, RECEIPT_WORDS as W, RENAMED_NOTE,
                               STATUS_LABELS, WITHDRAWN_HINT, shown_rows)
from exchange.results import FileResult, RowOutcome
from exchange.view.confirm import receipt_step
from exchange.text import json_text, travel_safe


class ReceiptRows:
    """Spools the non-accepted rows to disk as JSON lines while a file is processed (the spool
    is made at the first such row: most files have none, and a file made costs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = None

    def add(self, outcome: RowOutcome) -> None:
        line = outcome.as_dict()
        line["id_number"] = outcome.id_number
        line["name"] = outcome.name
        if self._fh is None:
            self._fh = self.path.open("w", encoding="utf-8")
        self._fh.write(json_text(line) + "\n")

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.close()
        if self._fh is None:
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


def skipped_fields(result: FileResult) -> dict[str, Any]:
    """`hidden_rows`, `untouched_rows`, `footer_rows`, `warnings` and `notes` for the JSON
    answers (the receipt's twin, `validate --json`), each only when there are some."""
    return {key: rows for key, rows in (*_skipped(result), ("warnings", result.warnings),
                                        ("notes", result.notes)) if rows}


def _skipped(result: FileResult) -> tuple[tuple[str, list[int]], ...]:
    return (("hidden_rows", result.hidden_rows), ("untouched_rows", result.untouched_rows),
            ("footer_rows", result.footer_rows))


def skipped_lines(result: FileResult) -> list[str]:
    """The receipt's lines naming the rows read past: hidden ones, pre-filled ones left as they
    were, then the form's own."""
    lines = []
    for key, rows in _skipped(result):
        if rows:
            lines.append(W[key].format(rows=shown_rows(rows)))
    return lines


def receipt_json(result: FileResult, rows: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """Stream the JSON twin: header fields, then every failed or duplicate row."""
    head = {
        "file": result.name,
        "safe_name": safe_name(result.name),
        "file_id": result.file_id,
        "unit": result.unit,
        "received_at": result.received_at.isoformat(timespec="seconds"),
        "kind": result.kind,
        "kind_label": result.kind_label,
        "status": result.status,
        "status_label": STATUS_LABELS[result.status],
        "file_errors": [result.file_error.as_dict()] if result.file_error else [],
        "counts": result.counts.as_dict(),
        "error_workbook": result.error_book_name,
        **skipped_fields(result),
    }
    body = json_text(head, indent=1)
    out.write(body[:-2] + ',\n "rows": [')
    for i, row in enumerate(rows):
        out.write(("\n  " if i == 0 else ",\n  ") + json_text(row))
    out.write("\n ]\n}\n")


# A file with this many failed rows starts its text with what failed most: a clerk facing
# hundreds of row lines (500 shown) learns the one mistake behind them (a column formatted
# wrong, a lookup never calculated) without reading them.
TOP_PROBLEMS_FROM = 20
TOP_PROBLEMS = 3
TOP_PROBLEM_ROWS = 5             # a pair counts as a common problem from this many rows


def _top_problems(problems: dict[tuple[str | None, str], list[Any]]) -> list[str]:
    ranked = sorted(problems.items(), key=lambda item: -item[1][0])[:TOP_PROBLEMS]
    return [W["top_problem"].format(column=f"「{column}」" if column else W["whole_row"], count=count,
                                    row=row, message=message.rstrip("。") + "。")
            for (column, _), (count, row, message) in ranked if count >= TOP_PROBLEM_ROWS]


def receipt_text(result: FileResult, rows: Iterable[dict[str, Any]], max_lines: int) -> str:
    lines = [
        f"{W['title']}",
        "=" * 40,
        f"{W['unit']}：{result.unit}",
        f"{W['file']}：{safe_name(result.name)}",
        f"{W['received']}：{result.received_at:%Y-%m-%d %H:%M:%S}",
        f"{W['kind']}：{result.kind_label or W['unknown_kind']}",
        f"{W['status']}：{STATUS_LABELS[result.status]}",
    ]
    if safe_name(result.name) != result.name:
        lines.insert(4, RENAMED_NOTE)
    if result.file_error:
        lines.append(W["file_reason"] + result.file_error.message)
        lines.append(W["quarantined"] if result.quarantined else W["archived"])
        return travel_safe("\n".join(lines) + "\n")
    lines.append(W["counts"].format(**result.counts.as_dict()))
    lines += skipped_lines(result) + [w["message"] for w in result.warnings]
    summary_at = len(lines)            # 其中新参保 x 人 ..., once the rows are counted
    enrolments = {code: 0 for code in NOTE_ENROLMENT.values()}
    if result.error_book_name:
        lines.append(W["error_book"].format(name=result.error_book_name))
    if result.counts.accepted and result.awaits_submission:
        lines.append(W["pending_hint"] + (result.next_step or receipt_step(NEXT_STEP_WORDS["centre"])))
    elif result.counts.accepted and result.next_step:
        lines.append(result.next_step)
    if result.counts.accepted and result.withdrawal:
        lines.append(WITHDRAWN_HINT)
    lines += [n["message"] for n in result.notes]
    shown = 0
    more = 0
    problems: dict[tuple[str | None, str], list[Any]] = {}     # (column, code) -> [count, row, message]
    for row in rows:
        for note in row.get("notes", []):          # counted beyond the lines shown too
            if note["code"] in enrolments:
                enrolments[note["code"]] += 1
        for error in row["errors"]:
            problem = problems.setdefault((error.get("column"), error["code"]),
                                          [0, row["row"], error["message"]])
            problem[0] += 1
        if shown == 0:
            lines += ["", W["rows_header"]]
        if shown >= max_lines:
            more += 1
            continue
        who = f"（{row.get('name') or ''} {row.get('id_number') or ''}）".replace("（ ", "（").replace(" ）", "）")
        who = "" if who == "（）" else who
        notes = row["errors"] or row.get("notes", [])
        message = "；".join(e["message"].rstrip("。") for e in notes) + "。"
        lines.append(W["row_line"].format(row=row["row"], who=who, message=message))
        shown += 1
    if more:
        lines.append(W["more_rows"].format(more=more))
    if result.counts.failed >= TOP_PROBLEMS_FROM:
        top = _top_problems(problems)
        lines[summary_at:summary_at] = [W["top_problems"], *top] if top else []
    if any(enrolments.values()):
        lines.insert(summary_at, ENROLMENT_WORDS["summary"].format(
            **{kind: enrolments[code] for kind, code in NOTE_ENROLMENT.items()}))
    lines.append("")
    lines.append(W["archived"])
    return travel_safe("\n".join(lines) + "\n")
