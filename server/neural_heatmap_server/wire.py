"""JSON encoding for the wire: always valid JSON, numpy-aware.

NaN and Infinity are not JSON, and clients in other languages reject them, so
non-finite floats in answers become ``null``. The fast path serialises
directly and only walks the object when a non-finite value is present.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .errors import invalid


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return _finite(_default(value))
    return value


def dumps(value: Any) -> str:
    """Encode as strict JSON (non-finite floats become null)."""
    try:
        return json.dumps(value, allow_nan=False, default=_default, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False, default=_default,
                          separators=(",", ":"))


def loads(raw: bytes | str) -> Any:
    """Decode a JSON request; bare NaN/Infinity tokens are accepted (Python's json writes
    them). Malformed JSON or bytes that are not UTF-8 are a 400."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"malformed JSON: {exc}") from None


def finite_list(values: np.ndarray[Any, Any]) -> list[float | None]:
    """A float array as a list with non-finite entries as None."""
    finite = np.isfinite(values)
    if finite.all():
        plain: list[float | None] = values.tolist()
        return plain
    out = values.astype(object)
    out[~finite] = None
    result: list[float | None] = out.tolist()
    return result
