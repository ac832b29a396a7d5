"""The one TensorBoard writer: every TensorBoard run this project produces comes from here.

The server's ``tensorboard`` export writes it, and the SDK's ``export_tensorboard``
/ ``export_all`` ask the server for that export and download its files, so a run
has the same tags and series whichever way it was made (the SDK cannot import the
server, and only the server holds the per-frame series the scalars need).

Tags (``<model>`` and ``<layer>`` are the ids as stored):

* ``activations/<model>/<layer>/mean``: the layer's mean activation of every
  frame in the window (at most ``MAX_SCALARS_PER_LAYER``, newest kept), at the
  frame's training step (its position in the window when it had none) and wall
  time.
* ``activations/<model>/<layer>/histogram``: the finite activations of the
  newest frame, at its step.
* ``correlation/matrix``: the correlation matrix as an RGB image in the stored
  theme, exactly as ``RenderHeatmap`` draws it at its default size (see
  ``matrix_image``), step 0; ``correlation/labels`` (text)
  names its rows. Both carry the matrix's timestamp as wall time, so two runs of
  the same data are equal event for event.
* ``anomalies/<model>/<layer>/<anomaly_type>``: each anomaly's score at the
  training step it was found at (its log sequence when the frame had no step),
  with the anomaly's wall time; ``anomalies/count/<severity>`` the number of
  anomalies of each severity written, step 0 (wall time: the newest anomaly's).
* ``patterns/<model>/<layer>/<pattern_type>/confidence``: each temporal pattern
  found in the exported series, at the step of the frame where it ends.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .correlation import CorrelationResult
from .render import RenderOptions, render_correlation
from .store import FloatArray, IntArray
from .temporal import analyse_series
from .workers import check_deadline

MAX_SCALARS_PER_LAYER = 1024
MAX_ANOMALIES = 1000
HISTOGRAM_BINS = 64


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


def histogram_bins(values: np.ndarray) -> np.ndarray:
    """Strictly increasing bin edges covering these (finite) values.

    Given a bin count instead, tensorboardX's default buckets end at 1e20 (larger
    activations gave an "empty histogram" error) and numpy cannot cut a range
    narrower than a few float steps (or a single huge value) into bins. Both
    were HTTP 500s found by schemathesis; one bin then covers everything.
    """
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    if not bool((np.diff(edges) > 0).all()):
        edges = np.array([low, np.nextafter(high, np.inf)])
    return edges


def _frame_steps(layer: LayerSeries) -> IntArray:
    """Each frame's step: its training step, or its index when it had none."""
    return np.where(layer.steps >= 0, layer.steps, np.arange(layer.steps.size))


def write_tensorboard(directory: Path, run: TensorBoardRun) -> None:
    """Write ``run`` as one event file in ``directory``, replacing earlier event files.

    Blocking (run it in a worker); checks the request deadline between layers.
    """
    from tensorboardX import SummaryWriter

    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("events.out.tfevents.*"):
        old.unlink()
    writer = SummaryWriter(logdir=str(directory))
    try:
        for layer in run.layers:
            check_deadline()
            _write_layer(writer, layer)
        when = run.matrix.timestamp
        if run.matrix.matrix.size:
            writer.add_image("correlation/matrix", matrix_image(run.matrix, run.image),
                             global_step=0, walltime=when, dataformats="HWC")
        writer.add_text("correlation/labels", ", ".join(run.matrix.labels), global_step=0,
                        walltime=when)
        _write_anomalies(writer, run.anomalies)
    finally:
        writer.close()


def _write_layer(writer: Any, layer: LayerSeries) -> None:
    prefix = f"{layer.model_id}/{layer.layer_id}"
    steps = _frame_steps(layer)
    size = layer.timestamps.size
    for i in range(max(0, size - MAX_SCALARS_PER_LAYER), size):
        if np.isfinite(layer.activity[i]):
            writer.add_scalar(f"activations/{prefix}/mean", float(layer.activity[i]),
                              global_step=int(steps[i]), walltime=float(layer.timestamps[i]))
    finite = layer.latest[np.isfinite(layer.latest)]
    if finite.size and size:
        writer.add_histogram(f"activations/{prefix}/histogram", finite.astype(np.float64),
                             global_step=int(steps[-1]), bins=histogram_bins(finite),
                             walltime=float(layer.timestamps[-1]))
    keep = np.isfinite(layer.activity)
    times = layer.timestamps[keep]
    analysis = analyse_series(layer.model_id, layer.layer_id, times, layer.activity[keep])
    kept_steps = steps[keep]
    for pattern in analysis.patterns():
        at = min(int(np.searchsorted(times, pattern["end_time"])), times.size - 1)
        writer.add_scalar(f"patterns/{prefix}/{pattern['pattern_type']}/confidence",
                          pattern["confidence"], global_step=int(kept_steps[at]),
                          walltime=float(times[at]))


def _write_anomalies(writer: Any, anomalies: list[dict[str, Any]]) -> None:
    for a in anomalies:
        step = (a.get("metadata") or {}).get("step")
        score = float(a["score"])
        if np.isfinite(score):
            writer.add_scalar(f"anomalies/{a['model_id']}/{a['layer']}/{a['anomaly_type']}",
                              score, global_step=int(step if step is not None else a["sequence"]),
                              walltime=float(a["timestamp"]))
    for severity, count in sorted(Counter(str(a["severity"]) for a in anomalies).items()):
        writer.add_scalar(f"anomalies/count/{severity}", count, global_step=0,
                          walltime=float(anomalies[-1]["timestamp"]))



def matrix_image(matrix: CorrelationResult, options: RenderOptions) -> np.ndarray:
    """The matrix as the server renders it (``render.render_correlation``), as RGB pixels.

    The same picture ``RenderHeatmap`` returns for the correlation matrix in that
    theme, decoded by Pillow into the ``H x W x 3`` uint8 array TensorBoard stores.
    """
    png = render_correlation(matrix.matrix, matrix.labels, options)
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))
