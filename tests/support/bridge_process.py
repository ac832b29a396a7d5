"""Run the gRPC bridge as a real process for tests (and a server + bridge pair).

``BridgeProcess`` picks a free loopback port, starts
``python -m neural_heatmap_bridge --listen 127.0.0.1:P --upstream URL ...`` and
waits until ``grpc.health.v1`` answers (SERVING or NOT_SERVING: the bridge is
up even when its upstream is not)::

    with ServerProcess() as server, BridgeProcess(server.url) as bridge:
        channel = grpc.insecure_channel(bridge.target)

``server_and_bridge`` starts both and cleans both up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from neural_heatmap_contract.limits import MAX_MESSAGE_BYTES

from tests.support._process import LaunchedProcess, free_port
from tests.support.server_process import ServerProcess

MAX_MESSAGE = MAX_MESSAGE_BYTES
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
]


class BridgeProcess(LaunchedProcess):
    """A bridge subprocess on its own port.

    Args:
        upstream_url: The server's base URL.
        *extra_args: More bridge flags (e.g. ``"--token", "s3cret"``).
        metrics: Also serve Prometheus metrics on a free port (``metrics_url``).
        env: Extra environment variables.
        startup_timeout: Seconds to wait for the health service.
        secure: Channel credentials for the readiness probe when TLS is on.
        server_name: Expected name in the bridge's certificate, when TLS is on.
        faults: A fault plan (``"mute@1,freeze@2"``): run the bridge through the test-only
            entry module ``tests.support.faulty_bridge`` instead of the production one.
        web: Also serve the web port (Connect, gRPC-Web, the dashboard) on a free port
            (``web_url``); off otherwise, so parallel bridges never share its default 8090.
    """

    kind = "bridge"
    source_dirs = ("bridge", "contract/python", "sdk/python")

    def __init__(
        self,
        upstream_url: str,
        *extra_args: str,
        metrics: bool = False,
        env: dict[str, str] | None = None,
        startup_timeout: float = 20.0,
        secure: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
        faults: str = "",
        web: bool = False,
    ) -> None:
        self.upstream_url = upstream_url
        self.faults = faults
        self.extra_args = list(extra_args)
        self.secure = secure
        self.server_name = server_name
        super().__init__(env=env, startup_timeout=startup_timeout)
        self.metrics_port = free_port() if metrics else 0
        self.web_port = free_port() if web else 0

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>`` for ``grpc.insecure_channel``."""
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str | None:
        """``http://127.0.0.1:<port>/metrics`` when metrics are on."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else None

    @property
    def web_url(self) -> str:
        """``http(s)://127.0.0.1:<port>`` of the web port (``web=True``)."""
        assert self.web_port, "started without web=True"
        return f"{'https' if self.secure is not None else 'http'}://127.0.0.1:{self.web_port}"

    @property
    def pid(self) -> int:
        """Process id of the running bridge."""
        assert self.proc is not None
        return self.proc.pid

    def _channel_options(self) -> list[tuple[str, Any]]:
        options: list[tuple[str, Any]] = list(CHANNEL_OPTIONS)
        if self.secure is not None and self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options

    def channel(self) -> grpc.Channel:
        """A blocking channel to the bridge with 256 MiB message limits."""
        if self.secure is not None:
            return grpc.secure_channel(self.target, self.secure, options=self._channel_options())
        return grpc.insecure_channel(self.target, options=self._channel_options())

    def aio_channel(self) -> grpc.aio.Channel:
        """An asyncio channel to the bridge with 256 MiB message limits."""
        if self.secure is not None:
            return grpc.aio.secure_channel(
                self.target, self.secure, options=self._channel_options()
            )
        return grpc.aio.insecure_channel(self.target, options=self._channel_options())

    def _command(self) -> list[str]:
        entry = ["tests.support.faulty_bridge", "--test-faults", self.faults] if self.faults \
            else ["neural_heatmap_bridge"]
        cmd = [
            sys.executable,
            "-m",
            *entry,
            "--listen",
            self.target,
            "--upstream",
            self.upstream_url,
            "--health-interval",
            "0.3",
            "--web-port",
            str(self.web_port),
            *self.extra_args,
        ]
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        return cmd

    def health(self, timeout: float = 1.0) -> int:
        """The bridge's overall grpc.health.v1 status (a ``HealthCheckResponse`` enum)."""
        with self.channel() as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout).status)

    def _is_ready(self) -> bool:
        # SERVING or NOT_SERVING both count: the bridge is up without its upstream
        try:
            self.health(timeout=0.5)
        except grpc.RpcError:
            return False
        return True

    def signal(self, sig: int) -> None:
        """Send a signal (e.g. SIGTERM to test graceful shutdown)."""
        assert self.proc is not None
        self.proc.send_signal(sig)


@contextmanager
def server_and_bridge(
    server_args: list[str] | None = None,
    bridge_args: list[str] | None = None,
    metrics: bool = False,
) -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    """A real server and a real bridge pointing at it, both cleaned up afterwards."""
    server = ServerProcess(extra_args=server_args)
    server.start()
    try:
        with BridgeProcess(server.url, *(bridge_args or []), metrics=metrics) as bridge:
            yield server, bridge
    finally:
        server.cleanup()
