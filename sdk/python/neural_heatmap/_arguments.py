"""Checks of the arguments the SDK turns into requests, before any call is made.

A wrong shape would otherwise surface as whatever the conversion happened to
raise (protobuf's ``Value out of range: -1``, a bare ``KeyError: 'min_x'``); each
check here raises :class:`InvalidParameterError` naming the parameter and the
shape it takes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from neural_heatmap._errors import InvalidParameterError

__all__ = ["count", "float_pair", "named_numbers", "number"]

UINT32_MAX = 2**32 - 1
"""The largest count a request's ``uint32`` field holds."""


def count(parameter: str, value: Any, *, low: int = 0, high: int = UINT32_MAX) -> int:
    """An integer in ``[low, high]`` (``bool`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterError(parameter, f"an integer from {low} to {high}", value)
    return value


def number(parameter: str, value: Any, *, infinite: bool = False) -> float:
    """A real number: finite, or with ``infinite`` also +-inf (never NaN)."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value)
            or not (infinite or math.isfinite(value))):
        raise InvalidParameterError(parameter, "a number" if infinite else "a finite number",
                                    value)
    return float(value)


def float_pair(parameter: str, value: Any, keys: tuple[str, str], *,
               infinite: bool = False) -> tuple[float, float]:
    """``(low, high)`` from a 2-sequence or a mapping with exactly ``keys`` (``infinite``:
    open ends as +-inf allowed, as ``Filter.time_range`` has them). Only the shape is
    checked here: value rules such as low <= high are the server's, checked once there."""
    shape = f"[{keys[0]}, {keys[1]}] or {{'{keys[0]}': .., '{keys[1]}': ..}}"
    if isinstance(value, Mapping):
        if set(value) != set(keys):
            raise InvalidParameterError(parameter, shape, value)
        items: Sequence[Any] = [value[keys[0]], value[keys[1]]]
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        items = value
    else:
        raise InvalidParameterError(parameter, shape, value)
    low, high = (number(parameter, v, infinite=infinite) for v in items)
    return low, high


def named_numbers(parameter: str, value: Any, keys: Sequence[str], *,
                  ordered: bool = True) -> dict[str, float]:
    """A mapping with exactly ``keys`` (or, with ``ordered``, a sequence of as many
    numbers in that order)."""
    shape = "{" + ", ".join(f"'{k}': number" for k in keys) + "}"
    shape += f" or {len(keys)} numbers in that order" if ordered else ""
    if isinstance(value, Mapping):
        if set(value) != set(keys):
            raise InvalidParameterError(parameter, shape, value)
        return {k: number(f"{parameter}[{k!r}]", value[k]) for k in keys}
    if (ordered and isinstance(value, Sequence) and not isinstance(value, str)
            and len(value) == len(keys)):
        return {k: number(f"{parameter}[{k!r}]", v) for k, v in zip(keys, value, strict=True)}
    raise InvalidParameterError(parameter, shape, value)
