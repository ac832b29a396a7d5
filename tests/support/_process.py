"""What the test launchers share: free ports, starting, waiting, stopping.

A :class:`LaunchedProcess` runs ``python -m <package>`` from the repository
with the package's source folders on ``PYTHONPATH`` (so it works before
``pip install -e .``), writes its output to a log file in its own temporary
directory, and polls until the subclass's readiness probe answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

REPO_ROOT = Path(__file__).resolve().parents[2]


def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LaunchedProcess:
    """A subprocess on a free port with a temporary directory and a log file.

    Subclasses set :attr:`kind` and :attr:`source_dirs` and implement
    :meth:`_command` and :meth:`_is_ready`.

    Args:
        env: Extra environment variables.
        startup_timeout: Seconds to wait until :meth:`_is_ready` answers.
    """

    kind: ClassVar[str]
    """``"server"`` or ``"bridge"``: names the log file, temp directory and errors."""
    source_dirs: ClassVar[tuple[str, ...]]
    """Folders under the repository root to put first on ``PYTHONPATH``."""

    def __init__(self, *, env: dict[str, str] | None, startup_timeout: float) -> None:
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self._tmp = Path(tempfile.mkdtemp(prefix=f"nh-{self.kind}-"))
        self.log_path = self._tmp / f"{self.kind}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        """The command line to run."""
        raise NotImplementedError

    def _is_ready(self) -> bool:
        """One readiness probe; ``False`` while the process is still starting."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the process and wait until it is ready."""
        env = {**os.environ, **self.env}
        paths = [*(str(REPO_ROOT / d) for d in self.source_dirs), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO_ROOT)
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            if self._is_ready():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.kind} did not become ready:\n{self.log()}")

    def log(self) -> str:
        """The process's combined output so far."""
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

    def restart(self) -> Self:
        """Stop and start again on the same port with the same directories."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
