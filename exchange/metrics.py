"""This node's counters in Prometheus form: one registry per Instance, no module-level state.

Counters count what this process did (files it judged, logins it checked, jobs it ran), so
several nodes sharing one database never count an event twice: Prometheus scrapes each node and
sums. The few values read at scrape time (files waiting in the shared inboxes) are the same on
every node; take max(), not sum(), across nodes. The instrumented code calls one method per
event at an existing seam (pipeline.process_claim, the SFTP server, the scheduler's job call).
"""
from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

    from exchange.results import FileResult

F = TypeVar("F", bound=Callable[..., Any])

# From a file's claim to its receipt: most files take well under a second, a 500,000-row
# import a few minutes.
RECEIPT_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
JOB_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


def _kind(kind: str | None) -> str:
    return kind or "unknown"


# attribute, type, name, help, labels. Counters get `_total` on the wire.
METRICS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    # Files
    ("received", "counter", "exchange_files_received", "Unit files this node claimed (took "
     "from an inbox, or took over from a stopped node).", ()),
    ("processed", "counter", "exchange_files_processed", "Unit files this node finished, by "
     "kind and status (accepted, partial, rejected, quarantined).", ("kind", "status")),
    ("quarantined", "counter", "exchange_files_quarantined", "Unit files this node "
     "quarantined, by kind and file code.", ("kind", "code")),
    ("rows", "counter", "exchange_rows", "Rows of the files this node finished, by kind and "
     "outcome (accepted, failed, duplicate).", ("kind", "outcome")),
    ("receipt_seconds", "histogram", "exchange_file_receipt_seconds", "From a file's claim "
     "(files.received_at) to its receipt.", ()),
    ("processing", "gauge", "exchange_files_processing", "Unit files this node is judging now.",
     ()),
    ("sftp_uploads", "counter", "exchange_sftp_uploads", "Files units finished uploading over "
     "this node's SFTP server.", ()),
    ("sftp_upload_bytes", "counter", "exchange_sftp_upload_bytes", "Bytes of those uploads.", ()),
    # Sandboxed readers (exchange.read's worker processes)
    ("worker_restarts", "counter", "exchange_reader_worker_restarts", "Sandboxed reader "
     "processes started again after one ended, by reason.", ("reason",)),
    ("sandbox_kills", "counter", "exchange_reader_sandbox_kills", "Sandboxed reader processes "
     "ended by a limit (memory, time, signal), by reason.", ("reason",)),
    # SFTP
    ("sftp_sessions", "counter", "exchange_sftp_sessions", "SFTP sessions opened on this node.",
     ()),
    ("sftp_open", "gauge", "exchange_sftp_sessions_open", "SFTP sessions open now.", ()),
    ("sftp_logins", "counter", "exchange_sftp_logins", "SFTP logins by method (password, "
     "publickey) and result (ok, failed).", ("method", "result")),
    ("sftp_lockouts", "counter", "exchange_sftp_lockouts", "Accounts this node locked after "
     "repeated wrong passwords.", ()),
    # Jobs and the database
    ("job_runs", "counter", "exchange_job_runs", "Scheduled job runs this node ran, by job and "
     "outcome (ok, failed).", ("job", "outcome")),
    ("job_seconds", "histogram", "exchange_job_run_seconds", "How long this node's job runs "
     "took, by job.", ("job",)),
    ("db_retries", "counter", "exchange_database_retries", "Work tried again because the "
     "database was busy or unreachable, by what was retried (file: a file judged again; "
     "folder: an inbox folder tried again).", ("what",)),
)
BUCKETS = {"receipt_seconds": RECEIPT_BUCKETS, "job_seconds": JOB_BUCKETS}


class Metrics:
    """The counters, gauges and histograms of one node (METRICS); `registry` is what /metrics
    serves.

    prometheus_client (about 40 ms of imports) is loaded when the first Metrics is made: by the
    first file processed or the service's start, never by `exchange validate`.
    """
    received: Counter
    processed: Counter
    quarantined: Counter
    rows: Counter
    receipt_seconds: Histogram
    processing: Gauge
    sftp_uploads: Counter
    sftp_upload_bytes: Counter
    worker_restarts: Counter
    sandbox_kills: Counter
    sftp_sessions: Counter
    sftp_open: Gauge
    sftp_logins: Counter
    sftp_lockouts: Counter
    job_runs: Counter
    job_seconds: Histogram
    db_retries: Counter

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

        self.registry = CollectorRegistry(auto_describe=True)
        self._collector_types: set[type] = set()
        self.info = Info("exchange_node", "The node serving these metrics.", registry=self.registry)
        types = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
        for attribute, kind, name, help_text, labels in METRICS:
            extra = {"buckets": BUCKETS[attribute]} if attribute in BUCKETS else {}
            setattr(self, attribute, types[kind](name, help_text, labels, registry=self.registry,
                                                 **extra))

    def register_once(self, collector: Any) -> None:
        """Add a scrape-time collector; a second one of the same class is ignored (two services
        on one instance in a test)."""
        if type(collector) not in self._collector_types:
            self._collector_types.add(type(collector))
            self.registry.register(collector)

    # Files ----------------------------------------------------------------------------------
    def file_finished(self, result: "FileResult") -> None:
        """One unit file judged and its receipt written."""
        kind = _kind(result.kind)
        self.processed.labels(kind, result.status).inc()
        if result.quarantined:
            code = result.file_error.code if result.file_error else "unknown"
            self.quarantined.labels(kind, code).inc()
        counts = result.counts
        for outcome in ("accepted", "failed", "duplicate"):
            n = getattr(counts, outcome)
            if n:
                self.rows.labels(kind, outcome).inc(n)
        received = result.received_at
        if received is not None:
            now = datetime.now(received.tzinfo)
            self.receipt_seconds.observe(max(0.0, (now - received).total_seconds()))

    def sftp_upload(self, size: int) -> None:
        self.sftp_uploads.inc()
        self.sftp_upload_bytes.inc(size)

    # Sandboxed readers: called by the sandbox's supervisor ------------------------------------
    def reader_restarted(self, reason: str) -> None:
        """A sandboxed reader process was started in place of one that ended early (`reason`,
        why that one ended: "memory", "time", "signal", "gave_up" (a panic or MemoryError it
        caught itself), "crash")."""
        self.worker_restarts.labels(reason).inc()

    def reader_killed(self, reason: str) -> None:
        """A sandboxed reader process was ended by a limit or from outside (`reason`: "memory",
        "time", "signal": the kernel's OOM killer, an abort, an operator)."""
        self.sandbox_kills.labels(reason).inc()

    # SFTP -----------------------------------------------------------------------------------
    def sftp_login(self, method: str, ok: bool) -> None:
        self.sftp_logins.labels(method, "ok" if ok else "failed").inc()

    def sftp_locked(self) -> None:
        self.sftp_lockouts.inc()

    def sftp_session(self, opened: bool) -> None:
        if opened:
            self.sftp_sessions.inc()
            self.sftp_open.inc()
        else:
            self.sftp_open.dec()

    # Jobs and the database --------------------------------------------------------------------
    @contextmanager
    def job_run(self, job: str) -> Iterator[None]:
        """Times the block and counts it by outcome: failed when it raises."""
        start = time.perf_counter()
        outcome = "failed"
        try:
            yield
            outcome = "ok"
        finally:
            self.job_seconds.labels(job).observe(time.perf_counter() - start)
            self.job_runs.labels(job, outcome).inc()

    def database_retry(self, what: str) -> None:
        self.db_retries.labels(what).inc()


def metered_claim(fn: F) -> F:
    """Wraps pipeline.process_claim(instance, db, work, ...): the claim counted as received and
    in processing, its result as finished (a DatabaseBusy leaves it unfinished, as it is)."""

    @functools.wraps(fn)
    def wrapper(instance: Any, *args: Any, **kwargs: Any) -> Any:
        metrics: Metrics = instance.metrics
        metrics.received.inc()
        with metrics.processing.track_inprogress():
            result = fn(instance, *args, **kwargs)
        metrics.file_finished(result)
        return result

    return wrapper  # type: ignore[return-value]


__all__ = ["Metrics", "metered_claim"]
