"""Run the Neural Heatmap server as a real process for tests.

``ServerProcess`` picks a free loopback port, a temporary data directory and
export directory, starts ``python -m neural_heatmap_server --no-source`` with
``server/`` on ``PYTHONPATH`` (so it works before ``pip install -e .``) and
waits for ``GET /health``::

    with ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server:
        requests_to(server.url)
"""

from __future__ import annotations

import sys

from tests.support._process import REPO_ROOT, LaunchedProcess, free_port, http_ok

__all__ = ["REPO_ROOT", "ServerProcess", "free_port"]


class ServerProcess(LaunchedProcess):
    """A server subprocess with its own port and directories.

    Args:
        extra_args: More command-line flags (e.g. ``["--source"]`` to turn the
            built-in source back on, since ``--no-source`` comes first).
        token: Start with ``--token`` and remember it for ``headers``.
        env: Extra environment variables.
        startup_timeout: Seconds to wait for ``/health``.
        module: The module ``python -m`` runs: the server, or a test-only entry module
            around it (``tests.support.crashing_server``); may change between starts.
    """

    kind = "server"
    source_dirs = ("server", "contract/python")
    cleanup_on_exit = True  # unlike the bridge, the server leaves data and exports

    def __init__(
        self,
        extra_args: list[str] | None = None,
        token: str | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 20.0,
        module: str = "neural_heatmap_server",
    ) -> None:
        self.extra_args = list(extra_args or [])
        self.module = module
        self.token = token
        super().__init__(env=env, startup_timeout=startup_timeout)
        self.data_dir = self._tmp / "data"
        self.export_dir = self._tmp / "exports"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header when a token is set."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            self.module,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-source",
            "--data-dir",
            str(self.data_dir),
            "--export-dir",
            str(self.export_dir),
            *self.extra_args,
        ]
        if self.token:
            cmd += ["--token", self.token]
        return cmd

    def _is_ready(self) -> bool:
        return http_ok(f"{self.url}/health")
