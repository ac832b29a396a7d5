"""Temporal patterns and statistics of single units (``granularity=unit``).

A unit's series is its own activation per frame, analysed by exactly the
detectors a layer's mean activity goes through (``temporal.analyse_series``:
the same periodic, trend and state-change methods and thresholds), so a unit
and a layer with the same series get the same answer. A unit "oscillates"
when its periodic pattern is reported, i.e. its periodicity strength (the
share of the detrended variance the fitted sinusoid explains) reaches
``temporal.PERIODIC_MIN_CONFIDENCE``.

The selected columns are copied on the event loop (``snapshot_units``); the
analysis runs in a worker and checks the request's deadline between units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .layout_canvas import unit_location
from .store import Float32Array, FloatArray, IntArray, LayerWindow
from .temporal import SeriesAnalysis, TimeRange, analyse_series, series_mask
from .unit_selection import UnitSelection
from .workers import check_deadline


@dataclass
class UnitSeries:
    """The chosen units of one layer, copied for a worker.

    Attributes:
        model_id: The layer's model.
        layer_id: The layer.
        layer_units: Units per frame of the layer (for canvas locations).
        indices: The chosen unit indices, ascending.
        timestamps: ``(n,)`` frame timestamps, oldest first.
        values: ``(n, len(indices))`` the chosen units' activations.
    """

    model_id: str
    layer_id: str
    layer_units: int
    indices: IntArray
    timestamps: FloatArray
    values: Float32Array


def snapshot_units(windows: list[LayerWindow], selection: UnitSelection) -> list[UnitSeries]:
    """Copy the selected units of each window (checked by ``check_selection`` first)."""
    out = []
    for w in windows:
        indices = selection.indices(w.units)
        ts, _, values = w.unit_columns(indices)
        out.append(UnitSeries(w.model_id, w.layer_id, w.units, indices, ts, values))
    return out


def _analyses(series: list[UnitSeries], time_range: TimeRange | None,
              time_window_ms: float | None
              ) -> list[tuple[UnitSeries, int, FloatArray, SeriesAnalysis]]:
    """``(layer, unit index, its values in the time range, analysis)`` of every selected
    unit, layer by layer."""
    out = []
    for s in series:
        keep = series_mask(s.timestamps, time_range, time_window_ms)
        ts = s.timestamps[keep]
        for column, unit in enumerate(s.indices.tolist()):
            check_deadline()
            values = s.values[keep, column].astype(np.float64)
            out.append((s, unit, values, analyse_series(s.model_id, s.layer_id, ts, values)))
    return out


def _where(s: UnitSeries, unit: int) -> dict[str, Any]:
    return {"unit": unit, "location": unit_location(unit, s.layer_units)}


def unit_patterns(series: list[UnitSeries], time_range: TimeRange | None,
                  time_window_ms: float | None, pattern_types: list[str]
                  ) -> list[dict[str, Any]]:
    """The patterns of the requested types in every selected unit's series; each names its
    ``unit`` and canvas ``location`` (and ``metadata.unit``)."""
    patterns = []
    for s, unit, _, a in _analyses(series, time_range, time_window_ms):
        for p in a.patterns():
            if p["pattern_type"] in pattern_types:
                p["metadata"]["unit"] = unit
                patterns.append({**p, **_where(s, unit)})
    return patterns


def unit_stats(series: list[UnitSeries], time_range: TimeRange | None) -> dict[str, Any]:
    """Per-unit statistics and the oscillating units (strongest first).

    Returns:
        ``{"units": [...], "oscillating_units": [...]}`` for ``temporal_stats``'s answer.
    """
    units = []
    oscillating = []
    for s, unit, values, a in _analyses(series, time_range, None):
        finite = values[np.isfinite(values)]
        where = {"model_id": s.model_id, "layer_id": s.layer_id, **_where(s, unit)}
        units.append({
            **where, "samples": a.samples,
            "mean": float(finite.mean()) if finite.size else None,
            "std": float(finite.std()) if finite.size else None,
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "trend_slope": a.trend_fit[0] if a.trend_fit else None,
            "trend_r_squared": a.trend_fit[1] if a.trend_fit else None,
            "dominant_frequency": a.periodic_peak[0] if a.periodic_peak else None,
            "periodicity_strength": a.periodic_peak[1] if a.periodic_peak else 0.0,
            "periodic": a.periodic is not None,
            "state_changes": len(a.state_changes)})
        if a.periodic is not None:
            oscillating.append({**where, "frequency": a.periodic["frequency"],
                                "periodicity_strength": a.periodic["confidence"],
                                "amplitude": a.periodic["amplitude"]})
    oscillating.sort(key=lambda u: -float(u["periodicity_strength"]))
    return {"units": units, "oscillating_units": oscillating}
