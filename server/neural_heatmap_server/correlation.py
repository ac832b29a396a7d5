"""Pearson correlation between layer activity series or between units.

Method: the chosen series are aligned (see ``alignment``), samples where any
series is not finite are dropped, and the Pearson matrix is computed as the
normalised cross-product of the centred series, which is what
``numpy.corrcoef`` computes. A constant series has no defined correlation;
since NaN is not valid JSON, it correlates 0 with every other series and 1
with itself, and its label is listed in ``metadata.constant_labels``.

Layer granularity, when the series do not all share one step array (say a new
model logged at steps 0..5 next to one at 0..1000), is pairwise-complete like
pandas' ``DataFrame.corr``: series with identical steps form a group whose own
block uses all its samples, and each pair of groups is aligned on its own, so
one short model no longer cuts every other series down to its few steps. When
all series share their steps (the common case) the single global alignment
above is used unchanged. Unit granularity always uses the global alignment.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from neural_heatmap_contract.enums import GRANULARITIES
from neural_heatmap_contract.media import encode_matrix

from .alignment import align, time_mask
from .errors import invalid
from .store import ActivationStore, Float32Array, FloatArray, IntArray, LayerWindow
from .wire import dumps
from .workers import check_deadline

JSON_ROWS_PER_PIECE = 64  # rows of a JSON answer per piece written to the client


@dataclass
class CorrelationQuery:
    """What to correlate.

    Attributes:
        model_ids: Models (all when None).
        layer_ids: Layers as ``layer`` or ``model/layer`` (all when None).
        granularity: ``layer`` (activity series) or ``unit`` (every unit of the layers).
        start_time: Seconds since the epoch, inclusive.
        end_time: Seconds since the epoch, inclusive.
        strict_models: Whether an unknown model is a 404 (explicit parameter, not filter).
        strict_layers: Whether an unknown layer is a 404 (explicit parameter, not filter).
        max_labels: Most labels (layers, or units at unit granularity); more is a 400
            (``--max-matrix-labels``).
    """

    model_ids: list[str] | None = None
    layer_ids: list[str] | None = None
    granularity: str = "layer"
    start_time: float | None = None
    end_time: float | None = None
    strict_models: bool = True
    strict_layers: bool = True
    max_labels: int = 4096

    def key(self) -> tuple[Any, ...]:
        """Everything that decides the answer, besides the data (hashable)."""
        return (None if self.model_ids is None else tuple(self.model_ids),
                None if self.layer_ids is None else tuple(self.layer_ids),
                self.granularity, self.start_time, self.end_time,
                self.strict_models, self.strict_layers, self.max_labels)


@dataclass
class CorrelationResult:
    """A correlation matrix with its labels and how it was made."""

    matrix: FloatArray
    labels: list[str]
    timestamp: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The seed's ``CorrelationMatrix`` shape."""
        return {"matrix": self.matrix.tolist(), "labels": self.labels,
                "timestamp": self.timestamp, "metadata": self.metadata}

    def to_json_pieces(self) -> list[bytes]:
        """``to_json()`` encoded row by row, in pieces of ``JSON_ROWS_PER_PIECE`` rows.

        Encoding a 4096 x 4096 matrix in one ``json.dumps`` call would hold the
        GIL for seconds; one call per row lets the event loop run in between, and
        pieces (rather than one 330 MB text) let the answer be written to the client
        a piece at a time (joining, encoding or sending it whole held the loop for
        seconds). The deadline is checked between pieces.
        """
        rest = dumps({"labels": self.labels, "timestamp": self.timestamp,
                      "metadata": self.metadata})
        pieces = [b'{"matrix":[']
        for start in range(0, len(self.matrix), JSON_ROWS_PER_PIECE):
            check_deadline()
            rows = range(start, min(start + JSON_ROWS_PER_PIECE, len(self.matrix)))
            pieces.append(("," if start else "").encode()
                          + ",".join(dumps(self.matrix[i].tolist()) for i in rows).encode())
        pieces.append(f"],{rest[1:]}".encode())
        return pieces

    def to_binary(self) -> bytearray:
        """The binary answer (``neural_heatmap_contract.media``: header, float32 values)."""
        return encode_matrix(self.matrix, self.labels, self.timestamp, self.metadata, dumps)


def pearson_matrix(series: FloatArray) -> tuple[FloatArray, list[int]]:
    """Pearson correlation of the rows of ``series`` (shape ``(k, samples)``).

    Returns:
        The ``(k, k)`` matrix and the row indices that were constant.
    """
    centred = series - series.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    scale = np.abs(series).max(axis=1) if series.size else np.zeros(len(series))
    constant = norms <= 1e-12 * np.maximum(scale, 1e-300) * np.sqrt(series.shape[1])
    safe = np.where(constant, 1.0, norms)
    unit = centred / safe[:, None]
    unit[constant] = 0.0
    matrix = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(matrix, 1.0)
    return matrix, [int(i) for i in np.flatnonzero(constant)]


def select_windows(store: ActivationStore, query: CorrelationQuery) -> list[LayerWindow]:
    """The windows a query correlates, after checking the query (cheap: no data is read).

    Raises:
        ApiError: 400 for a bad granularity, a reversed time range or more labels
            than ``query.max_labels``; 404 for unknown models/layers named explicitly.
    """
    if query.granularity not in GRANULARITIES:
        raise invalid(f"granularity must be one of {list(GRANULARITIES)}",
                      field="granularity", granularity=query.granularity,
                      allowed=list(GRANULARITIES))
    if (query.start_time is not None and query.end_time is not None
            and query.start_time > query.end_time):
        raise invalid("start_time is after end_time", start_time=query.start_time,
                      end_time=query.end_time, constraint="start_time <= end_time")
    windows = store.select(query.model_ids, query.layer_ids, query.strict_models,
                           query.strict_layers)
    labels = sum(w.units for w in windows) if query.granularity == "unit" else len(windows)
    if labels > query.max_labels:
        what = "units" if query.granularity == "unit" else "layers"
        raise invalid(f"a {query.granularity} correlation over {labels} {what} exceeds the "
                      f"limit of {query.max_labels} labels (--max-matrix-labels); choose "
                      f"fewer models or layers", labels=labels, limit=query.max_labels,
                      constraint=f"labels <= {query.max_labels}")
    return windows


def compute_correlation(store: ActivationStore, query: CorrelationQuery) -> CorrelationResult:
    """Correlate the series the query selects (see ``select_windows`` for the errors).

    Layer granularity reads only the windows' activity series (the per-frame mean
    the store already keeps), unit granularity the unit values.
    """
    windows = select_windows(store, query)
    labels: list[str] = []
    rows: list[FloatArray] = []
    step_lists: list[IntArray] = []
    picked: list[tuple[LayerWindow, FloatArray | Float32Array]] = []
    for w in windows:
        ts, steps, series = w.series() if query.granularity == "layer" else w.frames()
        keep = time_mask(ts, query.start_time, query.end_time)
        if keep.size == 0:
            continue
        picked.append((w, series[keep]))
        step_lists.append(steps[keep])
    metadata: dict[str, Any] = {
        "granularity": query.granularity,
        "model_ids": sorted({w.model_id for w, _ in picked}),
        "layer_ids": sorted({w.layer_id for w, _ in picked}),
        "alignment": None,  # set below (keeps the key order of earlier answers)
        "method": "pearson",
        "start_time": query.start_time,
        "end_time": query.end_time,
        "constant_series_policy": "0 off the diagonal, 1 on it",
    }
    if query.granularity == "layer" and len(picked) >= 2:
        groups = _step_groups(step_lists)
        if len(groups) > 1:
            return _pairwise_layer_correlation(picked, step_lists, groups, metadata)
    alignment = align(step_lists)
    for (w, values), idx in zip(picked, alignment.indices, strict=True):
        aligned = values[idx]
        if query.granularity == "layer":
            rows.append(aligned[None, :].astype(np.float64, copy=False))
            labels.append(f"{w.model_id}/{w.layer_id}")
        else:
            rows.append(aligned.T.astype(np.float64))
            labels.extend(f"{w.model_id}/{w.layer_id}/{i}" for i in range(w.units))
    metadata["alignment"] = alignment.mode
    if query.granularity == "layer":
        metadata.update(pairwise=False, insufficient_pairs=[])
    if len(labels) < 2:
        metadata.update(samples=0, dropped_samples=0, constant_labels=[])
        return CorrelationResult(np.zeros((0, 0)), [], time.time(), metadata)
    series = np.vstack(rows)
    finite_cols = np.isfinite(series).all(axis=0)
    dropped = int((~finite_cols).sum())
    series = series[:, finite_cols]
    if series.shape[1] < 2:
        matrix = np.eye(len(labels))
        constant = list(range(len(labels)))
    else:
        matrix, constant = pearson_matrix(series)
    metadata.update(samples=int(series.shape[1]), dropped_samples=dropped,
                    constant_labels=[labels[i] for i in constant])
    return CorrelationResult(matrix, labels, time.time(), metadata)


def _step_groups(step_lists: list[IntArray]) -> list[list[int]]:
    """Series indices grouped by identical (time-filtered) step arrays, first-seen order."""
    groups: dict[bytes, list[int]] = {}
    for i, steps in enumerate(step_lists):
        groups.setdefault(steps.astype(np.int64).tobytes(), []).append(i)
    return list(groups.values())


def _block(picked: list[tuple[LayerWindow, FloatArray | Float32Array]],
           step_lists: list[IntArray],
           members: list[list[int]]) -> tuple[FloatArray, list[int], str, int, int]:
    """Pearson block of the series of one or two groups on their own alignment.

    ``members`` holds one group (its own block) or two (their joint block, of
    which the caller keeps the cross part). Returns the matrix over the members
    in order, the constant positions, the alignment mode, the samples used and
    the samples dropped as non-finite. Fewer than 2 samples: identity matrix,
    nothing constant, ``samples < 2`` tells the caller.
    """
    alignment = align([step_lists[g[0]] for g in members])
    check_deadline()
    rows = [picked[i][1][idx]
            for g, idx in zip(members, alignment.indices, strict=True) for i in g]
    series: FloatArray = np.vstack(rows).astype(np.float64, copy=False)
    finite_cols = np.isfinite(series).all(axis=0)
    dropped = int((~finite_cols).sum())
    series = series[:, finite_cols]
    if series.shape[1] < 2:
        return np.eye(len(rows)), [], alignment.mode, int(series.shape[1]), dropped
    matrix, constant = pearson_matrix(series)
    return matrix, constant, alignment.mode, int(series.shape[1]), dropped


def _pairwise_layer_correlation(picked: list[tuple[LayerWindow, FloatArray | Float32Array]],
                                step_lists: list[IntArray], groups: list[list[int]],
                                metadata: dict[str, Any]) -> CorrelationResult:
    """Layer correlation when the series do not all share one step array.

    Pairwise-complete, like pandas' ``DataFrame.corr``: each group's own block
    uses all of that group's samples; each pair of groups is aligned on its own
    (the steps those two share, or the frame-index rule). A pair with fewer than
    2 common samples gets 0 and is listed in ``insufficient_pairs``.
    """
    labels = [f"{w.model_id}/{w.layer_id}" for w, _ in picked]
    k = len(labels)
    matrix = np.zeros((k, k))
    constant: set[int] = set()
    insufficient: list[list[str]] = []
    group_meta: list[dict[str, Any]] = []
    cross_meta: list[dict[str, Any]] = []
    modes: set[str] = set()
    samples: list[int] = []
    dropped_all: list[int] = []

    def note_insufficient(rows: list[int], cols: list[int], same: bool) -> None:
        for a, i in enumerate(rows):
            for j in (rows[a + 1:] if same else cols):
                insufficient.append([labels[i], labels[j]])

    for g in groups:
        block, const, mode, n, dropped = _block(picked, step_lists, [g])
        matrix[np.ix_(g, g)] = block
        constant.update(g[c] for c in const)
        if n < 2:
            note_insufficient(g, g, same=True)
        group_meta.append({"labels": [labels[i] for i in g], "alignment": mode,
                           "samples": n, "dropped_samples": dropped})
        modes.add(mode)
        samples.append(n)
        dropped_all.append(dropped)
    for a, ga in enumerate(groups):
        for b in range(a + 1, len(groups)):
            gb = groups[b]
            block, const, mode, n, dropped = _block(picked, step_lists, [ga, gb])
            cross = block[:len(ga), len(ga):]
            matrix[np.ix_(ga, gb)] = cross
            matrix[np.ix_(gb, ga)] = cross.T
            if n < 2:
                note_insufficient(ga, gb, same=False)
            members = ga + gb
            for c in const:  # constant on these shared samples only: its pairs here are 0
                i = members[c]
                if i not in constant:
                    note_insufficient([i], gb if c < len(ga) else ga, same=False)
            cross_meta.append({"groups": [a, b], "alignment": mode, "samples": n,
                               "dropped_samples": dropped})
            modes.add(mode)
            samples.append(n)
            dropped_all.append(dropped)
    np.fill_diagonal(matrix, 1.0)
    metadata.update(
        alignment=modes.pop() if len(modes) == 1 else "mixed",
        pairwise=True,
        samples=min(samples), max_samples=max(samples),
        dropped_samples=max(dropped_all),
        constant_labels=[labels[i] for i in sorted(constant)],
        insufficient_pairs=insufficient,
        groups=group_meta, cross_blocks=cross_meta)
    return CorrelationResult(matrix, labels, time.time(), metadata)


class CorrelationCache:
    """The newest correlation answers, each valid while the store has not changed.

    Dashboards, the periodic ``correlation_update`` and clients polling the same
    matrix ask identical questions of unchanged data; a 2048-unit matrix costs
    tens of milliseconds to compute. An entry is keyed on the query and holds the
    store's ``version`` it was computed at: any ingestion bumps the version, so a
    hit is always exactly what computing again would give (except ``timestamp``,
    which says when the matrix was computed). Both the JSON and the binary answer
    are encoded from it per request. Bounded by entries and by matrix bytes.

    Args:
        max_entries: Most answers kept (0 = off).
        max_bytes: Most matrix bytes kept in all; a bigger matrix is not kept.
    """

    def __init__(self, max_entries: int = 8, max_bytes: int = 256 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0
        self._items: OrderedDict[tuple[Any, ...], tuple[int, CorrelationResult]] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, version: int, query: CorrelationQuery) -> CorrelationResult | None:
        """The cached answer to ``query`` at store ``version``, without computing."""
        with self._lock:
            hit = self._items.get(query.key())
            if hit is None or hit[0] != version:
                return None
            self.hits += 1
        return dataclasses.replace(hit[1], labels=list(hit[1].labels),
                                   metadata=dict(hit[1].metadata))

    def get(self, store: ActivationStore, query: CorrelationQuery) -> CorrelationResult:
        """The answer to ``query`` over ``store`` now: cached, or computed and kept.

        Called from worker threads with snapshots of the store (whose ``version``
        is the live version they were taken at); the entries are guarded by a
        lock, the computing is not.
        """
        if not self.max_entries:
            return compute_correlation(store, query)
        key = query.key()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] == store.version:
                self._items.move_to_end(key)
                self.hits += 1
                result: CorrelationResult | None = hit[1]
            else:
                result = None
        if result is None:
            result = compute_correlation(store, query)
            result.matrix.flags.writeable = False  # shared by every answer from now on
            with self._lock:
                self._items[key] = (store.version, result)
                self._items.move_to_end(key)
                self._evict()
        # Callers may touch the metadata dict; the matrix is read-only.
        return dataclasses.replace(result, labels=list(result.labels),
                                   metadata=dict(result.metadata))

    def _evict(self) -> None:
        total = sum(r.matrix.nbytes for _, r in self._items.values())
        while self._items and (len(self._items) > self.max_entries or total > self.max_bytes):
            _, (_, old) = self._items.popitem(last=False)
            total -= old.matrix.nbytes
