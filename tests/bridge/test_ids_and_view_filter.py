"""Ids travel as lists (a model named ``a,b`` round-trips) and the stored view filter
applies to a query only when the query asks (``use_view_filter``)."""

from __future__ import annotations

import uuid

import grpc
import numpy as np
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
from neural_heatmap_contract.v1 import view_pb2

from tests.bridge.conftest import frame, ingest
from tests.support.bridge_process import BridgeProcess


async def _models(stub: pb_grpc.NeuralHeatmapServiceStub, *models: str) -> None:
    rng = np.random.default_rng(3)
    await ingest(stub, [frame(m, layer, rng.normal(0, 1, 4), step=i)
                        for i in range(20) for m in models for layer in ("x", "y")])


async def test_a_model_named_with_a_comma_is_filtered_exactly(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    first, second = f"ca-{uuid.uuid4().hex[:6]}", f"cb-{uuid.uuid4().hex[:6]}"
    joined = f"{first},{second}"
    await _models(stub, first, second, joined)
    resp = await stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest(model_ids=[joined]))
    assert list(resp.matrix.labels) == [f"{joined}/x", f"{joined}/y"]
    resp = await stub.GetCorrelationMatrix(
        pb.GetCorrelationMatrixRequest(model_ids=[second, joined], layer_ids=["y"])
    )
    assert list(resp.matrix.labels) == [f"{second}/y", f"{joined}/y"]


async def test_one_clients_filter_does_not_change_anothers_answer(
    stub: pb_grpc.NeuralHeatmapServiceStub, bridge: BridgeProcess
) -> None:
    mine, theirs = f"mine-{uuid.uuid4().hex[:6]}", f"theirs-{uuid.uuid4().hex[:6]}"
    await _models(stub, mine, theirs)
    other_channel: grpc.aio.Channel = bridge.aio_channel()
    other = pb_grpc.NeuralHeatmapServiceStub(other_channel)
    try:
        await other.SetFilter(pb.SetFilterRequest(filter=view_pb2.Filter(model_ids=[theirs])))
        plain = await stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest())
        assert {f"{mine}/x", f"{theirs}/y"} <= set(plain.matrix.labels)
        viewed = await stub.GetCorrelationMatrix(
            pb.GetCorrelationMatrixRequest(use_view_filter=True)
        )
        assert list(viewed.matrix.labels) == [f"{theirs}/x", f"{theirs}/y"]
    finally:
        await other.ClearFilter(pb.ClearFilterRequest())
        await other_channel.close()


async def test_temporal_statistics_use_the_filters_time_range_only_when_asked(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    model = f"trange-{uuid.uuid4().hex[:6]}"
    t0 = 1_750_000_000.0
    await ingest(stub, [frame(model, "x", np.full(4, float(i)), ts=t0 + i, step=i)
                        for i in range(10)])
    flt = view_pb2.Filter()
    flt.time_range.start.FromSeconds(int(t0))
    flt.time_range.end.FromSeconds(int(t0) + 3)
    await stub.SetFilter(pb.SetFilterRequest(filter=flt))
    try:
        whole = await stub.GetTemporalStatistics(pb.GetTemporalStatisticsRequest(model_id=model))
        viewed = await stub.GetTemporalStatistics(
            pb.GetTemporalStatisticsRequest(model_id=model, use_view_filter=True)
        )
    finally:
        await stub.ClearFilter(pb.ClearFilterRequest())
    assert [s.samples for s in whole.statistics.layers] == [10]
    assert [s.samples for s in viewed.statistics.layers] == [4]
