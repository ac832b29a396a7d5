"""No export, render or large answer stalls the event loop (issue 23, finding 1).

Before: after ingesting one layer of 4,096 units x 64 frames, one
``POST /api/export/correlation`` with ``{"format": "json", "granularity": "unit"}``
held the interpreter lock in one ``json.dumps`` call: ``/health`` took ~20 s (43 s on
a loaded machine), and the bridge declared its upstream WebSocket stalled and ended
every stream with UNAVAILABLE.

Here the largest allowed inputs run all at once against two workers: every export
format at both granularities (4,096 units: ``--max-matrix-labels``; 1,023 layers plus
that one: ``--max-layers``), renders at the largest sizes (``MAX_RENDER_SIDE`` by
``MAX_RENDER_PIXELS``, both orientations; the most panels, ``MAX_RENDER_PANELS``), and
the 4,096-label matrix as JSON (a 330 MB answer) and binary, and the unit listing of
``/api/models?include_units=true`` near its limit (about a million units). Throughout, ``/health``
answers within 2 s, a real bridge stays SERVING within 2 s, and an anomaly stream
through it stays open (its upstream-WebSocket stall detection never fires). Slow
(minutes on a loaded 2-core machine): the work itself is large; the bound is on the
loop.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from neural_heatmap_contract.limits import (
    MAX_RENDER_PANELS,
    MAX_RENDER_PIXELS,
    MAX_RENDER_SIDE,
)
from neural_heatmap_contract.media import MATRIX_MEDIA_TYPE
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
from neural_heatmap_server.analytics import MAX_UNITS_DETAIL

from tests.server.conftest import Api
from tests.server.overload_support import HealthProbe, http_health, run_concurrently
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow

UNITS = 4096  # the default --max-matrix-labels
LAYERS = 1023  # with "big", the default --max-layers (1,024)
MAX_UNITS_PER_LAYER = 65536  # the default --max-units
# As many of the largest layers as the unit listing allows with the others
# (analytics.MAX_UNITS_DETAIL, 1,048,576 units): 15, about 994,000 units in all.
LISTED_LAYERS = (MAX_UNITS_DETAIL - UNITS - 4 * LAYERS) // MAX_UNITS_PER_LAYER
FORMATS = ("json", "csv", "parquet", "tensorboard")
LONG = 900.0  # seconds: the heavy calls' own deadline and client timeout (a bound only)
SIDE, OTHER = MAX_RENDER_SIDE, MAX_RENDER_PIXELS // MAX_RENDER_SIDE


@pytest.fixture(scope="module")
def loaded() -> Iterator[ServerProcess]:
    # --window 64: the frames ingested here fit, and the listing's big layers stay small.
    with ServerProcess(extra_args=["--workers", "2", "--max-pending-exports", "16",
                                   "--max-pending-analytics", "16", "--window", "64",
                                   "--max-layers", str(1 + LAYERS + LISTED_LAYERS),
                                   "--max-request-seconds", str(LONG)]) as server:
        api = Api(server)
        rng = np.random.default_rng(11)
        api.ingest_series("big", "units", rng.normal(size=(64, UNITS)).astype("f4"))
        for layer in range(LAYERS):
            api.ingest_series("wide", f"l{layer}", rng.normal(size=(32, 4)).astype("f4"))
        for layer in range(LISTED_LAYERS):
            api.ingest_series("listed", f"l{layer}",
                              rng.normal(size=(2, MAX_UNITS_PER_LAYER)).astype("f4"))
        yield server


T0 = time.monotonic()
SPANS: dict[str, tuple[float, float]] = {}  # call -> (start, end) since T0, for messages


def _at(check: Callable[[], None]) -> Callable[[], None]:
    """``check``, its failure saying when it happened and which heavy calls ran then."""
    def timed() -> None:
        started = time.monotonic() - T0
        try:
            check()
        except Exception as exc:
            running = sorted(n for n, (a, b) in SPANS.items() if a <= started and b >= started)
            raise AssertionError(f"at {started:.1f} s ({running}): {exc!r}") from None
    return timed


def _call(server: ServerProcess, method: str, path: str, body: Any = None,
          accept: str | None = None) -> Callable[[], tuple[int, int, str]]:
    """A heavy call: its status, the answer's size and the start of its text."""
    def call() -> tuple[int, int, str]:
        started = time.monotonic() - T0
        SPANS[path + json.dumps(body)] = (started, float("inf"))
        try:
            return _send()
        finally:
            SPANS[path + json.dumps(body)] = (started, time.monotonic() - T0)

    def _send() -> tuple[int, int, str]:
        headers = {**server.headers, "Content-Type": "application/json"}
        if accept:
            headers["Accept"] = accept
        req = urllib.request.Request(server.url + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(req, timeout=LONG) as resp:
                payload = resp.read()
                return resp.status, len(payload), payload[:300].decode("latin-1")
        except urllib.error.HTTPError as err:
            return err.code, 0, err.read()[:300].decode("latin-1")
    return call


def _heavy(server: ServerProcess) -> dict[str, Callable[[], tuple[int, int, str]]]:
    calls = {}
    for fmt in FORMATS:
        for granularity, model in (("unit", "big"), ("layer", "wide")):
            name = f"load-{granularity}-{fmt}"
            calls[name] = _call(server, "POST", "/api/export/correlation", {
                "filename": name, "format": fmt, "granularity": granularity,
                "model_ids": [model]})
    unit_query = "model_ids=big&granularity=unit"
    panels = "layer_ids=" + ",".join(f"l{i}" for i in range(MAX_RENDER_PANELS))
    calls.update({
        "render correlation unit": _call(
            server, "GET", f"/api/render?kind=correlation&{unit_query}"
            f"&width={SIDE}&height={OTHER}"),
        "render correlation layer": _call(
            server, "GET", f"/api/render?kind=correlation&model_ids=wide"
            f"&width={OTHER}&height={SIDE}"),
        "render heatmap big": _call(
            server, "GET", f"/api/render?kind=heatmap&model_ids=big"
            f"&width={OTHER}&height={SIDE}"),
        "render heatmap panels": _call(
            server, "GET", f"/api/render?kind=heatmap&model_ids=wide&{panels}"
            f"&width={SIDE}&height={OTHER}"),
        "matrix json": _call(server, "GET", f"/api/correlation?{unit_query}"),
        "unit listing": _call(server, "GET", "/api/models?include_units=true"),
        "matrix binary": _call(server, "GET", f"/api/correlation?{unit_query}",
                               accept=MATRIX_MEDIA_TYPE),
    })
    return calls


class _Stream:
    """An anomaly stream through the bridge, read in a thread; how it ended."""

    def __init__(self, bridge: BridgeProcess) -> None:
        self.channel = bridge.channel()
        stub = pb_grpc.NeuralHeatmapServiceStub(self.channel)
        self.call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest())
        self.ended: grpc.StatusCode | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for _ in self.call:
                pass
            self.ended = grpc.StatusCode.OK
        except grpc.RpcError as err:
            self.ended = err.code()

    def close(self) -> grpc.StatusCode | None:
        """Cancel it; what it had ended with before (None: still open)."""
        ended = self.ended
        self.call.cancel()
        self._thread.join(10)
        self.channel.close()
        return ended


def test_health_answers_while_the_largest_exports_renders_and_answers_run(
        loaded: ServerProcess) -> None:
    server = loaded
    calls = _heavy(server)
    with BridgeProcess(server.url, "--health-interval", "1") as bridge:
        def grpc_health() -> None:
            status = bridge.health(timeout=2.0)
            assert status == health_pb2.HealthCheckResponse.SERVING, status

        stream = _Stream(bridge)
        with HealthProbe(_at(http_health(server.url)), min_checks=10) as probe, \
                HealthProbe(_at(grpc_health)) as grpc_probe:
            results = dict(zip(calls, run_concurrently(list(calls.values())), strict=True))
        stream_ended = stream.close()

    for name, result in results.items():
        assert not isinstance(result, Exception), (name, result)
        status, size, head = result  # type: ignore[misc]
        assert status == 200 and size > 0, (name, status, head)
    assert probe.failures == [] and probe.count >= 10, probe.failures[:3]
    assert probe.worst < 2.0, f"/health took {probe.worst:.2f} s under load"
    assert grpc_probe.failures == [], grpc_probe.failures[:3]
    assert grpc_probe.worst < 2.0, f"gRPC health took {grpc_probe.worst:.2f} s"
    assert stream_ended is None, f"the anomaly stream ended with {stream_ended}"

    api = Api(server)
    listed = {e["name"]: e["size"] for e in api.get("/api/exports")["exports"]}
    for name in (n for n in calls if n.startswith("load-")):
        if name.endswith("tensorboard"):
            assert any(n.startswith(f"{name}/events.out.tfevents.") for n in listed), name
        else:
            assert listed[name] == (server.export_dir / name).stat().st_size > 0
    assert not [p for p in server.export_dir.iterdir() if p.name.startswith(".")]
    with (server.export_dir / "load-unit-json").open("rb") as fh:
        assert fh.read(12) == b'{"matrix":[['
    csv_lines = sum(1 for _ in (server.export_dir / "load-layer-csv").open())
    assert csv_lines == LAYERS + 1
