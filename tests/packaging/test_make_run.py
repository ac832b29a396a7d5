"""`make run` needs only Python: no Go, no Node on the way to a serving bridge.

Two checks: ``make -n -B run`` (every command ``make run`` would ever run on a
fresh clone, printed, not run) names no Go or Node tool; and ``make run``
itself, with a ``PATH`` that holds only ``make`` and ``python3``, starts the
server and the bridge until the bridge's health service says SERVING. The
second run treats the virtual environment's stamp as up to date (``-o``): the
environment exists already (``make setup`` in CI, the shared one on a
developer's machine) and must not be reinstalled from a test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import wait_until_serving
from tests.support.server_process import REPO_ROOT, free_port

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")
NOT_PYTHON = ("go ", "go install", "npm", "node", "GOBIN", "grpcurl", "ghz", "buf ", "mvn")


def test_make_run_would_install_only_python_things() -> None:
    assert MAKE is not None
    dry = subprocess.run([MAKE, "-n", "-B", "run"], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert '-e ".[server]"' in dry and "neural-heatmap-serve" in dry
    assert "[dev]" not in dry  # no test, lint or torch tools to start the services
    assert [line for line in dry.splitlines() if any(t in line for t in NOT_PYTHON)] == []


def test_make_run_serves_without_go_or_node(tmp_path: Path) -> None:
    assert MAKE is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").symlink_to(MAKE)
    (bin_dir / "python3").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    assert [t for t in ("go", "node", "npm") if shutil.which(t, path=str(bin_dir))] == []
    target = f"127.0.0.1:{free_port()}"
    web_port = free_port()
    run_args = (f"--server-port {free_port()} --server-data-dir {tmp_path / 'data'} "
                f"--no-server-source --listen {target} --web-port {web_port}")
    proc = subprocess.Popen(
        [MAKE, "-o", ".venv/.run-stamp", "run", f"RUN_ARGS={run_args}"], cwd=REPO_ROOT,
        env={**os.environ, "PATH": str(bin_dir)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_serving(target, proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = (proc.communicate(timeout=30)[0] or b"").decode(errors="replace")
    assert "gRPC bridge on" in output, output
    assert f"dashboard on http://127.0.0.1:{web_port}/" in output, output
