"""Issue 23 through a real bridge: id limits instead of an 8 KB URL cliff, the server's
memory budget as RESOURCE_EXHAUSTED, idle HTTP/2 connections closed with GOAWAY."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.request
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from neural_heatmap_contract.limits import MAX_IDS_PER_REQUEST
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.bridge.conftest import SERVER_ARGS, frame, ingest
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess, free_port

WINDOW = 16
UNITS = 1000
LAYER_BYTES = WINDOW * (4 * UNITS + 24)


@pytest.fixture(scope="module")
def small_server() -> Iterator[ServerProcess]:
    """A server with room for two 1,000-unit layers (and a half)."""
    args = [*SERVER_ARGS, "--window", str(WINDOW), "--memory-budget",
            str(2 * LAYER_BYTES + LAYER_BYTES // 2)]
    with ServerProcess(extra_args=args) as proc:
        yield proc


@pytest.fixture(scope="module")
def small_bridge(small_server: ServerProcess) -> Iterator[BridgeProcess]:
    with BridgeProcess(small_server.url, "--max-connection-idle", "1") as proc:
        yield proc


def _stub(bridge: BridgeProcess) -> tuple[grpc.aio.Channel, pb_grpc.NeuralHeatmapServiceStub]:
    channel = grpc.aio.insecure_channel(bridge.target)
    return channel, pb_grpc.NeuralHeatmapServiceStub(channel)


def _post(server: ServerProcess, frames: list[dict[str, object]]) -> None:
    req = urllib.request.Request(server.url + "/api/activations",
                                 data=json.dumps({"frames": frames}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert json.loads(resp.read())["accepted"] == len(frames)


async def test_forty_models_with_long_ids_make_one_matrix(small_server: ServerProcess,
                                                          small_bridge: BridgeProcess) -> None:
    ids = [f"{i:03d}" + "m" * 247 for i in range(40)]  # 250 characters each: 10 KB of URL
    rng = np.random.default_rng(0)
    _post(small_server, [{"model_id": m, "layer_id": "l", "values": rng.random(4).tolist()}
                         for m in ids for _ in range(3)])
    channel, stub = _stub(small_bridge)
    async with channel:
        answer = await stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest(model_ids=ids))
        assert list(answer.matrix.labels) == [f"{m}/l" for m in ids]
        assert list(answer.matrix.matrix.shape) == [40, 40]


async def test_more_ids_than_the_limit_are_refused_before_any_upstream_call() -> None:
    # The upstream is a port nobody listens on: a call reaching it would be UNAVAILABLE.
    with BridgeProcess(f"http://127.0.0.1:{free_port()}") as bridge:
        channel, stub = _stub(bridge)
        async with channel:
            too_many = [f"m{i}" for i in range(MAX_IDS_PER_REQUEST + 1)]
            for request in (pb.GetCorrelationMatrixRequest(model_ids=too_many),
                            pb.GetCorrelationMatrixRequest(layer_ids=too_many),
                            pb.CompareModelsRequest(model_ids=too_many)):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await getattr(stub, type(request).__name__.removesuffix("Request"))(request)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                details = caught.value.details() or ""
                assert f"{MAX_IDS_PER_REQUEST + 1} ids" in details
                assert f"limit of {MAX_IDS_PER_REQUEST}" in details, details
            # At the limit the request passes validation and reaches the (absent) upstream.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest(
                    model_ids=too_many[:MAX_IDS_PER_REQUEST]))
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_layer_beyond_the_memory_budget_is_resource_exhausted(
    small_bridge: BridgeProcess,
) -> None:
    channel, stub = _stub(small_bridge)
    values = np.full(UNITS, 0.5, dtype=np.float32)
    async with channel:
        ok = await ingest(stub, [frame("budget", "a", values), frame("budget", "b", values)])
        assert ok.frames_accepted == 2
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ingest(stub, [frame("budget", "c", values)])
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = caught.value.details() or ""
        assert "--memory-budget" in details and str(LAYER_BYTES) in details, details
        # The server keeps serving and the layers it holds keep ingesting.
        again = await ingest(stub, [frame("budget", "a", values), frame("budget", "b", values)])
        assert again.frames_accepted == 2 and again.frames_rejected == 0


def _gauge(bridge: BridgeProcess, name: str) -> float:
    assert bridge.metrics_url is not None
    text = urllib.request.urlopen(bridge.metrics_url, timeout=10).read().decode()
    (line,) = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


async def test_the_bridge_ingest_buffers_have_a_byte_budget() -> None:
    budget = 10_000  # two 1,000-unit frames (4,016 bytes each), not three
    with ServerProcess(extra_args=SERVER_ARGS) as server, \
            BridgeProcess(server.url, "--ingest-buffer-bytes", str(budget), metrics=True) as bridge:
        channel, stub = _stub(bridge)
        async with channel:
            values = np.full(UNITS, 0.5, dtype=np.float32)
            # More than the budget in one call: the call sends its own batches to make room.
            frames = [frame("buf", f"l{i % 5}", values) for i in range(40)]
            ok = await ingest(stub, frames, per_message=40)
            assert ok.frames_accepted == 40 and ok.frames_rejected == 0
            # One frame bigger than the whole budget can never fit.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await ingest(stub, [frame("buf", "big", np.zeros(3 * UNITS))])
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            details = caught.value.details() or ""
            assert "--ingest-buffer-bytes" in details and f"{budget} bytes" in details, details
        assert _gauge(bridge, "nh_bridge_ingest_buffer_bytes") == 0
        assert _gauge(bridge, "nh_bridge_ingest_buffer_budget_bytes") == budget


def _frames(sock: socket.socket) -> Iterator[int]:
    """Types of the HTTP/2 frames the peer sends, until it closes."""
    buf = b""
    while True:
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            yield buf[3]
            buf = buf[9 + length:]
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk


GOAWAY = 0x7


def test_an_idle_http2_connection_gets_goaway(small_bridge: BridgeProcess) -> None:
    host, port = small_bridge.target.rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        # The client preface and an empty SETTINGS frame: a finished handshake, then silence.
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:]
                     + bytes([0x4, 0]) + struct.pack(">I", 0))
        seen = []
        for kind in _frames(sock):
            seen.append(kind)
            if kind == GOAWAY:
                break
    assert GOAWAY in seen, seen
    assert time.monotonic() - started < 50  # --max-connection-idle 1, far from 60 s
