"""Anomaly detectors, the severity table, and cool-down de-duplication.

Detectors run once per ingested batch of one layer, vectorised over all its
frames, and report at most one anomaly per type (the worst frame/unit):

- ``non_finite``: any NaN/Inf activation. Score: share of non-finite units in
  the worst frame. Always critical.
- ``exploding``: largest finite |activation| in the batch.
- ``dead_units``: share of units that were exactly 0 in each of the last
  ``DEAD_UNIT_FRAMES`` frames (dead ReLUs).
- ``saturation``: share of units pinned at a bound in the worst frame: at
  |value| >= 0.99 when the frame lies within [-1, 1] (tanh/sigmoid), else at
  exactly the frame's largest magnitude when two or more units share it (a
  clip value). Layers of fewer than ``SATURATION_MIN_UNITS`` units are skipped:
  one unit of a 4-logit output near 1 says nothing about saturation.
- ``spike``: robust z-score ``|mean - median| / (1.4826 * MAD)`` of a frame's
  activity against the ``SPIKE_BASELINE`` frames before the batch.

``SEVERITY_TABLE`` is the one place that maps a score to a severity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from neural_heatmap_contract.enums import SEVERITIES

from .layout_canvas import unit_location
from .store import FrameBatch, LayerWindow

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES, start=1)}

# Score thresholds at which each type becomes (low, medium, high, critical).
# A score below the first threshold is not an anomaly.
SEVERITY_TABLE: dict[str, tuple[float, float, float, float]] = {
    # share of NaN/Inf units in the worst frame: any is critical
    "non_finite": (0.0, 0.0, 0.0, 0.0),
    # largest |activation|
    "exploding": (50.0, 200.0, 1e3, 1e4),
    # share of units exactly 0 over the last DEAD_UNIT_FRAMES frames
    "dead_units": (0.25, 0.5, 0.75, 0.95),
    # share of units pinned at a bound
    "saturation": (0.2, 0.4, 0.6, 0.9),
    # robust z-score of the layer's mean activation
    "spike": (6.0, 10.0, 20.0, 50.0),
}

DEAD_UNIT_FRAMES = 8
SPIKE_BASELINE = 64
SPIKE_MIN_BASELINE = 16
SATURATION_LEVEL = 0.99
SATURATION_MIN_UNITS = 8
MAX_SCORE = 1e12  # keeps scores finite (JSON) when a spike meets a flat baseline


def severity_for(anomaly_type: str, score: float) -> str | None:
    """Map a detector's score to a severity via ``SEVERITY_TABLE`` (None: not anomalous)."""
    thresholds = SEVERITY_TABLE[anomaly_type]
    if anomaly_type == "non_finite":
        return "critical" if score > 0 else None
    found = None
    for name, threshold in zip(SEVERITIES, thresholds, strict=True):
        if score >= threshold:
            found = name
    return found


@dataclass
class Finding:
    """One detector's result before severity, cool-down and sequencing."""

    anomaly_type: str
    score: float
    frame: int
    unit: int
    description: str
    metadata: dict[str, Any]


def _non_finite(batch: FrameBatch) -> Finding | None:
    bad = ~np.isfinite(batch.values)
    if not bad.any():
        return None
    per_frame = bad.sum(axis=1)
    frame = int(np.argmax(per_frame))
    unit = int(np.argmax(bad[frame]))
    values = batch.values[bad]
    share = float(per_frame[frame]) / batch.units
    return Finding("non_finite", share, frame, unit,
                   f"{int(per_frame[frame])} of {batch.units} units are NaN or infinite",
                   {"nan_count": int(np.isnan(values).sum()),
                    "inf_count": int(np.isinf(values).sum()),
                    "frames_affected": int((per_frame > 0).sum())})


def _exploding(batch: FrameBatch) -> Finding | None:
    magnitude = np.abs(np.where(np.isfinite(batch.values), batch.values, 0.0))
    flat = int(np.argmax(magnitude))
    frame, unit = divmod(flat, batch.units)
    peak = float(magnitude[frame, unit])
    if peak < SEVERITY_TABLE["exploding"][0]:
        return None
    return Finding("exploding", peak, frame, unit,
                   f"activations exploded to |{peak:.4g}|",
                   {"max_abs_activation": peak,
                    "units_above_threshold": int(
                        (magnitude[frame] >= SEVERITY_TABLE["exploding"][0]).sum())})


def _dead_units(window: LayerWindow, batch: FrameBatch) -> Finding | None:
    if window.count < DEAD_UNIT_FRAMES:
        return None
    _, _, recent = window.frames(DEAD_UNIT_FRAMES)
    dead = (recent == 0.0).all(axis=0)
    share = float(dead.mean())
    if share < SEVERITY_TABLE["dead_units"][0]:
        return None
    return Finding("dead_units", share, len(batch.timestamps) - 1, int(np.argmax(dead)),
                   f"{int(dead.sum())} of {batch.units} units stayed at exactly 0 "
                   f"for {DEAD_UNIT_FRAMES} frames (dead ReLUs)",
                   {"dead_units": int(dead.sum()), "frames": DEAD_UNIT_FRAMES})


def _saturation(batch: FrameBatch) -> Finding | None:
    if batch.units < SATURATION_MIN_UNITS:
        return None
    finite = np.isfinite(batch.values)
    magnitude = np.abs(np.where(finite, batch.values, 0.0))
    peak = magnitude.max(axis=1, keepdims=True)
    bounded = peak <= 1.0 + 1e-6
    at_level = magnitude >= SATURATION_LEVEL
    pinned = (magnitude >= peak * (1 - 1e-6)) & (peak > 0)
    pinned &= pinned.sum(axis=1, keepdims=True) >= 2
    saturated = np.where(bounded, at_level, pinned) & finite
    share = saturated.mean(axis=1)
    frame = int(np.argmax(share))
    if share[frame] < SEVERITY_TABLE["saturation"][0]:
        return None
    bound = "tanh/sigmoid bound" if bool(bounded[frame, 0]) else "clip value"
    return Finding("saturation", float(share[frame]), frame, int(np.argmax(saturated[frame])),
                   f"{int(saturated[frame].sum())} of {batch.units} units are saturated "
                   f"at the {bound}",
                   {"saturated_units": int(saturated[frame].sum()),
                    "bound": float(1.0 if bounded[frame, 0] else peak[frame, 0])})


def _spike(window: LayerWindow, batch: FrameBatch) -> Finding | None:
    n = len(batch.timestamps)
    _, _, activity = window.series()
    if activity.size <= n:
        return None
    baseline = activity[:-n][-SPIKE_BASELINE:]
    baseline = baseline[np.isfinite(baseline)]
    if baseline.size < SPIKE_MIN_BASELINE:
        return None
    median = float(np.median(baseline))
    scale = 1.4826 * float(np.median(np.abs(baseline - median)))
    scale = max(scale, 1e-9, 1e-6 * abs(median))
    current = activity[-n:]
    z = np.where(np.isfinite(current), np.abs(current - median) / scale, 0.0)
    frame = int(np.argmax(z))
    score = min(float(z[frame]), MAX_SCORE)
    if score < SEVERITY_TABLE["spike"][0]:
        return None
    values = np.where(np.isfinite(batch.values[frame]), batch.values[frame], 0.0)
    unit = int(np.argmax(np.abs(values - median)))
    return Finding("spike", score, frame, unit,
                   f"mean activation {float(current[frame]):.4g} is {score:.1f} robust "
                   f"standard deviations from the recent median {median:.4g}",
                   {"layer_mean": float(current[frame]), "median": median, "mad_scale": scale,
                    "baseline_frames": int(baseline.size)})


class AnomalyDetector:
    """Runs every detector on a batch and de-duplicates repeats.

    A repeat of the same (model, layer, type) within ``cooldown`` seconds of
    the last reported one is suppressed unless it is more severe; the number
    suppressed is reported in the next anomaly's ``metadata.suppressed``.

    Args:
        cooldown: Seconds; 0 reports every firing.
    """

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._suppressed: dict[tuple[str, str, str], int] = {}

    def detect(self, window: LayerWindow, batch: FrameBatch) -> list[dict[str, Any]]:
        """Anomalies (without ``sequence``) found in a batch just appended to ``window``."""
        findings = [_non_finite(batch), _exploding(batch), _dead_units(window, batch),
                    _saturation(batch), _spike(window, batch)]
        now = time.monotonic()
        out = []
        for f in findings:
            if f is None:
                continue
            severity = severity_for(f.anomaly_type, f.score)
            if severity is None:
                continue
            key = (batch.model_id, batch.layer_id, f.anomaly_type)
            rank = SEVERITY_RANK[severity]
            last = self._last.get(key)
            if (self.cooldown > 0 and last is not None and now - last[0] < self.cooldown
                    and rank <= last[1]):
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                continue
            self._last[key] = (now, rank)
            location = unit_location(f.unit, batch.units)
            step = int(batch.steps[f.frame])
            where = f"{batch.model_id}/{batch.layer_id}"
            out.append({
                "anomaly_type": f.anomaly_type,
                "severity": severity,
                "timestamp": float(batch.timestamps[f.frame]),
                "location": location,
                "layer": batch.layer_id,
                "model_id": batch.model_id,
                "score": f.score,
                "description": f"{severity.capitalize()} {f.anomaly_type.replace('_', ' ')} in "
                               f"{where}: {f.description} (worst unit {f.unit} at "
                               f"x={location['x']}, y={location['y']}).",
                "metadata": {**f.metadata, "unit": f.unit, "step": step if step >= 0 else None,
                             "suppressed": self._suppressed.pop(key, 0)},
            })
        return out
