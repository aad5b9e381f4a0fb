"""The cyclic garbage collector, told that a large file's rows are coming.

Judging a 100,000-row file makes tens of millions of short-lived objects (cells, values, dicts
of a row), nearly all freed by reference counting. Left alone, CPython runs a young collection
every 700 allocations; each finds the chunk being judged alive, moves it to an older generation,
and soon a full collection walks every object alive, including the few hundred thousand of the
imported libraries (SQLAlchemy, openpyxl, ...). Measured: a third of `validate`'s CPU time on
100,000 rows, and 4 s of 20 on 500,000.

`many_objects()` sets aside what is alive when the work starts (gc.freeze: never walked again
until it ends) and stops automatic collections; the caller calls `tidy()` between chunks, when
the last chunk's objects are gone, to collect what cycles they left in the young generations.
Nested and concurrent uses (the service's workers) share one setting; the last to leave
restores the collector as it was.

Only for large files: what is set aside includes garbage not yet collected, and a service that
froze the heap for each of 1,000 small files grew to 500 MB (bench_small_files.py).
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_users = 0
_was_enabled = True


@contextmanager
def many_objects() -> Iterator[None]:
    global _users, _was_enabled
    with _lock:
        if _users == 0:
            _was_enabled = gc.isenabled()
            gc.freeze()
            gc.disable()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                if _was_enabled:
                    gc.enable()
                gc.unfreeze()


def tidy() -> None:
    """Between chunks: collect the cycles the last one left (the young generations only)."""
    gc.collect(1)
