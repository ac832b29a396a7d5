"""Per-unit temporal analysis and layer health through the SDK, bridge and server (issue 22)."""

from __future__ import annotations

import uuid

import grpc
import numpy as np
import pytest
from neural_heatmap import InvalidArgumentError, NeuralHeatmapClient, PatternType
from neural_heatmap_contract.v1 import analytics_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.bridge_process import BridgeProcess

RATE, N, UNITS = 50.0, 200, 64
BIN_HZ = RATE / N  # one periodogram bin of a 4 s series


async def _ingest(client: NeuralHeatmapClient, model: str, layer: str,
                  frames: np.ndarray) -> None:
    t = 1.7e9 + np.arange(len(frames)) / RATE
    summary = await client.log_batch(model, layer, frames.astype(np.float32), timestamps=t,
                                     steps=np.arange(len(frames)))
    assert summary.frames_accepted == len(frames)


async def test_oscillating_unit_is_named_by_patterns_and_statistics(
    client: NeuralHeatmapClient, bridge: BridgeProcess,
) -> None:
    model = f"osc-{uuid.uuid4().hex[:6]}"
    rng = np.random.default_rng(5)
    frames = rng.normal(0.0, 0.1, (N, UNITS))
    frames[:, 23] += 0.5 * np.sin(2 * np.pi * 3.0 * np.arange(N) / RATE)
    await _ingest(client, model, "fc", frames)

    stats = await client.get_temporal_statistics(model, layer_id="fc", granularity="unit")
    [osc] = stats.oscillating_units
    assert (osc.unit, osc.location, osc.layer_id) == (23, {"x": 7.0, "y": 2.0}, "fc")
    assert abs(osc.frequency - 3.0) <= BIN_HZ and osc.periodicity_strength > 0.8
    assert len(stats.units) == UNITS and stats.units[23].periodic
    assert [u.unit for u in stats.units if u.periodic] == [23]
    assert stats.layers[0].layer_id == "fc" and stats.layers[0].periodicity_strength < 0.3

    patterns = await client.get_temporal_patterns(
        model, pattern_types=[PatternType.PERIODIC], layer_id="fc", granularity="unit",
        unit=range(16, 32))
    [found] = patterns
    assert found.unit == 23 and found.location == {"x": 7.0, "y": 2.0}
    assert found.frequency is not None and abs(found.frequency - 3.0) <= BIN_HZ
    chosen = await client.get_temporal_statistics(model, layer_id="fc", granularity="unit",
                                                  unit=[40, 3, 41])
    assert [u.unit for u in chosen.units] == [3, 40, 41] and chosen.oscillating_units == []

    with pytest.raises(InvalidArgumentError, match="has 64 units"):
        await client.get_temporal_patterns(model, layer_id="fc", granularity="unit", unit=64)
    with pytest.raises(InvalidArgumentError, match="granularity=unit"):
        await client.get_temporal_statistics(model, unit=3)
    async with grpc.aio.insecure_channel(bridge.target) as channel:
        stub = pb_grpc.NeuralHeatmapServiceStub(channel)
        backwards = pb.GetTemporalStatisticsRequest(
            model_id=model, granularity=analytics_pb2.GRANULARITY_UNIT,
            unit_ranges=[pb.UnitRange(first=9, last=2)])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetTemporalStatistics(backwards, timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "unit range 9-2 runs backwards" in (caught.value.details() or "")
    with pytest.raises(ValueError, match="step 1"):
        await client.get_temporal_patterns(model, granularity="unit", unit=range(0, 8, 2))


async def test_layer_health_names_the_one_dead_unit_and_the_saturated_ones(
    client: NeuralHeatmapClient,
) -> None:
    model = f"health-{uuid.uuid4().hex[:6]}"
    rng = np.random.default_rng(9)
    relu = np.abs(rng.normal(0.0, 1.0, (N, UNITS))) + 0.05
    relu[90:, 50] = 0.0
    relu[-2, 7] = 30.0
    await _ingest(client, model, "relu", relu)
    tanh = np.clip(rng.normal(0.0, 0.3, (N, UNITS)), -0.9, 0.9)
    tanh[:, [4, 60]] = 1.0
    await _ingest(client, model, "tanh", tanh)

    layers = await client.get_layer_health(model, top_k=2)
    by_layer = {h.layer_id: h for h in layers}
    [dead] = by_layer["relu"].dead_units
    assert (dead.unit, dead.location) == (50, {"x": 2.0, "y": 6.0})
    assert (dead.since_step, dead.frames, dead.since_window_start) == (90, N - 90, False)
    assert dead.since == pytest.approx(1.7e9 + 90 / RATE)
    spikes = by_layer["relu"].top_spikes
    assert len(spikes) == 2 and spikes[0].unit == 7 and spikes[0].step == N - 2
    assert spikes[0].value == 30.0 and spikes[0].score > spikes[1].score
    assert [u.unit for u in by_layer["tanh"].saturated_units] == [4, 60]
    assert all(u.since_window_start and u.value == 1.0
               for u in by_layer["tanh"].saturated_units)
    assert by_layer["tanh"].dead_units == [] and by_layer["relu"].saturated_units == []
    assert by_layer["relu"].criteria["recent_frames"] == 8

    only = await client.get_layer_health(model, layer_id="tanh")
    assert [h.layer_id for h in only] == ["tanh"] and len(only[0].top_spikes) == 5
