"""Client calls for the anomaly log: pages by sequence, lists, local files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._analytics_types import Anomaly, AnomalyPage
from neural_heatmap._arguments import count
from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._enums import Severity
from neural_heatmap._files import format_from_suffix, write_anomalies

__all__ = ["AnomaliesMixin"]


class AnomaliesMixin(ClientBase):
    """``get_anomaly_page``, ``get_anomalies`` and ``download_anomalies``."""

    async def get_anomaly_page(
        self,
        severity: Severity | str | None = None,
        limit: int | None = None,
        model_id: str | Sequence[str] | None = None,
        *,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> AnomalyPage:
        """Like :meth:`get_anomalies`, plus the log's first and last sequence."""
        stub = self._open()
        request = pb.GetAnomaliesRequest(limit=0 if limit is None else count("limit", limit))
        if isinstance(model_id, str):  # the seed's one model
            request.model_id = model_id
        elif model_id is not None:
            request.model_ids.extend(model_id)
        if severity is not None:
            request.severity = Severity.parse(severity).to_proto()
        if min_severity is not None:
            request.min_severity = Severity.parse(min_severity).to_proto()
        if after_sequence is not None:
            request.after_sequence = after_sequence
        resp = await self._unary(
            stub.GetAnomalies, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return AnomalyPage(
            anomalies=[Anomaly.from_proto(a) for a in resp.anomalies],
            last_sequence=resp.last_sequence,
            first_sequence=resp.first_sequence,
        )

    async def get_anomalies(
        self,
        severity: Severity | str | None = None,
        limit: int | None = None,
        model_id: str | Sequence[str] | None = None,
        *,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> list[Anomaly]:
        """Get logged anomalies in ascending sequence.

        Args:
            severity: Only this exact severity (``"low"`` .. ``"critical"``).
            limit: At most this many (server default 100).
            model_id: Only this model (the seed's form), or only these models (a list).
            after_sequence: The first ``limit`` after this sequence; without
                it, the newest ``limit``.
            min_severity: Only this severity or worse.

        Raises:
            NeuralHeatmapError: e.g. when ``after_sequence`` was pruned from
                the log (``reason == "SEQUENCE_EXPIRED"``).
        """
        page = await self.get_anomaly_page(
            severity,
            limit,
            model_id,
            after_sequence=after_sequence,
            min_severity=min_severity,
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return page.anomalies

    async def download_anomalies(
        self,
        filepath: str | os.PathLike[str],
        severity: Severity | str | None = None,
        limit: int | None = None,
        *,
        model_id: str | Sequence[str] | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> Path:
        """Fetch anomalies and write them to a local ``.csv``, ``.json`` or ``.parquet``.

        Returns:
            The path written.
        """
        format_from_suffix(Path(filepath))
        anomalies = await self.get_anomalies(
            severity, limit, model_id, timeout=timeout, metadata=metadata, retry=retry
        )
        return write_anomalies(anomalies, filepath)
