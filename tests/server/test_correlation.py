"""Correlation against known signals, numpy.corrcoef, binary answers and bad input."""

from __future__ import annotations

import json
import struct
from urllib.parse import quote

import numpy as np

from tests.server.conftest import Api, unique

N, UNITS = 200, 16


def _layer_frames(signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frames whose per-frame mean is exactly ``signal`` (zero-mean unit offsets)."""
    offsets = rng.normal(0, 1, UNITS)
    offsets -= offsets.mean()
    return (signal[:, None] + offsets[None, :]).astype(np.float32)


def _setup(api: Api) -> tuple[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    model = unique("corr")
    base = rng.normal(0, 1, N)
    layers = {"same1": _layer_frames(base, rng), "same2": _layer_frames(base, rng),
              "neg": _layer_frames(-base, rng), "noise": _layer_frames(rng.normal(0, 1, N), rng)}
    for layer, frames in layers.items():
        api.ingest_series(model, layer, frames)
    return model, layers


def test_known_signals_and_corrcoef(api: Api) -> None:
    model, layers = _setup(api)
    doc = api.get(f"/api/correlation?model_ids={model}")
    labels = doc["labels"]
    assert labels == [f"{model}/{name}" for name in layers]
    m = np.array(doc["matrix"])
    idx = {name: i for i, name in enumerate(layers)}
    assert m[idx["same1"], idx["same2"]] > 0.999
    assert m[idx["same1"], idx["neg"]] < -0.999
    assert abs(m[idx["same1"], idx["noise"]]) < 0.3
    expected = np.corrcoef(np.vstack([f.mean(axis=1, dtype=np.float64) for f in layers.values()]))
    np.testing.assert_allclose(m, expected, atol=1e-5)
    meta = doc["metadata"]
    assert meta["granularity"] == "layer" and meta["samples"] == N
    assert meta["alignment"] == "step" and meta["model_ids"] == [model]


def test_binary_matrix_equals_json(api: Api) -> None:
    model, _ = _setup(api)
    doc = api.get(f"/api/correlation?model_ids={model}")
    status, headers, body = api.request(
        "GET", f"/api/correlation?model_ids={model}",
        headers={"Accept": "application/vnd.neural-heatmap.matrix"})
    assert status == 200 and headers["Content-Type"].startswith(
        "application/vnd.neural-heatmap.matrix")
    (hlen,) = struct.unpack_from("<I", body)
    header = json.loads(body[4:4 + hlen])
    n = len(header["labels"])
    assert header["shape"] == [n, n] and header["dtype"] == "float32"
    assert header["labels"] == doc["labels"] and header["metadata"]["samples"] == N
    matrix = np.frombuffer(body[4 + hlen:], dtype="<f4").reshape(n, n)
    np.testing.assert_allclose(matrix, np.array(doc["matrix"]), atol=1e-6)


def test_unit_mode_time_range_and_layers(api: Api) -> None:
    model, layers = _setup(api)
    doc = api.get(f"/api/correlation?model_ids={model}&layer_ids=same1,neg&granularity=unit"
                  f"&start_time={1.7e9 + 1.0}&end_time={1.7e9 + 3.0}")
    assert len(doc["labels"]) == 2 * UNITS and doc["labels"][0] == f"{model}/same1/0"
    keep = slice(50, 151)  # t0 + 1 s .. t0 + 3 s at 50 Hz, inclusive
    data = np.vstack([layers["same1"][keep].T, layers["neg"][keep].T]).astype(np.float64)
    np.testing.assert_allclose(np.array(doc["matrix"]), np.corrcoef(data), atol=1e-5)
    assert doc["metadata"]["samples"] == 101


def test_constant_series_is_zero_not_nan(api: Api) -> None:
    model = unique("const")
    api.ingest_series(model, "flat", np.ones((30, 4), np.float32))
    api.ingest_series(model, "ramp", np.tile(np.arange(30, dtype=np.float32)[:, None], (1, 4)))
    doc = api.get(f"/api/correlation?model_ids={model}")
    assert doc["matrix"] == [[1.0, 0.0], [0.0, 1.0]]
    assert doc["metadata"]["constant_labels"] == [f"{model}/flat"]


def test_fewer_than_two_series_and_errors(api: Api) -> None:
    model = unique("one")
    api.ingest_series(model, "only", np.ones((5, 2), np.float32))
    doc = api.get(f"/api/correlation?model_ids={model}")
    assert doc["matrix"] == [] and doc["labels"] == []
    for path, status in [
        ("/api/correlation?model_ids=nope", 404),
        (f"/api/correlation?model_ids={model}&layer_ids=missing", 404),
        (f"/api/correlation?model_ids={model}&granularity=cell", 400),
        (f"/api/correlation?model_ids={model}&start_time=5&end_time=1", 400),
        (f"/api/correlation?model_ids={model}&start_time=abc", 400),
    ]:
        code, body = api.call("GET", path)
        assert code == status, (path, body)
        assert set(body["error"]) == {"code", "message", "details"}


def test_filter_fallback(api: Api) -> None:
    model, _ = _setup(api)
    api.post("/api/filter", {"model_ids": [model], "layer_ids": ["same1", "neg"]})
    try:
        doc = api.get("/api/correlation")
        assert doc["labels"] == [f"{model}/same1", f"{model}/neg"]
    finally:
        api.call("DELETE", "/api/filter")


def test_pairwise_alignment_short_model(api: Api) -> None:
    """A model with 5 steps next to one with 200 does not cut the long model's block."""
    rng = np.random.default_rng(7)
    long_model, short_model, single = unique("long"), unique("short"), unique("single")
    sine = np.sin(np.arange(N) * 2 * np.pi / 37.0)
    a = {"a1": _layer_frames(sine, rng), "a2": _layer_frames(sine, rng),
         "a3": _layer_frames(-sine, rng)}
    for layer, frames in a.items():
        api.ingest_series(long_model, layer, frames)
    b = _layer_frames(rng.normal(0, 1, 5), rng)
    api.ingest_series(short_model, "b1", b)
    api.ingest_series(single, "c1", _layer_frames(np.array([3.0]), rng))
    doc = api.get(f"/api/correlation?model_ids={long_model},{short_model},{single}")
    labels = doc["labels"]
    m = np.array(doc["matrix"])
    ix = {label.split("/")[1]: i for i, label in enumerate(labels)}
    assert m[ix["a1"], ix["a2"]] > 0.999 and m[ix["a1"], ix["a3"]] < -0.999
    means = {name: f.mean(axis=1, dtype=np.float64) for name, f in a.items()}
    own = np.corrcoef(np.vstack(list(means.values())))
    a_ix = [ix[name] for name in a]
    np.testing.assert_allclose(m[np.ix_(a_ix, a_ix)], own, atol=1e-5)
    cross = np.corrcoef(np.vstack([means["a1"][:5], b.mean(axis=1, dtype=np.float64)]))[0, 1]
    assert abs(m[ix["a1"], ix["b1"]] - cross) < 1e-5
    assert m[ix["b1"], ix["a1"]] == m[ix["a1"], ix["b1"]]
    assert m[ix["a1"], ix["c1"]] == 0.0 and m[ix["c1"], ix["c1"]] == 1.0
    meta = doc["metadata"]
    assert meta["pairwise"] is True and meta["alignment"] == "mixed"
    assert meta["samples"] == 1 and meta["max_samples"] == N
    groups = {tuple(g["labels"]): g for g in meta["groups"]}
    assert groups[tuple(f"{long_model}/{name}" for name in a)]["samples"] == N
    assert groups[(f"{short_model}/b1",)]["samples"] == 5
    g_long, g_short = (meta["groups"].index(groups[key]) for key in
                       (tuple(f"{long_model}/{name}" for name in a), (f"{short_model}/b1",)))
    blocks = {tuple(sorted(c["groups"])): c for c in meta["cross_blocks"]}
    ab = blocks[tuple(sorted((g_long, g_short)))]
    assert ab["alignment"] == "step" and ab["samples"] == 5
    assert [f"{long_model}/a1", f"{single}/c1"] in meta["insufficient_pairs"]
    assert [f"{long_model}/a1", f"{short_model}/b1"] not in meta["insufficient_pairs"]


def test_shared_steps_keep_single_alignment(api: Api) -> None:
    """Same step sets across models: one global alignment, metadata says not pairwise."""
    model, _ = _setup(api)
    other = unique("other")
    api.ingest_series(other, "x", _layer_frames(np.cos(np.arange(N)), np.random.default_rng(3)))
    meta = api.get(f"/api/correlation?model_ids={model},{other}")["metadata"]
    assert meta["pairwise"] is False and meta["alignment"] == "step"
    assert meta["samples"] == N and meta["insufficient_pairs"] == []


def test_the_repeated_form_selects_like_the_seeds_comma_list(api: Api) -> None:
    """``model_id`` (repeatable) names one id per occurrence; ``model_ids`` is the seed's
    comma list; ids cannot contain a comma (the id rule), so both name the same models."""
    rng = np.random.default_rng(7)
    first, second = unique("ca"), unique("cb")
    for model in (first, second):
        for layer in ("x", "y"):
            api.ingest_series(model, layer, rng.normal(0, 1, (20, 4)).astype(np.float32))
    status, doc = api.call("POST", "/api/activations", body={
        "model_id": f"{first},{second}", "layer_id": "x", "values": [1.0, 2.0, 3.0, 4.0]})
    assert status == 400 and doc["error"]["details"]["field"] == "model_id"
    exact = api.get(f"/api/correlation?model_id={second}&model_id={first}&layer_id=x")
    assert exact["labels"] == [f"{second}/x", f"{first}/x"]
    seed = api.get(f"/api/correlation?model_ids={second},{first}&layer_ids=x")
    assert seed["labels"] == exact["labels"]
    status, doc = api.call("GET", f"/api/correlation?model_id={quote(first + ',' + second)}")
    assert status == 404 and doc["error"]["details"]["model_id"] == f"{first},{second}"
    status, doc = api.call("GET", f"/api/correlation?model_ids={first}&model_id={second}")
    assert status == 400 and doc["error"]["details"]["constraint"] == "model_ids xor model_id"
    status, doc = api.call("GET", f"/api/temporal?model_id={first}&model_id={second}")
    assert status == 400 and doc["error"]["details"]["field"] == "model_id"


def test_named_layers_come_back_in_the_order_named(api: Api) -> None:
    """Rows follow the request, not the order the layers' first frames arrived in."""
    rng = np.random.default_rng(11)
    model = unique("order")
    for layer in ("d", "b", "c", "a"):
        api.ingest_series(model, layer, rng.normal(0, 1, (20, 4)).astype(np.float32))
    named = api.get(f"/api/correlation?model_ids={model}&layer_ids=a,b,c,d")
    assert named["labels"] == [f"{model}/{x}" for x in "abcd"]
    reordered = api.get(f"/api/correlation?model_ids={model}&layer_ids=c,{model}/a")
    assert reordered["labels"] == [f"{model}/c", f"{model}/a"]
    unnamed = api.get(f"/api/correlation?model_ids={model}")
    assert unnamed["labels"] == [f"{model}/{x}" for x in "dbca"]
