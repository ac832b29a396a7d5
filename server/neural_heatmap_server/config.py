"""Server configuration: command-line flags with ``NH_SERVER_*`` environment fallbacks.

Every flag can also be set through an environment variable named after it
(``--max-body-bytes`` -> ``NH_SERVER_MAX_BODY_BYTES``) so that containers and
``make run`` can configure the server without rewriting command lines. A flag
given on the command line always wins over the environment.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from neural_heatmap_contract import policy
from neural_heatmap_contract.env import flag_default
from neural_heatmap_contract.flag_types import non_negative_float, positive_float, positive_int
from neural_heatmap_contract.limits import MAX_ANOMALY_LIMIT
from neural_heatmap_contract.protocol import ANOMALY_STREAM, nats_servers
from neural_heatmap_contract.routes import http

from .memory import DEFAULT_BUDGET_FRACTION, default_memory_budget

ENV_PREFIX = "NH_SERVER_"


APP_NAME = "neural-heatmap"
"""The folder name under the user's data directory."""


def default_data_dir() -> Path:
    """Where the server keeps its state without ``--data-dir``: the user's data directory
    (``~/.local/share/neural-heatmap`` on Linux, ``~/Library/Application Support/
    neural-heatmap`` on macOS, ``%LOCALAPPDATA%\\neural-heatmap`` on Windows), the same
    wherever the server is started (a relative ``./data`` was a new one per folder)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs to know at start-up.

    Attributes mirror the command-line flags one to one; see ``build_parser``
    for what each one means.
    """

    host: str = policy.SERVER_HOST
    port: int = policy.SERVER_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    export_dir: Path | None = None
    window: int = 1024
    max_body_bytes: int = 64 * 1024 * 1024
    max_units: int = 65536
    max_layers: int = 1024
    max_frames: int = 10000
    anomaly_cooldown: float = 5.0
    anomaly_retention: int = 100000
    anomaly_log: str = "sqlite"
    anomaly_stream: str = ANOMALY_STREAM
    anomaly_max_age: float = 0.0
    anomaly_dedup_window: float = 600.0
    anomaly_replicas: int = 1
    consumer_ack_deadline: float = 30.0
    token: str | None = None
    source: bool = True
    source_rate: float = 15.0
    heatmap_hz: float = 10.0
    correlation_interval: float = 2.0
    temporal_interval: float = 5.0
    ws_queue: int = 1024
    workers: int = 2
    max_pending_analytics: int = 8
    max_pending_exports: int = 2
    max_pending_ingest: int = 4
    max_request_seconds: float = 30.0
    max_compare_models: int = 16
    max_new_layers: int = 256
    max_matrix_labels: int = 4096
    max_push_labels: int = 256
    max_anomaly_limit: int = MAX_ANOMALY_LIMIT
    memory_budget: int | None = None
    header_timeout: float = 60.0
    body_timeout: float = 30.0
    log_level: str = "INFO"
    shard_log: str | None = None
    shard_id: str = ""
    shard_of: tuple[int, int] | None = None
    shard_lease: float = 3.0
    shard_prefix: str = "NH"
    shard_max_bytes: int = 1 << 30
    shard_max_ack_pending: int = 256
    shard_replicas: int = 1

    @property
    def exports_path(self) -> Path:
        """The export directory: ``--export-dir`` or ``<data-dir>/exports``."""
        return self.export_dir if self.export_dir is not None else self.data_dir / "exports"

    @property
    def memory_budget_bytes(self) -> int:
        """``--memory-budget``, or ``DEFAULT_BUDGET_FRACTION`` of the machine's memory."""
        return self.memory_budget if self.memory_budget is not None else default_memory_budget()

    @property
    def database_path(self) -> Path:
        """The SQLite file holding the anomaly log and the view state."""
        return self.data_dir / "neural_heatmap.sqlite3"


def anomaly_log_url(text: str) -> str:
    """``sqlite`` or a comma-separated list of ``nats://`` URLs.

    Raises:
        argparse.ArgumentTypeError: On anything else.
    """
    if text == "sqlite":
        return text
    try:
        nats_servers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'sqlite' or a NATS URL list: {exc}") from exc
    return text


def shard_of(text: str) -> tuple[int, int]:
    """``I/N``: this server prefers the partitions ``p % N == I``.

    Raises:
        argparse.ArgumentTypeError: Not two integers with ``0 <= I < N``.
    """
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N (e.g. 0/2), got {text!r}")
    return int(index), int(count)


def _env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"))


def _env_bool(name: str, default: bool) -> bool:
    """A boolean flag's environment value; an unknown word stops start-up with one line."""
    return flag_default("neural-heatmap-server", ENV_PREFIX + name.upper().replace("-", "_"),
                        default)


def build_parser() -> argparse.ArgumentParser:
    """Describe every flag, its default and its environment variable."""
    d = ServerConfig()
    parser = argparse.ArgumentParser(
        prog="neural-heatmap-server",
        description=(
            "Neural Heatmap server: ingests per-layer activations and serves live analytics "
            "(correlation, temporal patterns, anomalies, model comparison) over HTTP and "
            f"WebSocket. Every flag falls back to the environment variable {ENV_PREFIX}<FLAG>."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    def add(flag: str, default: object = None, **kw: Any) -> None:
        # argparse runs ``type`` on string defaults, so an environment value is
        # validated exactly like the same value given on the command line.
        env = _env(flag.lstrip("-"))
        parser.add_argument(flag, default=env if env is not None else default, **kw)

    add("--host", default=d.host, help="address to listen on")
    add("--port", type=int, default=d.port,
        help="TCP port to listen on (0 picks a free one)")
    add("--data-dir", type=Path, default=d.data_dir,
        help="directory of the SQLite database (anomaly log, filter, theme, layout); "
             "default: the user's data directory, printed at start")
    add("--export-dir", type=Path, default=None,
        help="directory server-side exports are written to; unset means <data-dir>/exports")
    add("--window", type=positive_int, default=d.window,
        help="frames kept per model/layer in the rolling window that analytics read")
    add("--max-body-bytes", type=positive_int, default=d.max_body_bytes,
        help="largest accepted request body; bigger bodies answer 413")
    add("--max-units", type=positive_int, default=d.max_units,
        help="largest number of units a layer may have")
    add("--max-layers", type=positive_int, default=d.max_layers,
        help="most model/layer windows held in memory (each is --window x units floats); "
             "frames of a new layer beyond it answer 400")
    add("--max-frames", type=positive_int, default=d.max_frames,
        help="largest number of frames in one JSON ingest request")
    add("--anomaly-cooldown", type=non_negative_float, default=d.anomaly_cooldown,
        help="seconds of frame time (frame timestamps) within which a repeat of the same "
             "(model, layer, type) anomaly is suppressed unless it is more severe; "
             "0 disables de-duplication")
    add("--anomaly-retention", type=positive_int, default=d.anomaly_retention,
        help="anomalies kept in the durable log; older ones are pruned (sequences never reuse)")
    add("--anomaly-log", default=d.anomaly_log, type=anomaly_log_url,
        help="where the anomaly log lives: 'sqlite' (in --data-dir, one machine) or "
             "nats://host:4222[,nats://...] (a NATS JetStream stream bridges read directly)")
    add("--anomaly-stream", default=d.anomaly_stream,
        help="JetStream stream name of the anomaly log (subject <name>.anomalies)")
    add("--anomaly-max-age", type=non_negative_float, default=d.anomaly_max_age,
        help="JetStream only: seconds an anomaly is kept (the stream's max_age); 0: by count")
    add("--anomaly-dedup-window", type=positive_float, default=d.anomaly_dedup_window,
        help="JetStream only: the stream's duplicate window in seconds; a server restarted "
             "within it republishes its outbox without doubling anything")
    add("--anomaly-replicas", type=positive_int, default=d.anomaly_replicas,
        help="JetStream only: stream replicas (3 on a NATS cluster)")
    add("--consumer-ack-deadline", type=positive_float, default=d.consumer_ack_deadline,
        help="seconds a member of a consumer group holds an anomaly it was given; one not "
             "acknowledged by then goes to another member")
    add("--token", default=None,
        help="if set, every route except /health and /openapi.json needs "
             "'Authorization: Bearer <token>'")
    parser.add_argument(
        "--source", action=argparse.BooleanOptionalAction, default=_env_bool("source", d.source),
        help="run the built-in activation source (two small MLPs training in numpy, "
             "with scheduled incidents)")
    add("--source-rate", type=positive_float, default=d.source_rate,
        help="training steps per second of the built-in source")
    add("--heatmap-hz", type=positive_float, default=d.heatmap_hz,
        help="most heatmap_update messages per layer per second")
    add("--correlation-interval", type=positive_float, default=d.correlation_interval,
        help="seconds between correlation_update messages to subscribers")
    add("--temporal-interval", type=positive_float, default=d.temporal_interval,
        help="seconds between temporal_update messages to subscribers")
    add("--ws-queue", type=positive_int, default=d.ws_queue,
        help="bounded send queue per WebSocket connection (messages)")
    add("--workers", type=positive_int, default=d.workers,
        help="worker threads for analytics, rendering and exports (off the event loop)")
    add("--max-pending-analytics", type=positive_int, default=d.max_pending_analytics,
        help="analytics requests (correlation, temporal, compare, unit listings) running or "
             "waiting for a worker; beyond it requests answer 429 overloaded with Retry-After")
    add("--max-pending-exports", type=positive_int, default=d.max_pending_exports,
        help="exports running or waiting for a worker; beyond it 429 overloaded")
    add("--max-pending-ingest", type=positive_int, default=d.max_pending_ingest,
        help="large JSON ingest requests (over 256 KiB) being decoded or waiting for the "
             "ingest thread; beyond it 429 overloaded")
    add("--max-request-seconds", type=positive_float, default=d.max_request_seconds,
        help="longest any request may work; a shorter X-Request-Timeout-Ms header wins; "
             "past it the request answers 504 deadline_exceeded and its work stops")
    add("--max-compare-models", type=positive_int, default=d.max_compare_models,
        help="distinct model ids in one compare request (duplicates are merged first)")
    add("--max-new-layers", type=positive_int, default=d.max_new_layers,
        help="new model/layer windows one ingest call may create")
    add("--max-matrix-labels", type=positive_int, default=d.max_matrix_labels,
        help="labels (layers or units) in one correlation matrix; more answer 400")
    add("--max-push-labels", type=positive_int, default=d.max_push_labels,
        help="labels in a periodic correlation_update; beyond it the push covers the first "
             "ones and says so in metadata (a request can still ask for the rest)")
    add("--max-anomaly-limit", type=positive_int, default=d.max_anomaly_limit,
        help=f"largest limit of one anomaly read ({http('GetAnomalies').operation}, "
             "replay); more is a 400")
    add("--memory-budget", type=positive_int, default=None,
        help="bytes the activation windows of all layers may hold together (each is "
             "--window x (4 x units + 24) bytes); a frame that would create a layer beyond "
             "it answers 429 naming the budget, layers already held keep ingesting. Unset: "
             f"{DEFAULT_BUDGET_FRACTION:.0%}% of the machine's memory (or of the cgroup limit "
             "when lower)")
    add("--header-timeout", type=positive_float, default=d.header_timeout,
        help="seconds a connection may take to send a complete request line and headers, "
             "from its opening or from the end of the previous answer (so also how long an "
             "idle keep-alive connection stays open); then it is closed. Keep it above "
             "clients' keep-alive time (aiohttp's is 15 s)")
    add("--body-timeout", type=positive_float, default=d.body_timeout,
        help="seconds a request body may go without a byte arriving; then the request "
             "answers 408 request_timeout and the connection is closed")
    add("--shard-log", default=None, type=anomaly_log_url,
        help="opt-in sharded shape (docs/deploy.md): nats://host:4222[,nats://...]; "
             "ingested frames go to a JetStream stream by model partition, this server "
             "owns partitions by lease and publishes their anomalies to --anomaly-stream; "
             "needs --no-source and --anomaly-log sqlite")
    add("--shard-id", default=None,
        help="this server's unique name among the shards (default <hostname>-<pid>)")
    add("--shard-of", default=None, type=shard_of,
        help="I/N: prefer the partitions p %% N == I; without it a shard server is a "
             "standby that takes over partitions whose lease lapsed")
    add("--shard-lease-seconds", type=positive_float, default=d.shard_lease,
        help="a partition's lease: a server that stops renewing (killed) loses its "
             "partitions this long after its last renewal")
    add("--shard-prefix", default=d.shard_prefix,
        help="names of the shard streams and buckets: <prefix>_FRAMES, _LEASES, _LAYERS")
    add("--shard-max-bytes", type=positive_int, default=d.shard_max_bytes,
        help="bytes the frames stream may hold; beyond it ingestion answers 429")
    add("--shard-max-ack-pending", type=positive_int, default=d.shard_max_ack_pending,
        help="frame messages a partition's owner may hold unacknowledged")
    add("--shard-replicas", type=positive_int, default=d.shard_replicas,
        help="replicas of the frames and anomaly streams and the buckets (3 on a NATS "
             "cluster)")
    add("--log-level", default=d.log_level,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> ServerConfig:
    """Parse flags (falling back to the environment) into a ``ServerConfig``."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.shard_log is not None and (ns.source or ns.anomaly_log != "sqlite"):
        parser.error("--shard-log needs --no-source (the built-in source ingests on the "
                     "loop without the stream) and --anomaly-log sqlite (the shards publish "
                     "to --anomaly-stream on the --shard-log NATS themselves)")
    export_dir = Path(ns.export_dir) if ns.export_dir is not None else None
    return ServerConfig(
        host=ns.host,
        port=ns.port,
        data_dir=ns.data_dir,
        export_dir=export_dir,
        window=ns.window,
        max_body_bytes=ns.max_body_bytes,
        max_units=ns.max_units,
        max_layers=ns.max_layers,
        max_frames=ns.max_frames,
        anomaly_cooldown=ns.anomaly_cooldown,
        anomaly_retention=ns.anomaly_retention,
        anomaly_log=ns.anomaly_log,
        anomaly_stream=ns.anomaly_stream,
        anomaly_max_age=ns.anomaly_max_age,
        anomaly_dedup_window=ns.anomaly_dedup_window,
        anomaly_replicas=ns.anomaly_replicas,
        consumer_ack_deadline=ns.consumer_ack_deadline,
        token=ns.token or None,
        source=ns.source,
        source_rate=ns.source_rate,
        heatmap_hz=ns.heatmap_hz,
        correlation_interval=ns.correlation_interval,
        temporal_interval=ns.temporal_interval,
        ws_queue=ns.ws_queue,
        workers=ns.workers,
        max_pending_analytics=ns.max_pending_analytics,
        max_pending_exports=ns.max_pending_exports,
        max_pending_ingest=ns.max_pending_ingest,
        max_request_seconds=ns.max_request_seconds,
        max_compare_models=ns.max_compare_models,
        max_new_layers=ns.max_new_layers,
        max_matrix_labels=ns.max_matrix_labels,
        max_push_labels=ns.max_push_labels,
        max_anomaly_limit=ns.max_anomaly_limit,
        memory_budget=ns.memory_budget,
        header_timeout=ns.header_timeout,
        body_timeout=ns.body_timeout,
        log_level=ns.log_level,
        shard_log=ns.shard_log,
        shard_id=ns.shard_id or f"{socket.gethostname()}-{os.getpid()}",
        shard_of=ns.shard_of,
        shard_lease=ns.shard_lease_seconds,
        shard_prefix=ns.shard_prefix,
        shard_max_bytes=ns.shard_max_bytes,
        shard_max_ack_pending=ns.shard_max_ack_pending,
        shard_replicas=ns.shard_replicas,
    )
