"""Gathering a server-side export: check the request, snapshot its data, make the job.

The request is checked and the data copied on the event loop (so a refused
export costs no worker and later ingestion does not change what is written);
the job computes the matrix and writes the files under a temporary name
(``exports.write_export``); the caller publishes them (``exports.StagedExport``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neural_heatmap_contract.enums import EXPORT_FORMATS

from . import queries
from .alignment import time_mask
from .correlation import CorrelationCache, select_windows
from .errors import ApiError, invalid
from .exports import ExportRequest, StagedExport, safe_name, write_export
from .persistence import AnomalyLog, AnomalyQuery
from .render import RenderOptions, render_options
from .store import ActivationStore, Float32Array, LayerWindow
from .tensorboard_export import MAX_ANOMALIES, LayerSeries, TensorBoardRun
from .workers import check_deadline


@dataclass(frozen=True)
class PlannedExport:
    """A checked export request and the worker job that stages its files.

    Attributes:
        filename: The checked name (reserved by the caller while the job runs).
        job: Computes the matrix and writes it under a temporary name.
    """

    filename: str
    job: Callable[[], StagedExport]


def plan_export(body: Any, store: ActivationStore, correlations: CorrelationCache,
                root: Path, stored_filter: Mapping[str, Any], max_labels: int,
                anomaly_log: AnomalyLog, stored_theme: Mapping[str, Any]) -> PlannedExport:
    """``POST /api/export/correlation`` (and ``export_data``): the job that writes it.

    A TensorBoard export also snapshots the selected layers' series and reads the
    newest ``MAX_ANOMALIES`` logged anomalies of the selected models (those of the
    selected layers are written), and draws the matrix image in ``stored_theme``.

    Raises:
        ApiError: 400 for a bad body, 409 ``already_exists`` when the name exists as
            the other kind (file vs directory), 404 from the selection.
    """
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    filename = safe_name(body.get("filename"))
    fmt = body.get("format", "csv")
    fmt = fmt.lower() if isinstance(fmt, str) else fmt
    if fmt not in EXPORT_FORMATS:
        raise invalid(f"unknown export format {fmt!r}; use {list(EXPORT_FORMATS)}",
                      field="format", format=fmt, allowed=list(EXPORT_FORMATS))
    target = root / filename
    if target.exists() and target.is_dir() != (fmt == "tensorboard"):
        raise ApiError("already_exists", f"{filename!r} already exists as a "
                       f"{'directory' if target.is_dir() else 'file'}", filename=filename)
    filt = queries.view_filter(body, stored_filter)
    query = queries.correlation_query(body, filt, max_labels)
    matrix_data = store.snapshot(select_windows(store, query),
                                 values=query.granularity == "unit")
    series_data: list[tuple[LayerWindow, Float32Array]] = []
    anomalies: list[dict[str, Any]] = []
    image: RenderOptions | None = None  # set for tensorboard only
    if fmt == "tensorboard":
        image = render_options({"kind": "correlation"}, stored_theme)
        series_data = [(w.snapshot(values=False), w.frames(1)[2][0].copy())
                       for w in store.select(
                           queries.ids(body, queries.MODEL_IDS) or filt.get("model_ids"),
                           queries.ids(body, queries.LAYER_IDS) or filt.get("layer_ids"),
                           strict_models=False, strict_layers=False)]
        selected = {(w.model_id, w.layer_id) for w, _ in series_data}
        rows = anomaly_log.query(AnomalyQuery(
            model_ids=tuple(sorted({m for m, _ in selected})), limit=MAX_ANOMALIES))
        anomalies = [a for a in rows if (a["model_id"], a["layer"]) in selected]

    def job() -> StagedExport:
        matrix = correlations.get(matrix_data, query)
        if image is None:
            return write_export(root, ExportRequest(filename, fmt, matrix))
        layers = []
        start, end = matrix.metadata["start_time"], matrix.metadata["end_time"]
        for w, latest in series_data:
            check_deadline()
            ts, steps, activity = w.series()
            keep = time_mask(ts, start, end)  # the same time range as the matrix
            layers.append(LayerSeries(w.model_id, w.layer_id, ts[keep], steps[keep],
                                      activity[keep], latest))
        run = TensorBoardRun(matrix, layers, anomalies, image)
        return write_export(root, ExportRequest(filename, fmt, matrix, run))
    return PlannedExport(filename, job)
