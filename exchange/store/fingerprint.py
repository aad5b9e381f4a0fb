"""The fingerprint of a declaration: the same kind, unit and normalised values give the same
text however the clerk spelt them. It is stored (declarations.fingerprint) and compared with
what later files send, so its text must never change (tests/unit pin it)."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable


def _fingerprint_encoder() -> Callable[[Any], str]:
    """JSONEncoder(ensure_ascii=False, default=str).encode: the text fingerprints are made of.

    encode() builds its C encoder anew at every call, which is 40% of a fingerprint; the C
    encoder is built once here where the interpreter has one (values never refer to
    themselves, so no cycle check)."""
    from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]

    if c_make_encoder is None or c_encode_basestring is None:
        return json.JSONEncoder(ensure_ascii=False, default=str).encode
    parts = c_make_encoder(None, str, c_encode_basestring, None, ": ", ", ", False, False, True)
    return lambda body: "".join(parts(body, 0))


_fingerprint_text = _fingerprint_encoder()


def fingerprint(kind: str, unit: str, values: dict[str, Any]) -> str:
    """Same kind, unit and normalised values: the same declaration, however it was spelt.

    The text hashed is the JSON of [kind, unit, [[field, value], ...]] over the non-empty values
    sorted by field; stored fingerprints depend on it never changing."""
    body = _fingerprint_text(
        [kind, unit, sorted((k, v) for k, v in values.items() if v is not None and v != "")])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


__all__ = ["fingerprint"]
