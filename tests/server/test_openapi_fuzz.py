"""schemathesis against a live server's /openapi.json: every check, positive and negative data.

The property: no input produces a 5xx; every answer matches the document
(status, content type, headers, body schema); data the document allows is
accepted and data it forbids is refused; 405 answers carry ``Allow``; a
token-protected route refuses a request without the token (the server runs
with a token so that the auth checks have something to check). Coverage,
fuzzing and stateful phases all run. The only answers let through are
listed in ``schemathesis_hooks``.

``make test`` runs a few examples per operation; the ``long`` run many more.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server_process import REPO_ROOT, ServerProcess

TOKEN = "fuzz-token"
WRAPPED = ("positive_data_acceptance", "negative_data_rejection")
LONG_SECONDS = 600


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ServerProcess]:
    with ServerProcess(token=TOKEN, extra_args=["--max-request-seconds", "20"]) as proc:
        yield proc


def run_schemathesis(server: ServerProcess, tmp: Path, examples: int, seed: int | None,
                     max_time: int | None = None) -> None:
    """Run the schemathesis CLI; fail with its report when it finds anything."""
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run",
           f"{server.url}/openapi.json", "--checks", "all", "--exclude-checks", ",".join(WRAPPED),
           "-n", str(examples), "--mode", "all",
           "-H", f"Authorization: Bearer {TOKEN}", "--request-timeout", "30",
           "--no-color", "--report", "junit", "--report-dir", str(tmp)]
    if seed is not None:
        cmd += ["--seed", str(seed), "--generation-deterministic"]
    else:
        cmd += ["--generation-database", "none"]
    if max_time is not None:
        cmd += ["--max-time", str(max_time)]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.server.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=3600)
    log = server.log()
    at = log.find("unhandled error")
    tracebacks = log[at:][:5000] if at >= 0 else ""
    assert done.returncode == 0, f"{done.stdout[-20000:]}\n{done.stderr[-3000:]}\n{tracebacks}"
    assert not tracebacks, tracebacks


def test_openapi_and_server_agree(fuzz_server: ServerProcess, tmp_path: Path) -> None:
    run_schemathesis(fuzz_server, tmp_path, examples=10, seed=10)


@pytest.mark.long
@pytest.mark.timeout(LONG_SECONDS + 300)
def test_openapi_and_server_agree_long(fuzz_server: ServerProcess, tmp_path: Path) -> None:
    run_schemathesis(fuzz_server, tmp_path, examples=500, seed=None, max_time=LONG_SECONDS)
