"""What the test launchers share: free ports, starting, waiting, stopping.

A :class:`LaunchedProcess` runs ``python -m <package>`` from the repository
with the package's source folders on ``PYTHONPATH`` (so it works before
``pip install -e .``), writes its output to a log file in its own temporary
directory, and polls until the subclass's readiness probe answers.

:func:`wait_until_ready` is that readiness wait on its own, for a process a
test starts some other way (an installed launcher, ``make run``): one place
decides how long to wait and what a failure shows.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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


def http_ok(url: str) -> bool:
    """One HTTP readiness probe: ``GET url`` answered 200 (``False`` while nothing listens)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_ready(
    proc: subprocess.Popen[bytes],
    is_ready: Callable[[], bool],
    *,
    name: str,
    timeout: float,
    output: Callable[[], str],
    interval: float = 0.05,
) -> None:
    """Poll ``is_ready()`` until it holds, failing early if ``proc`` exits.

    A process that exits, or one still not ready after ``timeout`` seconds (it is then
    killed), fails with its output, so the test report says why it never came up.

    Args:
        proc: The process being waited for.
        is_ready: One readiness probe; ``False`` while the process is still starting.
        name: What the process is, for the error (``"server"``, ``"the bridge at ..."``).
        timeout: Seconds to wait at most.
        output: The process's output so far (read after it has exited or been killed).
        interval: Seconds between probes.

    Raises:
        RuntimeError: The process exited, or did not become ready in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{output()}")
        if is_ready():
            return
        time.sleep(interval)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{name} did not become ready:\n{output()}")


class LaunchedProcess:
    """A subprocess on a free port with a temporary directory and a log file.

    Subclasses set :attr:`kind` and :attr:`source_dirs` and implement
    :meth:`_command` and :meth:`_is_ready`.

    Args:
        env: Extra environment variables.
        startup_timeout: Seconds to wait until :meth:`_is_ready` answers.
    """

    kind: ClassVar[str]
    """``"server"``, ``"bridge"``, ...: names the log file, temp directory and errors."""
    source_dirs: ClassVar[tuple[str, ...]]
    """Folders under the repository root to put first on ``PYTHONPATH``."""
    cleanup_on_exit: ClassVar[bool] = False
    """Whether leaving the ``with`` block also removes the temporary directory
    (:meth:`cleanup`): set where the process keeps data there (server, NATS) that must
    not outlive the test."""

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
        wait_until_ready(self.proc, self._is_ready, name=self.kind,
                         timeout=self.startup_timeout, output=self.log)
        return self

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

    def cleanup(self) -> None:
        """Stop and remove the temporary directory (log, data, store)."""
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

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
        if self.cleanup_on_exit:
            self.cleanup()
        else:
            self.stop()
