"""``mypy --strict`` accepts the SDK and code that uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_mypy_strict_on_sdk_and_user_code() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
         "sdk/python/neural_heatmap", "tests/sdk/typed_usage.py"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "sdk/python/neural_heatmap/py.typed").is_file()
