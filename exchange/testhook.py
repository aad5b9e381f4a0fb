"""A test-only way to make the process that judges a chosen file die there (issue 15 item 2).

`EXCHANGE_TEST_DIE_ON=<marker>[:<SIGNAL>]`: a process about to read a file whose name contains
<marker> ends itself with SIGNAL (KILL by default; ABRT is what a native reader's abort() sends),
inside the import's open transaction, as a reader that crashes the node would. The tests of
poison files (tests/flows/test_poison_files.py) set it on a `serve` subprocess; unset, as
everywhere else, it costs one environment look-up per file and does nothing.
"""
from __future__ import annotations

import os
import signal

ENV = "EXCHANGE_TEST_DIE_ON"


def die_if_marked(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    marker, _, how = spec.partition(":")
    if not marker or marker not in name:
        return
    how = (how or "KILL").upper().removeprefix("SIG")
    if how == "ABRT":
        os.abort()
    os.kill(os.getpid(), signal.Signals[f"SIG{how}"])
