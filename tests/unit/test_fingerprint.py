"""Fingerprints are stored with every declaration: the text they hash must never change."""
from __future__ import annotations

import hashlib
import json
from datetime import date

from exchange.store.imports import fingerprint

VALUES = {"id_number": "320602198001012473", "name": "张三", "sex": "1", "birth_date": None,
          "address": "", "wage": 5000, "insurances": ("310", "510"), "note": 'a"b\\c\n'}


def test_fingerprint_is_the_sha256_of_the_sorted_non_empty_values_as_json() -> None:
    body = json.dumps(["employee_add", "1001", [["id_number", "320602198001012473"],
                                                ["insurances", ["310", "510"]], ["name", "张三"],
                                                ["note", 'a"b\\c\n'], ["sex", "1"], ["wage", 5000]]],
                      ensure_ascii=False)
    assert fingerprint("employee_add", "1001", VALUES) == hashlib.sha256(body.encode()).hexdigest()
    # the value stored by the first release, for the same row
    assert fingerprint("employee_add", "1001", VALUES) == \
        "d6084b69c6ed79dd0eede5771fffae675b064e295a153421c9b1ad82151655f8"


def test_fingerprint_ignores_spelling_of_empties_and_order_but_not_values() -> None:
    same = dict(reversed(list(VALUES.items())), work_date="", phone=None)
    assert fingerprint("employee_add", "1001", same) == fingerprint("employee_add", "1001", VALUES)
    assert fingerprint("employee_add", "1002", VALUES) != fingerprint("employee_add", "1001", VALUES)
    assert fingerprint("employee_add", "1001", {**VALUES, "wage": 5001}) != \
        fingerprint("employee_add", "1001", VALUES)
    # values JSON cannot hold (a date) are written as their text, as before
    assert fingerprint("k", "u", {"d": date(2026, 1, 2)}) == hashlib.sha256(
        '["k", "u", [["d", "2026-01-02"]]]'.encode()).hexdigest()
