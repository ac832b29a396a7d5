"""The stored filter applied to what the views show: heatmaps and temporal queries."""

from __future__ import annotations

import json

import aiohttp
import numpy as np

from tests.server.conftest import Api, unique
from tests.server.test_ws import _ask, _next
from tests.support.server_process import ServerProcess

T0, RATE, N = 1.7e9, 50.0, 200


async def test_heatmap_honours_the_whole_filter(server: ServerProcess, api: Api) -> None:
    model, other = unique("filt"), unique("filt")
    # 16 units: a 4 x 4 canvas; the bounds keep x, y in [1, 2] = units 5, 6, 9, 10.
    api.post("/api/filter", {"model_ids": [model], "intensity_range": [0.0, 10.0],
                             "spatial_bounds": {"min_x": 1, "min_y": 1, "max_x": 2, "max_y": 2}})
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            await ws.send_str(json.dumps({"type": "subscribe_heatmap", "data": {}}))
            await _next(ws, "data", "subscribe_heatmap")

            def send(model_id: str, values: list[float], step: int) -> None:
                api.post("/api/activations", {"model_id": model_id, "layer_id": "l",
                                              "values": values, "step": step})

            send(other, [1.0] * 16, 1)  # not in the filter's model_ids: never sent
            values = [100.0] * 16
            values[5], values[6], values[9], values[10] = -1.0, 6.0, 9.0, 50.0
            send(model, values, 2)
            heat = await _next(ws, "heatmap_update")
            assert heat["model_id"] == model and heat["step"] == 2
            expected: list[float | None] = [None] * 16
            expected[6], expected[9] = 6.0, 9.0
            assert heat["values"] == expected
            assert heat["intensity"] == 7.5 and heat["location"] == {"x": 1, "y": 2}
            hidden = [5.0] * 16
            hidden[5] = hidden[6] = hidden[9] = hidden[10] = 11.0
            send(model, hidden, 3)  # every unit in bounds is out of range: not sent
            send(model, [4.0] * 16, 4)
            heat = await _next(ws, "heatmap_update")
            assert heat["step"] == 4 and heat["intensity"] == 4.0
            assert heat["location"] == {"x": 1, "y": 1}
            assert sum(v is not None for v in heat["values"]) == 4
            # A subscription naming models overrides the filter's model_ids.
            await ws.send_str(json.dumps({"type": "subscribe_heatmap",
                                          "data": {"model_ids": [other]}}))
            await _next(ws, "data", "subscribe_heatmap")
            send(other, [2.0] * 16, 5)
            heat = await _next(ws, "heatmap_update")
            assert heat["model_id"] == other and heat["step"] == 5
    finally:
        api.post("/api/filter", {})


def test_time_range_limits_temporal_queries(api: Api) -> None:
    model = unique("trange")
    rng = np.random.default_rng(4)
    series = np.where(np.arange(N) < 137, 0.0, 1.0) + rng.normal(0, 0.05, N)
    api.ingest_series(model, "step", np.tile(series.astype(np.float32)[:, None], (1, 4)),
                      t0=T0, rate=RATE)
    query = f"/api/temporal?model_id={model}&pattern_types=state_change"
    assert len(api.get(query)["patterns"]) == 1
    # The first 2 s (samples 0-100) hold no step.
    api.post("/api/filter", {"time_range": [T0 * 1000, (T0 + 2.01) * 1000]})
    try:
        assert api.get(query)["patterns"] == []
        stats = api.get(f"/api/temporal/stats?model_id={model}")["layers"][0]
        assert stats["samples"] == 101 and stats["state_changes"] == 0
        assert abs(stats["mean"] - float(series[:101].mean())) < 1e-6
        assert stats["max"] == float(series[:101].astype(np.float32).max())
        corr = api.get(f"/api/correlation?model_ids={model}")
        assert corr["metadata"]["start_time"] == T0
        api.post("/api/filter", {"time_range": [(T0 + 2.01) * 1000, (T0 + 10) * 1000]})
        found = api.get(query)["patterns"]
        assert len(found) == 1 and abs(found[0]["metadata"]["change_index"] - 36) <= 2
    finally:
        api.post("/api/filter", {})


def test_queries_see_the_filter_only_when_they_ask_or_omit_the_flag(api: Api) -> None:
    """``use_view_filter=false`` ignores the stored filter; absent (seed clients) or true
    applies it; the bridge always sends the flag."""
    model, other = unique("view"), unique("view")
    rng = np.random.default_rng(5)
    for m in (model, other):
        for layer in ("a", "b"):
            api.ingest_series(m, layer, rng.normal(0, 1, (N, 4)).astype(np.float32),
                              t0=T0, rate=RATE)
    api.post("/api/filter", {"model_ids": [model], "time_range": [T0 * 1000, (T0 + 1) * 1000]})
    try:
        seed, asked = api.get("/api/correlation"), api.get("/api/correlation?use_view_filter=true")
        assert seed["labels"] == asked["labels"] == [f"{model}/a", f"{model}/b"]
        assert seed["metadata"]["samples"] == 51
        own = api.get("/api/correlation?use_view_filter=false")
        assert {f"{model}/a", f"{other}/b"} <= set(own["labels"])
        assert own["metadata"]["start_time"] is None
        stats = f"/api/temporal/stats?model_id={other}"
        assert api.get(stats)["layers"][0]["samples"] == 51
        assert api.get(stats + "&use_view_filter=1")["layers"][0]["samples"] == 51
        assert api.get(stats + "&use_view_filter=false")["layers"][0]["samples"] == N
        status, doc = api.call("GET", stats + "&use_view_filter=maybe")
        assert status == 400 and doc["error"]["details"]["field"] == "use_view_filter"
    finally:
        api.post("/api/filter", {})


async def test_websocket_queries_and_exports_follow_the_same_view_filter_rule(
        server: ServerProcess, api: Api) -> None:
    model, other = unique("wsview"), unique("wsview")
    rng = np.random.default_rng(6)
    for m in (model, other):
        for layer in ("a", "b"):
            api.ingest_series(m, layer, rng.normal(0, 1, (20, 4)).astype(np.float32))
    api.post("/api/filter", {"model_ids": [model]})
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            seed = await _ask(ws, "get_correlation_matrix")
            own = await _ask(ws, "get_correlation_matrix", {"use_view_filter": False})
        assert seed["data"]["labels"] == [f"{model}/a", f"{model}/b"]
        assert f"{other}/a" in own["data"]["labels"]
        for use, name in ((None, f"{model}-seed.json"), (False, f"{model}-own.json")):
            api.post("/api/export/correlation", {"filename": name, "format": "json",
                                                 "use_view_filter": use})
        seed_labels = json.loads((server.export_dir / f"{model}-seed.json").read_text())["labels"]
        own_labels = json.loads((server.export_dir / f"{model}-own.json").read_text())["labels"]
        assert seed_labels == [f"{model}/a", f"{model}/b"]
        assert f"{other}/b" in own_labels
    finally:
        api.post("/api/filter", {})
