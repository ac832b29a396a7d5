"""Server-side exports: gathered on the loop, written by a worker, published atomically.

Why a service: an export reads from several owners (the frames, the correlation
cache, the stored view filter and theme, the anomaly log for TensorBoard runs)
and writes into one directory that must never show a half-written file. This
service holds the directory's rules for the process: leftovers of a previous
run swept at start, one writer per name (409 ``already_exists``), files renamed
into place only when the caller gets its answer, and reads confined to the
directory. File formats live in ``exports``, ``export_writers`` and
``tensorboard_export``; what is gathered in ``export_gathering``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from neural_heatmap_contract.tracing import span

from ..correlation import CorrelationCache
from ..export_gathering import plan_export
from ..exports import ExportNames, StagedExport, list_exports, resolve_export, sweep_staging
from ..persistence import AnomalyLog
from ..store import ActivationStore
from ..workers import Deadline, WorkPool

WORK_CLASS = "exports"  # the worker pool's class for exports (--max-pending-exports)


class ExportService:
    """Writes, lists and serves the files of the export directory.

    Args:
        root: ``--exports-path``, the export directory (staging leftovers are swept now).
        store: The activation store.
        correlations: The correlation cache shared with the queries.
        anomaly_log: Read for the anomalies a TensorBoard run includes.
        stored_filter: The stored view filter (fills what a request leaves unset).
        stored_theme: The stored theme (a TensorBoard run's matrix image is drawn in it).
        max_labels: ``--max-matrix-labels``.
        pool: The worker pool, with a ``WORK_CLASS`` class.
    """

    def __init__(self, root: Path, store: ActivationStore, correlations: CorrelationCache,
                 anomaly_log: AnomalyLog, stored_filter: Callable[[], Mapping[str, Any]],
                 stored_theme: Callable[[], Mapping[str, Any]], max_labels: int,
                 pool: WorkPool) -> None:
        self._root = root
        self._store = store
        self._correlations = correlations
        self._anomaly_log = anomaly_log
        self._stored_filter = stored_filter
        self._stored_theme = stored_theme
        self._max_labels = max_labels
        self._pool = pool
        self._names = ExportNames()
        sweep_staging(root)

    async def export(self, body: Any, deadline: Deadline,
                     gone: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Write a server-side export: gathered here, staged by a worker, published here.

        Published (renamed into place) only when this caller gets its answer; at the
        deadline, or when ``gone()`` says the caller left, the worker stops and the
        staged files are removed (``exports``).

        Raises:
            ApiError: 409 ``already_exists`` while another export of the name runs.
        """
        planned = plan_export(body, self._store, self._correlations, self._root,
                              self._stored_filter(), self._max_labels, self._anomaly_log,
                              self._stored_theme())
        with self._names.reserve(planned.filename), span("analytic export",
                                                         **{"nh.work_class": WORK_CLASS}):
            staged = await self._pool.run(WORK_CLASS, deadline, planned.job, gone,
                                          StagedExport.discard)
            try:
                return staged.publish()
            except BaseException:
                staged.discard()
                raise

    def listing(self) -> dict[str, Any]:
        """``GET /api/exports``."""
        return {"exports": list_exports(self._root)}

    def path_of(self, name: str) -> Path:
        """``GET /api/exports/{name}``: the file's path (400 for a name outside the
        directory's rules, 404 when there is no such export)."""
        return resolve_export(self._root, name)
