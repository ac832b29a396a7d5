"""A JetStream cluster on one machine for tests: NATS, one server, N bridges.

``Cluster`` starts ``nats-server -js`` (``NatsProcess``), a server whose
anomaly log is a stream on it, and bridges that read that stream directly and
end client connections after ``max_connection_age`` seconds; ``target`` is the
gRPC address list clients balance over with ``round_robin``::

    with Cluster(bridges=3) as cluster:
        channel = cluster.channel()
"""

from __future__ import annotations

import grpc

from tests.support.bridge_process import BridgeProcess
from tests.support.nats_process import NatsProcess
from tests.support.server_process import ServerProcess

STREAM = "NH_CLUSTER"
ACK_DEADLINE = 10.0  # a group member's lease: longer than any outage the chaos test makes

# Reconnect quickly after a bridge restart (gRPC's default backoff starts at 1 s, up to 120 s).
CHANNEL_OPTIONS = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class Cluster:
    """NATS + one server + ``bridges`` bridges, each its own process on loopback.

    Args:
        bridges: How many bridges.
        max_connection_age: The bridges' ``--max-connection-age`` (0: never).
    """

    def __init__(self, bridges: int = 3, max_connection_age: float = 0.0) -> None:
        self.nats = NatsProcess()
        self.server = ServerProcess(extra_args=[
            "--anomaly-cooldown", "0", "--anomaly-log", self.nats.url,
            "--anomaly-stream", STREAM, "--consumer-ack-deadline", str(ACK_DEADLINE)])
        self.bridges = [
            BridgeProcess(self.server.url, "--anomaly-log", self.nats.url,
                          "--anomaly-stream", STREAM, "--max-connection-age",
                          str(max_connection_age), "--grace-period", "1")
            for _ in range(bridges)]

    @property
    def target(self) -> str:
        """``ipv4:127.0.0.1:P1,127.0.0.1:P2,...``: every bridge, for ``round_robin``."""
        return "ipv4:" + ",".join(b.target for b in self.bridges)

    def channel(self) -> grpc.aio.Channel:
        """A round-robin channel over every bridge (make it once they are ready)."""
        return grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)

    def start(self) -> Cluster:
        """Start NATS, then the server, then the bridges."""
        self.nats.start()
        self.server.start()
        for bridge in self.bridges:
            bridge.start()
        return self

    def close(self) -> None:
        """Stop everything and remove the temporary directories."""
        for bridge in self.bridges:
            bridge.stop()
        self.server.cleanup()
        self.nats.cleanup()

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
