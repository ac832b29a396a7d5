"""Assembly of the bridge: gRPC server, servicer, health, reflection, metrics, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from . import _errors, _reflection
from ._anomaly_cache import AnomalyCache
from ._config import BridgeConfig
from ._connect import ConnectEndpoints, connect_app
from ._cors import Cors
from ._fanout import Fanout
from ._handlers import at_the_edge
from ._interceptors import AuthInterceptor, MetricsInterceptor, VersionInterceptor
from ._matrix_wire import serialize_message_or_wire
from ._metrics import Metrics
from ._read_cache import ReadCache
from ._service import NeuralHeatmapBridge
from ._stream_hooks import StreamHooksFactory, no_hooks
from ._tracing import tracing_hooks
from ._upstream import Upstream
from ._web import DEFAULT_ROOT, WebApp, WebServer, split_host

log = logging.getLogger("neural_heatmap_bridge")

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["NeuralHeatmapService"].full_name


# Methods whose handlers may return (or yield) already-serialized bytes: the matrix
# (_matrix_wire), hot reads (_read_cache) and live updates (_shared_updates).
PRESERIALIZED = (
    "SubscribeHeatmap",
    "SubscribeCorrelations",
    "SubscribeTemporal",
    "SubscribeAnomalies",
    "StreamUpdates",
    "GetCorrelationMatrix",
    "GetAnomalies",
    "ListModels",
    "GetFilter",
    "GetTheme",
    "GetLayout",
    "GetTemporalStatistics",
)


class _Capture:
    """Collects the method handlers an ``add_..._to_server`` function registers."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, _handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.service, self.handlers = service, dict(handlers)


def edge_handlers(
    add: Callable[[Any, Any], None], servicer: Any, preserialized: tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """The service name and method handlers ``add(servicer, server)`` would register.

    Every method takes raw bytes and decodes and checks them itself (``at_the_edge``),
    after the interceptors; the methods in ``preserialized`` get a serializer that sends
    ``bytes`` answers as they are. The gRPC port and the web port (``_connect``) serve
    these same handlers.
    """
    capture = _Capture()
    add(servicer, capture)
    handlers: dict[str, Any] = {name: at_the_edge(h) for name, h in capture.handlers.items()}
    for name in preserialized:
        handlers[name] = handlers[name]._replace(response_serializer=serialize_message_or_wire)
    return capture.service, handlers


def _add_at_the_edge(
    add: Callable[[Any, Any], None],
    servicer: Any,
    server: grpc.aio.Server,
    preserialized: tuple[str, ...] = (),
) -> None:
    """``add(servicer, server)`` (generated ``add_..._to_server``), validation at the edge.

    Registered like the generated code does (generic and registered handlers), with the
    handlers of ``edge_handlers``.
    """
    service, handlers = edge_handlers(add, servicer, preserialized)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)


def keepalive_options(c: BridgeConfig) -> list[tuple[str, int]]:
    """HTTP/2 liveness of client connections: ping quiet peers, bound ping floods, close
    connections idle for ``--max-connection-idle`` (each holds a file descriptor)."""
    ms = 1000
    options = [
        ("grpc.keepalive_time_ms", int(c.keepalive_time * ms)),
        ("grpc.keepalive_timeout_ms", int(c.keepalive_timeout * ms)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", int(c.min_ping_interval * ms)),
        ("grpc.http2.max_ping_strikes", 2),
    ]
    if c.max_connection_idle:
        options.append(("grpc.max_connection_idle_ms", int(c.max_connection_idle * ms)))
    return options


class Bridge:
    """One running bridge: start it, let it serve, stop it.

    Args:
        config: Everything from the command line / environment.
        stream_hooks: Gives each anomaly stream its hooks (``_stream_hooks``; production:
            none, tests: faults).
    """

    def __init__(self, config: BridgeConfig, stream_hooks: StreamHooksFactory = no_hooks) -> None:
        self.config = config
        self.metrics = Metrics()
        self._tracing_interceptors, trace_configs = tracing_hooks()
        self.upstream = Upstream(config.upstream, config.upstream_token, config.upstream_timeout,
                                 trace_configs)
        self.anomalies = AnomalyCache(config.anomaly_cache)
        self.read_cache = ReadCache(config.read_cache, config.read_cache_bytes, self.metrics)
        self.fanout = Fanout(
            config, self.upstream, self.metrics, self.anomalies, self.read_cache
        )
        self.health = health.aio.HealthServicer()
        self.servicer = NeuralHeatmapBridge(
            config, self.upstream, self.fanout, self.metrics, self.anomalies, self.read_cache,
            stream_hooks,
        )
        self.port = 0
        self.web_port = 0
        self._server: grpc.aio.Server | None = None
        self._web: WebServer | None = None
        self._prober: asyncio.Task[None] | None = None

    def _interceptors(self, tracing: bool = True) -> list[grpc.aio.ServerInterceptor]:
        """Version header, (tracing,) metrics and auth, outermost first: both ports' chain.

        The web port runs without the tracing interceptor (OpenTelemetry's reads grpc's
        own servicer context).
        """
        interceptors: list[grpc.aio.ServerInterceptor] = [
            VersionInterceptor(),  # outermost: refusals carry the header too
            *(self._tracing_interceptors if tracing else ()),
            MetricsInterceptor(self.metrics),
        ]
        if self.config.token:
            interceptors.append(AuthInterceptor(self.config.token))
        return interceptors

    def _tls(self) -> tuple[str, str, str | None] | None:
        c = self.config
        return (c.tls_cert, c.tls_key, c.tls_client_ca) if c.tls_cert and c.tls_key else None

    def _build_web(self) -> WebServer:
        """The web port (``_web``): the servicer's handlers over Connect and gRPC-Web."""
        c = self.config
        service, handlers = edge_handlers(
            pb_grpc.add_NeuralHeatmapServiceServicer_to_server, self.servicer, PRESERIALIZED
        )
        endpoints = ConnectEndpoints(service, handlers, self._interceptors(tracing=False))
        app = WebApp(
            connect_app(endpoints, c.max_receive_bytes),
            f"/{service}/",
            Path(c.web_root) if c.web_root else DEFAULT_ROOT,
            Cors(c.web_cors_origin),
        )
        host = c.web_host or split_host(c.listen)
        return WebServer(app, host, c.web_port, self._tls(), c.grace_period)

    @property
    def web_url(self) -> str | None:
        """The web port's address once started (None when it is off)."""
        return None if self._web is None else self._web.url

    def _build_server(self) -> grpc.aio.Server:
        c = self.config
        interceptors = self._interceptors()
        options: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", c.max_send_bytes),
            ("grpc.max_receive_message_length", c.max_receive_bytes),
            ("grpc.so_reuseport", 0),
            *keepalive_options(c),
        ]
        if c.max_connection_age:
            # Long streams end now and then (GOAWAY; UNAVAILABLE after the grace) so clients
            # reconnect through their balancer and load spreads over every bridge.
            options.append(("grpc.max_connection_age_ms", int(c.max_connection_age * 1000)))
            options.append(("grpc.max_connection_age_grace_ms", int(c.grace_period * 1000)))
        if c.max_concurrent_streams:
            options.append(("grpc.max_concurrent_streams", c.max_concurrent_streams))
        server = grpc.aio.server(interceptors=interceptors, options=options)
        _add_at_the_edge(
            pb_grpc.add_NeuralHeatmapServiceServicer_to_server, self.servicer, server, PRESERIALIZED
        )
        _add_at_the_edge(health_pb2_grpc.add_HealthServicer_to_server, self.health, server)
        _reflection.enable([SERVICE_NAME, health.SERVICE_NAME], server, _add_at_the_edge)
        if c.tls_cert and c.tls_key:
            creds = grpc.ssl_server_credentials(
                [(Path(c.tls_key).read_bytes(), Path(c.tls_cert).read_bytes())],
                root_certificates=Path(c.tls_client_ca).read_bytes() if c.tls_client_ca else None,
                require_client_auth=bool(c.tls_client_ca),
            )
            self.port = server.add_secure_port(c.listen, creds)
        else:
            self.port = server.add_insecure_port(c.listen)
        return server

    async def start(self) -> None:
        """Bind, probe the upstream once, and start serving.

        Raises:
            SystemExit: The web port is taken (one line naming it, nothing left open).
        """
        if self.config.web_port:
            self._web = self._build_web()
            try:
                self._web.bind()
            except OSError as exc:
                raise SystemExit(f"neural-heatmap-bridge: {exc.strerror}") from exc
        self._server = self._build_server()
        await self._probe_once()
        self._prober = asyncio.get_running_loop().create_task(self._probe_forever())
        if self._web is not None:
            await self._web.start()
            self.web_port = self._web.port
        await self._server.start()
        self.fanout.start()
        if self.config.metrics_port:
            self.metrics.serve_http(self.config.metrics_host, self.config.metrics_port)
        log.info(
            "neural-heatmap-bridge listening on port %d (web: %s), upstream %s",
            self.port,
            self.web_url or "off",
            self.config.upstream,
        )

    async def _probe_once(self) -> None:
        up = await self.upstream.healthy(min(2.0, max(0.2, self.config.health_interval)))
        self.metrics.upstream_up.set(1 if up else 0)
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if up
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def _probe_forever(self) -> None:
        """Keep grpc.health.v1 in step with the upstream's ``/health``."""
        while True:
            await asyncio.sleep(self.config.health_interval)
            await self._probe_once()

    async def wait(self) -> None:
        """Block until the server stops."""
        assert self._server is not None
        await self._server.wait_for_termination()

    async def stop(self) -> None:
        """Graceful stop: NOT_SERVING, end streams with UNAVAILABLE, let unary calls finish."""
        if self._prober is not None:
            self._prober.cancel()
        await self.health.enter_graceful_shutdown()
        await self.fanout.close(
            _errors.shutting_down(
                "the bridge is shutting down; reconnect (to another bridge) and resume "
                "anomalies with after_sequence = the last sequence you received"
            )
        )
        stopping = []
        if self._server is not None:
            stopping.append(self._server.stop(self.config.grace_period))
        if self._web is not None:
            stopping.append(self._web.stop())
        await asyncio.gather(*stopping)
        await self.upstream.close()
