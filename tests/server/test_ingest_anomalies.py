"""Ingestion (JSON, binary), discovery, every anomaly type, and the log's paging."""

from __future__ import annotations

import numpy as np

from tests.server.conftest import FAST_ARGS, Api, unique
from tests.support.server_process import ServerProcess


def _anomalies(api: Api, model: str) -> list[dict]:
    return api.get(f"/api/anomalies?model_id={model}&limit=10000")["anomalies"]


def test_json_ingest_nan_tokens_and_discovery(api: Api) -> None:
    model = unique("json")
    status, _, body = api.request(
        "POST", "/api/activations",
        raw=(b'{"frames": [{"model_id": "%s", "layer_id": "l", "values": [1, NaN, Infinity, 2,'
             b' 3], "timestamp": 1.7e9, "step": 3}, {"model_id": "%s", "layer_id": "l",'
             b' "values": ["NaN", "-Infinity", 0.5, 1, 2]}]}' % (model.encode(), model.encode())),
        headers={"Content-Type": "application/json"})
    assert status == 200 and b'"accepted":2' in body
    assert api.post("/api/activations", {"model_id": model, "layer_id": "k",
                                         "values": [0.5] * 10}) == {"accepted": 1}
    docs = {m["model_id"]: m for m in api.get("/api/models?include_units=true")["models"]}
    doc = docs[model]
    assert doc["frames"] == 3
    layers = {layer["layer_id"]: layer for layer in doc["layers"]}
    assert layers["l"]["units"] == 5 and layers["l"]["width"] == 3 and layers["l"]["height"] == 2
    assert layers["k"]["width"] == 4 and layers["k"]["height"] == 3
    assert layers["l"]["units_detail"][4] == {"index": 4, "x": 1, "y": 1}
    assert "units_detail" not in api.get("/api/models")["models"][0]["layers"][0]
    found = _anomalies(api, model)
    non_finite = [a for a in found if a["anomaly_type"] == "non_finite"]
    assert non_finite and all(a["severity"] == "critical" for a in non_finite)
    assert non_finite[0]["location"] == {"x": 1, "y": 0} and non_finite[0]["layer"] == "l"
    assert model in non_finite[0]["description"]


def test_bad_frames_store_nothing(api: Api) -> None:
    model = unique("bad")
    api.post("/api/activations", {"model_id": model, "layer_id": "l", "values": [1.0, 2.0]})
    bad_requests = [
        {"frames": [{"model_id": model, "layer_id": "l", "values": [1.0, 2.0]},
                    {"model_id": model, "layer_id": "l", "values": [1.0, 2.0, 3.0]}]},
        {"frames": [{"model_id": model, "layer_id": "new", "values": [1.0]},
                    {"model_id": model, "layer_id": "l", "values": ["one", 2.0]}]},
        {"model_id": model, "layer_id": "l", "values": []},
        {"model_id": model, "layer_id": "l", "values": [[1.0, 2.0]]},
        {"model_id": model, "layer_id": "l", "values": [1.0, 2.0], "timestamp": "now"},
        {"model_id": model, "layer_id": "l", "values": [1.0, 2.0], "step": 1.5},
        {"model_id": "", "layer_id": "l", "values": [1.0]},
        {"layer_id": "l", "values": [1.0]},
        [1, 2, 3],
    ]
    for body in bad_requests:
        status, err = api.call("POST", "/api/activations", body)
        assert status == 400 and err["error"]["code"] == "invalid_argument", (body, err)
    status, err = api.call("POST", "/api/activations", bad_requests[0])
    assert err["error"]["details"]["index"] == 1
    status, _, _ = api.request("POST", "/api/activations", raw=b"{nope",
                               headers={"Content-Type": "application/json"})
    assert status == 400
    too_many = {"frames": [{"model_id": model, "layer_id": "l", "values": [1.0, 2.0]}] * 10001}
    status, err = api.call("POST", "/api/activations", too_many)
    assert status == 413 and err["error"]["code"] == "payload_too_large"
    docs = {m["model_id"]: m for m in api.get("/api/models")["models"]}
    assert docs[model]["frames"] == 1 and len(docs[model]["layers"]) == 1


def test_binary_ingest_and_errors(api: Api) -> None:
    model = unique("bin")
    frames = np.arange(12, dtype=np.float32).reshape(3, 4)
    api.ingest_series(model, "l", frames)
    ctype = {"Content-Type": "application/vnd.neural-heatmap.frames"}
    for query, raw in [(f"model_id={model}&layer_id=l&units=4", b"\0" * 10),
                       (f"model_id={model}&layer_id=l&units=5", b"\0" * 36),
                       (f"model_id={model}&units=4", b"\0" * 32),
                       (f"model_id={model}&layer_id=l&units=x", b"\0" * 32)]:
        status, _, body = api.request("POST", f"/api/activations?{query}", raw=raw, headers=ctype)
        assert status == 400, (query, body)
    docs = {m["model_id"]: m for m in api.get("/api/models")["models"]}
    assert docs[model]["frames"] == 3
    corr = api.get(f"/api/correlation?model_ids={model}&layer_ids=l&granularity=unit")
    assert len(corr["labels"]) == 4


def test_every_detector(api: Api) -> None:
    model = unique("det")
    rng = np.random.default_rng(4)
    base = rng.normal(0, 0.1, (40, 16)).astype(np.float32)
    api.ingest_series(model, "relu", np.maximum(base, 0) + 0.01)
    dead = np.maximum(base[:10], 0) + 0.01
    dead[:, :12] = 0.0  # 12 of 16 units dead for 10 frames -> 0.75 -> high
    api.ingest_series(model, "relu", dead, t0=1.7e9 + 10)
    api.ingest_series(model, "tanh", np.tanh(base))
    sat = np.tanh(base[:1])
    sat[0, :15] = 1.0  # 15/16 = 0.94 -> critical
    api.ingest_series(model, "tanh", sat, t0=1.7e9 + 10)
    api.ingest_series(model, "big", base)
    boom = base[:1].copy()
    boom[0, 5] = 5000.0  # |activation| 5000 -> high
    api.ingest_series(model, "big", boom, t0=1.7e9 + 10)
    spiky = base[:1] + 3.0  # mean jumps by 3 where MAD is ~0.02
    api.ingest_series(model, "spiky", base)
    api.ingest_series(model, "spiky", spiky, t0=1.7e9 + 10)
    found = {(a["layer"], a["anomaly_type"]): a for a in _anomalies(api, model)}
    assert found[("relu", "dead_units")]["severity"] == "high"
    assert found[("relu", "dead_units")]["location"] == {"x": 0, "y": 0}
    assert found[("tanh", "saturation")]["severity"] == "critical"
    assert found[("big", "exploding")]["severity"] == "high"
    assert found[("big", "exploding")]["location"] == {"x": 1, "y": 1}
    assert found[("big", "exploding")]["score"] == 5000.0
    assert found[("spiky", "spike")]["severity"] == "critical"
    for a in found.values():
        assert a["model_id"] == model and a["description"] and isinstance(a["sequence"], int)


def test_anomaly_paging_and_filters(api: Api) -> None:
    model = unique("page")
    for i in range(5):
        api.post("/api/activations", {"model_id": model, "layer_id": "l", "step": i,
                                      "values": [float("nan") if i % 2 else 100.0, 1.0]})
    mine = _anomalies(api, model)
    seqs = [a["sequence"] for a in mine]
    assert seqs == sorted(seqs) and len(seqs) == 5
    doc = api.get(f"/api/anomalies?model_id={model}&limit=2")
    assert [a["sequence"] for a in doc["anomalies"]] == seqs[-2:]
    assert doc["last_sequence"] >= seqs[-1] and doc["first_sequence"] >= 1
    doc = api.get(f"/api/anomalies?model_id={model}&limit=2&after_sequence={seqs[0]}")
    assert [a["sequence"] for a in doc["anomalies"]] == seqs[1:3]
    crit = api.get(f"/api/anomalies?model_id={model}&severity=critical")["anomalies"]
    assert len(crit) == 2 and all(a["anomaly_type"] == "non_finite" for a in crit)
    assert len(api.get(f"/api/anomalies?model_id={model}&min_severity=low")["anomalies"]) == 5
    for query in ["severity=awful", "min_severity=x", "limit=0", "limit=10001",
                  "after_sequence=-1", "limit=abc"]:
        status, err = api.call("GET", f"/api/anomalies?{query}")
        assert status == 400, (query, err)


def test_layer_limit_bounds_memory() -> None:
    with ServerProcess(extra_args=[*FAST_ARGS, "--max-layers", "2"]) as server:
        api = Api(server)
        api.post("/api/activations", {"model_id": "m", "layer_id": "a", "values": [1.0]})
        status, err = api.call("POST", "/api/activations", {"frames": [
            {"model_id": "m", "layer_id": "b", "values": [1.0]},
            {"model_id": "m", "layer_id": "c", "values": [1.0]}]})
        assert status == 400 and err["error"]["details"]["limit"] == 2
        assert [layer["layer_id"] for layer in api.get("/api/models")["models"][0]["layers"]] \
            == ["a"]  # all or nothing: "b" was not created either
        api.post("/api/activations", {"model_id": "n", "layer_id": "b", "values": [1.0]})
        status, err = api.call("POST", "/api/activations",
                               {"model_id": "n", "layer_id": "c", "values": [1.0]})
        assert status == 400
        assert api.post("/api/activations", {"model_id": "m", "layer_id": "a",
                                             "values": [2.0]}) == {"accepted": 1}
