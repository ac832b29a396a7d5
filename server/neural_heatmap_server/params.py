"""Reading request parameters the same way from query strings and WebSocket data.

HTTP query parameters arrive as strings (``model_ids=a,b``), WebSocket
``data`` as JSON values (``["a", "b"]``). These helpers accept both so each
route's parameters are parsed once for both transports. An empty string is
"absent" for names and lists, and an error for numbers, booleans and choices
(it is none of their values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from neural_heatmap_contract.ids import BLANKS

from .errors import invalid


def opt_list(params: Mapping[str, Any], key: str) -> list[str] | None:
    """A comma list or JSON list of non-empty strings; None when absent or empty."""
    raw = params.get(key)
    if raw is None:
        return None
    if isinstance(raw, str):  # the blanks around items are dropped (contract ids.BLANKS)
        items = [p.strip(BLANKS) for p in raw.split(",") if p.strip(BLANKS)]
    elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        items = [p for p in raw if p]
    else:
        raise invalid(f"{key} must be a comma-separated list of names", field=key)
    return items or None


def opt_str(params: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string or None."""
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise invalid(f"{key} must be a string", field=key)
    return raw


def opt_float(params: Mapping[str, Any], key: str) -> float | None:
    """A finite number (or its decimal text) or None."""
    raw = params.get(key)
    if raw is None:
        return None
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError):
        raise invalid(f"{key} must be a number", field=key, value=str(raw)) from None
    if not math.isfinite(value):
        raise invalid(f"{key} must be finite", field=key)
    return value


def opt_int(params: Mapping[str, Any], key: str, low: int | None = None,
            high: int | None = None) -> int | None:
    """An integer within ``[low, high]`` (or its decimal text) or None."""
    raw = params.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise invalid(f"{key} must be an integer", field=key)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(f"{key} must be an integer", field=key, value=str(raw)) from None
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            bound = f"at least {low}"
        elif low is None:
            bound = f"at most {high}"
        else:
            bound = f"between {low} and {high}"
        raise invalid(f"{key} must be {bound}", field=key, value=value)
    return value


# The words a boolean query value may be, each as written, Titled or UPPER (not any mix: the
# OpenAPI document lists exactly these, so what it allows and what is accepted agree).
BOOL_WORDS: dict[str, bool] = {
    spelled: truth
    for words, truth in ((("true", "1", "yes"), True), (("false", "0", "no"), False))
    for word in words
    for spelled in (word, word.title(), word.upper())
}


def opt_bool(params: Mapping[str, Any], key: str) -> bool | None:
    """A boolean (JSON) or one of ``BOOL_WORDS`` (true/false/1/0/yes/no), or None."""
    raw = params.get(key)
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw in BOOL_WORDS:
        return BOOL_WORDS[raw]
    raise invalid(f"{key} must be true or false", field=key, value=str(raw)[:100])


def opt_choice(params: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices`` or None."""
    value = params.get(key)
    if value is not None and value not in choices:
        raise invalid(f"{key} must be one of {list(choices)}", field=key, value=str(value)[:100],
                      allowed=list(choices))
    return str(value) if value is not None else None
