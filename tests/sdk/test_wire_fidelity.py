"""Nothing lost on the wire: integers stay integers, unknown type names arrive by name.

The real server cannot name an anomaly or pattern type outside the contract's enums, nor
send integers beyond int64, so those answers come from a crafted upstream
(tests/support/crafted_upstream.py, a process) behind a real bridge and the real SDK;
integers from the real server are checked against it (server and bridge as processes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from neural_heatmap import AnomalyType, NeuralHeatmapClient, PatternType, connect

from tests.sdk.conftest import Seed, nan_frame
from tests.support.bridge_process import BridgeProcess
from tests.support.crafted_upstream import (
    METADATA_AS_RECEIVED,
    PATTERN,
    TEMPORAL_UPDATE,
    UNKNOWN_ANOMALY_TYPE,
    UNKNOWN_PATTERN_TYPE,
    CraftedUpstream,
)


@pytest.fixture(scope="module")
async def crafted() -> AsyncIterator[NeuralHeatmapClient]:
    """The SDK, through a real bridge, in front of the crafted upstream."""
    with CraftedUpstream() as upstream, BridgeProcess(upstream.url) as bridge:
        client = await connect(bridge.target, connect_timeout=20.0)
        try:
            yield client
        finally:
            await client.disconnect()


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
    assert anomaly.anomaly_type == UNKNOWN_ANOMALY_TYPE == "gradient_explosion"
    assert type(anomaly.anomaly_type) is str  # not an AnomalyType member, not "unspecified"
    assert anomaly.to_dict()["anomaly_type"] == UNKNOWN_ANOMALY_TYPE
    assert_same_kinds(anomaly.metadata, METADATA_AS_RECEIVED)


async def test_an_unknown_pattern_type_reaches_the_sdk_by_name(
    crafted: NeuralHeatmapClient,
) -> None:
    (pattern,) = await crafted.get_temporal_patterns()
    assert pattern.pattern_type == UNKNOWN_PATTERN_TYPE and type(pattern.pattern_type) is str
    assert_same_kinds(pattern.metadata, PATTERN["metadata"])
    stats = await crafted.get_temporal_statistics()
    assert_same_kinds(stats.raw["extra"], METADATA_AS_RECEIVED)
    assert_same_kinds(stats.raw["trends"], {"increasing": 2})
    comparison = await crafted.compare_models(["x", "y"])
    assert_same_kinds(comparison.metadata, {"window_steps": 128, "metrics": []})


async def test_a_temporal_update_keeps_names_and_integers(crafted: NeuralHeatmapClient) -> None:
    stream = crafted.stream_temporal()
    update = await asyncio.wait_for(anext(aiter(stream)), 20)
    await stream.aclose()
    (pattern,) = update.patterns
    assert pattern.pattern_type == UNKNOWN_PATTERN_TYPE
    assert_same_kinds(update.trends, TEMPORAL_UPDATE["trends"])
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
