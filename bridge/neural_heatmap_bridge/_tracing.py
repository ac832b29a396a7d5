"""OpenTelemetry in the bridge: a server span per RPC, a client span per upstream call.

Both come from the OpenTelemetry instrumentation packages: the gRPC one reads
the caller's W3C ``traceparent`` from the call's metadata, the aiohttp client
one writes it into every upstream request, so SDK, bridge and server spans
share one trace. Off unless the ``OTEL_*`` environment asks for it
(``neural_heatmap_contract.tracing``).
"""

from __future__ import annotations

import aiohttp
import grpc
from neural_heatmap_contract.tracing import enable_tracing

SERVICE_NAME = "neural-heatmap-bridge"


def tracing_hooks() -> tuple[list[grpc.aio.ServerInterceptor], list[aiohttp.TraceConfig]]:
    """The gRPC server interceptors and aiohttp trace configs to install (empty when off)."""
    if not enable_tracing(SERVICE_NAME):
        return [], []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor()
    return [interceptor], [create_trace_config()]
