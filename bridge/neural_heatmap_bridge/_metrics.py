"""Prometheus metrics of the bridge, in a registry of its own.

The registry is private so several bridges in one process (tests, ``serve``)
never collide; ``serve_http`` exposes it on ``--metrics-port``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    """Every metric the bridge reports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "nh_bridge_rpc_calls",
            "Finished RPCs by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nh_bridge_rpc_latency_seconds",
            "Duration of unary RPCs (whole call) by method",
            ["method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.active_streams = Gauge(
            "nh_bridge_active_streams",
            "Server-streaming and client-streaming RPCs in progress",
            ["method"],
            registry=self.registry,
        )
        self.upstream_reconnects = Counter(
            "nh_bridge_upstream_reconnects",
            "Reconnect attempts of the shared upstream WebSocket",
            registry=self.registry,
        )
        self.upstream_up = Gauge(
            "nh_bridge_upstream_up",
            "1 while the upstream's /health answers",
            registry=self.registry,
        )
        self.coalesced = Counter(
            "nh_bridge_coalesced_updates",
            "Live updates replaced by a newer one before a slow subscriber read them",
            ["kind"],
            registry=self.registry,
        )
        self.stalled_streams = Counter(
            "nh_bridge_stalled_streams",
            "Anomaly streams ended UNAVAILABLE by their watchdog (behind the head, no progress)",
            registry=self.registry,
        )
        self.slow_streams = Counter(
            "nh_bridge_slow_streams",
            "Streams ended RESOURCE_EXHAUSTED because their client read nothing for "
            "--slow-stream-timeout seconds",
            registry=self.registry,
        )
        self.anomaly_overflows = Counter(
            "nh_bridge_anomaly_queue_overflows",
            "Times a subscriber's anomaly queue filled and it switched to reading from the log",
            registry=self.registry,
        )
        self.ingest_frames = Counter(
            "nh_bridge_ingest_frames",
            "Frames received by IngestActivations by outcome",
            ["outcome"],
            registry=self.registry,
        )

        self.ingest_buffer_bytes = Gauge(
            "nh_bridge_ingest_buffer_bytes",
            "Bytes of frames held by IngestActivations calls (batches and requests in flight)",
            registry=self.registry,
        )
        self.ingest_buffer_budget_bytes = Gauge(
            "nh_bridge_ingest_buffer_budget_bytes",
            "--ingest-buffer-bytes: the most ingest_buffer_bytes may reach",
            registry=self.registry,
        )
        self.read_cache_hits = Counter(
            "nh_bridge_read_cache_hits",
            "Reads answered from the read cache, by method",
            ["method"],
            registry=self.registry,
        )
        self.read_cache_misses = Counter(
            "nh_bridge_read_cache_misses",
            "Reads not answered from memory, by method and why: absent (went upstream), "
            "joined (shared an identical upstream call in flight), unready (push channel "
            "not connected and acknowledged)",
            ["method", "why"],
            registry=self.registry,
        )
        self.read_cache_invalidations = Counter(
            "nh_bridge_read_cache_invalidations",
            "Events that made cached answers stale, by cause: a pushed family (anomalies, "
            "view, frames), write (through this bridge), disconnect, epoch (server restart), "
            "malformed (push)",
            ["cause"],
            registry=self.registry,
        )
        self.read_cache_ready = Gauge(
            "nh_bridge_read_cache_ready",
            "1 while the push channel is connected and acknowledged (reads may hit)",
            registry=self.registry,
        )
        self.read_cache_bytes = Gauge(
            "nh_bridge_read_cache_bytes",
            "Bytes of serialized answers held by the read cache",
            registry=self.registry,
        )

    def serve_http(self, host: str, port: int) -> None:
        """Expose ``/metrics`` on a background thread."""
        start_http_server(port, addr=host, registry=self.registry)
