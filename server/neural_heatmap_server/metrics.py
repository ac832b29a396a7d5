"""Prometheus metrics of the server, answered on ``GET /metrics``.

Each application has a registry of its own, so several servers in one process
(tests) never collide. The names are the ones ``docs/grafana-dashboard.json``
queries (a test checks each against a live ``/metrics``):

- ``nh_server_http_request_duration_seconds{route,method}``: latency by route
  (the route's pattern such as ``/api/exports/{name}``, never the raw path, so
  the number of series stays bounded; unmatched paths are ``unmatched``).
- ``nh_server_http_requests_total{route,method,status}``: answers by status.
- ``nh_server_ingest_frames_total``: frames stored (HTTP, WebSocket, built-in source).
- ``nh_server_anomalies_total{severity}``: anomalies written to the log.
- ``nh_server_anomaly_log_head``: the log's newest sequence (what resuming
  subscribers catch up to).
- ``nh_server_window_bytes`` / ``nh_server_memory_budget_bytes``: bytes the activation
  windows hold, and ``--memory-budget`` (a new layer beyond it answers 429).
- ``nh_server_websocket_connections``: open WebSocket connections (the bridge's
  shared upstream among them).
- ``process_*``: CPU, memory and file descriptors of the server process.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def route_of(request: web.Request) -> str:
    """The route pattern a request matched (bounded label values), or ``unmatched``."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


class ServerMetrics:
    """Every metric the server reports.

    Args:
        log_head: Reads the anomaly log's newest sequence at scrape time.
        websockets: Reads the number of open WebSocket connections at scrape time.
        window_bytes: Reads the bytes the activation windows hold at scrape time.
        memory_budget: ``--memory-budget`` in bytes.
    """

    def __init__(self, log_head: Callable[[], int], websockets: Callable[[], int],
                 window_bytes: Callable[[], int], memory_budget: int) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.latency = Histogram(
            "nh_server_http_request_duration_seconds",
            "Duration of HTTP requests (WebSocket: the whole connection) by route and method",
            ["route", "method"], registry=self.registry, buckets=LATENCY_BUCKETS)
        self.requests = Counter(
            "nh_server_http_requests", "Answered HTTP requests by route, method and status",
            ["route", "method", "status"], registry=self.registry)
        self.ingest_frames = Counter(
            "nh_server_ingest_frames", "Activation frames stored (every transport)",
            registry=self.registry)
        self.anomalies = Counter(
            "nh_server_anomalies", "Anomalies written to the log by severity", ["severity"],
            registry=self.registry)
        Gauge("nh_server_anomaly_log_head", "Newest sequence in the anomaly log",
              registry=self.registry).set_function(log_head)
        Gauge("nh_server_websocket_connections", "Open WebSocket connections",
              registry=self.registry).set_function(websockets)
        Gauge("nh_server_window_bytes", "Bytes held by the activation windows of all layers",
              registry=self.registry).set_function(window_bytes)
        Gauge("nh_server_memory_budget_bytes", "Bytes the activation windows may hold "
              "(--memory-budget); a new layer beyond it answers 429",
              registry=self.registry).set(memory_budget)

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        """Count one answered request."""
        route = route_of(request)
        self.latency.labels(route, request.method).observe(seconds)
        self.requests.labels(route, request.method, str(status)).inc()

    def response(self) -> web.Response:
        """The text exposition of every metric."""
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})
