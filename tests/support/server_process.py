"""Run the Neural Heatmap server as a real process for tests.

``ServerProcess`` picks a free loopback port, a temporary data directory and
export directory, starts ``python -m neural_heatmap_server --no-source`` with
``server/`` on ``PYTHONPATH`` (so it works before ``pip install -e .``) and
waits for ``GET /health``::

    with ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server:
        requests_to(server.url)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A server subprocess with its own port and directories.

    Args:
        extra_args: More command-line flags (e.g. ``["--source"]`` to turn the
            built-in source back on, since ``--no-source`` comes first).
        token: Start with ``--token`` and remember it for ``headers``.
        env: Extra environment variables.
        startup_timeout: Seconds to wait for ``/health``.
    """

    def __init__(self, extra_args: list[str] | None = None, token: str | None = None,
                 env: dict[str, str] | None = None, startup_timeout: float = 20.0) -> None:
        self.extra_args = list(extra_args or [])
        self.token = token
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self._tmp = Path(tempfile.mkdtemp(prefix="nh-server-"))
        self.data_dir = self._tmp / "data"
        self.export_dir = self._tmp / "exports"
        self.log_path = self._tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

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

    def start(self) -> ServerProcess:
        """Start the process and wait until it answers ``/health``."""
        cmd = [sys.executable, "-m", "neural_heatmap_server", "--host", "127.0.0.1",
               "--port", str(self.port), "--no-source", "--data-dir", str(self.data_dir),
               "--export-dir", str(self.export_dir), *self.extra_args]
        if self.token:
            cmd += ["--token", self.token]
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT / "server"), env.get("PYTHONPATH", "")) if p)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(REPO_ROOT))
        log.close()
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def log(self) -> str:
        """The server's combined output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

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
        """SIGKILL, no clean shutdown (crash simulation)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> ServerProcess:
        """Stop and start again on the same port with the same directories."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop and remove the temporary directories."""
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()
