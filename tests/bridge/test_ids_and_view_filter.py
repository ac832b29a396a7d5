"""Ids travel as lists and follow the contract's id rule (``a,b`` is refused at ingest),
and the stored view filter applies to a query only when the query asks
(``use_view_filter``)."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import grpc
import numpy as np
from neural_heatmap_contract.ids import ID_RULE
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
from neural_heatmap_contract.v1 import view_pb2

from tests.bridge.conftest import frame, ingest, nan_anomalies
from tests.support.bridge_process import BridgeProcess


async def _models(stub: pb_grpc.NeuralHeatmapServiceStub, *models: str) -> None:
    rng = np.random.default_rng(3)
    await ingest(stub, [frame(m, layer, rng.normal(0, 1, 4), step=i)
                        for i in range(20) for m in models for layer in ("x", "y")])


async def test_an_id_a_comma_list_could_split_is_rejected_and_lists_stay_exact(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    first, second = f"ca-{uuid.uuid4().hex[:6]}", f"cb-{uuid.uuid4().hex[:6]}"
    await _models(stub, first, second)
    rng = np.random.default_rng(4)
    bad = [frame(f"{first},{second}", "x", rng.normal(0, 1, 4)),
           frame(first, " y", rng.normal(0, 1, 4)), frame(first, "x", rng.normal(0, 1, 4))]
    resp = await ingest(stub, bad)
    assert resp.frames_accepted == 1 and resp.frames_rejected == 2
    assert [(r.index, r.code) for r in resp.rejections] == [(0, "invalid_argument"),
                                                            (1, "invalid_argument")]
    assert resp.rejections[0].message.startswith("frames[0].model_id contains ','")
    assert resp.rejections[1].message.startswith("frames[1].layer_id begins or ends with")
    assert all(ID_RULE in r.message for r in resp.rejections)
    resp = await stub.GetCorrelationMatrix(
        pb.GetCorrelationMatrixRequest(model_ids=[second, first], layer_ids=["y"])
    )
    assert list(resp.matrix.labels) == [f"{second}/y", f"{first}/y"]


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


async def test_get_anomalies_takes_several_models_and_keeps_the_single_field(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession
) -> None:
    models = [f"an{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for model in models:
        await nan_anomalies(http, model, 1)

    async def models_of(request: pb.GetAnomaliesRequest) -> set[str]:
        request.limit = 1000
        seen: set[str] = set()
        for _ in range(300):  # the bridge may answer from its cache until the log's news arrive
            seen = {a.model_id for a in (await stub.GetAnomalies(request)).anomalies}
            if len(seen) >= len(set(request.model_ids) | {request.model_id} - {""}):
                break
            await asyncio.sleep(0.1)
        return seen

    assert await models_of(pb.GetAnomaliesRequest(model_ids=models[:2])) == set(models[:2])
    assert await models_of(pb.GetAnomaliesRequest(model_id=models[2])) == {models[2]}
    both = pb.GetAnomaliesRequest(model_id=models[0], model_ids=[models[2], models[0]])
    assert await models_of(both) == {models[0], models[2]}
