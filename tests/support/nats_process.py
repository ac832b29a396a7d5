"""Run a NATS server with JetStream as a real process for tests.

``NatsProcess`` starts the pinned ``nats-server`` that ``make setup-cluster``
builds into ``.tools/bin`` on a free loopback port with a temporary store
directory; ``restart()`` brings it back on the same port and store (what a
crashed NATS node does)::

    with NatsProcess() as nats_server:
        ServerProcess(extra_args=["--anomaly-log", nats_server.url])
"""

from __future__ import annotations

import socket

from tests.support._process import REPO_ROOT, LaunchedProcess, free_port

NATS_SERVER = REPO_ROOT / ".tools" / "bin" / "nats-server"


class NatsProcess(LaunchedProcess):
    """A ``nats-server -js`` subprocess with its own port and store directory.

    Args:
        startup_timeout: Seconds to wait until it accepts connections.
    """

    kind = "nats"
    source_dirs = ()
    cleanup_on_exit = True  # the store

    def __init__(self, startup_timeout: float = 20.0) -> None:
        if not NATS_SERVER.exists():
            raise RuntimeError(f"{NATS_SERVER} is missing: run `make setup-cluster`")
        super().__init__(env=None, startup_timeout=startup_timeout)
        self.store_dir = self._tmp / "store"
        self._log_start = 0  # where this run's output begins in the (appended) log
        self.cluster_args: list[str] = []  # set by NatsCluster before the first start

    def start(self) -> NatsProcess:
        """Start (or start again on the same port and store) and wait until it is ready."""
        self._log_start = len(self.log())
        return super().start()

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:<port>``."""
        return f"nats://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(self.port), "-js",
                "-sd", str(self.store_dir), *self.cluster_args]

    def _is_ready(self) -> bool:
        if "Server is ready" not in self.log()[self._log_start:]:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


class NatsCluster:
    """``nodes`` NATS servers routed into one JetStream cluster on loopback.

    Args:
        nodes: How many nodes (3 for a stream with 3 replicas).
    """

    def __init__(self, nodes: int = 3) -> None:
        self.nodes = [NatsProcess() for _ in range(nodes)]
        route_ports = [free_port() for _ in self.nodes]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in route_ports)
        for i, (node, route_port) in enumerate(zip(self.nodes, route_ports, strict=True)):
            node.cluster_args = ["-n", f"nh-{i}", "--cluster_name", "nh",
                                 "--cluster", f"nats://127.0.0.1:{route_port}",
                                 "--routes", routes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated: what ``--anomaly-log`` takes for a cluster."""
        return ",".join(node.url for node in self.nodes)

    def start(self) -> NatsCluster:
        """Start every node (each waits for its peers' routes before JetStream is ready)."""
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        """Stop every node and remove its store."""
        for node in self.nodes:
            node.stop()
            node.cleanup()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
