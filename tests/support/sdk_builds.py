"""Build the Go and TypeScript programs the cross-language tests run, from this checkout.

A missing tool fails the test rather than skipping it: ``make setup`` installs every
one, and CI must not pass by leaving a language out::

    binary = go_build("./examples/anomaly-consumer", tmp_path / "anomaly-consumer")
    dist = npm_build()  # sdk/typescript/dist
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support._process import REPO_ROOT

GO_DIR = REPO_ROOT / "sdk" / "go"
TS_DIR = REPO_ROOT / "sdk" / "typescript"
SETUP_HINT = "run `make setup`"


def tool(name: str, hint: str = SETUP_HINT) -> str:
    """The path of command ``name``; fails the test, saying ``hint``, when it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH; {hint}")
    return path


def go_build(package: str, dest: Path) -> Path:
    """``go build -o dest package`` in ``sdk/go`` (e.g. ``./examples/anomaly-consumer``).

    Returns:
        ``dest``, the binary.
    """
    build = subprocess.run(
        [tool("go"), "build", "-o", str(dest), package], cwd=GO_DIR, capture_output=True,
        text=True, timeout=600, env={**os.environ, "GOFLAGS": "-buildvcs=false"})
    assert build.returncode == 0, f"go build {package} failed:\n{build.stderr}"
    return dest


def npm_build() -> Path:
    """``npm run build`` in ``sdk/typescript`` (its ``node_modules`` come from ``make setup``).

    Returns:
        The ``dist`` directory.
    """
    if not (TS_DIR / "node_modules" / "@connectrpc" / "connect-node").exists():
        pytest.fail(f"sdk/typescript/node_modules is missing; {SETUP_HINT}")
    build = subprocess.run([tool("npm"), "run", "build"], cwd=TS_DIR, capture_output=True,
                           text=True, timeout=300)
    assert build.returncode == 0, f"npm run build failed:\n{build.stdout}\n{build.stderr}"
    return TS_DIR / "dist"


def esbuild_bundle(entry: Path, outfile: Path) -> Path:
    """Bundle ``entry`` (a TypeScript file of ``sdk/typescript``) for the browser with esbuild.

    One classic script (IIFE) with every import inlined, for a page to load with a plain
    ``<script src>``; used for test-only browser code that no shipped bundle contains.

    Returns:
        ``outfile``.
    """
    esbuild = TS_DIR / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        pytest.fail(f"esbuild is missing from sdk/typescript/node_modules; {SETUP_HINT}")
    build = subprocess.run(
        [str(esbuild), str(entry), "--bundle", "--platform=browser", "--format=iife",
         "--target=es2022", "--log-level=warning", f"--outfile={outfile}"],
        cwd=TS_DIR, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"esbuild {entry} failed:\n{build.stderr}"
    return outfile
