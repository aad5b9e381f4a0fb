"""报盘交换 · Declaration Exchange: batch file exchange for medical-insurance declarations."""
from exchange.config import Instance
from exchange.pipeline import process_file, validate_file

__all__ = ["Instance", "process_file", "validate_file"]
