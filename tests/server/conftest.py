"""Fixtures: one shared server process, and small HTTP/ingest helpers."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.support.server_process import REPO_ROOT, ServerProcess

# Import the server package from the source tree even before `pip install -e .`.
sys.path.insert(0, str(REPO_ROOT / "server"))

FAST_ARGS = ["--anomaly-cooldown", "0", "--correlation-interval", "0.2",
             "--temporal-interval", "0.2", "--heatmap-hz", "1000"]


class Api:
    """Synchronous JSON client for one server (urllib: no extra dependency)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        hdrs = {**self.server.headers, **(headers or {})}
        if body is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.server.url + path, data=data, method=method,
                                     headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        status, _, payload = self.request(method, path, body, **kw)
        return status, json.loads(payload) if payload else None

    def get(self, path: str, **kw: Any) -> Any:
        status, doc = self.call("GET", path, **kw)
        assert status == 200, (path, status, doc)
        return doc

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        status, doc = self.call("POST", path, body, **kw)
        assert status == 200, (path, status, doc)
        return doc

    def ingest_series(self, model: str, layer: str, frames: np.ndarray,
                      t0: float = 1.7e9, rate: float = 50.0, steps: bool = True) -> None:
        """Send ``frames`` (n x units) as binary records, one per step at ``rate`` Hz."""
        n, units = frames.shape
        dtype = np.dtype([("timestamp", "<f8"), ("step", "<i8"), ("values", "<f4", (units,))])
        rec = np.zeros(n, dtype=dtype)
        rec["timestamp"] = t0 + np.arange(n) / rate
        rec["step"] = np.arange(n) if steps else -1
        rec["values"] = frames
        status, _, body = self.request(
            "POST", f"/api/activations?model_id={model}&layer_id={layer}&units={units}",
            raw=rec.tobytes(), headers={"Content-Type": "application/vnd.neural-heatmap.frames"})
        assert status == 200, body
        assert json.loads(body) == {"accepted": n}


def unique(prefix: str = "m") -> str:
    """A model id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(extra_args=FAST_ARGS) as proc:
        yield proc


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Api:
    return Api(server)
