"""Temporal patterns and model comparison on known signals."""

from __future__ import annotations

import numpy as np

from tests.server.conftest import Api, unique

RATE, N = 50.0, 200  # 4 seconds at 50 Hz


def _frames(series: np.ndarray, units: int = 8) -> np.ndarray:
    return np.tile(series.astype(np.float32)[:, None], (1, units))


def _by_type(patterns: list[dict], kind: str) -> list[dict]:
    return [p for p in patterns if p["pattern_type"] == kind]


def test_periodic_trend_state_change(api: Api) -> None:
    rng = np.random.default_rng(2)
    model = unique("temp")
    t = np.arange(N) / RATE
    api.ingest_series(model, "sine", _frames(0.5 + 0.3 * np.sin(2 * np.pi * 2.0 * t + 0.3)
                                             + rng.normal(0, 0.01, N)))
    api.ingest_series(model, "ramp", _frames(-0.02 * np.arange(N) + rng.normal(0, 0.05, N)))
    step_at = 137
    api.ingest_series(model, "step", _frames(np.where(np.arange(N) < step_at, 0.0, 1.0)
                                             + rng.normal(0, 0.05, N)))
    patterns = api.get(f"/api/temporal?model_id={model}")["patterns"]
    for p in patterns:
        assert p["metadata"]["model_id"] == model
    periodic = [p for p in _by_type(patterns, "periodic") if p["metadata"]["layer_id"] == "sine"]
    assert len(periodic) == 1
    assert abs(periodic[0]["frequency"] - 2.0) < 0.04
    assert abs(periodic[0]["amplitude"] - 0.3) < 0.03 and periodic[0]["confidence"] > 0.9
    ramp = [p for p in _by_type(patterns, "trend") if p["metadata"]["layer_id"] == "ramp"]
    assert ramp and ramp[0]["metadata"]["slope"] < 0 and ramp[0]["metadata"]["r_squared"] > 0.9
    assert abs(ramp[0]["metadata"]["slope"] - (-0.02 * RATE)) < 0.05
    change = [p for p in _by_type(patterns, "state_change")
              if p["metadata"]["layer_id"] == "step"]
    assert len(change) == 1
    assert abs(change[0]["metadata"]["change_index"] - step_at) <= 2
    assert change[0]["start_time"] <= 1.7e9 + step_at / RATE <= change[0]["end_time"] + 1e-6
    assert not [p for p in patterns if p["metadata"]["layer_id"] == "ramp"
                and p["pattern_type"] == "state_change"]

    only = api.get(f"/api/temporal?model_id={model}&layer_id=sine&pattern_types=periodic")
    assert [p["pattern_type"] for p in only["patterns"]] == ["periodic"]
    windowed = api.get(f"/api/temporal?model_id={model}&layer_id=step&time_window=1000")
    assert not _by_type(windowed["patterns"], "state_change")  # the last second has no step

    stats = api.get(f"/api/temporal/stats?model_id={model}")
    assert stats["model_id"] == model
    by_layer = {s["layer_id"]: s for s in stats["layers"]}
    assert abs(by_layer["sine"]["dominant_frequency"] - 2.0) < 0.04
    assert by_layer["ramp"]["trend_slope"] < 0 and by_layer["step"]["state_changes"] == 1
    assert by_layer["sine"]["samples"] == N
    assert stats["trends"]["decreasing"] >= 1 and stats["periodicity"]["periodic_layers"] >= 1


def test_temporal_errors(api: Api) -> None:
    model = unique("terr")
    api.ingest_series(model, "l", _frames(np.zeros(10)))
    for path, code in [(f"/api/temporal?model_id={model}&pattern_types=wobble", 400),
                       ("/api/temporal?model_id=absent", 404),
                       (f"/api/temporal?model_id={model}&layer_id=absent", 404),
                       (f"/api/temporal?model_id={model}&time_window=-5", 400),
                       ("/api/temporal/stats?model_id=absent", 404)]:
        status, body = api.call("GET", path)
        assert status == code, (path, body)


def test_compare_rotated_copy(api: Api) -> None:
    rng = np.random.default_rng(3)
    a, b, c = unique("cmpa"), unique("cmpb"), unique("cmpc")
    q, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    for layer in ("fc1", "fc2"):
        x = rng.normal(0, 1, (120, 32)).astype(np.float32)
        api.ingest_series(a, layer, x)
        api.ingest_series(b, layer, (x @ q).astype(np.float32))
        api.ingest_series(c, layer, np.maximum(rng.normal(0, 1, (120, 32)), 0).astype(np.float32))
    doc = api.post("/api/compare", {"model_ids": [a, b, c]})
    sim = np.array(doc["similarity_matrix"])
    assert sim.shape == (3, 3) and np.allclose(np.diag(sim), 1.0)
    assert sim[0, 1] > 0.99 and sim[0, 2] < 0.9
    assert doc["steps"] == 120 and doc["metrics"] == ["cka", "mean_activation", "sparsity"]
    pairs = {(s["model_a"], s["layer_a"], s["model_b"], s["layer_b"]): s["cka"]
             for s in doc["layer_similarity"]}
    assert pairs[(a, "fc1", b, "fc1")] > 0.99
    assert doc["per_metric"]["sparsity"][c] > 0.3 and doc["per_metric"]["sparsity"][a] == 0.0
    assert abs(doc["per_metric"]["mean_activation"][a]) < 0.1

    only = api.post("/api/compare", {"model_ids": [a, b], "metrics": ["sparsity"]})
    assert list(only["per_metric"]) == ["sparsity"]
    for body, code in [({"model_ids": [a]}, 400), ({"model_ids": [a, "ghost"]}, 404),
                       ({"model_ids": [a, b], "metrics": ["vibes"]}, 400), ([1, 2], 400)]:
        status, err = api.call("POST", "/api/compare", body)
        assert status == code, (body, err)


def test_several_state_changes_and_none_on_noise(api: Api) -> None:
    model = unique("steps")
    rng = np.random.default_rng(8)
    index = np.arange(N)
    levels = np.select([index < 60, index < 140], [0.0, 1.0], -0.5)
    api.ingest_series(model, "two", _frames(levels + rng.normal(0, 0.05, N)))
    for seed in range(5):
        noise = np.random.default_rng(100 + seed).normal(0, 0.05, N)
        api.ingest_series(model, f"noise{seed}", _frames(noise))
    patterns = api.get(f"/api/temporal?model_id={model}&pattern_types=state_change")["patterns"]
    assert {p["metadata"]["layer_id"] for p in patterns} == {"two"}
    assert [abs(p["metadata"]["change_index"] - at) <= 2
            for p, at in zip(patterns, (60, 140), strict=True)] == [True, True]
    first, second = patterns
    assert abs(first["metadata"]["level_before"]) < 0.05
    assert abs(first["metadata"]["level_after"] - 1.0) < 0.05
    assert abs(second["metadata"]["level_after"] + 0.5) < 0.05
    assert first["metadata"]["level_after"] == second["metadata"]["level_before"]
    for p, at in zip(patterns, (60, 140), strict=True):
        assert p["start_time"] < p["end_time"] and p["confidence"] > 0.9
        assert abs(p["end_time"] - (1.7e9 + at / RATE)) <= 2 / RATE + 1e-6
    stats = {s["layer_id"]: s for s in api.get(f"/api/temporal/stats?model_id={model}")["layers"]}
    assert stats["two"]["state_changes"] == 2
    assert all(stats[f"noise{seed}"]["state_changes"] == 0 for seed in range(5))
