"""Nothing lost on the wire: integers stay integers, unknown type names arrive by name.

The real server cannot name an anomaly or pattern type outside the contract's enums, nor
send integers beyond int64, so those answers come from a crafted upstream (a small aiohttp
app in this process) behind a real bridge and the real SDK; integers from the real server
are checked against it (server and bridge as processes, tests/support).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from aiohttp import WSMsgType, web
from neural_heatmap import AnomalyType, NeuralHeatmapClient, PatternType, connect

from tests.sdk.conftest import Seed, nan_frame
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import free_port

# Every JSON kind, nested; 2**70 is beyond int64 and so travels as a double.
METADATA: dict[str, Any] = {
    "step": 4900,
    "unit": 0,
    "negative": -(2**63),
    "huge": 2**70,
    "ratio": 0.25,
    "whole_float": 3.0,
    "flag": True,
    "off": False,
    "name": "fc1",
    "missing": None,
    "window": [1, 2.5, None, True, "x", {"k": 3}],
    "nested": {"steps": [10, 20], "deep": {"n": 7}},
}
EXPECTED = {**METADATA, "huge": float(2**70)}
ANOMALY = {
    "sequence": 1,
    "anomaly_type": "gradient_explosion",
    "severity": "high",
    "timestamp": 1.7e9,
    "location": {"x": 1, "y": 2},
    "layer": "fc1",
    "model_id": "crafted",
    "score": 12.5,
    "description": "a detector this contract does not know yet",
    "metadata": METADATA,
}
PATTERN = {
    "pattern_type": "chirp",
    "frequency": 0.5,
    "amplitude": None,
    "phase": None,
    "confidence": 0.75,
    "start_time": 1.7e9,
    "end_time": 1.7e9 + 10,
    "metadata": {"model_id": "crafted", "layer_id": "fc1", "change_index": 42},
}


def crafted_upstream() -> web.Application:
    """The answers of a newer (or seed-only) server the real one cannot give."""

    def answer(body: dict[str, Any]) -> Any:
        async def handler(_: web.Request) -> web.Response:
            return web.json_response(body)

        return handler

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT and json.loads(msg.data)["type"] == "subscribe_temporal":
                update = {
                    "timestamp": 1.7e9,
                    "patterns": [PATTERN],
                    "trends": [{"layer_id": "fc1", "samples": 512, "rising": True}],
                    "state_changes": [{"change_index": 42, "before": 0.5}, 7],
                }
                for _ in range(50):
                    await sock.send_json({"type": "temporal_update", "data": update})
                    await asyncio.sleep(0.2)
        return sock

    app = web.Application()
    app.router.add_get("/health", answer({"status": "ok"}))
    app.router.add_get(
        "/api/anomalies",
        answer({"anomalies": [ANOMALY], "first_sequence": 1, "last_sequence": 1}),
    )
    app.router.add_get("/api/temporal", answer({"patterns": [PATTERN]}))
    app.router.add_get(
        "/api/temporal/stats",
        answer(
            {"model_id": "crafted", "layers": [], "trends": {"increasing": 2}, "extra": METADATA}
        ),
    )
    app.router.add_post(
        "/api/compare",
        answer(
            {
                "model_ids": ["x", "y"],
                "similarity_matrix": [[1.0, 0.5], [0.5, 1.0]],
                "window_steps": 128,
            }
        ),
    )
    app.router.add_get("/ws", ws)
    return app


@pytest.fixture(scope="module")
async def crafted() -> AsyncIterator[NeuralHeatmapClient]:
    """The SDK, through a real bridge, in front of the crafted upstream."""
    runner = web.AppRunner(crafted_upstream(), shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        with BridgeProcess(f"http://127.0.0.1:{port}") as bridge:
            client = await connect(bridge.target, connect_timeout=20.0)
            try:
                yield client
            finally:
                await client.disconnect()
    finally:
        await runner.cleanup()


def assert_same_kinds(got: Any, want: Any) -> None:
    """Equal, and of the same Python type all the way down (``1 == 1.0 == True`` is not)."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            assert_same_kinds(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same_kinds(g, w)
    else:
        assert got == want


# ---------------------------------------------------------------- the crafted upstream
async def test_an_unknown_anomaly_type_reaches_the_sdk_by_name(
    crafted: NeuralHeatmapClient,
) -> None:
    (anomaly,) = await crafted.get_anomalies()
    assert anomaly.anomaly_type == "gradient_explosion"
    assert type(anomaly.anomaly_type) is str  # not an AnomalyType member, not "unspecified"
    assert anomaly.to_dict()["anomaly_type"] == "gradient_explosion"
    assert_same_kinds(anomaly.metadata, EXPECTED)


async def test_an_unknown_pattern_type_reaches_the_sdk_by_name(
    crafted: NeuralHeatmapClient,
) -> None:
    (pattern,) = await crafted.get_temporal_patterns()
    assert pattern.pattern_type == "chirp" and type(pattern.pattern_type) is str
    assert_same_kinds(pattern.metadata, PATTERN["metadata"])
    stats = await crafted.get_temporal_statistics()
    assert_same_kinds(stats.raw["extra"], EXPECTED)
    assert_same_kinds(stats.raw["trends"], {"increasing": 2})
    comparison = await crafted.compare_models(["x", "y"])
    assert_same_kinds(comparison.metadata, {"window_steps": 128, "metrics": []})


async def test_a_temporal_update_keeps_names_and_integers(crafted: NeuralHeatmapClient) -> None:
    stream = crafted.stream_temporal()
    update = await asyncio.wait_for(anext(aiter(stream)), 20)
    await stream.aclose()
    (pattern,) = update.patterns
    assert pattern.pattern_type == "chirp"
    assert_same_kinds(update.trends, [{"layer_id": "fc1", "samples": 512, "rising": True}])
    # A state change that is not an object is wrapped as {"value": ...}, as before.
    assert_same_kinds(update.state_changes, [{"change_index": 42, "before": 0.5}, {"value": 7}])


# ---------------------------------------------------------------- the real server
async def test_real_server_integers_arrive_as_int(
    client: NeuralHeatmapClient, seeded: Seed
) -> None:
    model = "anom-wire"
    await client.log_activations(model, "fc", nan_frame(), step=4900)
    (anomaly,) = await client.get_anomalies(model_id=model)
    assert anomaly.anomaly_type is AnomalyType.NON_FINITE  # known names stay members
    assert type(anomaly.metadata["step"]) is int and anomaly.metadata["step"] == 4900
    assert type(anomaly.metadata["unit"]) is int and anomaly.metadata["unit"] == 5
    matrix = await client.get_correlation_matrix(model_ids=["m1"])
    assert type(matrix.metadata["samples"]) is int and matrix.metadata["samples"] > 0
    patterns = await client.get_temporal_patterns("m1")
    assert {p.pattern_type for p in patterns} <= set(PatternType)
    summary = await client.log_batch(model, "fc", np.zeros((2, 16), np.float32))
    assert type(summary.details["upstream_requests"]) is int
