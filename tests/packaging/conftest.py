"""Fixtures of the packaging tests: one wheel and sdist built per session, fresh venvs.

Building (``python -m build``) and installing into a fresh virtual environment
are the slow part (pip fetches grpcio, numpy, aiohttp... from its cache or the
index, pinned by constraints.txt), so the distributions are built once and
every test reuses them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support._process import REPO_ROOT, wait_until_ready

CONSTRAINTS = REPO_ROOT / "constraints.txt"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the source tree on ``PYTHONPATH`` (so only what
    was installed is importable) and without a virtual environment of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, **extra}


def wait_until_serving(target: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Poll the bridge's ``grpc.health.v1`` until SERVING (its upstream answers too);
    fail with the launcher's output if it exits first or never gets there."""

    def serving() -> bool:
        with grpc.insecure_channel(target) as channel:
            try:
                return bool(health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING)
            except grpc.RpcError:
                return False

    def output() -> str:
        return proc.communicate()[0].decode(errors="replace") if proc.stdout else ""

    wait_until_ready(proc, serving, name=f"the launcher serving {target}", timeout=timeout,
                     output=output, interval=0.5)


def run(cmd: Sequence[str | Path], *, cwd: Path | None = None, timeout: float = 600,
        env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or a failure that shows the output."""
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Dists:
    """The built distributions."""

    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.root / "bin" / name

    def pip_install(self, *requirements: str | Path) -> None:
        # --no-compile: byte-compiling numpy and matplotlib costs more than it saves here.
        run([self.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-compile", "-c", CONSTRAINTS, *requirements])


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """Wheel and sdist of the working tree, built from a copy of its files (the build
    writes egg-info and build/ next to the sources); the wheel is built from the sdist,
    so a file missing from the sdist fails here."""
    src = tmp_path_factory.mktemp("src")
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=REPO_ROOT).split("\0")
    for name in filter(None, files):
        origin = REPO_ROOT / name
        if origin.is_file() and not origin.is_symlink():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, src / name)
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, src])
    wheel, = out.glob("*.whl")
    sdist, = out.glob("*.tar.gz")
    return Dists(wheel, sdist)


def new_venv(root: Path) -> Venv:
    """A fresh virtual environment (pip, nothing else)."""
    run([sys.executable, "-m", "venv", root])
    return Venv(root)
