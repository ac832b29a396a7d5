"""OpenTelemetry tracing for the SDK, the bridge and the server: off unless asked for.

One policy for the three processes, so that one request's spans form one trace
(W3C ``traceparent`` in gRPC metadata and HTTP headers, carried by the
OpenTelemetry instrumentation packages, never by hand):

- Tracing is on only when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``,
  ``console``, ...; ``none`` or unset: off) and ``OTEL_SDK_DISABLED`` is not
  ``true``. Everything else is the standard variables: ``OTEL_SERVICE_NAME``
  and ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``,
  ``OTEL_TRACES_SAMPLER``, ``OTEL_PROPAGATORS``.
- ``otlp`` follows ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` /
  ``OTEL_EXPORTER_OTLP_PROTOCOL``, ``http/protobuf`` by default (the
  specification's default; the ``[otel]`` extra installs that exporter).
- The packages come with the ``[otel]`` extra. Without them, or when tracing is
  off, nothing is imported and nothing changes: ``span`` is a no-op.
- A program that configured OpenTelemetry itself (or runs under
  ``opentelemetry-instrument``) keeps its tracer provider, which is then used
  whatever ``OTEL_TRACES_EXPORTER`` says: the SDK's spans join its traces.
- The bridge's health probe of the server (``GET /health`` every second) is not
  traced unless ``OTEL_PYTHON_EXCLUDED_URLS`` says otherwise: one trace a second
  that nobody asked for would drown the real ones.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["enable_tracing", "span", "tracing_requested"]

log = logging.getLogger(__name__)

EXPORTER_GROUP = "opentelemetry_traces_exporter"
DEFAULT_EXCLUDED_URLS = "/health$"
_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


def tracing_requested() -> list[str]:
    """The span exporters the environment asks for; empty means tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


def _entry_point_name(name: str) -> str:
    if name != "otlp":
        return name
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    return _OTLP_BY_PROTOCOL.get(protocol.strip(), name)


def _exporter(name: str) -> Any | None:
    """An instance of the span exporter registered under ``name``, or None (logged)."""
    wanted = _entry_point_name(name)
    found = importlib.metadata.entry_points(group=EXPORTER_GROUP, name=wanted)
    if not found:
        log.warning("OTEL_TRACES_EXPORTER names %r, but no span exporter %r is installed "
                    "(pip install 'neural-heatmap[otel]')", name, wanted)
        return None
    return next(iter(found)).load()()


def _configured_by_program() -> bool:
    """True when the program (or ``opentelemetry-instrument``) installed an SDK tracer
    provider already; looked up without importing OpenTelemetry when it is not loaded."""
    sdk_trace = sys.modules.get("opentelemetry.sdk.trace")
    if sdk_trace is None:
        return False
    from opentelemetry import trace

    return isinstance(trace.get_tracer_provider(), sdk_trace.TracerProvider)


@functools.cache
def enable_tracing(service_name: str) -> bool:
    """Install a tracer provider for this process when the environment asks for one.

    Called once per process (later calls return the first answer).

    Args:
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` or
            ``OTEL_RESOURCE_ATTRIBUTES`` set one.

    Returns:
        True when spans are recorded and exported, so the caller should
        instrument its gRPC and HTTP libraries.
    """
    names = tracing_requested()
    if _configured_by_program():
        os.environ.setdefault("OTEL_PYTHON_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS)
        return True
    if not names:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_TRACES_EXPORTER is set but OpenTelemetry is not installed; "
                    "tracing stays off (pip install 'neural-heatmap[otel]')")
        return False
    os.environ.setdefault("OTEL_PYTHON_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS)
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    exporters = [e for e in map(_exporter, names) if e is not None]
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if not exporters:
        return False
    trace.set_tracer_provider(provider)
    log.info("OpenTelemetry tracing on: service %s, exporters %s",
             resource.attributes.get(SERVICE_NAME), ", ".join(names))
    return True


@functools.cache
def _trace_api() -> Any | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


@contextlib.contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[None]:
    """A child span of the current span around a block.

    A no-op while tracing is off, and without a current span: background work
    (the built-in source, periodic pushes) starts no trace of its own.
    """
    trace = _trace_api()
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with trace.get_tracer("neural_heatmap").start_as_current_span(name, attributes=attributes):
        yield
