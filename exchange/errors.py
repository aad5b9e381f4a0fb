"""Exception hierarchy: one base, file refusals carry a stable code (DESIGN §9)."""
from __future__ import annotations

import functools
import logging
from operator import attrgetter
from typing import Any, Callable, Iterable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("exchange.jobs")
UNIT_OF = attrgetter("unit_code")     # each_unit's `unit` for batches, reviews and the like


class ExchangeError(Exception):
    """Base of every error the package raises on purpose."""


class ConfigError(ExchangeError):
    """config.toml, rules/ or jobs/ are inconsistent; the message names the file and key."""


class FileRejected(ExchangeError):
    """The whole file is refused: no row is imported. `code` is one of codes.FILE_*."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params

    def __str__(self) -> str:
        detail = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.code}({detail})" if detail else self.code

    def __reduce__(self) -> tuple[Any, ...]:       # pickled from a reading worker (read.sandbox)
        return _file_rejected, (self.code, self.params)


def _file_rejected(code: str, params: dict[str, Any]) -> FileRejected:
    return FileRejected(code, **params)


class DatabaseBusy(ExchangeError):
    """The database stayed locked or unreachable while a file was worked on. Not the file's
    fault: it stays claimed in var/processing, with no receipt, and is judged again from the
    start by the next `exchange process` or the service's recovery (intake.scan.recover)."""


class ErrorBookFailed(ExchangeError):
    """The error workbook's helper process could not write the book (its own error, or it
    died). Not the file's fault: the pipeline judges the file again with the book written
    in-process."""


class NotFound(ExchangeError):
    """A unit, batch or declaration named by an operator does not exist."""


class UnitsFailed(ExchangeError):
    """A job's work for some units failed (each logged with its traceback); every other unit's
    was done. Raised at the end, so the job run is recorded as failed, with what was done and
    the units that failed."""

    def __init__(self, done: str, failed: list[str]) -> None:
        names = ", ".join(dict.fromkeys(failed))
        super().__init__(f"{done}; {len(set(failed))} unit(s) failed: {names[:500]} (see the log)")
        self.failed = failed


def outcome(done: str, failed: list[str]) -> str:
    """A job's outcome `done`, or UnitsFailed when some units' part failed."""
    if failed:
        raise UnitsFailed(done, failed)
    return done


def hand_on(done: str, missed: list[str], failed: list[str] | None) -> None:
    """A step of several `each_unit` passes ends: its `missed` units go to the caller's `failed`
    list, or, when the caller gave none, UnitsFailed names them."""
    if failed is None:
        outcome(done, missed)
    else:
        failed += missed


def each_unit(items: Iterable[T], work: Callable[[T], R], *, what: str,
              unit: Callable[[T], str] = str, failed: list[str] | None = None) -> list[R]:
    """`work(item)` for every item (a unit, a batch, a photo review): one unit's failure (a
    record that cannot name a folder, an unwritable outbox, a value a writer chokes on) is
    logged and the others go on. The failed units are added to `failed` when it is given, else
    UnitsFailed at the end names them. Each item's work has its own database session (one a
    failure rolled back cannot serve the next)."""
    results: list[R] = []
    missed: list[str] = [] if failed is None else failed
    for item in items:
        try:
            results.append(work(item))
        except Exception:
            log.exception("unit=%s file=-: %s failed", unit(item), what)
            missed.append(unit(item))
    if failed is None:
        outcome(f"{what}: {len(results)} done", missed)
    return results


class EngineFailed(RuntimeError):
    """A compiled library failed inside (a Rust panic in polars): an internal error of the file
    being judged, refused by the per-file guard like any other, never the service's end."""


def contained(fn: F) -> F:
    """`fn` with a library's panic turned into EngineFailed. pyo3 raises a Rust panic as
    PanicException, a BaseException: `except Exception` in the per-file guards would let it
    through, and one file would stop the thread or the service that judged it."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:      # noqa: BLE001 - only a panic is converted
            if type(exc).__name__ != "PanicException":
                raise
            raise EngineFailed(f"{fn.__qualname__}: {exc}") from exc
    return wrapper  # type: ignore[return-value]
