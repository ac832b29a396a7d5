"""Start the server and the bridge as real processes on free loopback ports.

The launchers the tests use (``tests.support.server_process.ServerProcess`` and
``tests.support.bridge_process.BridgeProcess``) are preferred, so the benchmark
runs the processes exactly as the tests do; when they are not importable (or
do not take the flags the benchmark needs) the same commands are spawned here.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neural_heatmap_contract import routes

from bench._machine import REPO

# Generous limits so that the benchmark measures speed, not the server's guards.
SERVER_ARGS = [
    "--no-source",
    "--anomaly-cooldown", "0",          # every NaN frame is its own anomaly (fan-out, unary seed)
    "--anomaly-retention", "1000000",
    "--max-body-bytes", str(1024 * 1024 * 1024),
    "--max-frames", "1000000",
    "--max-units", "65536",
    "--window", "1024",
    "--ws-queue", "65536",
    # Background broadcasts would add noise no case asks for; the request paths are measured.
    "--correlation-interval", "3600",
    "--temporal-interval", "3600",
    "--log-level", "WARNING",
]
BRIDGE_ARGS = [
    "--max-send-bytes", str(512 * 1024 * 1024),
    "--max-receive-bytes", str(512 * 1024 * 1024),
    "--max-concurrent-streams", "4096",
    "--log-level", "WARNING",
    # The web port (Connect, gRPC-Web) only where a case asks for it (add_bridge).
    "--web-port", "0",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds a process (not its children) has used, from /proc."""
    if pid is None:
        return None
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s ({last})")


def _wait_grpc(target: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    with grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"bridge exited with {proc.returncode}")
            try:
                resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError as exc:
                last = exc
            time.sleep(0.1)
    raise TimeoutError(f"bridge {target} not SERVING within {timeout}s ({last})")


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _pid_of(obj: Any) -> int | None:
    for name in ("pid", "proc", "process", "_proc", "_process", "popen", "_popen"):
        val = getattr(obj, name, None)
        if isinstance(val, int):
            return val
        if val is not None and isinstance(getattr(val, "pid", None), int):
            return int(val.pid)
    return None


@dataclass
class Environment:
    """A running server and bridge; ``close()`` stops both (bridge first)."""

    http_url: str
    grpc_target: str
    server_pid: int | None
    bridge_pid: int | None
    launcher: str
    workdir: Path
    _stops: list[Any] = field(default_factory=list)
    log_paths: list[Path] = field(default_factory=list)

    def close(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()
        self._stops.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def logs(self) -> str:
        out = []
        for p in [*self.log_paths, *sorted(self.workdir.glob("*.log"))]:
            out.append(f"--- {p.name}\n{_tail(p)}")
        return "\n".join(out)


def _stop_popen(proc: subprocess.Popen[bytes], logf: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    logf.close()


def _spawn(cmd: list[str], log: Path) -> tuple[subprocess.Popen[bytes], Any]:
    logf = log.open("wb")
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                            start_new_session=True)
    return proc, logf


def _try_launchers(env: Environment, server_args: list[str], bridge_args: list[str],
                   timeout: float) -> bool:
    """Use the tests' launchers (``ServerProcess`` / ``BridgeProcess``). False if missing."""
    try:
        from tests.support.bridge_process import BridgeProcess
        from tests.support.server_process import ServerProcess
    except ImportError:
        return False
    server = ServerProcess(extra_args=server_args, startup_timeout=timeout)
    env._stops.append(server.cleanup)
    server.start()
    bridge = BridgeProcess(server.url, *bridge_args, startup_timeout=timeout)
    env._stops.append(bridge.stop)
    bridge.start()
    env.http_url = server.url
    env.grpc_target = bridge.target
    env.server_pid = _pid_of(server)
    env.bridge_pid = _pid_of(bridge)
    env.launcher = "tests.support ServerProcess + BridgeProcess"
    env.log_paths = [Path(server.log_path), Path(bridge.log_path)]
    _wait_grpc(env.grpc_target, None, timeout)
    return True


def start(timeout: float = 60.0, *, use_launchers: bool = True,
          server_extra: list[str] | None = None) -> Environment:
    """Start a fresh server (``--no-source``, generous limits) and a bridge in front of it."""
    workdir = Path(tempfile.mkdtemp(prefix="nh-bench-"))
    env = Environment("", "", None, None, "", workdir)
    server_args = SERVER_ARGS + list(server_extra or [])
    try:
        if use_launchers and _try_launchers(env, server_args, BRIDGE_ARGS, timeout):
            return env
        env.close()
        workdir.mkdir(parents=True, exist_ok=True)
        env._stops.clear()
        sport = free_port()
        sproc, slog = _spawn(
            [sys.executable, "-m", "neural_heatmap_server", "--host", "127.0.0.1",
             "--port", str(sport), "--data-dir", str(workdir / "data"), *server_args],
            workdir / "server.log")
        env._stops.append(lambda: _stop_popen(sproc, slog))
        env.http_url = f"http://127.0.0.1:{sport}"
        env.server_pid = sproc.pid
        _wait_http(env.http_url + routes.http("Health").path, sproc, timeout)
        bport = free_port()
        bproc, blog = _spawn(
            [sys.executable, "-m", "neural_heatmap_bridge", "--listen", f"127.0.0.1:{bport}",
             "--upstream", env.http_url, *BRIDGE_ARGS],
            workdir / "bridge.log")
        env._stops.append(lambda: _stop_popen(bproc, blog))
        env.grpc_target = f"127.0.0.1:{bport}"
        env.bridge_pid = bproc.pid
        env.launcher = "bench._procs (python -m)"
        _wait_grpc(env.grpc_target, bproc, timeout)
        return env
    except BaseException as exc:
        logs = env.logs()
        env.close()
        raise RuntimeError(f"could not start server and bridge: {exc}\n{logs}") from exc


def add_bridge(env: Environment, *extra_args: str, timeout: float = 60.0) -> tuple[str, int]:
    """Start one more bridge in front of ``env``'s server (e.g. ``--no-read-cache``).

    Returns:
        Its gRPC target and pid; ``env.close()`` stops it.
    """
    port = free_port()
    name = "bridge-" + "-".join(a.lstrip("-") for a in extra_args)
    proc, logf = _spawn(
        [sys.executable, "-m", "neural_heatmap_bridge", "--listen", f"127.0.0.1:{port}",
         "--upstream", env.http_url, *BRIDGE_ARGS, *extra_args],
        env.workdir / f"{name}.log")
    env._stops.append(lambda: _stop_popen(proc, logf))
    target = f"127.0.0.1:{port}"
    _wait_grpc(target, proc, timeout)
    return target, proc.pid


class CpuMeter:
    """CPU used by the server, the bridge, this process and extra pids between start() and stop().

    ``load tool`` is the CPU of child processes that ended in between (a ghz or hey run).
    """

    def __init__(self, env: Environment, extra: dict[str, int] | None = None) -> None:
        self.pids: dict[str, int | None] = {
            "server": env.server_pid, "bridge": env.bridge_pid, "client": os.getpid(),
            **(extra or {}),
        }
        self._t0 = 0.0
        self.wall = 0.0  # seconds between start() and stop()
        self._c0: dict[str, float | None] = {}

    @staticmethod
    def _children() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._c0 = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self._c0["load tool"] = self._children()

    def stop(self) -> dict[str, float | None]:
        """Share of one core each process used (1.0 = one core busy the whole time)."""
        wall = max(time.perf_counter() - self._t0, 1e-9)
        self.wall = wall
        out: dict[str, float | None] = {}
        for k, p in self.pids.items():
            c1 = cpu_seconds(p)
            c0 = self._c0.get(k)
            out[k] = None if c1 is None or c0 is None else round((c1 - c0) / wall, 3)
        # Children this process waited for in the meantime (ghz / hey runs).
        tool = self._children() - (self._c0.get("load tool") or 0.0)
        if tool > 0:
            out["load tool"] = round(tool / wall, 3)
        return out
