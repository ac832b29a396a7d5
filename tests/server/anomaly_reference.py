"""The anomaly rules of docs/server.md, written frame by frame with plain numpy.

Deliberately naive (a Python loop per frame, ``np.median`` on each baseline)
and independent of the server's code: tests compare what the server reports
with what the documentation says it should report. It holds the numbers the
documentation states (the severity table, 8 frames, 64 frames, 16 frames,
1.4826, ...), not the server's constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TABLE = {  # docs/server.md, "Severity table"
    "exploding": (50.0, 200.0, 1e3, 1e4),
    "dead_units": (0.25, 0.5, 0.75, 0.95),
    "saturation": (0.2, 0.4, 0.6, 0.9),
    "spike": (6.0, 10.0, 20.0, 50.0),
}
SEVERITIES = ("low", "medium", "high", "critical")
TYPE_ORDER = ("non_finite", "exploding", "dead_units", "saturation", "spike")


@dataclass(frozen=True)
class Expected:
    """One anomaly the documentation predicts."""

    step: int
    anomaly_type: str
    unit: int
    score: float
    severity: str
    suppressed: int


def severity(anomaly_type: str, score: float) -> str | None:
    """The documented severity of a score (None: below the first threshold)."""
    if anomaly_type == "non_finite":
        return "critical" if score > 0 else None
    found = None
    for name, threshold in zip(SEVERITIES, TABLE[anomaly_type], strict=True):
        if score >= threshold:
            found = name
    return found


def activities(frames: np.ndarray) -> np.ndarray:
    """Each frame's mean over its finite values (NaN when none is finite)."""
    out = np.full(len(frames), np.nan)
    for i, row in enumerate(frames.astype(np.float64)):
        finite = row[np.isfinite(row)]
        if finite.size:
            out[i] = finite.mean()
    return out


def spike_z(activity: np.ndarray, t: int) -> float | None:
    """Robust z of frame ``t`` against the finite activities of the 64 frames before it."""
    base = activity[max(0, t - 64):t]
    base = base[np.isfinite(base)]
    if base.size < 16 or not math.isfinite(activity[t]):
        return None
    median = float(np.median(base))
    mad = float(np.median(np.abs(base - median)))
    scale = max(1.4826 * mad, 1e-9, 1e-6 * abs(median))
    return min(abs(float(activity[t]) - median) / scale, 1e12)


def _frame_findings(frames: np.ndarray, activity: np.ndarray, t: int
                    ) -> list[tuple[str, int, float]]:
    row = frames[t]
    units = row.size
    finite = np.isfinite(row)
    out: list[tuple[str, int, float]] = []
    if not finite.all():
        out.append(("non_finite", int(np.argmin(finite)), float((~finite).sum()) / units))
    magnitude = np.abs(np.where(finite, row, 0.0)).astype(np.float32)
    peak = float(magnitude.max())
    if peak >= 50.0:
        out.append(("exploding", int(np.argmax(magnitude)), peak))
    if t >= 7:
        dead = (frames[t - 7:t + 1] == 0.0).all(axis=0)
        if dead.sum() / units >= 0.25:
            out.append(("dead_units", int(np.argmax(dead)), float(dead.sum()) / units))
    if units >= 8:
        if peak <= 1.0 + 1e-6:  # within [-1, 1]: a tanh/sigmoid layer
            saturated = magnitude >= np.float32(0.99)
        else:  # a clip value: the largest magnitude, shared by two or more units
            saturated = magnitude >= np.float32(peak) * np.float32(1 - 1e-6)
            if saturated.sum() < 2:
                saturated[:] = False
        if saturated.sum() / units >= 0.2:
            out.append(("saturation", int(np.argmax(saturated)), float(saturated.sum()) / units))
    z = spike_z(activity, t)
    if z is not None and z >= 6.0:
        median = float(np.median(activity[max(0, t - 64):t][
            np.isfinite(activity[max(0, t - 64):t])]))
        distance = np.where(finite, np.abs(row.astype(np.float64) - median), -1.0)
        out.append(("spike", int(np.argmax(distance)), z))
    return out


def expected_anomalies(frames: np.ndarray, steps: np.ndarray, timestamps: np.ndarray,
                       cooldown: float) -> list[Expected]:
    """What the documentation says one layer's frames (oldest first) raise."""
    activity = activities(frames)
    last: dict[str, tuple[float, int]] = {}
    suppressed: dict[str, int] = {}
    out = []
    for t in range(len(frames)):
        for anomaly_type, unit, score in _frame_findings(frames, activity, t):
            name = severity(anomaly_type, score)
            if name is None:
                continue
            rank = SEVERITIES.index(name)
            before = last.get(anomaly_type)
            if (cooldown > 0 and before is not None
                    and abs(float(timestamps[t]) - before[0]) < cooldown and rank <= before[1]):
                suppressed[anomaly_type] = suppressed.get(anomaly_type, 0) + 1
                continue
            last[anomaly_type] = (float(timestamps[t]), rank)
            out.append(Expected(int(steps[t]), anomaly_type, unit, score, name,
                                suppressed.pop(anomaly_type, 0)))
    return out
