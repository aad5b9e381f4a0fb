"""jobs/*.toml -> JobSpec: when a registered job runs and with what options (jobs/README.md).

Every mistake is a ConfigError naming the file and the key, raised before anything starts.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from exchange.config import Instance
from exchange.errors import ConfigError
from exchange.schedule.registry import JobFn, all_jobs

KEYS = {"name", "trigger", "seconds", "minutes", "hours", "cron", "enabled", "description",
        "options", "misfire_grace_seconds"}
INTERVAL_KEYS = ("seconds", "minutes", "hours")
# Interval firings are counted from this fixed point, not from each node's start, so every
# node computes the same fire times and the job_runs key dedupes them.
ANCHOR = datetime(2000, 1, 3)


@dataclass(frozen=True)
class JobSpec:
    id: str                      # the file's stem; `exchange jobs run ID`
    name: str                    # registered job function
    source: Path
    trigger_kind: str            # "interval" | "cron"
    every: timedelta | None = None
    cron: str | None = None
    enabled: bool = True
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    misfire_grace_seconds: int = 3600

    def trigger(self, tz: tzinfo) -> BaseTrigger:
        if self.trigger_kind == "cron":
            assert self.cron is not None
            return CronTrigger.from_crontab(self.cron, timezone=tz)
        assert self.every is not None
        return IntervalTrigger(seconds=int(self.every.total_seconds()),
                               start_date=ANCHOR.replace(tzinfo=tz), timezone=tz)

    @property
    def when(self) -> str:
        if self.trigger_kind == "cron":
            return f"cron {self.cron}"
        return f"every {int(self.every.total_seconds()) if self.every else 0}s"


def timezone_of(instance: Instance) -> ZoneInfo:
    name = instance.settings.schedule.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"config.toml [schedule].timezone: unknown time zone {name!r}") from exc


def _fail(path: Path, key: str, why: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {why}")


def parse_job(path: Path, registered: dict[str, JobFn], tz: tzinfo) -> JobSpec:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key (known: {', '.join(sorted(KEYS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(path, "name", "required: the registered job to run")
    if name not in registered:
        raise _fail(path, "name", f"no job registered as {name!r} "
                                  f"(registered: {', '.join(sorted(registered)) or 'none'})")
    kind = raw.get("trigger")
    if kind not in ("interval", "cron"):
        raise _fail(path, "trigger", f"must be \"interval\" or \"cron\", got {kind!r}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(path, "enabled", f"must be true or false, got {enabled!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(path, "description", "must be a string")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise _fail(path, "options", "must be a table ([options])")
    grace = raw.get("misfire_grace_seconds", 3600)
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 1:
        raise _fail(path, "misfire_grace_seconds", f"must be a positive integer, got {grace!r}")
    spec = dict(id=path.stem, name=name, source=path, trigger_kind=kind, enabled=enabled,
                description=description, options=options, misfire_grace_seconds=grace)
    if kind == "interval":
        if "cron" in raw:
            raise _fail(path, "cron", "only for trigger = \"cron\"")
        total = 0.0
        for key in INTERVAL_KEYS:
            if key not in raw:
                continue
            value = raw[key]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise _fail(path, key, f"must be a positive integer, got {value!r}")
            total += value * {"seconds": 1, "minutes": 60, "hours": 3600}[key]
        if not total:
            raise _fail(path, "seconds", "an interval job needs seconds, minutes or hours")
        parsed = JobSpec(**spec, every=timedelta(seconds=total))  # type: ignore[arg-type]
    else:
        extra = [k for k in INTERVAL_KEYS if k in raw]
        if extra:
            raise _fail(path, extra[0], "only for trigger = \"interval\"")
        cron = raw.get("cron")
        if not isinstance(cron, str):
            raise _fail(path, "cron", "required: \"minute hour day month day-of-week\"")
        parsed = JobSpec(**spec, cron=cron)  # type: ignore[arg-type]
    try:
        trigger = parsed.trigger(tz)
    except ValueError as exc:
        raise _fail(path, "cron", f"not a valid crontab expression: {exc}") from exc
    if parsed.trigger_kind == "cron" and trigger.get_next_fire_time(None, datetime.now(tz)) is None:
        # 31 February: accepted, the job was "scheduled, next run -" and never ran.
        raise _fail(path, "cron", f"{parsed.cron!r} never fires (no such day)")
    return parsed


# path -> (what the file and the registry were when it was parsed, its JobSpec). Every receipt
# names the next submission, so a file's jobs are looked up per file: parse only what changed.
_PARSED: dict[Path, tuple[tuple[Any, ...], JobSpec]] = {}


def load_jobs(instance: Instance) -> list[JobSpec]:
    """Every jobs/*.toml of the instance, validated against the registry (a file is parsed
    again only when it, the time zone or the registry changed)."""
    registered = all_jobs()
    tz = timezone_of(instance)
    specs = []
    folder = instance.jobs_dir
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        st = path.stat()
        seen = (st.st_mtime_ns, st.st_size, st.st_ino, str(tz), tuple(sorted(registered)))
        cached = _PARSED.get(path)
        if cached is None or cached[0] != seen:
            cached = _PARSED[path] = (seen, parse_job(path, registered, tz))
        specs.append(cached[1])
    return specs


def find_job(specs: list[JobSpec], name: str) -> JobSpec | None:
    """By file stem first, then by registered name."""
    for spec in specs:
        if spec.id == name:
            return spec
    for spec in specs:
        if spec.name == name:
            return spec
    return None


__all__ = ["JobSpec", "load_jobs", "parse_job", "find_job", "timezone_of"]
