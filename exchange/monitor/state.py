"""What waits where, read from the folders: files in each inbox, files claimed in var/processing.

Cheap enough to run at every scrape (one directory listing per inbox folder, a stat per file);
arrival is the file's ctime, which a client cannot set (WinSCP and `sftp -p` keep the mtime of
the original) and which the last write or rename into the inbox sets.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exchange.config import CENTRE, Instance
from exchange.names import ignored
from exchange.work import SUB_PREFIX


@dataclass(frozen=True)
class Waiting:
    """The files waiting in one inbox folder: `inbox/<unit>`, `inbox/<unit>/@<login>` or
    `inbox/_centre`, named here by its path under inbox/."""
    folder: str
    count: int
    oldest_name: str | None
    oldest_at: float | None          # epoch seconds

    def as_dict(self) -> dict[str, object]:
        return {"folder": self.folder, "count": self.count, "oldest": self.oldest_name,
                "oldest_at": _iso(self.oldest_at)}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts))


def _files(folder: str) -> Iterator[tuple[float, str]]:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if ignored(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                yield entry.stat(follow_symlinks=False).st_ctime, entry.name
        except FileNotFoundError:       # taken while we looked
            continue


def _folder(path: str, name: str) -> Waiting:
    count, oldest = 0, None
    for at, file_name in _files(path):
        count += 1
        if oldest is None or at < oldest[0]:
            oldest = (at, file_name)
    return Waiting(name, count, oldest[1] if oldest else None, oldest[0] if oldest else None)


def waiting(instance: Instance) -> list[Waiting]:
    """Every inbox folder that holds a file, by folder name."""
    found = []
    try:
        units = sorted(e.name for e in os.scandir(instance.inbox)
                       if e.is_dir() and not e.name.startswith("."))
    except FileNotFoundError:
        return []
    for unit in units:
        if unit.startswith("_") and unit != CENTRE:
            continue
        base = os.path.join(instance.inbox, unit)
        folders = [(base, unit)]
        if unit != CENTRE:
            folders += [(os.path.join(base, e.name), f"{unit}/{e.name}") for e in os.scandir(base)
                        if e.name.startswith(SUB_PREFIX) and e.is_dir()]
        for path, name in folders:
            w = _folder(path, name)
            if w.count:
                found.append(w)
    return found


def oldest(folders: Iterable[Waiting]) -> Waiting | None:
    dated = [w for w in folders if w.oldest_at is not None]
    return min(dated, key=lambda w: w.oldest_at or 0.0) if dated else None


def in_processing(instance: Instance) -> int:
    """Files claimed in var/processing, by every node (the folder is shared)."""
    return sum(1 for _ in _files(str(instance.processing)))


class StateCollector(Collector):
    """Gauges read at scrape time. The inboxes and var/processing are shared: every node reports
    the same values, so aggregate them across nodes with max(), not sum()."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance

    def collect(self) -> Iterator[GaugeMetricFamily]:
        folders = waiting(self.instance)
        files = GaugeMetricFamily("exchange_files_waiting", "Files waiting in the inboxes (shared: "
                                  "the same on every node), by inbox (unit, centre).",
                                  labels=["inbox"])
        files.add_metric(["unit"], sum(w.count for w in folders if w.folder != CENTRE))
        files.add_metric(["centre"], sum(w.count for w in folders if w.folder == CENTRE))
        yield files
        first = oldest(folders)
        age = GaugeMetricFamily("exchange_files_waiting_oldest_seconds", "Age of the oldest "
                                "file waiting in any inbox (0 when none waits).")
        age.add_metric([], max(0.0, time.time() - first.oldest_at)
                       if first and first.oldest_at else 0.0)
        yield age
        claimed = GaugeMetricFamily("exchange_processing_folder_files", "Files claimed in "
                                    "var/processing by any node (shared), not yet placed.")
        claimed.add_metric([], in_processing(self.instance))
        yield claimed


__all__ = ["Waiting", "waiting", "oldest", "in_processing", "StateCollector"]
