"""Job functions by name. A job is `fn(instance, db, **options) -> str` (a one-line outcome).

Modules that define jobs register them with @job("name"); JOB_MODULES lists those modules so
that the registry is complete however the package was entered.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

JobFn = Callable[..., str]
JOBS: dict[str, JobFn] = {}

# Modules whose import registers jobs. Add yours here.
JOB_MODULES = ("exchange.schedule.jobs", "exchange.review.jobs", "exchange.view.refresh")


def job(name: str) -> Callable[[JobFn], JobFn]:
    def register(fn: JobFn) -> JobFn:
        JOBS[name] = fn
        return fn
    return register


def all_jobs() -> dict[str, JobFn]:
    for module in JOB_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return JOBS


__all__ = ["job", "all_jobs", "JOBS", "JOB_MODULES", "Any"]
