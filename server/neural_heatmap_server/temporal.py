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
- **state_change**: binary segmentation into segments of constant mean. Every
  round, the split that most lowers the total within-segment sum of squares
  (SSE) is found in each segment at once through cumulative sums; it is kept
  while it passes the BIC of a Gaussian mean-shift model with unknown
  variance, ``n log(SSE_before / SSE_after) > STATE_BIC_PENALTY log n``, up to
  ``MAX_STATE_CHANGES`` changes and never closer than ``STATE_MIN_SEGMENT``
  samples. A greedy top-down search stops as soon as the best remaining split
  is not worth its parameter, so a fast sine (no good first split) yields
  nothing. The segmentation as a whole is reported only when it explains at
  least ``STATE_MIN_EXPLAINED`` of the variance, fits at least twice as well
  as a straight line (a ramp cut into stairs is a trend, not steps) and leaves
  residuals whose lag-1 autocorrelation is at most
  ``STATE_MAX_RESIDUAL_AUTOCORR`` (a slow wave cut into stairs leaves ramps in
  every stair; true steps leave white noise). Each change is then its own
  pattern, its ``confidence`` the share of the variance of its two
  neighbouring segments that the shift explains.

Every temporal query (patterns, stats, ``temporal_update``) first restricts a
layer's series to the stored filter's ``time_range``; ``time_window`` then
keeps the last milliseconds of what is left.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from neural_heatmap_contract.enums import PATTERN_TYPES

from .alignment import time_mask
from .errors import invalid
from .store import ActivationStore, FloatArray, LayerWindow
from .workers import check_deadline

MIN_SAMPLES = 8
PERIODIC_MIN_CONFIDENCE = 0.3
PERIODIC_MIN_CYCLES = 1.5
TREND_MIN_R2 = 0.5
STATE_MIN_EXPLAINED = 0.5
STATE_MIN_SEGMENT = 3
STATE_BIC_PENALTY = 3.5  # raw false positives on white noise: ~0.3 % (n = 50 to 1024)
STATE_MAX_RESIDUAL_AUTOCORR = 0.5
MAX_STATE_CHANGES = 10
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
    state_changes: list[dict[str, Any]]

    def patterns(self) -> list[dict[str, Any]]:
        """Every reported pattern: periodic, trend, then the state changes in time order."""
        found = [p for p in (self.periodic, self.trend) if p is not None]
        return found + self.state_changes


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


class _Segmenter:
    """Within-segment sums of squares of one series in O(1) from prefix sums."""

    def __init__(self, y: FloatArray) -> None:
        yc = y - y.mean()  # centring keeps the prefix sums well conditioned
        self.s1 = np.concatenate(([0.0], np.cumsum(yc)))
        self.s2 = np.concatenate(([0.0], np.cumsum(yc * yc)))

    def sse(self, a: int, b: int) -> float:
        """Sum of squares of ``y[a:b]`` around its own mean."""
        return float(self.s2[b] - self.s2[a] - (self.s1[b] - self.s1[a]) ** 2 / (b - a))

    def best_split(self, a: int, b: int) -> tuple[float, int] | None:
        """``(SSE reduction, first index of the new segment)`` of the best split of ``[a, b)``."""
        if b - a < 2 * STATE_MIN_SEGMENT:
            return None
        s1, s2 = self.s1, self.s2
        k = np.arange(a + STATE_MIN_SEGMENT, b - STATE_MIN_SEGMENT + 1)
        left = s2[k] - s2[a] - (s1[k] - s1[a]) ** 2 / (k - a)
        right = s2[b] - s2[k] - (s1[b] - s1[k]) ** 2 / (b - k)
        best = int(np.argmin(left + right))
        return self.sse(a, b) - float(left[best] + right[best]), int(k[best])


def change_points(seg: _Segmenter, n: int) -> tuple[list[int], float, float]:
    """Binary segmentation with a BIC stopping rule (see the module docstring).

    Args:
        seg: Prefix sums of the series.
        n: Its length.

    Returns:
        The change indices (first sample of each new segment, ascending), the
        SSE of the piecewise-constant fit and the SSE around the overall mean.
    """
    total = seg.sse(0, n) if n else 0.0
    current = total
    ratio = math.exp(-STATE_BIC_PENALTY * math.log(max(n, 2)) / max(n, 1))
    candidates: dict[tuple[int, int], tuple[float, int] | None] = {(0, n): seg.best_split(0, n)}
    changes: list[int] = []
    while len(changes) < MAX_STATE_CHANGES and current > 1e-12 * total:
        found = [(c[0], span, c[1]) for span, c in candidates.items() if c is not None]
        if not found:
            break
        gain, (a, b), k = max(found)
        if current - gain > ratio * current:
            break
        current -= gain
        changes.append(k)
        del candidates[(a, b)]
        candidates[(a, k)] = seg.best_split(a, k)
        candidates[(k, b)] = seg.best_split(k, b)
    return sorted(changes), max(current, 0.0), total


def _state_changes(t: FloatArray, y: FloatArray, ss_lin: float,
                   where: dict[str, str]) -> list[dict[str, Any]]:
    seg = _Segmenter(y)
    changes, sse_fit, sse_total = change_points(seg, y.size)
    if not changes or sse_total <= 0:
        return []
    explained = 1.0 - sse_fit / sse_total
    if explained < STATE_MIN_EXPLAINED or sse_fit * 2.0 > ss_lin:
        return []
    bounds = [0, *changes, y.size]
    lengths = np.diff(bounds)
    levels = np.add.reduceat(y, bounds[:-1]) / lengths
    residual = y - np.repeat(levels, lengths)
    if sse_fit > 0 and float(np.dot(residual[:-1], residual[1:])) > (
            STATE_MAX_RESIDUAL_AUTOCORR * sse_fit):
        return []
    out = []
    for i, k in enumerate(changes):
        a, b = bounds[i], bounds[i + 2]
        before, after = float(y[a:k].mean()), float(y[k:b].mean())
        merged = seg.sse(a, b)
        local = 1.0 - (seg.sse(a, k) + seg.sse(k, b)) / merged if merged > 0 else 1.0
        out.append(_pattern("state_change", local, float(t[k - 1]), float(t[k]), {
            **where, "change_index": k, "change_time": float(t[k]),
            "level_before": before, "level_after": after, "shift": after - before,
            "segment_start_time": float(t[a]), "segment_end_time": float(t[b - 1]),
            "explained_variance": explained, "changes_in_series": len(changes),
            "method": "binary_segmentation_bic"}))
    return out


def analyse_series(model_id: str, layer_id: str, t: FloatArray, y: FloatArray) -> SeriesAnalysis:
    """Run the three detectors on one series (non-finite samples dropped)."""
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    finite = np.isfinite(y) & np.isfinite(t)
    t, y = t[finite], y[finite]
    where = {"model_id": model_id, "layer_id": layer_id}
    empty = SeriesAnalysis(model_id, layer_id, int(y.size), None, None, None, None, [])
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
    return SeriesAnalysis(
        model_id, layer_id, int(y.size), periodic,
        (peak["frequency"], peak["confidence"]) if peak else None,
        trend, (slope, r2), _state_changes(t, y, ss_lin, where))


TimeRange = tuple[float, float]


def series_mask(ts: FloatArray, time_range: TimeRange | None,
                time_window_ms: float | None) -> npt.NDArray[np.bool_]:
    """The frames inside ``time_range`` (seconds, inclusive), then only those of the last
    ``time_window_ms`` of what is left: the one rule of every temporal query."""
    keep = np.ones(ts.shape, dtype=bool)
    if time_range is not None:
        keep[:] = False
        keep[time_mask(ts, *time_range)] = True
    if time_window_ms is not None and keep.any():
        keep &= ts >= ts[keep].max() - time_window_ms / 1000.0
    return keep


def _series(w: LayerWindow, time_range: TimeRange | None,
            time_window_ms: float | None) -> tuple[FloatArray, FloatArray]:
    """A layer's ``(timestamps, activity)`` as ``series_mask`` keeps them."""
    ts, _, activity = w.series()
    keep = series_mask(ts, time_range, time_window_ms)
    return ts[keep], activity[keep]


def _layer_analyses(store: ActivationStore, model_id: str | None, layer_id: str | None,
                    time_range: TimeRange | None,
                    time_window_ms: float | None) -> list[SeriesAnalysis]:
    if time_window_ms is not None and not time_window_ms > 0:
        raise invalid("time_window must be a positive number of milliseconds",
                      time_window=time_window_ms)
    windows: list[LayerWindow] = store.select(
        [model_id] if model_id else None, [layer_id] if layer_id else None)
    out = []
    for w in windows:
        check_deadline()
        out.append(analyse_series(w.model_id, w.layer_id,
                                  *_series(w, time_range, time_window_ms)))
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
    time_range: TimeRange | None, time_window_ms: float | None, pattern_types: list[str],
) -> list[dict[str, Any]]:
    """All patterns of the requested types in the selected layers."""
    patterns: list[dict[str, Any]] = []
    for a in _layer_analyses(store, model_id, layer_id, time_range, time_window_ms):
        patterns.extend(p for p in a.patterns() if p["pattern_type"] in pattern_types)
    return patterns


def temporal_stats(store: ActivationStore, model_id: str | None,
                   time_range: TimeRange | None) -> dict[str, Any]:
    """Per-layer statistics plus counts of trend directions and periodic layers.

    Mean and std are computed over the finite activities in the range (the whole
    window without one), so they depend on the frames only, not on how they were
    batched.
    """
    layers = []
    trends = {"increasing": 0, "decreasing": 0, "flat": 0}
    periodic_layers = 0
    for w in store.select([model_id] if model_id else None, None):
        check_deadline()
        ts, activity = _series(w, time_range, None)
        a = analyse_series(w.model_id, w.layer_id, ts, activity)
        finite = activity[np.isfinite(activity)]
        mean, std = ((float(finite.mean()), float(finite.std())) if finite.size
                     else (None, None))
        direction = "flat"
        if a.trend is not None:
            direction = a.trend["metadata"]["direction"]
        trends[direction] += 1
        periodic_layers += a.periodic is not None
        layers.append({
            "model_id": a.model_id, "layer_id": a.layer_id, "samples": a.samples,
            "mean": mean, "std": std,
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "trend_slope": a.trend_fit[0] if a.trend_fit else None,
            "trend_r_squared": a.trend_fit[1] if a.trend_fit else None,
            "dominant_frequency": a.periodic_peak[0] if a.periodic_peak else None,
            "periodicity_strength": a.periodic_peak[1] if a.periodic_peak else 0.0,
            "state_changes": len(a.state_changes),
        })
    return {"model_id": model_id, "layers": layers, "trends": trends,
            "periodicity": {"periodic_layers": periodic_layers}}


def temporal_update(store: ActivationStore, model_ids: list[str] | None,
                    layer_ids: list[str] | None, time_range: TimeRange | None) -> dict[str, Any]:
    """The ``temporal_update`` payload for the layers and time range the stored filter selects."""
    patterns: list[dict[str, Any]] = []
    for w in store.select(model_ids, layer_ids, strict_models=False, strict_layers=False):
        check_deadline()
        a = analyse_series(w.model_id, w.layer_id, *_series(w, time_range, None))
        patterns.extend(a.patterns())
    return {"timestamp": time.time(), "patterns": patterns,
            "trends": [p for p in patterns if p["pattern_type"] == "trend"],
            "state_changes": [p for p in patterns if p["pattern_type"] == "state_change"]}
