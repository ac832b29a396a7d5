"""Shared fixtures: one real server and one real bridge for the session, plus helpers.

The server runs with anomaly de-duplication off and fast correlation/temporal
intervals so streams show updates within a second. Known activations are
ingested through the bridge once; tests compare the bridge's answers with the
server's own JSON.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import grpc
import numpy as np
import pytest
import pytest_asyncio
from neural_heatmap_contract.v1 import (
    ingest_pb2,
    tensor_pb2,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

SERVER_ARGS = [
    "--anomaly-cooldown",
    "0",
    "--correlation-interval",
    "0.5",
    "--temporal-interval",
    "0.5",
    "--heatmap-hz",
    "100",
]
UNITS = 64
FRAMES = 160
T0 = 1_700_000_000.0
LAYERS = {"m-a": ["l1", "l2", "l3"], "m-b": ["l1", "l2"]}


def frame(
    model: str,
    layer: str,
    values: np.ndarray[Any, Any],
    ts: float | None = None,
    step: int | None = None,
) -> ingest_pb2.ActivationFrame:
    """An ActivationFrame with float32 raw bytes."""
    arr = np.ascontiguousarray(values, dtype="<f4")
    out = ingest_pb2.ActivationFrame(
        model_id=model,
        layer_id=layer,
        values=tensor_pb2.Tensor(
            shape=[arr.size], dtype=tensor_pb2.DATA_TYPE_FLOAT32, data=arr.tobytes()
        ),
    )
    if ts is not None:
        out.timestamp.FromNanoseconds(round(ts * 1e9))
    if step is not None:
        out.step = step
    return out


def known_frames() -> list[ingest_pb2.ActivationFrame]:
    """Deterministic activations: phase-shifted sinusoids plus noise per layer."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(FRAMES):
        for m, (model, layers) in enumerate(LAYERS.items()):
            for k, layer in enumerate(layers):
                base = math.sin(i / 6.0 + 0.7 * k + 0.3 * m) * (1 + k)
                vals = base + 0.3 * rng.standard_normal(UNITS)
                out.append(frame(model, layer, vals, T0 + i * 0.05, i))
    return out


async def ingest(
    stub: pb_grpc.NeuralHeatmapServiceStub,
    frames: list[ingest_pb2.ActivationFrame],
    per_message: int = 50,
    **kw: Any,
) -> pb.IngestActivationsResponse:
    """Stream frames to IngestActivations, ``per_message`` per request."""

    async def requests() -> AsyncIterator[pb.IngestActivationsRequest]:
        for i in range(0, len(frames), per_message):
            yield pb.IngestActivationsRequest(frames=frames[i : i + per_message])

    response: pb.IngestActivationsResponse = await stub.IngestActivations(requests(), **kw)
    return response


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """The session's real server."""
    with ServerProcess(extra_args=SERVER_ARGS) as proc:
        yield proc


@pytest.fixture(scope="session")
def bridge(server: ServerProcess) -> Iterator[BridgeProcess]:
    """The session's real bridge in front of ``server`` (metrics on)."""
    with BridgeProcess(server.url, metrics=True) as proc:
        yield proc


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def channel(bridge: BridgeProcess) -> AsyncIterator[grpc.aio.Channel]:
    """An asyncio channel to the session bridge."""
    ch = bridge.aio_channel()
    yield ch
    await ch.close()


@pytest.fixture(scope="session")
def stub(channel: grpc.aio.Channel) -> pb_grpc.NeuralHeatmapServiceStub:
    """Stub of the service on the session bridge."""
    return pb_grpc.NeuralHeatmapServiceStub(channel)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def http(server: ServerProcess) -> AsyncIterator[aiohttp.ClientSession]:
    """Direct HTTP access to the server, to compare with what the bridge says."""
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def loaded(stub: pb_grpc.NeuralHeatmapServiceStub) -> pb.IngestActivationsResponse:
    """The known activations, ingested once through the bridge."""
    return await ingest(stub, known_frames())


async def get_json(http: aiohttp.ClientSession, path: str, **params: str) -> Any:
    """GET a JSON answer from the server itself."""
    async with http.get(path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def nan_anomalies(http: aiohttp.ClientSession, model: str, count: int) -> None:
    """Make the server log ``count`` non_finite anomalies (one per posted NaN frame)."""
    values = [float("nan")] + [0.5] * 7
    for _ in range(count):
        body = {"model_id": model, "layer_id": "nan", "values": values}
        async with http.post("/api/activations", json=body) as resp:
            assert resp.status == 200, await resp.text()
