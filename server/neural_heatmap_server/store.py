"""Rolling activation windows: one preallocated numpy ring buffer per model/layer.

Ingestion writes whole batches into the ring with at most two slice
assignments, so a batch of a thousand frames costs a couple of ``memcpy``-like
operations rather than a Python loop. Alongside the raw values each slot keeps
the frame's *activity* (the mean of its finite unit activations), computed
row by row, so a frame's activity does not depend on the batch it came in.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .errors import ApiError, invalid, not_found
from .layout_canvas import canvas_shape
from .memory import window_bytes

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

NO_STEP = -1


@dataclass
class FrameBatch:
    """Frames of one model/layer, in arrival order.

    Attributes:
        model_id: The model the frames belong to.
        layer_id: The layer the frames belong to.
        timestamps: ``(n,)`` seconds since the epoch.
        steps: ``(n,)`` training steps, ``NO_STEP`` where absent.
        values: ``(n, units)`` activations; NaN/Inf are data.
    """

    model_id: str
    layer_id: str
    timestamps: FloatArray
    steps: IntArray
    values: Float32Array

    @property
    def units(self) -> int:
        """Units per frame."""
        return int(self.values.shape[1])


def frame_activity(values: Float32Array) -> FloatArray:
    """Per-frame mean over the finite activations (NaN when none is finite).

    Using only finite values keeps one NaN unit from erasing the whole frame
    from the layer's activity series; the NaN itself is reported as an anomaly.
    """
    finite = np.isfinite(values)
    if finite.all():
        return np.asarray(values.mean(axis=1, dtype=np.float64), dtype=np.float64)
    counts = finite.sum(axis=1)
    sums = np.where(finite, values, 0.0).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass
class LayerWindow:
    """The last ``capacity`` frames of one layer.

    Attributes:
        model_id: Owning model.
        layer_id: This layer.
        units: Units per frame, fixed by the first frame.
        capacity: Ring size (``--window``).
    """

    model_id: str
    layer_id: str
    units: int
    capacity: int
    total_frames: int = 0
    first_timestamp: float = float("nan")
    last_timestamp: float = float("nan")
    _values: Float32Array = field(init=False, repr=False)
    _timestamps: FloatArray = field(init=False, repr=False)
    _steps: IntArray = field(init=False, repr=False)
    _activity: FloatArray = field(init=False, repr=False)
    _head: int = field(default=0, init=False)
    _count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._values = np.zeros((self.capacity, self.units), dtype=np.float32)
        self._timestamps = np.zeros(self.capacity, dtype=np.float64)
        self._steps = np.full(self.capacity, NO_STEP, dtype=np.int64)
        self._activity = np.zeros(self.capacity, dtype=np.float64)

    @property
    def count(self) -> int:
        """Frames currently in the window."""
        return self._count

    @property
    def canvas(self) -> tuple[int, int]:
        """``(width, height)`` of this layer's canvas grid."""
        return canvas_shape(self.units)

    def append(self, batch: FrameBatch) -> None:
        """Write a batch into the ring, evicting the oldest frames.

        Args:
            batch: Frames with ``batch.units == self.units`` (checked by the caller).
        """
        n = len(batch.timestamps)
        if n == 0:
            return
        activity = frame_activity(batch.values)
        ts, steps, values = batch.timestamps, batch.steps, batch.values
        if n > self.capacity:
            ts, steps, values, activity = (
                ts[-self.capacity:], steps[-self.capacity:],
                values[-self.capacity:], activity[-self.capacity:],
            )
        m = len(ts)
        start = self._head
        first = min(m, self.capacity - start)
        self._values[start:start + first] = values[:first]
        self._timestamps[start:start + first] = ts[:first]
        self._steps[start:start + first] = steps[:first]
        self._activity[start:start + first] = activity[:first]
        rest = m - first
        if rest:
            self._values[:rest] = values[first:]
            self._timestamps[:rest] = ts[first:]
            self._steps[:rest] = steps[first:]
            self._activity[:rest] = activity[first:]
        self._head = (start + m) % self.capacity
        self._count = min(self.capacity, self._count + m)
        if self.total_frames == 0:
            self.first_timestamp = float(batch.timestamps[0])
        self.last_timestamp = float(batch.timestamps[-1])
        self.total_frames += n

    def _ordered_index(self) -> npt.NDArray[np.intp]:
        start = (self._head - self._count) % self.capacity
        return (start + np.arange(self._count)) % self.capacity

    def series(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """``(timestamps, steps, activity)`` oldest first (copies)."""
        idx = self._ordered_index()
        return self._timestamps[idx], self._steps[idx], self._activity[idx]

    def frames(self, last: int | None = None) -> tuple[FloatArray, IntArray, Float32Array]:
        """``(timestamps, steps, values)`` of the last ``last`` frames (all by default)."""
        idx = self._ordered_index()
        if last is not None:
            idx = idx[-last:] if last > 0 else idx[:0]
        return self._timestamps[idx], self._steps[idx], self._values[idx]

    def unit_columns(self, units: IntArray) -> tuple[FloatArray, IntArray, Float32Array]:
        """``(timestamps, steps, values of these units)`` oldest first, copying only the
        chosen columns (a few units of a wide layer cost a few columns, not the window)."""
        idx = self._ordered_index()
        return self._timestamps[idx], self._steps[idx], self._values[np.ix_(idx, units)]

    def newest_values(self, start: float | None = None,
                      end: float | None = None) -> Float32Array | None:
        """A copy of the unit values of the newest frame with ``start <= timestamp <= end``
        (an unset bound is open), or None when no frame is in the range.

        One row is copied, so a rendering of the live canvas can take it on the event loop.
        """
        idx = self._ordered_index()
        ts = self._timestamps[idx]
        inside = np.ones(ts.shape, dtype=bool)
        if start is not None:
            inside &= ts >= start
        if end is not None:
            inside &= ts <= end
        hits = np.flatnonzero(inside)
        return self._values[idx[hits[-1]]].copy() if hits.size else None

    def snapshot(self, values: bool = True) -> LayerWindow:
        """A private copy (oldest frame first) that a worker thread may read while
        ingestion keeps writing this window.

        Args:
            values: Copy the unit values too; without them (layer-level analytics
                need only the activity series) ``frames()`` of the copy fails
                loudly instead of returning wrong data.
        """
        idx = self._ordered_index()
        frozen = copy.copy(self)  # the scalars; the arrays are replaced below
        frozen.capacity = max(self._count, 1)
        frozen._head = 0
        frozen._timestamps = self._timestamps[idx]
        frozen._steps = self._steps[idx]
        frozen._activity = self._activity[idx]
        frozen._values = (self._values[idx] if values
                          else np.empty((0, self.units), dtype=np.float32))
        return frozen


class ActivationStore:
    """All layer windows, keyed by model then layer (in first-seen order).

    Any client can name new models and layers, and each window preallocates
    ``capacity x units`` floats, so the number of windows is capped at
    ``max_layers`` and the bytes they hold at ``memory_budget`` (``memory.py``).

    Args:
        capacity: Frames per window (``--window``).
        max_units: ``--max-units``.
        max_layers: ``--max-layers``.
        memory_budget: Bytes all windows together may hold (``--memory-budget``);
            None: no budget (snapshots, unit tests).
    """

    def __init__(self, capacity: int, max_units: int, max_layers: int,
                 memory_budget: int | None = None) -> None:
        self.capacity = capacity
        self.max_units = max_units
        self.max_layers = max_layers
        self.memory_budget = memory_budget
        self.models: dict[str, dict[str, LayerWindow]] = {}
        self.layer_count = 0
        self.bytes_held = 0  # window_bytes() of every window, kept as windows are created
        # Bumped by every append: an answer computed at one version is still right
        # while the version has not moved (see ``correlation.CorrelationCache``).
        self.version = 0
        # Sharded shape: called with a model id about to be answered 404; it may raise
        # a better answer (503 while this server rebuilds the model's partition).
        self.unknown_model_hook: Callable[[str], None] | None = None

    def validate(self, batches: list[tuple[int, FrameBatch]]) -> None:
        """Check every batch against the known unit counts before anything is written.

        Args:
            batches: ``(index of the batch's first frame in the request, batch)``.

        Raises:
            ApiError: 400 naming the first offending frame index, also when the
                batches would create more than ``max_layers`` windows; 429
                ``overloaded`` when a new window would not fit the memory budget.
        """
        pending: dict[tuple[str, str], int] = {}
        new_bytes = 0
        for index, batch in batches:
            key = (batch.model_id, batch.layer_id)
            if batch.units == 0 or batch.units > self.max_units:
                raise invalid(
                    f"a frame must have between 1 and {self.max_units} values, "
                    f"got {batch.units}", index=index, units=batch.units)
            known = self.layer_or_none(*key)
            expected = known.units if known is not None else pending.get(key)
            if expected is not None and expected != batch.units:
                raise invalid(
                    f"layer {batch.model_id}/{batch.layer_id} has {expected} units, "
                    f"a frame has {batch.units}", index=index, expected_units=expected,
                    units=batch.units, constraint="units == the layer's units")
            if known is None and key not in pending and \
                    self.layer_count + len(pending) >= self.max_layers:
                raise invalid(
                    f"layer {batch.model_id}/{batch.layer_id} would exceed the limit of "
                    f"{self.max_layers} layers held (--max-layers)", index=index,
                    limit=self.max_layers, constraint=f"layers held <= {self.max_layers}")
            if known is None and key not in pending:
                new_bytes += window_bytes(self.capacity, batch.units)
                self._admit(batch, index, new_bytes)
            pending.setdefault(key, batch.units)

    def _admit(self, batch: FrameBatch, index: int, new_bytes: int) -> None:
        """Refuse a new window that would take the windows past the memory budget.

        429 rather than 400: the request is well-formed, the server is full. No
        ``Retry-After``: windows are never freed while the server runs, so waiting
        does not help; the message says what is left so the caller can choose fewer
        units or layers.
        """
        budget = self.memory_budget
        if budget is None or self.bytes_held + new_bytes <= budget:
            return
        cost = window_bytes(self.capacity, batch.units)
        remaining = max(0, budget - self.bytes_held - (new_bytes - cost))
        raise ApiError(
            "overloaded",
            f"layer {batch.model_id}/{batch.layer_id} needs {cost} bytes for its window "
            f"({self.capacity} frames x {batch.units} units), but the memory budget of "
            f"{budget} bytes (--memory-budget) has only {remaining} bytes left",
            index=index, budget_bytes=budget, layer_bytes=cost, remaining_bytes=remaining,
            flag="--memory-budget")

    def append(self, batch: FrameBatch) -> LayerWindow:
        """Append a validated batch, creating the model/layer on first sight."""
        self.version += 1
        layers = self.models.setdefault(batch.model_id, {})
        window = layers.get(batch.layer_id)
        if window is None:
            window = LayerWindow(batch.model_id, batch.layer_id, batch.units, self.capacity)
            layers[batch.layer_id] = window
            self.layer_count += 1
            self.bytes_held += window_bytes(self.capacity, batch.units)
        window.append(batch)
        return window

    def _unknown_model(self, model_id: str) -> ApiError:
        if self.unknown_model_hook is not None:
            self.unknown_model_hook(model_id)
        return not_found(f"unknown model {model_id!r}", model_id=model_id)

    def adopt(self, other: ActivationStore) -> None:
        """Take over every window of ``other`` (sharded shape: a partition rebuilt apart,
        so that no query ever saw it half replayed)."""
        for model_id, layers in other.models.items():
            self.forget_model(model_id)
            self.models[model_id] = layers
            self.layer_count += len(layers)
            self.bytes_held += sum(window_bytes(self.capacity, w.units) for w in layers.values())
        self.version += 1

    def forget_model(self, model_id: str) -> None:
        """Drop a model's windows (sharded shape: its partition moved to another server)."""
        layers = self.models.pop(model_id, {})
        self.layer_count -= len(layers)
        self.bytes_held -= sum(window_bytes(self.capacity, w.units) for w in layers.values())
        self.version += 1

    def snapshot(self, windows: list[LayerWindow], values: bool = True) -> ActivationStore:
        """A store holding private copies of ``windows`` only (see ``LayerWindow.snapshot``).

        Taken on the event loop, between two ingestions, so the copy is consistent;
        the analytics then run on it in a worker thread. Its ``version`` is the
        version the copy was taken at.
        """
        frozen = ActivationStore(self.capacity, self.max_units, self.max_layers)
        frozen.version = self.version
        for w in windows:
            frozen.models.setdefault(w.model_id, {})[w.layer_id] = w.snapshot(values)
            frozen.layer_count += 1
        return frozen

    def layer_or_none(self, model_id: str, layer_id: str) -> LayerWindow | None:
        """The window of a layer, or None when it has never been seen."""
        return self.models.get(model_id, {}).get(layer_id)

    def require_model(self, model_id: str) -> dict[str, LayerWindow]:
        """The layers of a model, or a 404."""
        layers = self.models.get(model_id)
        if layers is None:
            raise self._unknown_model(model_id)
        return layers

    def select(
        self, model_ids: list[str] | None, layer_ids: list[str] | None,
        strict_models: bool = True, strict_layers: bool = True,
    ) -> list[LayerWindow]:
        """Pick layer windows by model and layer.

        Args:
            model_ids: Models to include (all when None/empty).
            layer_ids: Layers to include, as ``layer`` or ``model/layer`` (all when None/empty).
            strict_models: Raise 404 for a model that does not exist (explicit request
                parameters); when False (values from the stored filter) unknown
                names are simply ignored.
            strict_layers: The same for layers.
        """
        chosen_models = list(model_ids) if model_ids else list(self.models)
        windows: list[LayerWindow] = []
        for model_id in chosen_models:
            if model_id not in self.models:
                if strict_models:
                    raise self._unknown_model(model_id)
                continue
            windows.extend(self.models[model_id].values())
        if not layer_ids:
            return windows
        wanted = set(layer_ids)
        picked = [w for w in windows
                  if w.layer_id in wanted or f"{w.model_id}/{w.layer_id}" in wanted]
        if strict_layers:
            seen = {w.layer_id for w in picked} | {f"{w.model_id}/{w.layer_id}" for w in picked}
            missing = [name for name in layer_ids if name not in seen]
            if missing:
                raise not_found(f"unknown layer {missing[0]!r}", layer_id=missing[0])
        # Named layers come back in the order they were named (within each model), not in
        # the order their first frames happened to arrive: pipelined ingest batches may
        # register a model's layers in any order, and a matrix's rows must not depend on it.
        rank = {name: i for i, name in reversed(list(enumerate(layer_ids)))}

        def named_at(w: LayerWindow) -> int:
            return min(rank.get(w.layer_id, len(rank)),
                       rank.get(f"{w.model_id}/{w.layer_id}", len(rank)))

        model_rank = {m: i for i, m in enumerate(chosen_models)}
        return sorted(picked, key=lambda w: (model_rank[w.model_id], named_at(w)))
