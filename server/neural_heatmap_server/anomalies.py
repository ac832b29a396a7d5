"""Anomaly detectors, the severity table, and cool-down de-duplication.

Every detector scores every frame, in the order a layer's frames arrived (a
client's step order), against a baseline made of the layer's earlier frames
only, whatever request carried them: the layer's ``LayerHistory`` carries what
a baseline needs from one batch to the next. So the same frames give the same
anomalies (types, units, steps, scores, severities) whether they come one per
request or all in one, and a frame whose score reaches the type's first
threshold is an anomaly (before the cool-down). Each type's score, per frame:

- ``non_finite``: share of the frame's units that are NaN or infinite; any is
  critical. Worst unit: the first non-finite one.
- ``exploding``: the frame's largest finite |activation|. Worst unit: where it is.
- ``dead_units``: share of units that were exactly 0 in this frame and in each
  of the ``DEAD_UNIT_FRAMES - 1`` frames before it (dead ReLUs; the layer's
  first 7 frames cannot have one). Worst unit: the first dead one.
- ``saturation``: share of units pinned at a bound: at |value| >=
  ``SATURATION_LEVEL`` when the frame lies within [-1, 1] (tanh/sigmoid), else
  at exactly the frame's largest magnitude when two or more units share it (a
  clip value). Layers of fewer than ``SATURATION_MIN_UNITS`` units are skipped:
  one unit of a 4-logit output near 1 says nothing about saturation.
- ``spike``: robust z ``|a - median| / max(1.4826 * MAD, 1e-9, 1e-6 * |median|)``
  of the frame's activity ``a`` (``store.frame_activity``) against the finite
  activities among the ``SPIKE_BASELINE`` frames just before it (at least
  ``SPIKE_MIN_BASELINE`` of them, else no score); capped at ``MAX_SCORE``.
  ``median`` and ``MAD`` are numpy's (mean of the two middle values for an
  even count). A linear ramp scores 32.5 / (1.4826 * 16) = 1.37 against a full
  baseline, whatever its slope (at most 9 / (1.4826 * 4) = 1.52 while the
  baseline fills); a frame's own activity never enters its baseline. Worst
  unit: the one farthest from the median.

``SEVERITY_TABLE`` is the one place that maps a score to a severity. The scores
are computed for a whole batch at once with numpy (a strided view of the
history and the batch for the spike baselines, scored ``SPIKE_CHUNK`` frames at
a time), so a backfill of thousands of frames costs a few array passes, not a
Python loop per frame; descriptions are built only for the frames reported.
The cool-down (``AnomalyDetector``) is defined on frame timestamps, so it too
is the same however the frames were batched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from neural_heatmap_contract.enums import SEVERITIES

from .layout_canvas import unit_location
from .store import FloatArray, FrameBatch, frame_activity

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES, start=1)}

# Score thresholds at which each type becomes (low, medium, high, critical).
# A score below the first threshold is not an anomaly.
SEVERITY_TABLE: dict[str, tuple[float, float, float, float]] = {
    # share of NaN/Inf units in the frame: any is critical
    "non_finite": (0.0, 0.0, 0.0, 0.0),
    # the frame's largest |activation|
    "exploding": (50.0, 200.0, 1e3, 1e4),
    # share of units exactly 0 in this frame and the DEAD_UNIT_FRAMES - 1 before it
    "dead_units": (0.25, 0.5, 0.75, 0.95),
    # share of units pinned at a bound
    "saturation": (0.2, 0.4, 0.6, 0.9),
    # robust z-score of the frame's activity against the SPIKE_BASELINE frames before it
    "spike": (6.0, 10.0, 20.0, 50.0),
}

_THRESHOLDS = {name: np.asarray(levels) for name, levels in SEVERITY_TABLE.items()}

DEAD_UNIT_FRAMES = 8
SPIKE_BASELINE = 64
SPIKE_MIN_BASELINE = 16
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
SATURATION_LEVEL = 0.99
SATURATION_MIN_UNITS = 8
MAX_SCORE = 1e12  # keeps scores finite (JSON) when a spike meets a flat baseline

# row r of the carried zero runs stands for the frame 7 - r before the batch
_RUN_REACH = (DEAD_UNIT_FRAMES - 1 - np.arange(DEAD_UNIT_FRAMES - 1))[:, None]
SPIKE_CHUNK = 4096  # frames scored at once: bounds the sorted copies to 2 x 2 MiB

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


def severity_ranks(anomaly_type: str, scores: FloatArray) -> IntArray:
    """Per score, its ``SEVERITY_RANK`` by ``SEVERITY_TABLE`` (0: not an anomaly)."""
    if anomaly_type == "non_finite":
        return np.where(scores > 0, SEVERITY_RANK["critical"], 0)
    # how many thresholds the score reaches; the scores are finite (NaN would rank high)
    return np.searchsorted(_THRESHOLDS[anomaly_type], scores, side="right")


@dataclass
class Finding:
    """One frame's anomaly of one type, before severity, cool-down and sequencing."""

    anomaly_type: str
    score: float
    frame: int
    unit: int
    description: str
    metadata: dict[str, Any]


@dataclass
class Scored:
    """One detector's scores for a batch.

    Attributes:
        anomaly_type: The detector's type.
        scores: ``(n,)`` finite score per frame; below the type's first threshold
            the frame is not anomalous.
        describe: The finding of one frame, built only for the frames reported
            (a backfill may have thousands of anomalous frames the cool-down drops).
    """

    anomaly_type: str
    scores: FloatArray
    describe: Callable[[int], Finding]


@dataclass
class LayerHistory:
    """What a layer's baselines need from its earlier frames (a few floats per unit).

    Attributes:
        activity: The activities of the last ``SPIKE_BASELINE`` frames, oldest first.
        zero_run: Per unit, how many of the newest frames were exactly 0, capped
            at ``DEAD_UNIT_FRAMES - 1`` (all the dead-unit test needs from the past).
    """

    units: int
    activity: FloatArray = field(default_factory=lambda: np.empty(0))
    zero_run: npt.NDArray[np.uint8] = field(init=False)

    def __post_init__(self) -> None:
        self.zero_run = np.zeros(self.units, dtype=np.uint8)

    def baselines(self, activity: FloatArray) -> FloatArray:
        """``(n, SPIKE_BASELINE)``: row i holds the activities of the frames before frame i
        of a batch with these activities (NaN where the layer had no frame yet).

        A read-only view over one array of ``SPIKE_BASELINE + n`` values: nothing of
        size ``n x SPIKE_BASELINE`` is allocated here (``_spike`` works in chunks).
        """
        pad = np.full(SPIKE_BASELINE - self.activity.size, np.nan)
        joined = np.concatenate([pad, self.activity, activity])
        step = joined.strides[0]
        rows: FloatArray = np.lib.stride_tricks.as_strided(
            joined, shape=(activity.size, SPIKE_BASELINE), strides=(step, step),
            writeable=False)
        return rows

    def zero_runs(self, zero: BoolArray) -> BoolArray:
        """``(n + DEAD_UNIT_FRAMES - 1, units)``: the batch's zero mask after the
        rows the carried runs stand for (row r is zero where the run reaches it)."""
        return np.concatenate([self.zero_run[None, :] >= _RUN_REACH, zero])

    def advance(self, activity: FloatArray, zeros: BoolArray) -> None:
        """Take in a batch (its activities and ``zero_runs`` mask) as the newest frames."""
        # a copy of the tail: a view would keep a big batch's activities alive
        self.activity = np.concatenate([self.activity, activity[-SPIKE_BASELINE:]]
                                       )[-SPIKE_BASELINE:].copy()
        newest_first = zeros[::-1][:DEAD_UNIT_FRAMES - 1]  # the run counts at most these
        self.zero_run = np.logical_and.accumulate(newest_first, axis=0).sum(
            axis=0, dtype=np.uint8)


@dataclass
class _Frames:
    """A batch's values and what several detectors derive from them, computed once."""

    values: npt.NDArray[np.float32]
    finite: BoolArray | None  # None when every value is finite (the common case)
    magnitude: npt.NDArray[np.float32]  # |value|, 0 where not finite
    peaks: npt.NDArray[np.float32]  # per frame, the largest magnitude

    @classmethod
    def of(cls, values: npt.NDArray[np.float32]) -> _Frames:
        finite = np.isfinite(values)
        if finite.all():
            magnitude = np.abs(values)
            return cls(values, None, magnitude, magnitude.max(axis=1))
        magnitude = np.abs(np.where(finite, values, np.float32(0.0)))
        return cls(values, finite, magnitude, magnitude.max(axis=1))

    @property
    def units(self) -> int:
        return int(self.values.shape[1])


def _no_finding(frame: int) -> Finding:
    raise AssertionError(f"frame {frame} scored 0, so it has no finding")


def _non_finite(frames: _Frames) -> Scored:
    if frames.finite is None:
        return Scored("non_finite", np.zeros(len(frames.values)), _no_finding)
    bad = ~frames.finite
    counts = bad.sum(axis=1)

    def describe(frame: int) -> Finding:
        count = int(counts[frame])
        nan = int(np.isnan(frames.values[frame]).sum())
        return Finding("non_finite", count / frames.units, frame, int(np.argmax(bad[frame])),
                       f"{count} of {frames.units} units are NaN or infinite",
                       {"nan_count": nan, "inf_count": count - nan})
    return Scored("non_finite", counts / frames.units, describe)


def _exploding(frames: _Frames) -> Scored:
    threshold = SEVERITY_TABLE["exploding"][0]

    def describe(frame: int) -> Finding:
        row = frames.magnitude[frame]
        peak = float(frames.peaks[frame])
        return Finding("exploding", peak, frame, int(np.argmax(row)),
                       f"activations exploded to |{peak:.4g}|",
                       {"max_abs_activation": peak,
                        "units_above_threshold": int((row >= threshold).sum())})
    return Scored("exploding", frames.peaks.astype(np.float64), describe)


def _dead_units(frames: _Frames, zeros: BoolArray) -> Scored:
    n = len(frames.values)
    dead = zeros[:n].copy()
    for back in range(1, DEAD_UNIT_FRAMES):  # frame i of the batch is row i + 7 of zeros
        dead &= zeros[back:back + n]
    counts = np.count_nonzero(dead, axis=1)

    def describe(frame: int) -> Finding:
        count = int(counts[frame])
        return Finding("dead_units", count / frames.units, frame, int(np.argmax(dead[frame])),
                       f"{count} of {frames.units} units stayed at exactly 0 "
                       f"for {DEAD_UNIT_FRAMES} frames (dead ReLUs)",
                       {"dead_units": count, "frames": DEAD_UNIT_FRAMES})
    return Scored("dead_units", counts / frames.units, describe)


def saturated_units(magnitude: npt.NDArray[np.float32], peaks: npt.NDArray[np.float32]
                    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The saturation rule per frame and unit, the one place it is written.

    A unit is saturated at ``|v| >= SATURATION_LEVEL`` when its frame lies within
    [-1, 1] (a tanh/sigmoid layer), else at exactly the frame's largest magnitude
    when two or more units share it (a clip value; a frame of zeros pins nothing).
    The anomaly scores the share of such units; layer health names them.

    Args:
        magnitude: ``|value|`` per frame and unit, 0 where not finite.
        peaks: Each frame's largest magnitude.

    Returns:
        ``(saturated, bounded)``: the per-unit mask and, per frame, whether it lies
        within [-1, 1].
    """
    bounded = peaks <= 1.0 + 1e-6
    level = np.where(bounded, np.float32(SATURATION_LEVEL), peaks * np.float32(1 - 1e-6))
    saturated = magnitude >= level[:, None]
    clipped_alone = ~bounded & ((np.count_nonzero(saturated, axis=1) < 2) | (peaks <= 0))
    saturated[clipped_alone] = False
    return saturated, bounded


def _saturation(frames: _Frames) -> Scored:
    n = len(frames.values)
    if frames.units < SATURATION_MIN_UNITS:
        return Scored("saturation", np.zeros(n), _no_finding)
    peaks = frames.peaks
    saturated, bounded = saturated_units(frames.magnitude, peaks)
    counts = np.count_nonzero(saturated, axis=1)

    def describe(frame: int) -> Finding:
        in_bounds = bool(bounded[frame])
        bound = "tanh/sigmoid bound" if in_bounds else "clip value"
        count = int(counts[frame])
        return Finding("saturation", count / frames.units, frame,
                       int(np.argmax(saturated[frame])),
                       f"{count} of {frames.units} units are saturated at the {bound}",
                       {"saturated_units": count,
                        "bound": 1.0 if in_bounds else float(peaks[frame])})
    return Scored("saturation", counts / frames.units, describe)


def _middle(ordered: FloatArray, counts: IntArray) -> FloatArray:
    """Row medians of rows sorted with their NaNs last, ``counts`` finite values each."""
    rows = np.arange(len(ordered))  # a row without finite values gets NaN (index -1 or 0)
    low, high = ordered[rows, (counts - 1) // 2], ordered[rows, counts // 2]
    return np.asarray((low + high) / 2, dtype=np.float64)


def spike_scores(baselines: FloatArray, activity: FloatArray
                 ) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Robust z of each activity against its baseline row (see the module docstring).

    Returns:
        ``(z, median, scale, baseline_frames)`` per frame; ``z`` is 0 where the
        baseline holds fewer than ``SPIKE_MIN_BASELINE`` finite values or the
        activity is not finite.
    """
    counts = np.isfinite(baselines).sum(axis=1)
    median = _middle(np.sort(baselines, axis=1), counts)
    mad = _middle(np.sort(np.abs(baselines - median[:, None]), axis=1), counts)
    scale = np.maximum(np.maximum(MAD_TO_SIGMA * mad, 1e-9), 1e-6 * np.abs(median))
    usable = (counts >= SPIKE_MIN_BASELINE) & np.isfinite(activity)
    with np.errstate(invalid="ignore"):
        z = np.where(usable, np.minimum(np.abs(activity - median) / scale, MAX_SCORE), 0.0)
    return z, median, scale, counts


def _spike(frames: _Frames, history: LayerHistory, activity: FloatArray) -> Scored:
    baselines = history.baselines(activity)
    # in chunks of rows: sorting copies them, and a batch may hold millions of small frames
    parts = [spike_scores(baselines[i:i + SPIKE_CHUNK], activity[i:i + SPIKE_CHUNK])
             for i in range(0, len(activity), SPIKE_CHUNK)]
    z, median, scale, counts = (np.concatenate(p) for p in zip(*parts, strict=True))

    def describe(frame: int) -> Finding:
        row = frames.values[frame]
        mid = float(median[frame])
        distance = np.where(np.isfinite(row), np.abs(row - mid), -1.0)
        score = float(z[frame])
        return Finding("spike", score, frame, int(np.argmax(distance)),
                       f"mean activation {float(activity[frame]):.4g} is {score:.1f} robust "
                       f"standard deviations from the median {mid:.4g} of the previous "
                       f"{SPIKE_BASELINE} frames",
                       {"layer_mean": float(activity[frame]), "median": mid,
                        "mad_scale": float(scale[frame]),
                        "baseline_frames": int(counts[frame])})
    return Scored("spike", z, describe)


def score_batch(batch: FrameBatch, history: LayerHistory) -> list[Scored]:
    """Every detector's scores for a batch, then ``history`` moved past the batch."""
    frames = _Frames.of(batch.values)
    activity = frame_activity(batch.values)
    zeros = history.zero_runs(batch.values == 0.0)
    scored = [_non_finite(frames), _exploding(frames), _dead_units(frames, zeros),
              _saturation(frames), _spike(frames, history, activity)]
    history.advance(activity, zeros)
    return scored


class AnomalyDetector:
    """Runs every detector on each batch of a layer and de-duplicates repeats.

    A repeat of the same (model, layer, type) whose frame timestamp lies within
    ``cooldown`` seconds of the frame of the last one reported is suppressed
    unless it is more severe; the number suppressed is reported in the next
    anomaly's ``metadata.suppressed``. Frame time, not arrival time: the same
    frames are de-duplicated the same way however they were batched or paced.

    Args:
        cooldown: Seconds of frame time; 0 reports every firing.
    """

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self._history: dict[tuple[str, str], LayerHistory] = {}
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._suppressed: dict[tuple[str, str, str], int] = {}

    def detect(self, batch: FrameBatch) -> list[dict[str, Any]]:
        """Anomalies (without ``sequence``) in a layer's batch, in frame order (then in
        ``score_batch``'s order of types)."""
        layer = (batch.model_id, batch.layer_id)
        history = self._history.get(layer)
        if history is None:
            history = self._history[layer] = LayerHistory(batch.units)
        scored = score_batch(batch, history)
        ranks = [severity_ranks(s.anomaly_type, s.scores) for s in scored]
        hits = [np.flatnonzero(r) for r in ranks]
        frame_of = np.concatenate(hits)
        type_of = np.concatenate([np.full(h.size, k) for k, h in enumerate(hits)])
        order = np.lexsort((type_of, frame_of))
        rank_of = np.concatenate([r[h] for r, h in zip(ranks, hits, strict=True)])[order]
        out = []
        for frame, kind, rank in zip(frame_of[order].tolist(), type_of[order].tolist(),
                                     rank_of.tolist(), strict=True):
            timestamp = float(batch.timestamps[frame])
            suppressed = self._admit((*layer, scored[kind].anomaly_type), timestamp, rank)
            if suppressed is not None:
                out.append(self._anomaly(batch, scored[kind].describe(frame),
                                         SEVERITIES[rank - 1], timestamp, suppressed))
        return out

    def adopt(self, other: AnomalyDetector) -> None:
        """Take over ``other``'s baselines and cool-downs (sharded shape: see
        ``ActivationStore.adopt``)."""
        self._history.update(other._history)
        self._last.update(other._last)
        self._suppressed.update(other._suppressed)

    def forget_model(self, model_id: str) -> None:
        """Drop a model's baselines and cool-downs (sharded shape: its partition moved)."""
        self._history = {k: v for k, v in self._history.items() if k[0] != model_id}
        self._last = {k: v for k, v in self._last.items() if k[0] != model_id}
        self._suppressed = {k: v for k, v in self._suppressed.items() if k[0] != model_id}

    def _admit(self, key: tuple[str, str, str], timestamp: float, rank: int) -> int | None:
        """The suppressed count to report with this firing, or None to suppress it."""
        last = self._last.get(key)
        if (self.cooldown > 0 and last is not None and abs(timestamp - last[0]) < self.cooldown
                and rank <= last[1]):
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = (timestamp, rank)
        return self._suppressed.pop(key, 0)

    @staticmethod
    def _anomaly(batch: FrameBatch, f: Finding, severity: str, timestamp: float,
                 suppressed: int) -> dict[str, Any]:
        location = unit_location(f.unit, batch.units)
        step = int(batch.steps[f.frame])
        where = f"{batch.model_id}/{batch.layer_id}"
        return {
            "anomaly_type": f.anomaly_type,
            "severity": severity,
            "timestamp": timestamp,
            "location": location,
            "layer": batch.layer_id,
            "model_id": batch.model_id,
            "score": f.score,
            "description": f"{severity.capitalize()} {f.anomaly_type.replace('_', ' ')} in "
                           f"{where}: {f.description} (worst unit {f.unit} at "
                           f"x={location['x']}, y={location['y']}).",
            "metadata": {**f.metadata, "unit": f.unit, "step": step if step >= 0 else None,
                         "suppressed": suppressed},
        }
