"""Small statistics helpers: percentiles, per-repetition summaries and paired ratios.

Every number the harness reports is a summary over *repetitions*: each
repetition yields one value per variant (a p50, a throughput, a wall time),
and the table shows the median of those values with their spread (p25..p75
and min..max). Ratios are computed per repetition from the two variants run
back to back (paired), then summarised the same way, which cancels much of
the drift a shared, noisy machine adds between repetitions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if len(values) == 0:
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, quartiles, extremes and count of per-repetition values (NaNs dropped)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return {"median": None, "p25": None, "p75": None, "min": None, "max": None,
                "n": 0, "values": []}
    return {
        "median": float(np.median(arr)),
        "p25": float(np.percentile(arr, 25)),
        "p75": float(np.percentile(arr, 75)),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": int(arr.size),
        "values": [float(v) for v in values if v is not None and math.isfinite(v)],
    }


def paired(a: Sequence[float], b: Sequence[float], op: str = "ratio") -> list[float]:
    """Per-repetition a/b (op="ratio") or a-b (op="diff"), skipping pairs with a gap."""
    out: list[float] = []
    for x, y in zip(a, b, strict=False):
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            continue
        if op == "ratio":
            if y == 0:
                continue
            out.append(x / y)
        else:
            out.append(x - y)
    return out


def alternate(variants: Sequence[str], rep: int) -> list[str]:
    """The order to run variants in repetition ``rep``: forwards on even, backwards on odd.

    Alternating cancels the first-runs-cold / last-runs-warm bias a fixed order has.
    """
    order = list(variants)
    return order if rep % 2 == 0 else order[::-1]
