"""The seed's ``NeuralHeatmapClient`` and ``connect``, over gRPC to the bridge."""

from __future__ import annotations

import asyncio
import enum
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import grpc
import grpc.aio
import numpy as np
import numpy.typing as npt

from neural_heatmap._analytics_types import (
    Anomaly,
    AnomalyPage,
    CorrelationMatrix,
    ModelComparison,
    TemporalPattern,
    TemporalStatistics,
)
from neural_heatmap._channel import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TARGET,
    PemSource,
    make_channel,
    parse_target,
)
from neural_heatmap._convert import as_str_list, float_to_ts, numpy_to_tensor
from neural_heatmap._enums import (
    ExportFormat,
    Granularity,
    PatternType,
    Severity,
    UpdateType,
    VisualizationTheme,
)
from neural_heatmap._errors import NeuralHeatmapError, UnavailableError, from_grpc_error
from neural_heatmap._export_types import ExportedFile, ExportResult
from neural_heatmap._files import (
    format_from_suffix,
    write_anomalies,
    write_matrix,
    write_patterns,
    write_tensorboard,
)
from neural_heatmap._ingest_types import ActivationFrame, IngestSummary
from neural_heatmap._model_types import ModelInfo
from neural_heatmap._retry import DEFAULT_RETRY, Retry, call_with_retry
from neural_heatmap._streaming import OnError, ReconnectPolicy, StreamControl, resumable_stream
from neural_heatmap._update_types import (
    AnomalyUpdate,
    CorrelationUpdate,
    HeatmapUpdate,
    TemporalUpdate,
    Update,
    update_from_proto,
)
from neural_heatmap._view_types import Filter, LayoutConfig, ThemeSettings
from neural_heatmap.v1 import (
    analytics_pb2,
    common_pb2,
    ingest_pb2,
    updates_pb2,
    view_pb2,
)
from neural_heatmap.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RPC_METHODS", "NeuralHeatmapClient", "connect"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")

RPC_METHODS: Mapping[str, str] = {
    "ListModels": "list_models",
    "GetCorrelationMatrix": "get_correlation_matrix",
    "GetTemporalPatterns": "get_temporal_patterns",
    "GetTemporalStatistics": "get_temporal_statistics",
    "GetAnomalies": "get_anomalies",
    "SetFilter": "set_filter",
    "ClearFilter": "clear_filter",
    "GetFilter": "get_filter",
    "SetTheme": "set_theme",
    "GetTheme": "get_theme",
    "SetLayout": "set_layout",
    "GetLayout": "get_layout",
    "CompareModels": "compare_models",
    "ExportCorrelationMatrix": "export_correlation_matrix",
    "ListExports": "list_exports",
    "DownloadExport": "download_export",
    "SubscribeHeatmap": "stream_heatmap",
    "SubscribeCorrelations": "stream_correlations",
    "SubscribeTemporal": "stream_temporal",
    "SubscribeAnomalies": "stream_anomalies",
    "StreamUpdates": "stream_updates",
    "IngestActivations": "log_batch",
}
"""Every RPC of ``NeuralHeatmapService`` and the client method that calls it."""


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"


_DEFAULT = _Default.DEFAULT

Timeout = float | None | _Default
"""Seconds for the whole call (retries included); ``None``: no deadline."""
RetryArg = Retry | None | _Default
"""A :class:`Retry`, ``None`` for no retries, or the client's default."""
Metadata = Sequence[tuple[str, str | bytes]] | None
"""Extra gRPC metadata (headers) for one call."""

_INGEST_MESSAGE_BYTES = 1 << 20  # ~1 MiB of activations per IngestActivations message


def _ms(value: float | None) -> int:
    return 0 if value is None else int(value)


def _pair(value: Sequence[float] | Mapping[str, float] | None, keys: tuple[str, str]) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return (float(value[keys[0]]), float(value[keys[1]]))
    lo, hi = value
    return (float(lo), float(hi))


class NeuralHeatmapClient:
    """Client for the Neural Heatmap service, through its gRPC bridge.

    Keeps the seed's API (names, parameters, defaults, data fields) so code
    written for the seed runs with only the address changed. Every call also
    takes keyword-only ``timeout``, ``metadata`` and (for idempotent calls)
    ``retry``.

    Example:
        >>> async with NeuralHeatmapClient("localhost:50051") as client:
        ...     matrix = await client.get_correlation_matrix()

    Args:
        url: The bridge's gRPC address: ``host:port``, ``grpc://host:port``
            or ``grpcs://host:port`` (TLS). ``http://`` and ``ws://`` URLs are
            rejected with :class:`InvalidTargetError`: the SDK talks to the
            bridge (default ``localhost:50051``), not to the HTTP server.
        ws_url: Accepted for compatibility with the seed and ignored: live
            updates travel on the same gRPC channel as everything else (the
            bridge holds the one WebSocket to the server).
        auto_connect: Open the channel right away when an event loop is
            running (otherwise on first use). Calls open it lazily anyway.
        token: Bearer token, sent as ``authorization: Bearer <token>`` on
            every call.
        tls: Force TLS on or off; default on for ``grpcs://`` or when
            certificates or ``credentials`` are given.
        root_certificates: PEM (bytes, text or file path) to verify the bridge.
        private_key: Client key (PEM) for mutual TLS.
        certificate_chain: Client certificate (PEM) for mutual TLS.
        credentials: Ready-made ``grpc.ChannelCredentials`` (overrides the above).
        ssl_target_name_override: Expected server name in the bridge's
            certificate, when it differs from the host dialled (tests).
        max_message_bytes: gRPC send and receive limit (default 256 MiB; a
            2048 x 2048 float32 matrix is 16 MiB and gRPC's default is 4 MiB).
        default_timeout: Deadline in seconds of unary calls without ``timeout``.
        retry: Default :class:`Retry` for idempotent calls (``None``: never).
        connect_timeout: How long :meth:`connect` waits for the bridge.
        channel_options: Extra ``grpc.aio`` channel options.
    """

    def __init__(
        self,
        url: str = DEFAULT_TARGET,
        ws_url: str | None = None,
        auto_connect: bool = False,
        *,
        token: str | None = None,
        tls: bool | None = None,
        root_certificates: PemSource | None = None,
        private_key: PemSource | None = None,
        certificate_chain: PemSource | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        ssl_target_name_override: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        default_timeout: float | None = 30.0,
        retry: Retry | None = DEFAULT_RETRY,
        connect_timeout: float = 10.0,
        channel_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._target = parse_target(url)
        self.url = url
        self.ws_url = ws_url  # ignored: see the class docstring
        self._token = token
        self._tls = tls
        self._root_certificates = root_certificates
        self._private_key = private_key
        self._certificate_chain = certificate_chain
        self._credentials = credentials
        self._ssl_target_name_override = ssl_target_name_override
        self.max_message_bytes = max_message_bytes
        self.default_timeout = default_timeout
        self.default_retry = retry
        self.connect_timeout = connect_timeout
        self._channel_options = tuple(channel_options)
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.NeuralHeatmapServiceAsyncStub | None = None
        self._subscriptions: set[UpdateType] = set()
        self._heatmap_models: list[str] = []
        self._heatmap_layers: list[str] = []
        if auto_connect:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                self._open()

    # ------------------------------------------------------------------ plumbing

    @property
    def target(self) -> str:
        """The gRPC target dialled (``host:port``)."""
        return self._target.target

    @property
    def is_connected(self) -> bool:
        """True while a channel is open."""
        return self._channel is not None

    @property
    def subscriptions(self) -> frozenset[UpdateType]:
        """Kinds :meth:`stream_updates` streams when called without ``message_types``."""
        return frozenset(self._subscriptions)

    def _open(self) -> pb_grpc.NeuralHeatmapServiceAsyncStub:
        if self._stub is None:
            self._channel = make_channel(
                self._target,
                tls=self._tls,
                root_certificates=self._root_certificates,
                private_key=self._private_key,
                certificate_chain=self._certificate_chain,
                credentials=self._credentials,
                ssl_target_name_override=self._ssl_target_name_override,
                max_message_bytes=self.max_message_bytes,
                options=self._channel_options,
            )
            self._stub = pb_grpc.NeuralHeatmapServiceStub(self._channel)
        return self._stub

    def _metadata(self, metadata: Metadata) -> list[tuple[str, str | bytes]]:
        md: list[tuple[str, str | bytes]] = []
        if self._token:
            md.append(("authorization", f"Bearer {self._token}"))
        if metadata:
            md.extend(metadata)
        return md

    def _timeout(self, timeout: Timeout) -> float | None:
        return self.default_timeout if timeout is _DEFAULT else timeout

    def _retry(self, retry: RetryArg) -> Retry | None:
        return self.default_retry if retry is _DEFAULT else retry

    async def _unary(
        self,
        method: Callable[..., Awaitable[Resp]],
        request: Any,
        *,
        timeout: Timeout,
        metadata: Metadata,
        retry: RetryArg = None,
    ) -> Resp:
        md = self._metadata(metadata)

        async def attempt(per_try: float | None) -> Resp:
            return await method(request, timeout=per_try, metadata=md)

        try:
            return await call_with_retry(
                attempt, retry=self._retry(retry), timeout=self._timeout(timeout)
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc

    # ------------------------------------------------------------------ connection

    async def connect(self, *, timeout: float | None = None) -> NeuralHeatmapClient:
        """Open the channel and wait until the bridge is reachable.

        Args:
            timeout: Seconds to wait (default ``connect_timeout``).

        Returns:
            This client, so that ``client = await NeuralHeatmapClient(...).connect()``.

        Raises:
            UnavailableError: Nothing answered at the address in time.
        """
        self._open()
        assert self._channel is not None
        wait = self.connect_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._channel.channel_ready(), wait)
        except TimeoutError as exc:
            raise UnavailableError(
                f"could not reach the Neural Heatmap bridge at {self.target} within {wait:g} s "
                "(is `neural-heatmap-bridge` running there?)",
                code=grpc.StatusCode.UNAVAILABLE,
            ) from exc
        return self

    async def disconnect(self) -> None:
        """Close the channel; a later call opens a new one."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close(grace=None)

    async def close(self) -> None:
        """Same as :meth:`disconnect`."""
        await self.disconnect()

    async def __aenter__(self) -> NeuralHeatmapClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    # ------------------------------------------------------------------ discovery

    async def list_models(
        self,
        include_units: bool = False,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> list[ModelInfo]:
        """List every model with its layers.

        Args:
            include_units: Also list every unit's canvas location.

        Returns:
            The models the server knows, with layer unit counts and frames.
        """
        stub = self._open()
        resp = await self._unary(
            stub.ListModels,
            pb.ListModelsRequest(include_units=include_units),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return [ModelInfo.from_proto(m) for m in resp.models]

    # ------------------------------------------------------------------ correlation

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = ...,
        layer_ids: Sequence[str] | None = ...,
        as_dataframe: Literal[False] = ...,
        *,
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> CorrelationMatrix: ...

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = ...,
        layer_ids: Sequence[str] | None = ...,
        *,
        as_dataframe: Literal[True],
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> pd.DataFrame: ...

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None,
        layer_ids: Sequence[str] | None,
        as_dataframe: Literal[True],
        *,
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> pd.DataFrame: ...

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = ...,
        layer_ids: Sequence[str] | None = ...,
        as_dataframe: bool = ...,
        *,
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> CorrelationMatrix | pd.DataFrame: ...

    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        as_dataframe: bool = False,
        *,
        granularity: Granularity | str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> CorrelationMatrix | pd.DataFrame:
        """Get the Pearson correlation matrix between activity series.

        Args:
            model_ids: Models to include; ``None``: the filter's, or all.
            layer_ids: Layers to include; ``None``: the filter's, or all.
            as_dataframe: Return a pandas DataFrame labelled both ways.
            granularity: ``"layer"`` (default; labels ``model/layer``) or
                ``"unit"`` (labels ``model/layer/index``).
            start_time: Only frames at or after this time (epoch seconds).
            end_time: Only frames before this time (epoch seconds).

        Returns:
            A :class:`CorrelationMatrix` whose ``matrix`` is a zero-copy,
            read-only float32 numpy view of the wire bytes, or a DataFrame.
        """
        stub = self._open()
        request = pb.GetCorrelationMatrixRequest(
            model_ids=as_str_list(model_ids), layer_ids=as_str_list(layer_ids)
        )
        if granularity is not None:
            request.granularity = analytics_pb2.Granularity.ValueType(
                Granularity.parse(granularity).to_proto()
            )
        if start_time is not None:
            request.time_range.start.CopyFrom(float_to_ts(start_time))
        if end_time is not None:
            request.time_range.end.CopyFrom(float_to_ts(end_time))
        resp = await self._unary(
            stub.GetCorrelationMatrix, request, timeout=timeout, metadata=metadata, retry=retry
        )
        matrix = CorrelationMatrix.from_proto(resp.matrix)
        return matrix.to_dataframe() if as_dataframe else matrix

    async def download_correlation_matrix(
        self,
        filepath: str | os.PathLike[str],
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        *,
        granularity: Granularity | str | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> Path:
        """Fetch the correlation matrix and write it to a local file.

        The format comes from the suffix: ``.csv`` and ``.parquet`` (a table
        labelled both ways), ``.json`` (``{matrix, labels, timestamp,
        metadata}``).

        Returns:
            The path written.

        Raises:
            ValueError: For another suffix (checked before any call).
        """
        format_from_suffix(Path(filepath))
        matrix = await self.get_correlation_matrix(
            model_ids,
            layer_ids,
            granularity=granularity,
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return write_matrix(matrix, filepath)

    async def export_correlation_matrix(
        self,
        filename: str,
        format: ExportFormat | str = ExportFormat.CSV,
        *,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> ExportResult:
        """Have the server write the correlation matrix into its export directory.

        Args:
            filename: File (or, for TensorBoard, directory) name; no path
                separators. Fetch it afterwards with :meth:`download_export`.
            format: :class:`ExportFormat` or its string (``"csv"``, ...).

        Returns:
            What the server wrote (file names and sizes).
        """
        stub = self._open()
        request = pb.ExportCorrelationMatrixRequest(
            filename=filename,
            format=ExportFormat.parse(format).to_proto(),
            model_ids=as_str_list(model_ids),
            layer_ids=as_str_list(layer_ids),
        )
        resp = await self._unary(
            stub.ExportCorrelationMatrix, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return ExportResult.from_proto(resp.result)

    async def list_exports(
        self,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
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
        return [ExportedFile(f.name, f.size) for f in resp.files]

    async def download_export(
        self,
        name: str,
        filepath: str | os.PathLike[str],
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
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

        try:
            return await call_with_retry(
                attempt, retry=self._retry(retry), timeout=self._timeout(timeout)
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc

    # ------------------------------------------------------------------ temporal

    async def get_temporal_patterns(
        self,
        model_id: str | None = None,
        time_window: float | None = None,
        pattern_types: Sequence[PatternType | str] | None = None,
        *,
        layer_id: str | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> list[TemporalPattern]:
        """Get the periodic, trend and state-change patterns in activity series.

        Args:
            model_id: Only this model; ``None``: every model.
            time_window: Look back this many milliseconds from the newest frame.
            pattern_types: Only these (``"periodic"``, ``"trend"``, ``"state_change"``).
            layer_id: Only this layer.

        Returns:
            The patterns; each carries ``model_id`` and ``layer_id``.
        """
        stub = self._open()
        types = [PatternType.parse(t).to_proto() for t in (pattern_types or [])]
        request = pb.GetTemporalPatternsRequest(
            model_id=model_id or "",
            time_window=_ms(time_window),
            pattern_types=types,
            layer_id=layer_id or "",
        )
        resp = await self._unary(
            stub.GetTemporalPatterns, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return [TemporalPattern.from_proto(p) for p in resp.patterns]

    async def get_temporal_statistics(
        self,
        model_id: str | None = None,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> TemporalStatistics:
        """Get per-layer temporal statistics (trends, periodicity, level changes).

        Args:
            model_id: Only this model; ``None``: every model.
        """
        stub = self._open()
        resp = await self._unary(
            stub.GetTemporalStatistics,
            pb.GetTemporalStatisticsRequest(model_id=model_id or ""),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return TemporalStatistics.from_proto(resp.statistics)

    # ------------------------------------------------------------------ anomalies

    async def get_anomaly_page(
        self,
        severity: Severity | str | None = None,
        limit: int | None = None,
        model_id: str | None = None,
        *,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> AnomalyPage:
        """Like :meth:`get_anomalies`, plus the log's first and last sequence."""
        stub = self._open()
        request = pb.GetAnomaliesRequest(
            limit=limit or 0,
            model_id=model_id or "",
        )
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
        model_id: str | None = None,
        *,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> list[Anomaly]:
        """Get logged anomalies in ascending sequence.

        Args:
            severity: Only this exact severity (``"low"`` .. ``"critical"``).
            limit: At most this many (server default 100).
            model_id: Only this model.
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
        model_id: str | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
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

    # ------------------------------------------------------------------ view state

    async def set_filter(
        self,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        intensity_range: Sequence[float] | Mapping[str, float] | None = None,
        spatial_bounds: Sequence[float] | Mapping[str, float] | None = None,
        time_range: Sequence[float] | None = None,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> Filter:
        """Replace the view filter (all ``None`` clears it, as the seed's ``{}``).

        Args:
            model_ids: Only these models.
            layer_ids: Only these layers.
            intensity_range: ``(min, max)`` or ``{"min": .., "max": ..}``.
            spatial_bounds: ``{"min_x", "min_y", "max_x", "max_y"}`` or a
                4-tuple in that order.
            time_range: ``(start_ms, end_ms)``, milliseconds since the epoch.

        Returns:
            The filter now in force.
        """
        bounds: dict[str, float] | None = None
        if spatial_bounds is not None:
            keys = ("min_x", "min_y", "max_x", "max_y")
            if isinstance(spatial_bounds, Mapping):
                bounds = {k: float(spatial_bounds[k]) for k in keys}
            else:
                bounds = dict(zip(keys, (float(v) for v in spatial_bounds), strict=True))
        flt = Filter(
            model_ids=as_str_list(model_ids),
            layer_ids=as_str_list(layer_ids),
            intensity_range=_pair(intensity_range, ("min", "max")),
            spatial_bounds=bounds,
            time_range=_pair(time_range, ("start", "end")),
        )
        stub = self._open()
        resp = await self._unary(
            stub.SetFilter,
            pb.SetFilterRequest(filter=flt.to_proto()),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return Filter.from_proto(resp.filter)

    async def clear_filter(
        self,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> None:
        """Remove every filter."""
        stub = self._open()
        await self._unary(
            stub.ClearFilter,
            pb.ClearFilterRequest(),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )

    async def get_filter(
        self,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> Filter:
        """Get the filter in force (``Filter().is_empty`` when none)."""
        stub = self._open()
        resp = await self._unary(
            stub.GetFilter, pb.GetFilterRequest(), timeout=timeout, metadata=metadata, retry=retry
        )
        return Filter.from_proto(resp.filter)

    async def set_theme(
        self,
        theme: VisualizationTheme | str,
        *,
        custom_colors: Sequence[str] | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> ThemeSettings:
        """Set the visualization theme.

        Args:
            theme: A :class:`VisualizationTheme` or its name (``"plasma"``).
            custom_colors: ``"#rrggbb"`` colours, required for ``CUSTOM``.

        Returns:
            The theme now in force.
        """
        stub = self._open()
        request = pb.SetThemeRequest(
            theme=view_pb2.Theme.ValueType(VisualizationTheme.parse(theme).to_proto()),
            custom_colors=as_str_list(custom_colors),
        )
        resp = await self._unary(
            stub.SetTheme, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return ThemeSettings.from_proto(resp.theme)

    async def get_theme(
        self,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> ThemeSettings:
        """Get the theme in force."""
        stub = self._open()
        resp = await self._unary(
            stub.GetTheme, pb.GetThemeRequest(), timeout=timeout, metadata=metadata, retry=retry
        )
        return ThemeSettings.from_proto(resp.theme)

    async def set_layout(
        self,
        layout: LayoutConfig | Mapping[str, Any],
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> LayoutConfig:
        """Replace the dashboard layout.

        Args:
            layout: A :class:`LayoutConfig` or the contract's dict
                (``panel_positions``, ``panel_sizes``, ``visibility``, ``z_order``).

        Returns:
            The layout now in force.
        """
        config = layout if isinstance(layout, LayoutConfig) else LayoutConfig.from_dict(layout)
        stub = self._open()
        resp = await self._unary(
            stub.SetLayout,
            pb.SetLayoutRequest(layout=config.to_proto()),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return LayoutConfig.from_proto(resp.layout)

    async def get_layout(
        self,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> LayoutConfig:
        """Get the layout in force."""
        stub = self._open()
        resp = await self._unary(
            stub.GetLayout, pb.GetLayoutRequest(), timeout=timeout, metadata=metadata, retry=retry
        )
        return LayoutConfig.from_proto(resp.layout)

    # ------------------------------------------------------------------ comparison

    async def compare_models(
        self,
        model_ids: Sequence[str],
        metrics: Sequence[str] | None = None,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> ModelComparison:
        """Compare two or more models (CKA similarity and per-model metrics).

        Args:
            model_ids: Two or more models.
            metrics: ``"cka"``, ``"mean_activation"``, ``"sparsity"``; ``None``: all.
        """
        stub = self._open()
        resp = await self._unary(
            stub.CompareModels,
            pb.CompareModelsRequest(model_ids=as_str_list(model_ids), metrics=as_str_list(metrics)),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return ModelComparison.from_proto(resp.comparison)

    # ------------------------------------------------------------------ live updates

    async def subscribe_heatmap(
        self, *, model_ids: Sequence[str] | None = None, layer_ids: Sequence[str] | None = None
    ) -> None:
        """Include heatmap updates in :meth:`stream_updates`.

        Args:
            model_ids: Only these models.
            layer_ids: Only these layers.
        """
        self._subscriptions.add(UpdateType.HEATMAP)
        self._heatmap_models = as_str_list(model_ids)
        self._heatmap_layers = as_str_list(layer_ids)

    async def subscribe_correlations(self) -> None:
        """Include correlation matrix updates in :meth:`stream_updates`."""
        self._subscriptions.add(UpdateType.CORRELATION)

    async def subscribe_temporal(self) -> None:
        """Include temporal pattern updates in :meth:`stream_updates`."""
        self._subscriptions.add(UpdateType.TEMPORAL)

    async def subscribe_anomalies(self) -> None:
        """Include anomaly updates in :meth:`stream_updates`."""
        self._subscriptions.add(UpdateType.ANOMALY)

    async def unsubscribe(self, message_type: UpdateType | str) -> None:
        """Stop including one kind of update in :meth:`stream_updates`."""
        self._subscriptions.discard(UpdateType.parse(message_type))

    async def _anomaly_head(self, metadata: Metadata) -> int:
        page = await self.get_anomaly_page(limit=1, metadata=metadata)
        return page.last_sequence

    async def _stream(
        self,
        message_types: Sequence[UpdateType | str] | None,
        *,
        after_sequence: int | None,
        min_severity: Severity | str | None,
        model_ids: Sequence[str] | None,
        policy: ReconnectPolicy,
        metadata: Metadata = None,
        control: StreamControl | None = None,
        on_error: OnError | None = None,
    ) -> AsyncIterator[Update]:
        def kinds() -> set[UpdateType]:
            if message_types:
                return {UpdateType.parse(t) for t in message_types}
            return set(self._subscriptions) or {
                UpdateType.HEATMAP,
                UpdateType.CORRELATION,
                UpdateType.TEMPORAL,
                UpdateType.ANOMALY,
            }

        start = after_sequence
        if start is None and UpdateType.ANOMALY in kinds():
            start = await self._anomaly_head(metadata)
        models = as_str_list(model_ids) or self._heatmap_models
        md = self._metadata(metadata)
        severity = common_pb2.Severity.ValueType(
            Severity.parse(min_severity).to_proto() if min_severity is not None else 0
        )

        def open_call(
            last: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.StreamUpdatesRequest, pb.StreamUpdatesResponse]:
            stub = self._open()
            wanted = kinds()
            request = pb.StreamUpdatesRequest(
                types=[updates_pb2.UpdateType.ValueType(k.to_proto()) for k in sorted(wanted)],
                min_severity=severity,
                model_ids=models,
            )
            if last is not None and UpdateType.ANOMALY in wanted:
                request.after_sequence = last
            return stub.StreamUpdates(request, metadata=md)

        layers = set(self._heatmap_layers)

        def decode(msg: pb.StreamUpdatesResponse) -> Update | None:
            update = update_from_proto(msg)
            if layers and isinstance(update, HeatmapUpdate) and update.layer not in layers:
                return None
            return update

        async for update in resumable_stream(
            open_call,
            decode,
            after_sequence=start,
            policy=policy,
            control=control,
            on_error=on_error,
        ):
            yield update

    async def stream_updates(
        self,
        message_types: Sequence[UpdateType | str] | None = None,
        *,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        model_ids: Sequence[str] | None = None,
        reconnect: bool = True,
        reconnect_delay: float = 0.5,
        max_retries: int = 10,
        metadata: Metadata = None,
    ) -> AsyncIterator[Update]:
        """Stream live updates of the subscribed kinds (or of ``message_types``).

        With no subscription and no ``message_types``, every kind is streamed.
        The stream reopens itself after a disconnect (see ``reconnect*``);
        anomalies then resume after the last one delivered, so each anomaly
        is yielded exactly once. Without ``after_sequence``, anomalies logged
        from the moment of the call on are delivered.

        Args:
            message_types: Kinds to stream: :class:`UpdateType` members or the
                seed's names (``"heatmap_update"``, ``"anomaly_update"``, ...;
                ``"heatmap"``, ``"anomalies"`` also work).
            after_sequence: Replay logged anomalies after this sequence first.
            min_severity: Only anomalies of this severity or worse.
            model_ids: Only heatmap and anomaly updates of these models.
            reconnect: Reopen after a disconnect.
            reconnect_delay: Base wait before reopening (doubles, jittered).
            max_retries: Consecutive failed reopenings before raising.
            metadata: Extra gRPC metadata.

        Yields:
            :class:`HeatmapUpdate`, :class:`CorrelationUpdate`,
            :class:`TemporalUpdate` or :class:`AnomalyUpdate` objects.
        """
        policy = ReconnectPolicy(
            reconnect=reconnect, delay=reconnect_delay, max_retries=max_retries
        )
        async for update in self._stream(
            message_types,
            after_sequence=after_sequence,
            min_severity=min_severity,
            model_ids=model_ids,
            policy=policy,
            metadata=metadata,
        ):
            yield update

    async def stream_heatmap(
        self,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        *,
        metadata: Metadata = None,
    ) -> AsyncIterator[HeatmapUpdate]:
        """Stream heatmap frames (``SubscribeHeatmap``); reopens after disconnects."""
        md = self._metadata(metadata)
        request = pb.SubscribeHeatmapRequest(
            model_ids=as_str_list(model_ids), layer_ids=as_str_list(layer_ids)
        )

        def open_call(
            _: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.SubscribeHeatmapRequest, pb.SubscribeHeatmapResponse]:
            return self._open().SubscribeHeatmap(request, metadata=md)

        async for update in resumable_stream(
            open_call,
            lambda r: HeatmapUpdate.from_proto(r.update),
            after_sequence=None,
            policy=ReconnectPolicy(delay=0.5),
        ):
            assert isinstance(update, HeatmapUpdate)
            yield update

    async def stream_correlations(
        self, *, metadata: Metadata = None
    ) -> AsyncIterator[CorrelationUpdate]:
        """Stream correlation matrices (``SubscribeCorrelations``)."""
        md = self._metadata(metadata)

        def open_call(
            _: int | None,
        ) -> grpc.aio.UnaryStreamCall[
            pb.SubscribeCorrelationsRequest, pb.SubscribeCorrelationsResponse
        ]:
            return self._open().SubscribeCorrelations(
                pb.SubscribeCorrelationsRequest(), metadata=md
            )

        async for update in resumable_stream(
            open_call,
            lambda r: CorrelationUpdate.from_proto(r.update),
            after_sequence=None,
            policy=ReconnectPolicy(delay=0.5),
        ):
            assert isinstance(update, CorrelationUpdate)
            yield update

    async def stream_temporal(self, *, metadata: Metadata = None) -> AsyncIterator[TemporalUpdate]:
        """Stream temporal patterns (``SubscribeTemporal``)."""
        md = self._metadata(metadata)

        def open_call(
            _: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.SubscribeTemporalRequest, pb.SubscribeTemporalResponse]:
            return self._open().SubscribeTemporal(pb.SubscribeTemporalRequest(), metadata=md)

        async for update in resumable_stream(
            open_call,
            lambda r: TemporalUpdate.from_proto(r.update),
            after_sequence=None,
            policy=ReconnectPolicy(delay=0.5),
        ):
            assert isinstance(update, TemporalUpdate)
            yield update

    async def stream_anomalies(
        self,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        model_ids: Sequence[str] | None = None,
        *,
        reconnect: bool = True,
        reconnect_delay: float = 0.5,
        max_retries: int = 10,
        metadata: Metadata = None,
    ) -> AsyncIterator[AnomalyUpdate]:
        """Stream anomalies (``SubscribeAnomalies``), exactly once across disconnects.

        Args:
            after_sequence: Replay logged anomalies after this sequence first;
                ``None``: anomalies logged from now on.
            min_severity: Only this severity or worse.
            model_ids: Only these models.
        """
        start = after_sequence if after_sequence is not None else await self._anomaly_head(metadata)
        md = self._metadata(metadata)
        severity = common_pb2.Severity.ValueType(
            Severity.parse(min_severity).to_proto() if min_severity is not None else 0
        )
        models = as_str_list(model_ids)

        def open_call(
            last: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.SubscribeAnomaliesRequest, pb.SubscribeAnomaliesResponse]:
            request = pb.SubscribeAnomaliesRequest(min_severity=severity, model_ids=models)
            if last is not None:
                request.after_sequence = last
            return self._open().SubscribeAnomalies(request, metadata=md)

        async for update in resumable_stream(
            open_call,
            lambda r: AnomalyUpdate.from_proto(r.update),
            after_sequence=start,
            policy=ReconnectPolicy(
                reconnect=reconnect, delay=reconnect_delay, max_retries=max_retries
            ),
        ):
            assert isinstance(update, AnomalyUpdate)
            yield update

    # ------------------------------------------------------------------ ingestion

    async def log_activations(
        self,
        model_id: str,
        layer_id: str,
        values: npt.ArrayLike,
        *,
        timestamp: float | None = None,
        step: int | None = None,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
    ) -> IngestSummary:
        """Send one frame (the activation of every unit of one layer at one step).

        Args:
            model_id: The model; created by its first frame.
            layer_id: The layer; its unit count is fixed by its first frame.
            values: 1-D activations, sent as float32 (NaN/inf are data).
            timestamp: Seconds since the epoch (default: the server's arrival time).
            step: Training step.
        """
        frame = ActivationFrame(model_id, layer_id, values, timestamp, step)
        return await self.log_batch([frame], timeout=timeout, metadata=metadata)

    @overload
    async def log_batch(
        self,
        frames: Iterable[ActivationFrame],
        *,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
    ) -> IngestSummary: ...

    @overload
    async def log_batch(
        self,
        frames: str,
        layer_id: str,
        values: npt.ArrayLike,
        timestamps: Sequence[float] | npt.NDArray[Any] | None = ...,
        steps: Sequence[int] | npt.NDArray[Any] | None = ...,
        *,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
    ) -> IngestSummary: ...

    async def log_batch(
        self,
        frames: Iterable[ActivationFrame] | str,
        layer_id: str | None = None,
        values: npt.ArrayLike | None = None,
        timestamps: Sequence[float] | npt.NDArray[Any] | None = None,
        steps: Sequence[int] | npt.NDArray[Any] | None = None,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
    ) -> IngestSummary:
        """Stream many frames through ``IngestActivations`` (never retried).

        Two forms:

        * ``log_batch(frames)`` with an iterable of :class:`ActivationFrame`;
        * ``log_batch(model_id, layer_id, values, timestamps=None, steps=None)``
          with a 2-D array ``[steps, units]``, one row per frame.

        Frames travel as raw float32 bytes, about 1 MiB of them per message.

        Returns:
            How many frames the server stored and why others were rejected.
        """
        if isinstance(frames, str):
            if layer_id is None or values is None:
                raise TypeError("log_batch(model_id, layer_id, values, ...) needs all three")
            arr = np.asarray(values, dtype=np.float32)
            if arr.ndim != 2:
                raise ValueError(f"values must be 2-D [frames, units], got shape {arr.shape}")
            ts = None if timestamps is None else np.asarray(timestamps, dtype=np.float64)
            st = None if steps is None else np.asarray(steps, dtype=np.int64)
            for name, extra in (("timestamps", ts), ("steps", st)):
                if extra is not None and extra.shape != (arr.shape[0],):
                    raise ValueError(f"{name} must have one entry per row of values")
            model_id = frames
            lid = layer_id
            frame_list: Iterable[ActivationFrame] = (
                ActivationFrame(
                    model_id,
                    lid,
                    arr[i],
                    None if ts is None else float(ts[i]),
                    None if st is None else int(st[i]),
                )
                for i in range(arr.shape[0])
            )
        else:
            frame_list = frames
        counts = {"frames": 0, "messages": 0}

        async def requests() -> AsyncIterator[pb.IngestActivationsRequest]:
            batch: list[ingest_pb2.ActivationFrame] = []
            size = 0
            for frame in frame_list:
                msg = ingest_pb2.ActivationFrame(
                    model_id=frame.model_id,
                    layer_id=frame.layer_id,
                    values=numpy_to_tensor(np.ravel(np.asarray(frame.values))),
                )
                if frame.timestamp is not None and math.isfinite(frame.timestamp):
                    msg.timestamp.CopyFrom(float_to_ts(frame.timestamp))
                if frame.step is not None:
                    msg.step = frame.step
                batch.append(msg)
                size += len(msg.values.data) + 64
                counts["frames"] += 1
                if size >= _INGEST_MESSAGE_BYTES:
                    counts["messages"] += 1
                    yield pb.IngestActivationsRequest(frames=batch)
                    batch, size = [], 0
            if batch:
                counts["messages"] += 1
                yield pb.IngestActivationsRequest(frames=batch)

        stub = self._open()
        md = self._metadata(metadata)
        try:
            resp = await stub.IngestActivations(
                requests(), timeout=self._timeout(timeout), metadata=md
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc
        return IngestSummary.from_proto(
            resp, frames_sent=counts["frames"], messages_sent=counts["messages"]
        )

    # ------------------------------------------------------------------ exports

    async def export_tensorboard(
        self,
        output_dir: str | os.PathLike[str],
        run_name: str,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> Path:
        """Write TensorBoard event files of the current analytics.

        Fetches the correlation matrix, temporal statistics and patterns and
        the newest anomalies over gRPC and writes them client-side with
        tensorboardX into ``output_dir/run_name`` (see
        ``neural_heatmap._files.write_tensorboard`` for the tags). Point
        ``tensorboard --logdir output_dir`` at it.

        Returns:
            The run directory.
        """
        kw: dict[str, Any] = {"timeout": timeout, "metadata": metadata, "retry": retry}
        matrix, stats, patterns, anomalies = await asyncio.gather(
            self.get_correlation_matrix(**kw),
            self.get_temporal_statistics(**kw),
            self.get_temporal_patterns(**kw),
            self.get_anomalies(limit=1000, **kw),
        )
        run_dir = Path(output_dir) / run_name
        write_tensorboard(
            run_dir, matrix=matrix, statistics=stats, patterns=patterns, anomalies=anomalies
        )
        return run_dir

    async def export_all(
        self,
        output_dir: str | os.PathLike[str],
        formats: Sequence[ExportFormat | str] | None = None,
        *,
        timeout: Timeout = _DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = _DEFAULT,
    ) -> dict[ExportFormat, list[Path]]:
        """Export the correlation matrix, temporal patterns and anomalies locally.

        Args:
            output_dir: Directory to write into (created if missing).
            formats: Any of CSV, JSON, PARQUET, TENSORBOARD; ``None``: all four.

        Returns:
            The files (for TensorBoard, the run directory) written per format:
            ``correlation_matrix.<ext>``, ``temporal_patterns.<ext>``,
            ``anomalies.<ext>`` and ``tensorboard/``.
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
            self.get_correlation_matrix(**kw),
            self.get_temporal_patterns(**kw),
            self.get_anomalies(limit=10000, **kw),
        )
        written: dict[ExportFormat, list[Path]] = {}
        for fmt in wanted:
            if fmt is ExportFormat.TENSORBOARD:
                stats = await self.get_temporal_statistics(**kw)
                run_dir = out / "tensorboard"
                write_tensorboard(
                    run_dir,
                    matrix=matrix,
                    statistics=stats,
                    patterns=patterns,
                    anomalies=anomalies,
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


async def connect(
    url: str = DEFAULT_TARGET,
    ws_url: str | None = None,
    *,
    token: str | None = None,
    tls: bool | None = None,
    root_certificates: PemSource | None = None,
    private_key: PemSource | None = None,
    certificate_chain: PemSource | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    ssl_target_name_override: str | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    default_timeout: float | None = 30.0,
    retry: Retry | None = DEFAULT_RETRY,
    connect_timeout: float = 10.0,
    channel_options: Sequence[tuple[str, Any]] = (),
) -> NeuralHeatmapClient:
    """Create a :class:`NeuralHeatmapClient` and connect it (the seed's ``connect``).

    Works both as ``client = await connect(addr)`` and as
    ``async with await connect(addr) as client:``. Arguments are those of
    :class:`NeuralHeatmapClient`.

    Raises:
        InvalidTargetError: For ``http://``/``ws://`` URLs.
        UnavailableError: When the bridge cannot be reached within
            ``connect_timeout``.
    """
    client = NeuralHeatmapClient(
        url,
        ws_url,
        token=token,
        tls=tls,
        root_certificates=root_certificates,
        private_key=private_key,
        certificate_chain=certificate_chain,
        credentials=credentials,
        ssl_target_name_override=ssl_target_name_override,
        max_message_bytes=max_message_bytes,
        default_timeout=default_timeout,
        retry=retry,
        connect_timeout=connect_timeout,
        channel_options=channel_options,
    )
    await client.connect()
    return client
