"""The seed's ``NeuralHeatmapClient`` and ``connect``, over gRPC to the bridge.

The client is composed of one mixin per area (``_client_models``,
``_client_correlation``, ``_client_temporal``, ``_client_anomalies``,
``_client_health``, ``_client_view``, ``_client_exports``, ``_client_streams``,
``_client_ingest``, ``_client_render``), all built on ``_client_base.ClientBase``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from neural_heatmap._channel import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TARGET, PemSource
from neural_heatmap._client_anomalies import AnomaliesMixin
from neural_heatmap._client_consumers import ConsumersMixin
from neural_heatmap._client_correlation import CorrelationMixin
from neural_heatmap._client_exports import ExportsMixin
from neural_heatmap._client_health import HealthMixin
from neural_heatmap._client_ingest import IngestMixin
from neural_heatmap._client_models import ModelsMixin
from neural_heatmap._client_render import RenderMixin
from neural_heatmap._client_streams import StreamsMixin
from neural_heatmap._client_temporal import TemporalMixin
from neural_heatmap._client_view import ViewStateMixin
from neural_heatmap._retry import DEFAULT_RETRY, Retry

__all__ = ["RPC_METHODS", "NeuralHeatmapClient", "connect"]


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
    "RenderHeatmap": "render_heatmap",
    "AckAnomalies": "ack_anomalies",
    "GetLayerHealth": "get_layer_health",
}
"""Every RPC of ``NeuralHeatmapService`` and the client method that calls it."""


class NeuralHeatmapClient(
    ModelsMixin,
    ExportsMixin,
    StreamsMixin,
    CorrelationMixin,
    TemporalMixin,
    HealthMixin,
    AnomaliesMixin,
    ViewStateMixin,
    IngestMixin,
    RenderMixin,
    ConsumersMixin,
):
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
            every call; over plaintext only to a loopback address unless
            ``insecure_token`` (``ValueError`` otherwise, the same rule and text
            as the Go and TypeScript SDKs).
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
        insecure_token: Send ``token`` over plaintext to a non-loopback address
            anyway (a private network you trust).
    """


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
    insecure_token: bool = False,
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
        insecure_token=insecure_token,
    )
    await client.connect()
    return client
