"""The cyclic garbage collector, told that a large file's rows are coming.

Judging a 100,000-row file makes tens of millions of short-lived objects (cells, values, dicts
of a row), nearly all freed by reference counting. CPython still runs a young collection every
700 allocations and, as survivors pile up, full collections that walk every object alive,
including the few hundred thousand of the imported libraries (SQLAlchemy, openpyxl, ...).
Measured on a 100,000-row file: a third of `validate`'s CPU time.

`many_objects()` sets aside what is alive when the work starts (gc.freeze: never walked again
until it ends) and makes young collections rarer. Nested and concurrent uses (the service's
workers) share one setting; the last to leave restores the collector as it was.

Only for large files: what is set aside includes garbage not yet collected, and a service that
froze the heap for each of 1,000 small files grew to 500 MB (bench_small_files.py).
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

YOUNG_THRESHOLD = 50_000         # allocations between young collections (CPython's default: 700)

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def many_objects() -> Iterator[None]:
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(YOUNG_THRESHOLD, _saved[0]), _saved[1], _saved[2])
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
