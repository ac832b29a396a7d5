"""Exports are atomic and cancellable (issue 23, finding 4), against a real server.

Before: two TensorBoard exports of one new name at once answered 500
(``FileExistsError``) in 5 of 6 tries; a CSV export with ``X-Request-Timeout-Ms: 3000``
answered 504 and then kept writing until the file was complete, and it was listed.
Now an export is written under a hidden temporary name and renamed into place only
when its caller gets the 200; a deadline or a client that disconnects stops it and
removes the temporary file; the same name twice at once is 409 ``already_exists``.
Through the bridge, the gRPC deadline (sent on as ``X-Request-Timeout-Ms``) does the same.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import grpc
import numpy as np
import pytest
from neural_heatmap_contract.v1 import export_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.server.conftest import Api
from tests.server.overload_support import run_concurrently
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

UNITS = 4096  # --max-matrix-labels: the largest unit-granularity matrix
MID_UNITS = 1024  # an export of seconds: two sent at once overlap
WIDE_LAYERS = 256  # a TensorBoard run of seconds (the bridge exports layer granularity)
BOUND = 120.0  # seconds: a functional bound for work to stop, not a timing


@pytest.fixture(scope="module")
def big() -> Iterator[tuple[ServerProcess, Api]]:
    with ServerProcess(extra_args=["--max-pending-exports", "4",
                                   "--max-request-seconds", "600"]) as server:
        api = Api(server)
        rng = np.random.default_rng(3)
        api.ingest_series("big", "units", rng.normal(size=(64, UNITS)).astype("f4"))
        api.ingest_series("mid", "units", rng.normal(size=(64, MID_UNITS)).astype("f4"))
        for layer in range(WIDE_LAYERS):
            api.ingest_series("wide", f"l{layer}", rng.normal(size=(64, 4)).astype("f4"))
        yield server, api


def _export(name: str, fmt: str, model: str = "big") -> dict[str, Any]:
    return {"filename": name, "format": fmt, "granularity": "unit", "model_ids": [model]}


def _hidden(export_dir: Path) -> list[str]:
    return sorted(p.name for p in export_dir.iterdir() if p.name.startswith("."))


def _until(predicate: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + BOUND
    while not predicate():
        assert time.monotonic() < end, f"not within {BOUND} s: {what}"
        time.sleep(0.05)


def _listed(api: Api) -> set[str]:
    return {e["name"].split("/")[0] for e in api.get("/api/exports")["exports"]}


@pytest.mark.parametrize("fmt", ["tensorboard", "csv"])
def test_the_same_new_name_twice_at_once_is_409_already_exists(
        big: tuple[ServerProcess, Api], fmt: str) -> None:
    server, api = big
    name = f"twice-{fmt}"
    results = run_concurrently([lambda: api.call("POST", "/api/export/correlation",
                                                  _export(name, fmt, "mid"))] * 2)
    statuses = sorted(r[0] for r in results)  # type: ignore[index]
    assert statuses == [200, 409], results
    (refused,) = [r[1] for r in results if r[0] == 409]  # type: ignore[index]
    assert refused["error"]["code"] == "already_exists"
    assert refused["error"]["details"] == {"filename": name}
    assert name in refused["error"]["message"]
    target = server.export_dir / name
    if fmt == "tensorboard":
        assert len(list(target.glob("events.out.tfevents.*"))) == 1
    else:
        assert target.read_text().count("\n") == MID_UNITS + 1
    assert _hidden(server.export_dir) == []
    # Once done, the name can be written again (replacing the export).
    assert api.call("POST", "/api/export/correlation", _export(name, fmt, "mid"))[0] == 200


def _export_with_deadline(server: ServerProcess, api: Api, name: str,
                          ms: int) -> tuple[int, dict[str, Any], bool]:
    """Export ``name`` under ``ms`` of deadline; the answer, and whether it was writing."""
    answer: list[tuple[int, Any]] = []
    call = threading.Thread(target=lambda: answer.append(api.call(
        "POST", "/api/export/correlation", _export(name, "csv"),
        headers={"X-Request-Timeout-Ms": str(ms)})))
    call.start()
    writing = False
    while call.is_alive():
        writing = writing or any(name in p.name for p in server.export_dir.iterdir())
        time.sleep(0.02)
    status, doc = answer[0]
    return status, doc, writing


def test_an_export_past_its_deadline_stops_and_leaves_nothing(
        big: tuple[ServerProcess, Api]) -> None:
    server, api = big
    # The matrix is computed once and cached, so the deadline falls while writing.
    assert api.call("POST", "/api/export/correlation", _export("warm", "parquet"))[0] == 200
    for ms in (1000, 2000, 4000, 8000):  # the first deadline that falls while writing
        name = f"late-{ms}.csv"
        status, doc, writing = _export_with_deadline(server, api, name, ms)
        assert status == 504 and doc["error"]["code"] == "deadline_exceeded", doc
        if writing:
            break
    assert writing, "no export was writing when its deadline passed"
    # The worker stops at its next piece and removes its temporary file.
    _until(lambda: _hidden(server.export_dir) == [], "the temporary file is removed")
    time.sleep(1.0)  # had it kept writing, it would have been renamed by now
    assert not (server.export_dir / name).exists()
    assert name not in _listed(api)


def test_a_client_that_disconnects_stops_the_export(big: tuple[ServerProcess, Api]) -> None:
    server, api = big
    url = urlparse(server.url)
    body = json.dumps(_export("left.csv", "csv")).encode()
    head = (f"POST /api/export/correlation HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
    head += "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        _until(lambda: _hidden(server.export_dir) != [], "the export starts writing")
        # Half-written: present under its temporary name, never listed.
        assert "left.csv" not in _listed(api)
    _until(lambda: _hidden(server.export_dir) == [], "the temporary file is removed")
    time.sleep(1.0)
    assert not (server.export_dir / "left.csv").exists()
    assert "left.csv" not in _listed(api)


def test_through_the_bridge_a_grpc_deadline_leaves_nothing(
        big: tuple[ServerProcess, Api]) -> None:
    server, api = big
    request = pb.ExportCorrelationMatrixRequest(
        filename="bridged", format=export_pb2.EXPORT_FORMAT_TENSORBOARD, model_ids=["wide"])
    with BridgeProcess(server.url) as bridge, bridge.channel() as channel:
        stub = pb_grpc.NeuralHeatmapServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.ExportCorrelationMatrix(request, timeout=0.3)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        _until(lambda: _hidden(server.export_dir) == [], "the temporary run is removed")
        time.sleep(1.0)
        assert not (server.export_dir / "bridged").exists()
        assert "bridged" not in _listed(api)
        # With time enough, the same export is whole.
        done = stub.ExportCorrelationMatrix(request, timeout=BOUND)
        assert done.result.files and all(f.name.startswith("bridged/") for f in done.result.files)
