"""Python children of this process (the reading workers, the error-book helper, a file judged
alone) run this process's own `exchange` package, whatever folder the service runs in.

`python -c ...` and `python -m ...` put the current folder first on sys.path: a service run
from a folder holding another copy of the package (an instance made from an older checkout,
the repository root itself) had its reading workers import that copy, and when the two spoke
different protocols every file was refused as unreadable. `-P` (Python 3.11) leaves the
current folder out, and PYTHONPATH names the folder this package was imported from.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def python_argv(*args: str) -> list[str]:
    """This interpreter with `args` (`-c CODE ...` or `-m MODULE ...`), without the current
    folder on its path."""
    return [sys.executable, "-P", *args]


def python_env(**extra: str) -> dict[str, str]:
    """This process's environment and `extra`, with this package's folder first on PYTHONPATH."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def stop_child(process: subprocess.Popen[Any], channel: Any, grace: float) -> None:
    """Close the channel to a child (one waiting for input sees its end and leaves, one
    writing fails) and reap it; kill it if it has not ended within `grace` seconds."""
    channel.close()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


__all__ = ["PACKAGE_ROOT", "python_argv", "python_env", "stop_child"]
