"""Per-unit health of a layer: dead units, saturated units, the units spiking most.

The ``dead_units`` and ``saturation`` *anomalies* judge a layer by the share of
its units that are affected (and so stay silent about one dead unit in 64);
this answer names every affected unit, whatever the share:

- **dead**: exactly 0 in each of the last ``RECENT_FRAMES`` frames (the
  anomaly's per-unit criterion). ``since`` is the first frame of the unit's
  current run of zeros; ``since_window_start`` says the run reaches the
  oldest frame kept, so the unit was dead at least since then.
- **saturated**: at its bound in each of the last ``RECENT_FRAMES`` frames, by
  the saturation anomaly's per-frame rule: ``|v| >= SATURATION_LEVEL`` in a
  frame that lies within [-1, 1] (tanh/sigmoid), else exactly at the frame's
  largest magnitude when two or more units share it (a clip value).
- **spike score**: for each of the last ``RECENT_FRAMES`` frames, the unit's
  robust z ``|v - median| / (1.4826 MAD)`` against its own previous
  ``SPIKE_BASELINE`` frames (at least ``SPIKE_MIN_BASELINE`` finite ones),
  the same baseline the spike anomaly uses for a layer's mean; a unit's score
  is its largest, and the ``top_k`` largest are listed (a steady unit scores
  0; without ``SPIKE_MIN_BASELINE`` earlier frames no unit is scored).

Cost: the selected layers' windows are copied on the event loop, so their
units together count against ``--max-matrix-labels``, as for a correlation
matrix at unit granularity; the arithmetic runs in a worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .anomalies import (
    DEAD_UNIT_FRAMES,
    SATURATION_LEVEL,
    SPIKE_BASELINE,
    SPIKE_MIN_BASELINE,
    saturated_units,
    spike_scores,
)
from .errors import invalid
from .layout_canvas import unit_location
from .params import opt_int, opt_str
from .store import NO_STEP, ActivationStore, Float32Array, FloatArray, IntArray, LayerWindow
from .workers import check_deadline

RECENT_FRAMES = DEAD_UNIT_FRAMES
DEFAULT_TOP_K = 5
MAX_TOP_K = 1024
BoolArray = npt.NDArray[np.bool_]


def health_query(params: Mapping[str, Any]) -> tuple[str | None, str | None, int]:
    """``model_id``, ``layer_id`` and ``top_k`` (0 or absent: ``DEFAULT_TOP_K``)."""
    top_k = opt_int(params, "top_k", low=0, high=MAX_TOP_K) or DEFAULT_TOP_K
    return opt_str(params, "model_id"), opt_str(params, "layer_id"), top_k


def check_size(windows: list[LayerWindow], max_labels: int) -> None:
    """Refuse a selection whose units together exceed ``--max-matrix-labels``.

    Raises:
        ApiError: 400 naming the limit.
    """
    total = sum(w.units for w in windows)
    if total > max_labels:
        raise invalid(
            f"the selected layers have {total} units, more than the limit of {max_labels} "
            "labels (--max-matrix-labels); choose a layer_id", units=total, limit=max_labels,
            constraint=f"units <= {max_labels}")


def saturated_mask(values: Float32Array) -> BoolArray:
    """Per frame and unit: pinned at the bound (see the module docstring)."""
    magnitude = np.abs(np.where(np.isfinite(values), values, np.float32(0.0)))
    mask, _ = saturated_units(magnitude, magnitude.max(axis=1))
    return mask


def _trailing_runs(mask: BoolArray) -> IntArray:
    """Per unit, how many of the newest frames in a row are True."""
    n = mask.shape[0]
    newest_first = mask[::-1]
    runs: IntArray = np.where(newest_first.all(axis=0), n,
                              np.argmin(newest_first, axis=0)).astype(np.int64)
    return runs


def _stuck(mask: BoolArray, values: Float32Array, ts: FloatArray,
           steps: IntArray, units: int) -> list[dict[str, Any]]:
    """The units whose trailing run of ``mask`` is at least ``RECENT_FRAMES`` long."""
    n = mask.shape[0]
    runs = _trailing_runs(mask)
    out = []
    for unit in np.flatnonzero(runs >= RECENT_FRAMES).tolist():
        run = int(runs[unit])
        first = n - run
        step = int(steps[first])
        out.append({"unit": unit, "location": unit_location(unit, units),
                    "since_step": step if step != NO_STEP else None,
                    "since": float(ts[first]), "frames": run,
                    "since_window_start": first == 0,
                    "value": float(np.mean(values[first:, unit], dtype=np.float64))})
    return out


def _spike_scores(values: Float32Array) -> tuple[FloatArray, IntArray, FloatArray]:
    """Per unit: the largest robust z over the recent frames, that frame, its median.

    Each unit is scored by the spike anomaly's own rule (``anomalies.spike_scores``),
    its previous ``SPIKE_BASELINE`` values as the baseline row.
    """
    n, units = values.shape
    best = np.full(units, -1.0)  # below any score: a unit scored 0 is still ranked
    frame = np.full(units, -1, dtype=np.int64)
    median_at = np.full(units, np.nan)
    for j in range(max(SPIKE_MIN_BASELINE, n - RECENT_FRAMES), n):
        baselines = values[max(0, j - SPIKE_BASELINE):j].T.astype(np.float64)
        z, median, _, counts = spike_scores(baselines, values[j].astype(np.float64))
        better = (z > best) & (counts >= SPIKE_MIN_BASELINE)
        best = np.where(better, z, best)
        frame = np.where(better, j, frame)
        median_at = np.where(better, median, median_at)
    return best, frame, median_at


def layer_health(w: LayerWindow, top_k: int) -> dict[str, Any]:
    """The health document of one layer (see the module docstring)."""
    ts, steps, values = w.frames()
    n = int(ts.size)
    enough = n >= RECENT_FRAMES
    dead = _stuck(values == 0.0, values, ts, steps, w.units) if enough else []
    saturated = (_stuck(saturated_mask(values), values, ts, steps, w.units)
                 if enough else [])
    scores, frames, medians = _spike_scores(values)
    ranked = sorted(np.flatnonzero(frames >= 0).tolist(), key=lambda u: (-scores[u], u))
    spikes = []
    for unit in ranked[:top_k]:
        j = int(frames[unit])
        step = int(steps[j])
        spikes.append({"unit": unit, "location": unit_location(unit, w.units),
                       "score": float(scores[unit]), "value": float(values[j, unit]),
                       "median": float(medians[unit]),
                       "step": step if step != NO_STEP else None, "timestamp": float(ts[j])})
    return {"model_id": w.model_id, "layer_id": w.layer_id, "units": w.units, "frames": n,
            "dead_units": dead, "dead_count": len(dead),
            "saturated_units": saturated, "saturated_count": len(saturated),
            "top_spikes": spikes,
            "criteria": {"recent_frames": RECENT_FRAMES, "saturation_level": SATURATION_LEVEL,
                         "spike_baseline": SPIKE_BASELINE,
                         "spike_min_baseline": SPIKE_MIN_BASELINE, "top_k": top_k}}


def store_health(store: ActivationStore, top_k: int) -> dict[str, Any]:
    """Every layer of a snapshot, in its order."""
    layers = []
    for windows in store.models.values():
        for w in windows.values():
            check_deadline()
            layers.append(layer_health(w, top_k))
    return {"layers": layers}
