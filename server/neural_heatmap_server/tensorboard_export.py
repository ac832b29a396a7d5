"""The one TensorBoard writer: every TensorBoard run this project produces comes from here.

The server's ``tensorboard`` export writes it, and the SDK's ``export_tensorboard``
/ ``export_all`` ask the server for that export and download its files, so a run
has the same tags and series whichever way it was made (the SDK cannot import the
server, and only the server holds the per-frame series the scalars need).

Tags (``<model>`` and ``<layer>`` are the ids as stored):

* ``activations/<model>/<layer>/mean``: the layer's mean activation per frame, at the
  frame's training step (its position in the window when it had none) and wall time.
  A run holds at most ``MAX_TENSORBOARD_POINTS`` of these points, shared evenly by the
  selected layers and at most ``MAX_TENSORBOARD_POINTS_PER_LAYER`` each; a longer
  series is thinned to evenly spaced frames, its first and newest always kept
  (``sample_frames``), and ``export/sampling`` says so.
* ``activations/<model>/<layer>/histogram``: the finite activations of the
  newest frame, at its step.
* ``correlation/matrix``: the correlation matrix as an image in the stored theme:
  the very PNG ``RenderHeatmap`` returns at its default size, step 0;
  ``correlation/labels`` (text) names its rows. Both carry the matrix's timestamp as
  wall time, so two runs of the same data are equal event for event.
* ``anomalies/<model>/<layer>/<anomaly_type>``: each anomaly's score at the
  training step it was found at (its log sequence when the frame had no step),
  with the anomaly's wall time; ``anomalies/count/<severity>`` the number of
  anomalies of each severity written, step 0 (wall time: the newest anomaly's).
* ``patterns/<model>/<layer>/<pattern_type>/confidence``: each temporal pattern
  found in the exported series (all of its frames, thinned or not), at the step of
  the frame where it ends.
* ``export/sampling`` (text, step 0, the matrix's wall time): how many frames each
  layer had and how many points were written.

Writing is synchronous, in the export's worker thread, with TensorBoard's own protos
and record framing (the ``tensorboard`` package, which PyTorch's ``SummaryWriter`` is
built on too). Scalars of one step and wall time share one event (the built-in
source logs every layer of a step at one time), so a run of L layers x F frames is
about F records, not L x F. Measured in ``docs/server.md`` ("TensorBoard runs").
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from neural_heatmap_contract.limits import (
    MAX_TENSORBOARD_POINTS,
    MAX_TENSORBOARD_POINTS_PER_LAYER,
)

from .correlation import CorrelationResult
from .render import RenderOptions, render_correlation
from .store import FloatArray, IntArray
from .temporal import analyse_series
from .workers import check_deadline

MAX_ANOMALIES = 1000
HISTOGRAM_BINS = 64
MIN_POINTS_PER_LAYER = 2  # the first and the newest frame, however many layers share the run


@dataclass
class LayerSeries:
    """One layer's exported series (already cut to the export's time range).

    Attributes:
        model_id: The model.
        layer_id: The layer.
        timestamps: Frame times (epoch seconds), oldest first.
        steps: Frame training steps (-1 where a frame had none).
        activity: Per-frame mean activation (NaN for a frame with no finite value).
        latest: The newest frame's activations.
    """

    model_id: str
    layer_id: str
    timestamps: FloatArray
    steps: IntArray
    activity: FloatArray
    latest: np.ndarray


@dataclass
class TensorBoardRun:
    """Everything one run holds; gathered by ``export_gathering``.

    Attributes:
        matrix: The correlation matrix of the export's selection.
        layers: The selected layers' series.
        anomalies: Logged anomalies of the selected layers, ascending sequence.
        image: How the matrix image is drawn: the stored theme at the render defaults.
    """

    matrix: CorrelationResult
    layers: list[LayerSeries]
    anomalies: list[dict[str, Any]]
    image: RenderOptions


def points_per_layer(layers: int) -> int:
    """How many ``mean`` points each of ``layers`` layers may write (their equal share)."""
    share = MAX_TENSORBOARD_POINTS // max(layers, 1)
    return max(MIN_POINTS_PER_LAYER, min(MAX_TENSORBOARD_POINTS_PER_LAYER, share))


def sample_frames(frames: int, points: int) -> IntArray:
    """Indices of at most ``points`` evenly spaced frames, the first and the newest included.

    Evenly spaced over the whole range rather than the newest only, so a thinned
    series still shows its whole shape (TensorBoard itself samples uniformly when it
    loads more points than it keeps).
    """
    if frames <= points:
        return np.arange(frames)
    return np.unique(np.linspace(0, frames - 1, points).round().astype(np.int64))


def histogram_bins(values: np.ndarray) -> np.ndarray:
    """Strictly increasing bin edges covering these (finite) values.

    numpy cannot cut a range narrower than a few float steps (or a single huge
    value) into bins (an HTTP 500 found by schemathesis); one bin then covers
    everything.
    """
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    if not bool((np.diff(edges) > 0).all()):
        edges = np.array([low, np.nextafter(high, np.inf)])
    return edges


def _frame_steps(layer: LayerSeries) -> IntArray:
    """Each frame's step: its training step, or its index when it had none."""
    return np.where(layer.steps >= 0, layer.steps, np.arange(layer.steps.size))


class _Events:
    """The run's summaries, grouped into one event per (step, wall time)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[int, float], list[Any]] = {}

    def add(self, step: int, wall_time: float, value: Any) -> None:
        self.groups.setdefault((step, wall_time), []).append(value)

    def scalar(self, tag: str, value: float, step: int, wall_time: float) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        self.add(step, wall_time, Summary.Value(tag=tag, simple_value=value))

    def write(self, directory: Path) -> None:
        """One event file: the file version first, then the groups in the order first seen."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.record_writer import RecordWriter

        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        with (directory / name).open("wb") as fh:
            records = RecordWriter(fh)
            records.write(Event(wall_time=time.time(), file_version="brain.Event:2")
                          .SerializeToString())
            for i, ((step, wall_time), values) in enumerate(self.groups.items()):
                if i % 4096 == 0:
                    check_deadline()
                records.write(Event(wall_time=wall_time, step=step,
                                    summary=Summary(value=values)).SerializeToString())


def write_tensorboard(directory: Path, run: TensorBoardRun) -> dict[str, Any]:
    """Write ``run`` as one event file in ``directory``, a fresh one.

    ``exports`` stages each run in its own temporary directory and swaps it in whole,
    so no earlier event file is ever beside it. Blocking (run it in a worker); checks
    the request deadline between layers.

    Returns:
        The sampling: ``points_per_layer`` (the share of each layer), ``thinned``
        (the ``model/layer`` whose series were thinned) and ``points`` (``mean``
        points written), also written to the run as ``export/sampling``.
    """
    events = _Events()
    share = points_per_layer(len(run.layers))
    thinned: list[str] = []
    points = 0
    for layer in run.layers:
        check_deadline()
        written = _add_layer(events, layer, share)
        points += written
        if written < int(np.isfinite(layer.activity).sum()):
            thinned.append(f"{layer.model_id}/{layer.layer_id}")
    when = run.matrix.timestamp
    if run.matrix.matrix.size:
        events.add(0, when, _image("correlation/matrix", render_correlation(
            run.matrix.matrix, run.matrix.labels, run.image), run.image))
    events.add(0, when, _text("correlation/labels", ", ".join(run.matrix.labels)))
    _add_anomalies(events, run.anomalies)
    sampling = {"points_per_layer": share, "points": points, "thinned": thinned}
    events.add(0, when, _text("export/sampling", _sampling_text(sampling, len(run.layers))))
    directory.mkdir(parents=True, exist_ok=True)
    events.write(directory)
    return sampling


def _sampling_text(sampling: dict[str, Any], layers: int) -> str:
    thinned = sampling["thinned"]
    text = (f"{sampling['points']} activation points from {layers} layers, at most "
            f"{sampling['points_per_layer']} per layer (MAX_TENSORBOARD_POINTS = "
            f"{MAX_TENSORBOARD_POINTS}, MAX_TENSORBOARD_POINTS_PER_LAYER = "
            f"{MAX_TENSORBOARD_POINTS_PER_LAYER}).")
    if thinned:
        text += (f" Thinned to evenly spaced frames (first and newest kept): "
                 f"{', '.join(thinned)}.")
    return text


def _add_layer(events: _Events, layer: LayerSeries, share: int) -> int:
    """Add one layer's points, histogram and patterns; returns the points written."""
    prefix = f"{layer.model_id}/{layer.layer_id}"
    steps = _frame_steps(layer)
    keep = np.isfinite(layer.activity)
    times, kept_steps, activity = layer.timestamps[keep], steps[keep], layer.activity[keep]
    chosen = sample_frames(times.size, share)
    for i in chosen.tolist():
        events.scalar(f"activations/{prefix}/mean", float(activity[i]), int(kept_steps[i]),
                      float(times[i]))
    finite = layer.latest[np.isfinite(layer.latest)]
    if finite.size and layer.timestamps.size:
        events.add(int(steps[-1]), float(layer.timestamps[-1]),
                   _histogram(f"activations/{prefix}/histogram", finite.astype(np.float64)))
    analysis = analyse_series(layer.model_id, layer.layer_id, times, activity)
    for pattern in analysis.patterns():
        at = min(int(np.searchsorted(times, pattern["end_time"])), times.size - 1)
        events.scalar(f"patterns/{prefix}/{pattern['pattern_type']}/confidence",
                      pattern["confidence"], int(kept_steps[at]), float(times[at]))
    return int(chosen.size)


def _add_anomalies(events: _Events, anomalies: list[dict[str, Any]]) -> None:
    for a in anomalies:
        step = (a.get("metadata") or {}).get("step")
        score = float(a["score"])
        if np.isfinite(score):
            events.scalar(f"anomalies/{a['model_id']}/{a['layer']}/{a['anomaly_type']}",
                          score, int(step if step is not None else a["sequence"]),
                          float(a["timestamp"]))
    for severity, count in sorted(Counter(str(a["severity"]) for a in anomalies).items()):
        events.scalar(f"anomalies/count/{severity}", count, 0, float(anomalies[-1]["timestamp"]))


def _histogram(tag: str, values: np.ndarray) -> Any:
    """A histogram value (TensorBoard's ``HistogramProto``: right bucket edges and counts)."""
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary

    counts, edges = np.histogram(values, bins=histogram_bins(values))
    return Summary.Value(tag=tag, histo=HistogramProto(
        min=float(values.min()), max=float(values.max()), num=int(values.size),
        sum=float(values.sum()), sum_squares=float(values.dot(values)),
        bucket_limit=edges[1:].tolist(), bucket=counts.tolist()))


def _image(tag: str, png: bytes, options: RenderOptions) -> Any:
    """An image value holding the rendered PNG itself (RGB), not decoded and re-encoded."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    return Summary.Value(tag=tag, image=Summary.Image(
        height=options.height, width=options.width, colorspace=3, encoded_image_string=png))


def _text(tag: str, text: str) -> Any:
    """A text value as TensorBoard's text plugin reads it."""
    from tensorboard.plugins.text.summary_v2 import text_pb

    return text_pb(tag, text).value[0]
