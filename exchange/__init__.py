"""报盘交换 · Declaration Exchange: batch file exchange for medical-insurance declarations."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exchange.config import Instance
    from exchange.intake.scan import process_file
    from exchange.pipeline import validate_file

__all__ = ["Instance", "process_file", "validate_file"]

# Public name -> the module defining it. Imported on first use (PEP 562): `import exchange.x`
# runs this file first, and the pipeline alone costs about 0.5 s of imports.
_HOMES = {"Instance": "exchange.config", "process_file": "exchange.intake.scan",
          "validate_file": "exchange.pipeline"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'exchange' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
