"""Client calls that produce files: server-side exports and their download, local exports."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from neural_heatmap_contract.limits import MAX_ANOMALY_LIMIT
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._client_anomalies import AnomaliesMixin
from neural_heatmap._client_base import DEFAULT, Metadata, RetryArg, Timeout
from neural_heatmap._client_correlation import CorrelationMixin
from neural_heatmap._client_temporal import TemporalMixin
from neural_heatmap._convert import as_str_list
from neural_heatmap._enums import ExportFormat
from neural_heatmap._errors import NeuralHeatmapError
from neural_heatmap._export_types import ExportedFile, ExportResult
from neural_heatmap._files import write_anomalies, write_matrix, write_patterns

__all__ = ["ExportsMixin"]


class ExportsMixin(CorrelationMixin, TemporalMixin, AnomaliesMixin):
    """Server-side exports (write, list, download) and local exports of the analytics."""

    async def export_correlation_matrix(
        self,
        filename: str,
        format: ExportFormat | str = ExportFormat.CSV,
        *,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        use_view_filter: bool = False,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> ExportResult:
        """Have the server write the correlation matrix into its export directory.

        Args:
            filename: File (or, for TensorBoard, directory) name; no path
                separators. Fetch it afterwards with :meth:`download_export`.
            format: :class:`ExportFormat` or its string (``"csv"``, ...).
            model_ids: Models to export; ``None``: all.
            layer_ids: Layers to export; ``None``: all.
            use_view_filter: Fill what this call leaves unset from the stored view
                filter (:meth:`set_filter`); by default another client's view state
                never changes this answer.

        Returns:
            What the server wrote (file names and sizes).
        """
        stub = self._open()
        request = pb.ExportCorrelationMatrixRequest(
            filename=filename,
            format=ExportFormat.parse(format).to_proto(),
            model_ids=as_str_list(model_ids),
            layer_ids=as_str_list(layer_ids),
            use_view_filter=use_view_filter,
        )
        resp = await self._unary(
            stub.ExportCorrelationMatrix, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return ExportResult.from_proto(resp.result)

    async def list_exports(
        self,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> list[ExportedFile]:
        """List the files in the server's export directory."""
        stub = self._open()
        resp = await self._unary(
            stub.ListExports,
            pb.ListExportsRequest(),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return [ExportedFile.from_proto(f) for f in resp.files]

    async def download_export(
        self,
        name: str,
        filepath: str | os.PathLike[str],
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> Path:
        """Stream one server-side export file to a local path.

        A broken download is restarted from the beginning (per ``retry``).

        Returns:
            The path written.
        """
        stub = self._open()
        out = Path(filepath)
        out.parent.mkdir(parents=True, exist_ok=True)
        md = self._metadata(metadata)

        async def attempt(per_try: float | None) -> Path:
            tmp = out.with_name(out.name + ".part")
            written = 0
            total: int | None = None
            with open(tmp, "wb") as fh:
                async for chunk in stub.DownloadExport(
                    pb.DownloadExportRequest(name=name), timeout=per_try, metadata=md
                ):
                    if chunk.offset != written:
                        fh.seek(chunk.offset)
                    fh.write(chunk.chunk)
                    written = chunk.offset + len(chunk.chunk)
                    total = chunk.total_size
            if total is not None and written != total:
                tmp.unlink(missing_ok=True)
                raise NeuralHeatmapError(
                    f"download of {name!r} ended at byte {written} of {total}",
                    code=grpc.StatusCode.DATA_LOSS,
                )
            tmp.replace(out)
            return out

        return await self._call(attempt, rpc="DownloadExport", timeout=timeout, retry=retry)

    async def export_tensorboard(
        self,
        output_dir: str | os.PathLike[str],
        run_name: str,
        *,
        use_view_filter: bool = False,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> Path:
        """Write a TensorBoard run of the current analytics into ``output_dir/run_name``.

        The server writes the run (its ``tensorboard`` export named ``run_name``,
        which stays listed by :meth:`list_exports`) and this downloads its event
        files, so the run is the same as the server-side export: one writer, one
        set of tags (docs/python-sdk.md, "TensorBoard"). Point
        ``tensorboard --logdir output_dir`` at it.

        Args:
            output_dir: Local directory the run directory is created in.
            run_name: The run's name, locally and in the server's export directory:
                a plain file name (letters, digits, ``.``, ``_``, ``-``).
            use_view_filter: As for :meth:`get_correlation_matrix`.

        Returns:
            The local run directory.
        """
        return await self._download_tensorboard(
            run_name,
            Path(output_dir) / run_name,
            use_view_filter=use_view_filter,
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )

    async def _download_tensorboard(
        self,
        run_name: str,
        run_dir: Path,
        *,
        use_view_filter: bool,
        timeout: Timeout,
        metadata: Metadata,
        retry: RetryArg,
    ) -> Path:
        """Have the server write the run ``run_name`` and download its files into ``run_dir``."""
        kw: dict[str, Any] = {"timeout": timeout, "metadata": metadata, "retry": retry}
        result = await self.export_correlation_matrix(
            run_name, ExportFormat.TENSORBOARD, use_view_filter=use_view_filter, **kw
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        for old in run_dir.glob("events.out.tfevents.*"):
            old.unlink()
        for exported in result.files:
            await self.download_export(exported.name, run_dir / Path(exported.name).name, **kw)
        return run_dir

    async def export_all(
        self,
        output_dir: str | os.PathLike[str],
        formats: Sequence[ExportFormat | str] | None = None,
        *,
        use_view_filter: bool = False,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> dict[ExportFormat, list[Path]]:
        """Export the correlation matrix, temporal patterns and anomalies locally.

        Args:
            output_dir: Directory to write into (created if missing).
            formats: Any of CSV, JSON, PARQUET, TENSORBOARD; ``None``: all four.
            use_view_filter: As for :meth:`get_correlation_matrix` (and the temporal
                analytics); anomalies are never filtered by the view.

        Returns:
            The files (for TensorBoard, the run directory) written per format:
            ``correlation_matrix.<ext>``, ``temporal_patterns.<ext>``,
            ``anomalies.<ext>`` and ``tensorboard/`` (the server's TensorBoard
            export named ``tensorboard``, downloaded as by :meth:`export_tensorboard`).
        """
        wanted = (
            [ExportFormat.parse(f) for f in formats]
            if formats
            else [
                ExportFormat.CSV,
                ExportFormat.JSON,
                ExportFormat.PARQUET,
                ExportFormat.TENSORBOARD,
            ]
        )
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        kw: dict[str, Any] = {"timeout": timeout, "metadata": metadata, "retry": retry}
        matrix, patterns, anomalies = await asyncio.gather(
            self.get_correlation_matrix(use_view_filter=use_view_filter, **kw),
            self.get_temporal_patterns(use_view_filter=use_view_filter, **kw),
            self.get_anomalies(limit=MAX_ANOMALY_LIMIT, **kw),
        )
        written: dict[ExportFormat, list[Path]] = {}
        for fmt in wanted:
            if fmt is ExportFormat.TENSORBOARD:
                run_dir = await self._download_tensorboard(
                    "tensorboard", out / "tensorboard", use_view_filter=use_view_filter, **kw
                )
                written[fmt] = [run_dir]
                continue
            ext = {ExportFormat.CSV: "csv", ExportFormat.JSON: "json"}.get(fmt, "parquet")
            written[fmt] = [
                write_matrix(matrix, out / f"correlation_matrix.{ext}"),
                write_patterns(patterns, out / f"temporal_patterns.{ext}"),
                write_anomalies(anomalies, out / f"anomalies.{ext}"),
            ]
        return written
