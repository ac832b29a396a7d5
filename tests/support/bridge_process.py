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

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.server_process import ServerProcess, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_MESSAGE = 256 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
]


class BridgeProcess:
    """A bridge subprocess on its own port.

    Args:
        upstream_url: The server's base URL.
        *extra_args: More bridge flags (e.g. ``"--token", "s3cret"``).
        metrics: Also serve Prometheus metrics on a free port (``metrics_url``).
        env: Extra environment variables.
        startup_timeout: Seconds to wait for the health service.
        secure: Channel credentials for the readiness probe when TLS is on.
    """

    def __init__(
        self,
        upstream_url: str,
        *extra_args: str,
        metrics: bool = False,
        env: dict[str, str] | None = None,
        startup_timeout: float = 20.0,
        secure: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
    ) -> None:
        self.upstream_url = upstream_url
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.secure = secure
        self.server_name = server_name
        self.port = free_port()
        self.metrics_port = free_port() if metrics else 0
        self._tmp = Path(tempfile.mkdtemp(prefix="nh-bridge-"))
        self.log_path = self._tmp / "bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>`` for ``grpc.insecure_channel``."""
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str | None:
        """``http://127.0.0.1:<port>/metrics`` when metrics are on."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else None

    @property
    def pid(self) -> int:
        """Process id of the running bridge."""
        assert self.proc is not None
        return self.proc.pid

    def channel(self) -> grpc.Channel:
        """A blocking channel to the bridge with 256 MiB message limits."""
        options = list(CHANNEL_OPTIONS)
        if self.secure is not None:
            if self.server_name:
                options.append(("grpc.ssl_target_name_override", self.server_name))
            return grpc.secure_channel(self.target, self.secure, options=options)
        return grpc.insecure_channel(self.target, options=options)

    def aio_channel(self) -> grpc.aio.Channel:
        """An asyncio channel to the bridge with 256 MiB message limits."""
        options = list(CHANNEL_OPTIONS)
        if self.secure is not None:
            if self.server_name:
                options.append(("grpc.ssl_target_name_override", self.server_name))
            return grpc.aio.secure_channel(self.target, self.secure, options=options)
        return grpc.aio.insecure_channel(self.target, options=options)

    def start(self) -> BridgeProcess:
        """Start the process and wait for its health service."""
        cmd = [
            sys.executable,
            "-m",
            "neural_heatmap_bridge",
            "--listen",
            self.target,
            "--upstream",
            self.upstream_url,
            "--health-interval",
            "0.3",
            *self.extra_args,
        ]
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        env = {**os.environ, **self.env}
        paths = [
            str(REPO_ROOT / "bridge"),
            str(REPO_ROOT / "sdk" / "python"),
            env.get("PYTHONPATH", ""),
        ]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO_ROOT)
        )
        log.close()
        self._wait_ready()
        return self

    def health(self, timeout: float = 1.0) -> int:
        """The bridge's overall grpc.health.v1 status (a ``HealthCheckResponse`` enum)."""
        with self.channel() as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout).status)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"bridge exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.health(timeout=0.5)
                return
            except grpc.RpcError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"bridge did not come up:\n{self.log()}")

    def log(self) -> str:
        """The bridge's combined output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        """Send a signal (e.g. SIGTERM to test graceful shutdown)."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (SIGKILL after ``timeout``)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, no clean shutdown."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> BridgeProcess:
        """Stop and start again on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> BridgeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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
