"""Temporal patterns in layer activity series: periodic, trend, state change.

Methods (each on the layer's activity series against its frame timestamps):

- **periodic**: the series is resampled onto a uniform grid at the median
  frame interval, its linear trend removed, Hann-windowed and zero-padded to
  at least 8x its length before an FFT; the highest peak above 1.5 cycles per
  window is refined by Gaussian (log-parabolic) interpolation. Amplitude and
  phase come from a least-squares fit of ``A cos(2 pi f (t - t0) + phase)``
  (plus offset and slope) at that frequency; ``confidence`` is the share of
  the detrended variance that sinusoid explains, i.e. the share of spectral
  power in the peak. Reported when confidence >= ``PERIODIC_MIN_CONFIDENCE``.
  Series whose gaps would need a grid over ``MAX_GRID_FACTOR`` times longer
  than the series are too irregular and are not searched.
- **trend**: ordinary least squares of value on time; ``slope`` is per second,
  ``confidence`` is r^2. Reported when r^2 >= ``TREND_MIN_R2``.
- **state_change**: the single split that minimises the within-segment sum of
  squares (all splits at once through cumulative sums). Reported when the
  split explains at least ``STATE_MIN_EXPLAINED`` of the variance and fits at
  least twice as well as a straight line (so a ramp is a trend, not a step).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import invalid
from .store import ActivationStore, FloatArray, LayerWindow

PATTERN_TYPES = ("periodic", "trend", "state_change")
MIN_SAMPLES = 8
PERIODIC_MIN_CONFIDENCE = 0.3
PERIODIC_MIN_CYCLES = 1.5
TREND_MIN_R2 = 0.5
STATE_MIN_EXPLAINED = 0.5
STATE_MIN_SEGMENT = 3
MAX_GRID_FACTOR = 4


@dataclass
class SeriesAnalysis:
    """Everything found in one layer's series (each part may be None)."""

    model_id: str
    layer_id: str
    samples: int
    periodic: dict[str, Any] | None
    periodic_peak: tuple[float, float] | None  # (frequency, confidence) even if weak
    trend: dict[str, Any] | None
    trend_fit: tuple[float, float] | None  # (slope, r^2) even if weak
    state_change: dict[str, Any] | None


def _pattern(kind: str, confidence: float, start: float, end: float, meta: dict[str, Any],
             frequency: float | None = None, amplitude: float | None = None,
             phase: float | None = None) -> dict[str, Any]:
    return {"pattern_type": kind, "frequency": frequency, "amplitude": amplitude,
            "phase": phase, "confidence": float(confidence), "start_time": float(start),
            "end_time": float(end), "metadata": meta}


def _linear_fit(x: FloatArray, y: FloatArray) -> tuple[float, float, float, float]:
    """Return ``(slope, intercept, r_squared, residual_sum_of_squares)``."""
    xm, ym = x.mean(), y.mean()
    dx, dy = x - xm, y - ym
    sxx = float(np.dot(dx, dx))
    syy = float(np.dot(dy, dy))
    slope = float(np.dot(dx, dy)) / sxx if sxx > 0 else 0.0
    intercept = float(ym - slope * xm)
    ss_res = max(0.0, syy - slope * float(np.dot(dx, dy)))
    r2 = 1.0 - ss_res / syy if syy > 0 else 0.0
    return slope, intercept, r2, ss_res


def periodic_peak(t: FloatArray, y: FloatArray) -> dict[str, float] | None:
    """Find the dominant sinusoid: frequency (Hz), amplitude, phase, confidence."""
    duration = float(t[-1] - t[0])
    if duration <= 0:
        return None
    dt = float(np.median(np.diff(t)))
    if dt <= 0:
        return None
    m = math.floor(duration / dt) + 1
    if m > MAX_GRID_FACTOR * t.size:
        return None  # gaps far longer than the frame interval: no uniform grid to speak of
    grid = t[0] + np.arange(m) * dt
    yg = np.interp(grid, t, y)
    slope, intercept, _, _ = _linear_fit(grid - t[0], yg)
    detrended = yg - (intercept + slope * (grid - t[0]))
    if float(np.dot(detrended, detrended)) <= 1e-24 * m:
        return None
    nfft = 1 << max(0, math.ceil(math.log2(8 * m)))
    spectrum = np.abs(np.fft.rfft(detrended * np.hanning(m), nfft))
    freqs = np.fft.rfftfreq(nfft, dt)
    valid = np.flatnonzero(freqs >= PERIODIC_MIN_CYCLES / duration)
    if valid.size < 3:
        return None
    k = int(valid[np.argmax(spectrum[valid])])
    delta = 0.0
    if 0 < k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-300)
        denom = a - 2 * b + c
        delta = float(0.5 * (a - c) / denom) if denom != 0 else 0.0
    frequency = (k + max(-0.5, min(0.5, delta))) / (nfft * dt)
    # Least-squares sinusoid at that frequency on the original samples.
    x = t - t[0]
    w = 2 * math.pi * frequency * x
    design = np.column_stack([np.cos(w), np.sin(w), np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    amplitude = float(math.hypot(coef[0], coef[1]))
    phase = float(math.atan2(-coef[1], coef[0]))
    _, _, _, ss_lin = _linear_fit(x, y)
    fitted = design[:, :2] @ coef[:2]
    confidence = min(1.0, float(np.dot(fitted, fitted)) / ss_lin) if ss_lin > 0 else 0.0
    return {"frequency": frequency, "amplitude": amplitude, "phase": phase,
            "confidence": confidence, "sample_rate": 1.0 / dt,
            "cycles": frequency * duration}


def best_split(y: FloatArray) -> tuple[int, float, float] | None:
    """Best single mean-shift split: ``(index of first new sample, sse_split, sse_total)``."""
    n = y.size
    if n < 2 * STATE_MIN_SEGMENT:
        return None
    yc = y - y.mean()
    c1 = np.cumsum(yc)
    c2 = np.cumsum(yc * yc)
    k = np.arange(STATE_MIN_SEGMENT, n - STATE_MIN_SEGMENT + 1)
    left = c2[k - 1] - c1[k - 1] ** 2 / k
    right = (c2[-1] - c2[k - 1]) - (c1[-1] - c1[k - 1]) ** 2 / (n - k)
    sse = left + right
    best = int(np.argmin(sse))
    return int(k[best]), float(max(sse[best], 0.0)), float(c2[-1] - c1[-1] ** 2 / n)


def analyse_series(model_id: str, layer_id: str, t: FloatArray, y: FloatArray) -> SeriesAnalysis:
    """Run the three detectors on one series (non-finite samples dropped)."""
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    finite = np.isfinite(y) & np.isfinite(t)
    t, y = t[finite], y[finite]
    where = {"model_id": model_id, "layer_id": layer_id}
    empty = SeriesAnalysis(model_id, layer_id, int(y.size), None, None, None, None, None)
    if y.size < MIN_SAMPLES:
        return empty
    start, end = float(t[0]), float(t[-1])
    x = t - t[0]
    slope, intercept, r2, ss_lin = _linear_fit(x, y)
    trend = None
    if r2 >= TREND_MIN_R2 and slope != 0.0:
        trend = _pattern("trend", r2, start, end, {
            **where, "slope": slope, "intercept": intercept, "r_squared": r2,
            "direction": "increasing" if slope > 0 else "decreasing",
            "method": "least_squares"})
    peak = periodic_peak(t, y)
    periodic = None
    if peak is not None and peak["confidence"] >= PERIODIC_MIN_CONFIDENCE:
        periodic = _pattern("periodic", peak["confidence"], start, end, {
            **where, "period_seconds": 1.0 / peak["frequency"], "sample_rate": peak["sample_rate"],
            "cycles": peak["cycles"], "method": "fft_hann_zero_padded"},
            frequency=peak["frequency"], amplitude=peak["amplitude"], phase=peak["phase"])
    state = None
    split = best_split(y)
    if split is not None:
        k, sse_split, sse_total = split
        explained = 1.0 - sse_split / sse_total if sse_total > 0 else 0.0
        if explained >= STATE_MIN_EXPLAINED and sse_split * 2.0 <= ss_lin:
            before, after = float(y[:k].mean()), float(y[k:].mean())
            state = _pattern("state_change", explained, float(t[k - 1]), float(t[k]), {
                **where, "change_index": k, "change_time": float(t[k]),
                "level_before": before, "level_after": after, "shift": after - before,
                "explained_variance": explained, "method": "best_split_min_sse"})
    return SeriesAnalysis(
        model_id, layer_id, int(y.size), periodic,
        (peak["frequency"], peak["confidence"]) if peak else None,
        trend, (slope, r2), state)


def _layer_analyses(store: ActivationStore, model_id: str | None, layer_id: str | None,
                    time_window_ms: float | None) -> list[SeriesAnalysis]:
    if time_window_ms is not None and not time_window_ms > 0:
        raise invalid("time_window must be a positive number of milliseconds",
                      time_window=time_window_ms)
    windows: list[LayerWindow] = store.select(
        [model_id] if model_id else None, [layer_id] if layer_id else None)
    out = []
    for w in windows:
        ts, _, activity = w.series()
        if time_window_ms is not None and ts.size:
            keep = ts >= ts.max() - time_window_ms / 1000.0
            ts, activity = ts[keep], activity[keep]
        out.append(analyse_series(w.model_id, w.layer_id, ts, activity))
    return out


def parse_pattern_types(raw: list[str] | None) -> list[str]:
    """Validate pattern types (all three when None/empty)."""
    if not raw:
        return list(PATTERN_TYPES)
    bad = [p for p in raw if p not in PATTERN_TYPES]
    if bad:
        raise invalid(f"unknown pattern type {bad[0]!r}; use {list(PATTERN_TYPES)}",
                      pattern_type=bad[0], allowed=list(PATTERN_TYPES))
    return raw


def temporal_patterns(
    store: ActivationStore, model_id: str | None, layer_id: str | None,
    time_window_ms: float | None, pattern_types: list[str],
) -> list[dict[str, Any]]:
    """All patterns of the requested types in the selected layers."""
    patterns: list[dict[str, Any]] = []
    for a in _layer_analyses(store, model_id, layer_id, time_window_ms):
        found = {"periodic": a.periodic, "trend": a.trend, "state_change": a.state_change}
        patterns.extend(p for kind in pattern_types if (p := found[kind]) is not None)
    return patterns


def temporal_stats(store: ActivationStore, model_id: str | None) -> dict[str, Any]:
    """Per-layer statistics plus counts of trend directions and periodic layers."""
    layers = []
    trends = {"increasing": 0, "decreasing": 0, "flat": 0}
    periodic_layers = 0
    for a in _layer_analyses(store, model_id, None, None):
        w = store.models[a.model_id][a.layer_id]
        _, _, activity = w.series()
        finite = activity[np.isfinite(activity)]
        mean, std = w.activity_stats()
        direction = "flat"
        if a.trend is not None:
            direction = a.trend["metadata"]["direction"]
        trends[direction] += 1
        periodic_layers += a.periodic is not None
        layers.append({
            "model_id": a.model_id, "layer_id": a.layer_id, "samples": a.samples,
            "mean": mean if finite.size else None, "std": std if finite.size else None,
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "trend_slope": a.trend_fit[0] if a.trend_fit else None,
            "trend_r_squared": a.trend_fit[1] if a.trend_fit else None,
            "dominant_frequency": a.periodic_peak[0] if a.periodic_peak else None,
            "periodicity_strength": a.periodic_peak[1] if a.periodic_peak else 0.0,
            "state_changes": int(a.state_change is not None),
        })
    return {"model_id": model_id, "layers": layers, "trends": trends,
            "periodicity": {"periodic_layers": periodic_layers}}


def temporal_update(store: ActivationStore, model_ids: list[str] | None,
                    layer_ids: list[str] | None) -> dict[str, Any]:
    """The ``temporal_update`` payload for the layers the stored filter selects."""
    patterns: list[dict[str, Any]] = []
    for w in store.select(model_ids, layer_ids, strict_models=False, strict_layers=False):
        ts, _, activity = w.series()
        a = analyse_series(w.model_id, w.layer_id, ts, activity)
        patterns.extend(p for p in (a.periodic, a.trend, a.state_change) if p is not None)
    return {"timestamp": time.time(), "patterns": patterns,
            "trends": [p for p in patterns if p["pattern_type"] == "trend"],
            "state_changes": [p for p in patterns if p["pattern_type"] == "state_change"]}
