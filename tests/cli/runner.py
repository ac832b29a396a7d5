"""Running ``neural-heatmap``: as a user would (a separate process), or in this process.

:func:`run_cli` runs ``python -m neural_heatmap_cli`` with only the SDK's folders
on ``PYTHONPATH`` (``serve`` adds the server's and the bridge's), so those tests
also show that the command needs nothing but the public SDK. :func:`invoke`
calls the same ``main`` in this process (output captured, exit status kept),
which spares a Python start-up per command where the process itself is not
what a test is about.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

from neural_heatmap_cli.app import main

from tests.support._process import REPO_ROOT

SDK_PATH = os.pathsep.join(str(REPO_ROOT / d) for d in ("sdk/python", "contract/python"))
SERVE_PATH = os.pathsep.join(
    str(REPO_ROOT / d) for d in ("sdk/python", "contract/python", "server", "bridge")
)


def cli_env(pythonpath: str = SDK_PATH) -> dict[str, str]:
    """The environment of a command: no inherited NEURAL_HEATMAP_* settings, a wide terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURAL_HEATMAP_")}
    return env | {"PYTHONPATH": pythonpath, "COLUMNS": "200"}


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run one command to its end in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "neural_heatmap_cli", *args],
        capture_output=True, text=True, env=cli_env(), cwd=str(REPO_ROOT), timeout=timeout,
        check=False,
    )


@dataclass
class Result:
    """What an in-process run printed and the status it exited with."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str) -> Result:
    """Run one command in this process through ``main``."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
        else:
            raise AssertionError("main() returned instead of exiting")
    return Result(code if isinstance(code, int) else 1, out.getvalue(), err.getvalue())


def invoke_json(*args: str) -> Any:
    """:func:`invoke` with ``--json``; the command must succeed. Returns the parsed document."""
    done = invoke(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)




def _sigint_default() -> None:
    # a test run in a background job inherits SIGINT ignored; Ctrl-C must reach the command
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str, pythonpath: str = SDK_PATH) -> subprocess.Popen[str]:
    """Start a long-running command (``--follow``, ``serve``), stdout piped line by line."""
    return subprocess.Popen(
        [sys.executable, "-m", "neural_heatmap_cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        env=cli_env(pythonpath), cwd=str(REPO_ROOT), preexec_fn=_sigint_default,
    )


def assert_one_line_error(
    done: subprocess.CompletedProcess[str] | Result, code: int, *words: str
) -> None:
    """The command failed with ``code`` and one line on stderr naming ``words``, no traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in done.stderr + done.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
