"""Load config.toml once into frozen Settings; an Instance is a home folder plus its settings."""
from __future__ import annotations

import os
import shutil
import time
import tomllib
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Iterable, TYPE_CHECKING

from exchange.errors import ConfigError, ExchangeError

if TYPE_CHECKING:
    from exchange.kinds.spec import RuleSet
    from exchange.metrics import Metrics
    from exchange.read.sandbox import Readers
    from exchange.view.refresh import ViewState

CENTRE = "_centre"
DEFAULTS = Path(__file__).parent / "defaults"
# The cyclic garbage collector's thresholds in the processes that judge files (the CLI, serve,
# a reading worker): a file's rows make containers by the million (cells, chunks, values), and at
# the default 700 allocations a young collection ran every few rows and an old one, walking every
# object the libraries hold, every few thousand. About a sixth of `validate`'s CPU on 100,000
# rows (bench_process.py); what is freed stays freed by reference counting.
COLLECTOR_THRESHOLDS = (50_000, 20, 50)


@dataclass(frozen=True)
class Limits:
    max_file_mb: int = 100
    max_rows: int = 500_000
    max_columns: int = 200
    max_uncompressed_mb: int = 1024
    max_compression_ratio: int = 200
    max_zip_members: int = 2000
    # An ID photo is printed at 236x295. max_photo_pixels: the most decoded at once (a 25-MP
    # image is 75 MB of RGB, which the reading worker's memory holds with room); a camera's
    # baseline JPEG is decoded at a DCT scale (a 48-MP one as 0.8 MP), anything else larger is
    # photo.too_large. bomb_photo_pixels: an image declaring more is no photo at all (the
    # largest phone sensor has 200 MP) but a pixel bomb, and refuses its file (file.hostile).
    max_photo_pixels: int = 25_000_000
    bomb_photo_pixels: int = 250_000_000
    max_photos_per_zip: int = 5000
    # The sandbox and the cheap checks in front of it (issue 15, exchange.read.sandbox).
    max_shared_strings_mb: int = 40
    max_line_kb: int = 64
    reader_workers: int = 2
    reader_memory_mb: int = 256
    read_seconds: int = 60

    # A reading worker imports its libraries (Pillow, calamine) within reader_memory_mb: below
    # this every file failed as "reader crashed", the unit told its file was corrupt.
    MIN_READER_MEMORY_MB: ClassVar[int] = 64
    MIN_READ_SECONDS: ClassVar[int] = 2

    def validate(self, where: str) -> None:
        if self.reader_memory_mb < self.MIN_READER_MEMORY_MB:
            raise ConfigError(f"{where}.reader_memory_mb: at least {self.MIN_READER_MEMORY_MB} "
                              f"(a reading worker needs that much to start), got "
                              f"{self.reader_memory_mb}")
        if self.read_seconds < self.MIN_READ_SECONDS:
            raise ConfigError(f"{where}.read_seconds: at least {self.MIN_READ_SECONDS}, got "
                              f"{self.read_seconds}")
        if self.reader_workers > 64:
            raise ConfigError(f"{where}.reader_workers: at most 64, got {self.reader_workers}")
        if self.bomb_photo_pixels < self.max_photo_pixels:
            raise ConfigError(f"{where}.bomb_photo_pixels: must not be below max_photo_pixels "
                              f"({self.max_photo_pixels}), got {self.bomb_photo_pixels}")


@dataclass(frozen=True)
class Intake:
    settle_seconds: float = 2.0
    lease_seconds: int = 600
    chunk_rows: int = 5000
    receipt_row_lines: int = 500


@dataclass(frozen=True)
class Sftp:
    host: str = "127.0.0.1"
    port: int = 2222
    host_key: str = "var/ssh_host_ed25519_key"
    max_failures: int = 5
    lockout_minutes: int = 15
    # The door (issue 15.5): what an unauthenticated stranger can hold, per node.
    max_password_checks: int = 2          # argon2 verifications at once; the rest wait their turn
    max_unauthenticated: int = 256        # connections not yet logged in, in total
    max_unauthenticated_per_address: int = 8
    login_grace_seconds: int = 30         # a connection not logged in by then is closed
    max_connections: int = 256            # logged-in connections
    # Nor from inside: one login (a sync tool set to 300 transfers, a leaked password) cannot
    # hold every unit's connections, nor one connection a thread per session without end.
    max_connections_per_login: int = 16
    max_sessions_per_connection: int = 10    # OpenSSH's MaxSessions
    max_open_files_per_login: int = 64       # each a descriptor of serve's one process
    # Room: what one login's inbox may hold waiting (uploads in flight included), and the free
    # space below which no upload is taken, kept for the database, receipts and the archive.
    max_inbox_mb: int = 2048
    min_free_mb: int = 1024

    def validate(self, where: str) -> None:
        if self.port > 65535:
            raise ConfigError(f"{where}.port: expected 1-65535, got {self.port}")
        for name in ("max_inbox_mb", "min_free_mb"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{where}.{name}: 0 (no limit) or more, got {getattr(self, name)}")
        if self.max_unauthenticated_per_address > self.max_unauthenticated:
            raise ConfigError(f"{where}.max_unauthenticated_per_address: must not exceed "
                              f"max_unauthenticated ({self.max_unauthenticated}), got "
                              f"{self.max_unauthenticated_per_address}")
        if not 1 <= self.max_connections_per_login <= self.max_connections:
            raise ConfigError(f"{where}.max_connections_per_login: from 1 to max_connections "
                              f"({self.max_connections}), got {self.max_connections_per_login}")
        if self.max_open_files_per_login < 1:
            raise ConfigError(f"{where}.max_open_files_per_login: at least 1, got "
                              f"{self.max_open_files_per_login}")
        if self.max_sessions_per_connection < 1:
            raise ConfigError(f"{where}.max_sessions_per_connection: at least 1, got "
                              f"{self.max_sessions_per_connection}")
        if self.max_password_checks > 64:
            raise ConfigError(f"{where}.max_password_checks: at most 64 (each check holds "
                              f"19 MiB), got {self.max_password_checks}")


@dataclass(frozen=True)
class Accounts:
    """Passwords a unit sets itself (issue 18.1)."""
    # The initial password of a new or reset login: a fixed value, or "last6" for the last six
    # characters of the login (a unit's login is its code, as Nanping derives it).
    default_password: str = "123456"
    password_expiry_days: int = 0         # 0: passwords do not expire
    min_password_length: int = 8
    ZERO_ALLOWED: ClassVar[frozenset[str]] = frozenset({"password_expiry_days"})

    def validate(self, where: str) -> None:
        if not self.default_password.strip():
            raise ConfigError(f"{where}.default_password: must not be empty")
        if self.min_password_length < 6:
            raise ConfigError(f"{where}.min_password_length: at least 6, got "
                              f"{self.min_password_length}")


@dataclass(frozen=True)
class View:
    """The unit's view (issue 16): outbox/<unit>/status/, rewritten when the unit's data change."""
    result_days: int = 30            # 审核结果 lists the declarations decided in the last n days
    debounce_seconds: float = 2.0    # a burst of changes of one unit: one rewrite, this long after
    workers: int = 2                 # units rewritten at once by `serve` (a thread pool)

    def validate(self, where: str) -> None:
        if self.workers > 32:
            raise ConfigError(f"{where}.workers: at most 32, got {self.workers}")


@dataclass(frozen=True)
class Schedule:
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class Archive:
    retention_days: int = 730
    job_history_days: int = 90       # finished job_runs kept (the rescan adds ~480 a day)


@dataclass(frozen=True)
class Monitoring:
    """Prometheus metrics and health endpoints over HTTP; off until a port is set."""
    host: str = "127.0.0.1"
    port: int = 0                    # 0: no endpoint (a port set in config.toml must be positive)


LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Logging:
    format: str = "text"             # "json": one JSON object per line (exchange.logs)


@dataclass(frozen=True)
class Settings:
    name: str = ""
    database_url: str = "sqlite:///var/exchange.db"
    limits: Limits = field(default_factory=Limits)
    intake: Intake = field(default_factory=Intake)
    sftp: Sftp = field(default_factory=Sftp)
    schedule: Schedule = field(default_factory=Schedule)
    archive: Archive = field(default_factory=Archive)
    monitoring: Monitoring = field(default_factory=Monitoring)
    logging: Logging = field(default_factory=Logging)
    accounts: Accounts = field(default_factory=Accounts)
    view: View = field(default_factory=View)


def _section(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {}
    for key, value in data.items():
        expected = type(getattr(cls(), key))
        if expected is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(f"{where}.{key}: expected {expected.__name__}, got {value!r}")
        zero_ok = key in getattr(cls, "ZERO_ALLOWED", ())
        if isinstance(value, (int, float)) and (value < 0 if zero_ok else value <= 0):
            raise ConfigError(f"{where}.{key}: must be "
                              f"{'zero or more' if zero_ok else 'positive'}, got {value!r}")
        values[key] = value
    section = cls(**values)
    validate = getattr(section, "validate", None)
    if validate is not None:
        validate(where)
    return section


def load_settings(path: Path) -> Settings:
    """Parse and validate config.toml; every error names the file and the key."""
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    sections = {"instance", "database", "limits", "intake", "sftp", "schedule", "archive",
                "monitoring", "logging", "accounts", "view"}
    unknown = set(raw) - sections
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    where = path.name
    logging_ = _section(Logging, raw.get("logging", {}), f"{where} [logging]")
    if logging_.format not in LOG_FORMATS:
        raise ConfigError(f"{where} [logging].format: expected one of {', '.join(LOG_FORMATS)}, "
                          f"got {logging_.format!r}")
    monitoring = _section(Monitoring, raw.get("monitoring", {}), f"{where} [monitoring]")
    if monitoring.port > 65535:
        raise ConfigError(f"{where} [monitoring].port: expected 1-65535, got {monitoring.port}")
    return Settings(
        name=str(raw.get("instance", {}).get("name", Settings.name)),
        database_url=str(raw.get("database", {}).get("url", Settings.database_url)),
        limits=_section(Limits, raw.get("limits", {}), f"{where} [limits]"),
        intake=_section(Intake, raw.get("intake", {}), f"{where} [intake]"),
        sftp=_section(Sftp, raw.get("sftp", {}), f"{where} [sftp]"),
        schedule=_section(Schedule, raw.get("schedule", {}), f"{where} [schedule]"),
        archive=_section(Archive, raw.get("archive", {}), f"{where} [archive]"),
        monitoring=monitoring,
        logging=logging_,
        accounts=_section(Accounts, raw.get("accounts", {}), f"{where} [accounts]"),
        view=_section(View, raw.get("view", {}), f"{where} [view]"),
    )


ZONEINFO = Path("/usr/share/zoneinfo")


def use_local_time(zone: str) -> None:
    """Make the process's local time the centre's ([schedule].timezone): every time the product
    writes (a receipt's 接收时间, file and batch names, the status book, audit entries) and
    every date a rule compares (the month of a change, this year's dues) is read from the local
    clock, and the schedule's jobs run in this zone. On a machine kept in UTC (a container's
    default) a receipt said 接收时间 16:42 and, in the same text, the next submission at 02:00
    Beijing time, eight hours apart; a file dropped at 00:30 on the 1st was judged in the
    month before. Set once per process, before any thread starts (tzset is not thread-safe);
    the reading workers inherit it. An unknown zone is left to the schedule's own check."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if os.environ.get("TZ") == zone:
        return
    try:
        info = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return
    # Without the system's zone files (a slim image) the C library would take the name for
    # UTC: say the zone's offset now instead (exact where, as in China, the zone has no DST).
    spelled = zone if (ZONEINFO / zone).is_file() else _posix_zone(datetime.now(info))
    if os.environ.get("TZ") != spelled:
        os.environ["TZ"] = spelled
        time.tzset()


def _posix_zone(now: "datetime") -> str:
    """A POSIX TZ string of a moment's name and offset: east of UTC is negative there."""
    offset = now.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    hours, rest = divmod(abs(minutes), 60)
    return f"<{now.tzname() or 'LT'}>{'-' if minutes > 0 else '+'}{hours:02d}:{rest:02d}"


def folder_name(unit: str) -> str:
    """`unit` as the name of its inbox or outbox folder; a code that would name another folder
    (empty, "..", a path, a NUL) is refused, whatever let it into the database (a units file
    from before codes were checked: files were written outside the instance)."""
    if not unit or unit in (".", "..") or any(c in unit for c in "/\\\0"):
        raise ExchangeError(f"unit code {unit!r} cannot name a folder")
    return unit


class Instance:
    """One instance folder: config.toml, rules/, jobs/, inbox/, outbox/, var/."""

    def __init__(self, home: Path | str, settings: Settings | None = None) -> None:
        self.home = Path(home).resolve()
        self.settings = settings or load_settings(self.home / "config.toml")
        use_local_time(self.settings.schedule.timezone)

    @classmethod
    def locate(cls, home: str | None = None) -> "Instance":
        """--home, else EXCHANGE_HOME, else the current folder."""
        return cls(home or os.environ.get("EXCHANGE_HOME") or Path.cwd())

    # Folders -----------------------------------------------------------------
    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def var(self) -> Path:
        return self.home / "var"

    @property
    def rules_dir(self) -> Path:
        return self.home / "rules"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    def unit_inbox(self, unit: str) -> Path:
        return self.inbox / folder_name(unit)

    def unit_outbox(self, unit: str, part: str = "") -> Path:
        outbox = self.outbox / folder_name(unit)
        return outbox / part if part else outbox

    @property
    def processing(self) -> Path:
        return self.var / "processing"

    @property
    def archive(self) -> Path:
        return self.var / "archive"

    @property
    def quarantine(self) -> Path:
        return self.var / "quarantine"

    @property
    def database_url(self) -> str:
        url = self.settings.database_url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                return "sqlite:///" + str(self.home / rel)
        return url

    def path(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.home / p

    @cached_property
    def metrics(self) -> "Metrics":
        """This process's counters for this instance (exchange.metrics); each node its own."""
        from exchange.metrics import Metrics

        return Metrics()

    @cached_property
    def rules(self) -> "RuleSet":
        from exchange.kinds.load import load_rules

        return load_rules(self.rules_dir)

    @cached_property
    def readers(self) -> "Readers":
        """The sandboxed workers this instance's untrusted files are read in (started as needed)."""
        from exchange.read.sandbox import Readers

        return Readers(self.settings.limits, lambda: self.metrics)

    @cached_property
    def view(self) -> "ViewState":
        """Which units' outbox status must be rewritten (exchange.view.refresh)."""
        from exchange.view.refresh import ViewState

        return ViewState()

    def changed(self, units: Iterable[str] | None) -> None:
        """The declarations or records of `units` (None: every unit) changed: their status and
        people workbooks are rewritten (by serve's Refresher, else at the end of the command)."""
        self.view.changed(units)

    def ensure_folders(self) -> None:
        for d in (self.inbox / CENTRE, self.outbox / CENTRE, self.processing, self.archive,
                  self.quarantine, self.var / "logs"):
            d.mkdir(parents=True, exist_ok=True)


def init_instance(home: Path) -> Instance:
    """Create a fresh instance folder with the default config, rules and jobs."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("config.toml", "rules", "jobs"):
        src, dst = DEFAULTS / name, home / name
        if dst.exists():
            continue
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    instance = Instance(home)
    instance.ensure_folders()
    return instance
