"""Who this node is in claims, leases and job runs ("<host>-<pid>"), and whether a holder lives."""
from __future__ import annotations

import os
import socket

NODE_ENV = "EXCHANGE_NODE"


def node_host() -> str:
    """This machine's name in claims: $EXCHANGE_NODE when set (nodes in containers often get
    random host names), else the host name."""
    return os.environ.get(NODE_ENV) or socket.gethostname()


def node_name() -> str:
    """Who holds a claim or ran a job: "<host>-<pid>"."""
    return f"{node_host()}-{os.getpid()}"


def owner_alive(node: str | None) -> bool | None:
    """Whether the process that holds a claim still runs.

    None when that cannot be told from here: another host, or this very process (whose
    threads renew the leases of the files they are working on).
    """
    host, _, pid = (node or "").rpartition("-")
    if host != node_host() or not pid.isdigit() or int(pid) == os.getpid():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
