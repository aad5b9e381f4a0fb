"""Names intake leaves alone until they are renamed: office locks, OS litter, partial uploads."""
from __future__ import annotations

from pathlib import PurePath

LITTER = {"thumbs.db", ".ds_store", "desktop.ini"}
PARTIAL_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload", ".partial", ".uploading")


def ignored(name: str | PurePath) -> bool:
    base = PurePath(name).name
    lower = base.lower()
    return (base.startswith("~$") or base.startswith(".") or lower in LITTER
            or lower.endswith(PARTIAL_SUFFIXES))
