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

from tests.support._process import REPO_ROOT, LaunchedProcess

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
                "-sd", str(self.store_dir)]

    def _is_ready(self) -> bool:
        if "Server is ready" not in self.log()[self._log_start:]:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False
