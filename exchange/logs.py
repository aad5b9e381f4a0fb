"""The service's log: English lines naming a unit and a file (text, the default), or one JSON
object per event (`[logging].format = "json"`) for journald, fail2ban or an ELK stack.

Log calls name their context in the message (`unit=1001 file=a.xlsx: ...`) or pass it as
`extra={"unit": ..., "file": ..., "login": ..., "remote": ...}`; the JSON formatter turns both
into fields, and adds the node.
"""
from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from exchange.config import Instance
from exchange.text import log_safe

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Libraries whose chatter at INFO says nothing an operator needs.
QUIET = ("paramiko", "apscheduler", "watchdog", "alembic")
# The context fields every JSON line carries ("-" where an event has none).
CONTEXT = ("unit", "file", "login", "remote")


class ContextFormatter(logging.Formatter):
    """Every line names a unit and a file: `unit=- file=-` where a message has none of its own
    (context may also come as `extra={"unit": ..., "file": ...}`)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        prefix = ""
        if "unit=" not in message:
            prefix += f"unit={getattr(record, 'unit', '-')} "
        if "file=" not in message:
            prefix += f"file={getattr(record, 'file', '-')} "
        record.message = log_safe(prefix + message)     # one line, whatever a name holds
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


_KEY = re.compile(r"(\w+)=")
# A file name may hold spaces: its value runs to the next ` key=`, or to `: ` or the end.
_FILE_END = re.compile(r" \w+=|: |:$|$")


def split_context(message: str) -> tuple[dict[str, str], str]:
    """The leading `key=value` pairs of a message and the text after them:
    `unit=1001 file=a b.xlsx id=7: placed` -> ({unit: 1001, file: "a b.xlsx", id: "7"}, "placed")."""
    fields: dict[str, str] = {}
    pos = 0
    while (key := _KEY.match(message, pos)) is not None:
        start = key.end()
        if message[start:start + 1] in ("'", '"'):           # file=%r
            end = message.find(message[start], start + 1)
            end = len(message) if end < 0 else end + 1
            value = message[start + 1:end - 1]
        elif key[1] == "file":
            match = _FILE_END.search(message, start)
            end = match.start() if match else len(message)
            value = message[start:end]
        else:
            end = start
            while end < len(message) and not message[end].isspace():
                end += 1
            value = message[start:end]
            if value.endswith(":"):
                value, end = value[:-1], end - 1
        fields[key[1]] = value
        pos = end
        if message.startswith(": ", pos) or message.startswith(":", pos) and pos + 1 == len(message):
            return fields, message[pos + 2:]
        if not message.startswith(" ", pos):
            break
        pos += 1
    return fields, message[pos:]


class ContextJsonFormatter(JsonFormatter):
    """One JSON object per event: time, level, logger, message, node, unit, file, login, remote
    (and any other leading `key=value` of the message: id, kind, status)."""

    def __init__(self, node: str) -> None:
        super().__init__(["asctime", "levelname", "name", "message"],
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         static_fields={"node": node}, json_ensure_ascii=False)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        parsed, rest = split_context(record.getMessage())
        log_data["message"] = rest
        for key, value in parsed.items():
            log_data.setdefault(key, value)
        for key in CONTEXT:
            given = getattr(record, key, None)
            if given is not None:
                log_data[key] = given
            elif log_data.get(key) in (None, "-"):
                log_data[key] = None


def formatter_for(instance: Instance) -> logging.Formatter:
    if instance.settings.logging.format == "json":
        from exchange.node import node_name

        return ContextJsonFormatter(node_name())
    return ContextFormatter(LOG_FORMAT)


def setup_logging(instance: Instance, *, stream: Any = None) -> list[logging.Handler]:
    """Log lines to var/logs/exchange.log (rotated) and stderr, in [logging].format; returns
    the handlers."""
    logs = instance.var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    formatter = formatter_for(instance)
    file_handler = logging.handlers.RotatingFileHandler(logs / "exchange.log", maxBytes=20 << 20,
                                                        backupCount=5, encoding="utf-8",
                                                        errors="backslashreplace")
    err_handler = logging.StreamHandler(stream or sys.stderr)
    handlers: list[logging.Handler] = [file_handler, err_handler]
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        h.setFormatter(formatter)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handlers


__all__ = ["ContextFormatter", "ContextJsonFormatter", "setup_logging", "split_context"]
