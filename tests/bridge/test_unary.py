"""Every unary RPC through the real bridge, checked against the real server's own answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from google.protobuf import json_format
from neural_heatmap_contract.v1 import (
    analytics_pb2,
    common_pb2,
    export_pb2,
    tensor_pb2,
    view_pb2,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

from tests.bridge.conftest import FRAMES, LAYERS, UNITS, frame, get_json, ingest, nan_anomalies
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess


def as_array(t: tensor_pb2.Tensor) -> np.ndarray[Any, Any]:
    dtype = "<f8" if t.dtype == tensor_pb2.DATA_TYPE_FLOAT64 else "<f4"
    return np.frombuffer(t.data, dtype=dtype).reshape(tuple(t.shape))


async def test_ingest_summary(loaded: pb.IngestActivationsResponse) -> None:
    total = FRAMES * sum(len(v) for v in LAYERS.values())
    assert loaded.frames_accepted == total
    assert loaded.frames_rejected == 0
    assert loaded.details["upstream_requests"].int_value >= 1


async def test_ingest_batches_are_cut_at_ingest_batch_bytes(server: ServerProcess) -> None:
    """``--ingest-batch-bytes``: ten 48-byte records (16-byte head + 8 float32) with a 96-byte
    cap go upstream as five requests of two (a batch is sent once it reaches the cap)."""
    frames = [frame("m-batch-bytes", "l", np.full(8, float(i))) for i in range(10)]
    with BridgeProcess(server.url, "--ingest-batch-bytes", "96") as bridge:
        channel = bridge.aio_channel()
        try:
            resp = await ingest(pb_grpc.NeuralHeatmapServiceStub(channel), frames)
        finally:
            await channel.close()
    assert (resp.frames_accepted, resp.frames_rejected) == (10, 0)
    assert resp.details["upstream_requests"].int_value == 5


async def test_ingest_rejections_are_attributed(stub: pb_grpc.NeuralHeatmapServiceStub) -> None:
    good = frame("m-rej", "l", np.ones(8))
    wrong_units = frame("m-rej", "l", np.ones(5))  # the layer has 8 units
    no_model = frame("", "l", np.ones(8))
    broken = frame("m-rej", "l2", np.ones(8))
    broken.values.data = b"\x00" * 7
    resp = await ingest(stub, [good, no_model, broken])
    assert (resp.frames_accepted, resp.frames_rejected) == (1, 2)
    assert [r.index for r in resp.rejections] == [1, 2]
    resp = await ingest(stub, [wrong_units, good])
    assert (resp.frames_accepted, resp.frames_rejected) == (1, 1)
    assert resp.rejections[0].index == 0
    assert resp.rejections[0].code == "invalid_argument"
    assert "unit" in resp.rejections[0].message


async def test_list_models_matches_server(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession, loaded: Any
) -> None:
    resp = await stub.ListModels(pb.ListModelsRequest(include_units=True))
    doc = await get_json(http, "/api/models", include_units="true")
    got = {m.model_id: m for m in resp.models}
    assert set(got) == {m["model_id"] for m in doc["models"]}
    for m in doc["models"]:
        model = got[m["model_id"]]
        assert model.frames == m["frames"]
        for layer, lj in zip(model.layers, m["layers"], strict=True):
            assert (layer.layer_id, layer.units, layer.width, layer.height) == (
                lj["layer_id"],
                lj["units"],
                lj["width"],
                lj["height"],
            )
            assert [(u.location.x, u.location.y) for u in layer.units_detail] == [
                (u["x"], u["y"]) for u in lj["units_detail"]
            ]
    assert got["m-a"].layers[0].units == UNITS


async def test_correlation_matrix_equals_server_json(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession, loaded: Any
) -> None:
    for granularity, word in (
        (analytics_pb2.GRANULARITY_LAYER, "layer"),
        (analytics_pb2.GRANULARITY_UNIT, "unit"),
    ):
        req = pb.GetCorrelationMatrixRequest(model_ids=["m-a", "m-b"], granularity=granularity)
        if granularity == analytics_pb2.GRANULARITY_UNIT:
            req.layer_ids[:] = ["l1", "l2"]
        resp = await stub.GetCorrelationMatrix(req)
        params = {"model_ids": "m-a,m-b", "granularity": word}
        if word == "unit":
            params["layer_ids"] = "l1,l2"
        doc = await get_json(http, "/api/correlation", **params)
        got = as_array(resp.matrix.matrix)
        want = np.asarray(doc["matrix"], dtype="<f4")
        assert got.shape == want.shape and got.shape[0] >= 4
        np.testing.assert_array_equal(got, want)  # bitwise, as float32
        assert list(resp.matrix.labels) == doc["labels"]
        assert resp.matrix.metadata["granularity"].string_value == word
        # An integer the server sent stays an integer (Struct made it a double).
        assert resp.matrix.metadata["samples"].int_value == doc["metadata"]["samples"] > 0


async def test_temporal_patterns_and_statistics(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession, loaded: Any
) -> None:
    resp = await stub.GetTemporalPatterns(pb.GetTemporalPatternsRequest(model_id="m-a"))
    doc = await get_json(http, "/api/temporal", model_id="m-a")
    assert len(resp.patterns) == len(doc["patterns"]) > 0
    for p, pj in zip(resp.patterns, doc["patterns"], strict=True):
        assert analytics_pb2.PatternType.Name(p.pattern_type).lower().endswith(pj["pattern_type"])
        assert p.pattern_type_name == pj["pattern_type"]
        assert p.confidence == pj["confidence"]
        assert (p.model_id, p.layer_id) == (pj["metadata"]["model_id"], pj["metadata"]["layer_id"])
    only = await stub.GetTemporalPatterns(
        pb.GetTemporalPatternsRequest(
            model_id="m-a", pattern_types=[analytics_pb2.PATTERN_TYPE_TREND]
        )
    )
    assert {p.pattern_type for p in only.patterns} <= {analytics_pb2.PATTERN_TYPE_TREND}

    stats = await stub.GetTemporalStatistics(pb.GetTemporalStatisticsRequest(model_id="m-a"))
    sj = await get_json(http, "/api/temporal/stats", model_id="m-a")
    s = stats.statistics
    assert s.model_id == "m-a"
    assert [(x.layer_id, x.samples, x.mean, x.std) for x in s.layers] == [
        (x["layer_id"], x["samples"], x["mean"], x["std"]) for x in sj["layers"]
    ]
    assert (s.increasing_trends, s.decreasing_trends, s.flat_trends) == (
        sj["trends"]["increasing"],
        sj["trends"]["decreasing"],
        sj["trends"]["flat"],
    )


async def test_get_anomalies_pages_match_server(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession
) -> None:
    await nan_anomalies(http, "m-nan-unary", 5)
    resp = await stub.GetAnomalies(pb.GetAnomaliesRequest(model_id="m-nan-unary", limit=3))
    doc = await get_json(http, "/api/anomalies", model_id="m-nan-unary", limit="3")
    assert [a.sequence for a in resp.anomalies] == [a["sequence"] for a in doc["anomalies"]]
    a, aj = resp.anomalies[0], doc["anomalies"][0]
    assert a.severity == common_pb2.SEVERITY_CRITICAL and aj["severity"] == "critical"
    assert a.anomaly_type == analytics_pb2.ANOMALY_TYPE_NON_FINITE
    assert a.anomaly_type_name == aj["anomaly_type"] == "non_finite"
    # Integers stay integers, JSON null stays null (no kind set).
    assert a.metadata["unit"].WhichOneof("kind") == "int_value"
    assert a.metadata["unit"].int_value == aj["metadata"]["unit"] == 0  # the NaN unit
    assert aj["metadata"]["step"] is None and a.metadata["step"].WhichOneof("kind") is None
    assert (a.model_id, a.layer, a.description) == (aj["model_id"], aj["layer"], aj["description"])
    assert a.timestamp.ToNanoseconds() == round(aj["timestamp"] * 1e9)
    assert resp.last_sequence == doc["last_sequence"]
    after = resp.anomalies[0].sequence - 1
    page = await stub.GetAnomalies(pb.GetAnomaliesRequest(after_sequence=after, limit=2))
    pj = await get_json(http, "/api/anomalies", after_sequence=str(after), limit="2")
    assert [x.sequence for x in page.anomalies] == [x["sequence"] for x in pj["anomalies"]]
    crit = await stub.GetAnomalies(
        pb.GetAnomaliesRequest(min_severity=common_pb2.SEVERITY_HIGH, model_id="m-nan-unary")
    )
    assert len(crit.anomalies) == 5


async def test_view_state_round_trips(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession
) -> None:
    flt = view_pb2.Filter(
        model_ids=["m-a"],
        layer_ids=["l1", "l2"],
        intensity_range=view_pb2.IntensityRange(min=-1.0, max=2.5),
        spatial_bounds=view_pb2.SpatialBounds(min_x=0, min_y=0, max_x=4, max_y=3),
    )
    flt.time_range.start.FromMilliseconds(1_700_000_000_000)
    flt.time_range.end.FromMilliseconds(1_700_000_100_000)
    try:
        set_resp = await stub.SetFilter(pb.SetFilterRequest(filter=flt))
        assert set_resp.filter == flt
        assert (await stub.GetFilter(pb.GetFilterRequest())).filter == flt
        server_view = await get_json(http, "/api/filter")
        assert server_view["time_range"] == [1_700_000_000_000, 1_700_000_100_000]
        assert server_view["model_ids"] == ["m-a"]
    finally:
        await stub.ClearFilter(pb.ClearFilterRequest())
    assert (await stub.GetFilter(pb.GetFilterRequest())).filter == view_pb2.Filter()

    theme = await stub.SetTheme(
        pb.SetThemeRequest(theme=view_pb2.THEME_CUSTOM, custom_colors=["#000000", "#ff8800"])
    )
    assert theme.theme.theme == view_pb2.THEME_CUSTOM
    got_theme = (await stub.GetTheme(pb.GetThemeRequest())).theme
    assert list(got_theme.custom_colors) == ["#000000", "#ff8800"]
    assert (await get_json(http, "/api/theme"))["theme"] == "custom"

    layout = view_pb2.Layout(z_order=["heatmap", "anomalies"])
    layout.panel_positions["heatmap"].x = 10
    layout.panel_positions["heatmap"].y = 20
    layout.panel_sizes["heatmap"].width = 300
    layout.panel_sizes["heatmap"].height = 200
    layout.visibility["anomalies"] = False
    assert (await stub.SetLayout(pb.SetLayoutRequest(layout=layout))).layout == layout
    assert (await stub.GetLayout(pb.GetLayoutRequest())).layout == layout
    lj = await get_json(http, "/api/layout")
    assert json_format.MessageToDict(layout)["panelPositions"]["heatmap"] == {"x": 10, "y": 20}
    assert (lj.get("layout") or lj)["panel_positions"]["heatmap"] == {"x": 10, "y": 20}


async def test_compare_models_matches_server(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession, loaded: Any
) -> None:
    resp = await stub.CompareModels(pb.CompareModelsRequest(model_ids=["m-a", "m-b"]))
    async with http.post("/api/compare", json={"model_ids": ["m-a", "m-b"]}) as r:
        doc = await r.json()
    c = resp.comparison
    np.testing.assert_array_equal(
        as_array(c.similarity_matrix), np.asarray(doc["similarity_matrix"], dtype="<f8")
    )
    assert list(c.model_ids) == doc["model_ids"] and c.steps == doc["steps"]
    assert {m.metric: dict(m.values) for m in c.metrics} == doc["per_metric"]
    assert len(c.layer_similarity) == len(doc["layer_similarity"])


async def test_export_list_and_download_bytes(
    stub: pb_grpc.NeuralHeatmapServiceStub, server: ServerProcess, loaded: Any
) -> None:
    resp = await stub.ExportCorrelationMatrix(
        pb.ExportCorrelationMatrixRequest(
            filename="bridge-test.csv", format=export_pb2.EXPORT_FORMAT_CSV, model_ids=["m-a"]
        )
    )
    assert resp.result.format == export_pb2.EXPORT_FORMAT_CSV
    name = resp.result.files[0].name
    listed = await stub.ListExports(pb.ListExportsRequest())
    assert name in {f.name for f in listed.files}
    chunks = [c async for c in stub.DownloadExport(pb.DownloadExportRequest(name=name))]
    data = b"".join(c.chunk for c in chunks)
    assert data == (Path(server.export_dir) / name).read_bytes()
    assert chunks[0].total_size == len(data) == resp.result.files[0].size


async def test_request_id_reaches_the_server_log(
    stub: pb_grpc.NeuralHeatmapServiceStub, server: ServerProcess
) -> None:
    # Not a cached read: an answer from the bridge's read cache never reaches the server.
    await stub.ListExports(pb.ListExportsRequest(), metadata=(("x-request-id", "bridge-rid-42"),))
    assert "request_id=bridge-rid-42" in server.log()
