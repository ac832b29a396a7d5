"""Bridge configuration: command-line flags with ``NH_BRIDGE_*`` environment fallbacks.

Every flag can also be set through an environment variable named after it
(``--max-send-bytes`` -> ``NH_BRIDGE_MAX_SEND_BYTES``), so containers and
``make run`` configure the bridge without rewriting command lines. A flag on
the command line always wins over the environment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass

from neural_heatmap_contract import policy
from neural_heatmap_contract.env import flag_default
from neural_heatmap_contract.flag_types import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from neural_heatmap_contract.limits import INGEST_BATCH_BYTES, MAX_MESSAGE_BYTES
from neural_heatmap_contract.protocol import ANOMALY_STREAM, nats_servers
from neural_heatmap_contract.routes import http

ENV_PREFIX = "NH_BRIDGE_"


def comma_list(text: str) -> tuple[str, ...]:
    """``a, b`` -> ``("a", "b")``: a list flag written once (and in one variable)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs at start-up; one attribute per flag (see ``build_parser``)."""

    listen: str = policy.BRIDGE_ADDRESS
    upstream: str = policy.SERVER_URL
    upstream_token: str | None = None
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    max_send_bytes: int = MAX_MESSAGE_BYTES
    max_receive_bytes: int = MAX_MESSAGE_BYTES
    max_concurrent_streams: int = 0
    web_host: str = ""
    web_port: int = 8090
    web_root: str = ""
    web_cors_origin: tuple[str, ...] = ()
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    health_interval: float = 1.0
    grace_period: float = 5.0
    upstream_timeout: float = 30.0
    queue_size: int = 1024
    ring_size: int = 4096
    page_size: int = 1000
    anomaly_cache: int = 8192
    read_cache: bool = True
    read_cache_bytes: int = 64 << 20
    heartbeat_interval: float = 2.0
    stall_timeout: float = 6.0
    slow_stream_timeout: float = 30.0
    uvloop: bool = True
    ingest_batch_frames: int = 512
    ingest_batch_bytes: int = INGEST_BATCH_BYTES
    ingest_inflight: int = 4
    ingest_flush_ms: float = 50.0
    ingest_buffer_bytes: int = 512 << 20
    anomaly_log: str = ""
    anomaly_stream: str = ANOMALY_STREAM
    max_connection_age: float = 0.0
    max_connection_idle: float = 300.0
    keepalive_time: float = 60.0
    keepalive_timeout: float = 20.0
    min_ping_interval: float = 10.0
    log_level: str = "INFO"


def _env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_")) or None


def _env_bool(name: str, default: bool) -> bool:
    """A boolean flag's environment value; an unknown word stops start-up with one line."""
    variable = ENV_PREFIX + name.upper().replace("-", "_")
    return flag_default("neural-heatmap-bridge", variable, default)


def _nats_urls(text: str) -> str:
    """Empty (anomalies through the server) or one or more comma-separated NATS URLs."""
    if text:
        try:
            nats_servers(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def build_parser() -> argparse.ArgumentParser:
    """Describe every flag, its default and its environment variable."""
    d = BridgeConfig()
    parser = argparse.ArgumentParser(
        prog="neural-heatmap-bridge",
        description=(
            "gRPC bridge to a Neural Heatmap server: serves neural_heatmap.v1.NeuralHeatmapService "
            "by calling the server's HTTP routes and fanning out one shared WebSocket. Every flag "
            f"falls back to the environment variable {ENV_PREFIX}<FLAG> (e.g. "
            f"{ENV_PREFIX}UPSTREAM_TOKEN)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    def add(flag: str, kind: type | object = str, default: object = None, **kw: object) -> None:
        env = _env(flag.lstrip("-"))
        parser.add_argument(flag, type=kind, default=env if env is not None else default, **kw)  # type: ignore[arg-type]

    add("--listen", default=d.listen, help="host:port the gRPC server binds (port 0 = any free)")
    add("--upstream", default=d.upstream, help="base URL of the Neural Heatmap HTTP server")
    add("--upstream-token", help="bearer token the bridge sends to the upstream server")
    add(
        "--token",
        help="if set, every RPC except health and reflection needs metadata "
        "'authorization: Bearer <token>' (compared in constant time)",
    )
    add("--tls-cert", help="PEM certificate chain; with --tls-key turns TLS on")
    add("--tls-key", help="PEM private key of --tls-cert")
    add(
        "--tls-client-ca",
        help="PEM CA bundle; if set, clients must present a certificate it signed (mutual TLS)",
    )
    add(
        "--max-send-bytes",
        positive_int,
        d.max_send_bytes,
        help="largest gRPC message the bridge sends; a bigger matrix is RESOURCE_EXHAUSTED",
    )
    add(
        "--max-receive-bytes",
        positive_int,
        d.max_receive_bytes,
        help="largest gRPC message the bridge accepts (e.g. an ingest batch)",
    )
    add(
        "--max-concurrent-streams",
        non_negative_int,
        d.max_concurrent_streams,
        help="HTTP/2 concurrent streams per client connection; 0 = no cap. A stream beyond "
        "a cap waits silently in the client's HTTP/2 layer (no headers, no error), and gRPC "
        "clients in one process share one connection per target, so set it only well above "
        "any process's stream count",
    )
    add(
        "--web-host",
        default=d.web_host,
        help="address of the web port (Connect, gRPC-Web and the dashboard); "
        "empty: the host of --listen",
    )
    add(
        "--web-port",
        non_negative_int,
        d.web_port,
        help="port serving Connect (JSON and binary) and gRPC-Web over HTTP/1.1 with the "
        "same RPCs, token and TLS as the gRPC port, and the dashboard at /; 0 turns it off",
    )
    add(
        "--web-root",
        default=d.web_root,
        help="directory served at / on the web port; empty: the dashboard shipped with "
        "the bridge",
    )
    add(
        "--web-cors-origin",
        comma_list,
        d.web_cors_origin,
        help="comma-separated origins (scheme://host:port) of pages elsewhere that may call "
        "the web port's RPCs (CORS); empty: none (the dashboard is same-origin)",
    )
    add("--metrics-host", default=d.metrics_host, help="address of the Prometheus endpoint")
    add(
        "--metrics-port",
        non_negative_int,
        d.metrics_port,
        help="port of the Prometheus /metrics endpoint; 0 turns metrics off",
    )
    add(
        "--health-interval",
        positive_float,
        d.health_interval,
        help="seconds between probes of the upstream's /health (drives grpc.health.v1)",
    )
    add(
        "--grace-period",
        positive_float,
        d.grace_period,
        help="seconds unary calls get to finish on SIGTERM; streams end at once with UNAVAILABLE",
    )
    add(
        "--upstream-timeout",
        positive_float,
        d.upstream_timeout,
        help="upstream timeout (s) for calls without a gRPC deadline",
    )
    add(
        "--queue-size",
        positive_int,
        d.queue_size,
        help="anomalies buffered per live subscriber; on overflow it re-reads from the log",
    )
    add(
        "--ring-size",
        positive_int,
        d.ring_size,
        help="newest anomalies the bridge keeps in memory so subscribers resume without HTTP",
    )
    add(
        "--page-size",
        positive_int,
        d.page_size,
        help=f"anomalies per {http('GetAnomalies').operation} page when a subscriber catches up",
    )
    add(
        "--anomaly-cache",
        non_negative_int,
        d.anomaly_cache,
        help="converted anomalies kept by sequence (logged anomalies never change); 0 = off",
    )
    parser.add_argument(
        "--read-cache",
        action=argparse.BooleanOptionalAction,
        default=_env_bool("read-cache", d.read_cache),
        help="answer hot reads (GetAnomalies, ListModels, Get{Filter,Theme,Layout}, "
        "GetCorrelationMatrix, GetTemporalStatistics) from memory while the upstream's "
        "pushed versions say they are current (--no-read-cache: always ask the upstream)",
    )
    add(
        "--read-cache-bytes",
        non_negative_int,
        d.read_cache_bytes,
        help="most bytes of serialized answers the read cache keeps (least recently used "
        "out; an answer above a quarter of it is not kept); 0 turns the cache off",
    )
    add(
        "--heartbeat-interval",
        positive_float,
        d.heartbeat_interval,
        help="seconds without an anomaly after which an anomaly stream gets an "
        "AnomalyHeartbeat (the log head); also asked of the upstream WebSocket",
    )
    add(
        "--stall-timeout",
        positive_float,
        d.stall_timeout,
        help="seconds a stream may stay behind the head it was told without progress "
        "before it ends UNAVAILABLE; also how long the upstream may leave a ping or its "
        "heartbeats unanswered before it counts as stalled (streams end, health NOT_SERVING)",
    )
    add(
        "--slow-stream-timeout",
        non_negative_float,
        d.slow_stream_timeout,
        help="seconds a live stream's write may wait for a client that reads nothing before "
        "the stream ends RESOURCE_EXHAUSTED (the client resumes after the last sequence it "
        "received); 0: never",
    )
    parser.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=_env_bool("uvloop", d.uvloop),
        help="run on uvloop's event loop when it is installed (--no-uvloop: asyncio's own)",
    )
    add(
        "--ingest-batch-frames",
        positive_int,
        d.ingest_batch_frames,
        help="frames per (model, layer) sent upstream in one binary request",
    )
    add(
        "--ingest-batch-bytes",
        positive_int,
        d.ingest_batch_bytes,
        help="bytes of frame records after which a batch is sent upstream (keep it under "
        "the server's --max-body-bytes)",
    )
    add(
        "--ingest-inflight",
        positive_int,
        d.ingest_inflight,
        help="upstream ingest requests in flight per IngestActivations call (back-pressure)",
    )
    add(
        "--ingest-flush-ms",
        positive_float,
        d.ingest_flush_ms,
        help="longest time (ms) a partial ingest batch waits before it is sent",
    )
    add(
        "--ingest-buffer-bytes",
        positive_int,
        d.ingest_buffer_bytes,
        help="bytes of frames all IngestActivations calls together may hold in the bridge "
        "(batches being filled and requests in flight); a call whose next frame does not "
        "fit, even after its own batches are sent, ends RESOURCE_EXHAUSTED "
        "INGEST_BUFFER_FULL",
    )
    add(
        "--anomaly-log",
        _nats_urls,
        d.anomaly_log,
        help="nats://host:4222[,...] when the server's anomaly log is a JetStream stream: "
        "anomaly streams then read it directly (one ordered consumer per bridge) instead of "
        "through the server; empty: through the server",
    )
    add("--anomaly-stream", default=d.anomaly_stream, help="the JetStream stream's name")
    add(
        "--max-connection-age",
        non_negative_float,
        d.max_connection_age,
        help="seconds after which a client connection is closed (GOAWAY, then streams end "
        "UNAVAILABLE after --grace-period) so clients reconnect and rebalance across bridges; "
        "0: never",
    )
    add(
        "--max-connection-idle",
        non_negative_float,
        d.max_connection_idle,
        help="seconds a client connection may stay without any RPC before it gets GOAWAY "
        "and is closed (its file descriptor freed); clients reconnect on their next call. "
        "0: never",
    )
    add(
        "--keepalive-time",
        positive_float,
        d.keepalive_time,
        help="seconds of silence on a connection after which the bridge pings the client "
        "(HTTP/2 PING), to find peers that vanished without closing",
    )
    add(
        "--keepalive-timeout",
        positive_float,
        d.keepalive_timeout,
        help="seconds a ping may go unanswered before the connection is closed",
    )
    add(
        "--min-ping-interval",
        positive_float,
        d.min_ping_interval,
        help="shortest interval between a client's pings the bridge accepts (also on a "
        "connection without RPCs); a client pinging more often gets GOAWAY too_many_pings. "
        "The Python SDK pings every 30 s",
    )
    add(
        "--log-level",
        default=d.log_level,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level",
    )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> BridgeConfig:
    """Parse flags (falling back to the environment) into a ``BridgeConfig``."""
    ns = build_parser().parse_args(argv)
    if bool(ns.tls_cert) != bool(ns.tls_key):
        build_parser().error("--tls-cert and --tls-key go together")
    if ns.tls_client_ca and not ns.tls_cert:
        build_parser().error("--tls-client-ca needs --tls-cert and --tls-key")
    return BridgeConfig(**{k: v for k, v in vars(ns).items()})
