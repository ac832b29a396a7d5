"""Per-unit temporal analysis and per-unit layer health on planted signals (issue 22)."""

from __future__ import annotations

import numpy as np

from tests.server.conftest import Api, unique

RATE, N, UNITS = 50.0, 200, 64  # 4 s at 50 Hz: one periodogram bin is 0.25 Hz
BIN_HZ = RATE / N
WIDTH = 8  # canvas columns of a 64-unit layer


def oscillating_layer(unit: int, hz: float, seed: int) -> np.ndarray:
    """63 noisy units and one that oscillates at ``hz`` through the same noise."""
    rng = np.random.default_rng(seed)
    frames = rng.normal(0.0, 0.1, (N, UNITS))
    frames[:, unit] += 0.5 * np.sin(2 * np.pi * hz * np.arange(N) / RATE + 0.4)
    return frames.astype(np.float32)


def test_one_oscillating_unit_among_64_is_named_with_its_frequency(api: Api) -> None:
    model = unique("osc")
    api.ingest_series(model, "fc", oscillating_layer(41, 3.0, seed=7))
    query = f"model_id={model}&layer_id=fc"
    # The layer's mean hides it: that is why the unit granularity exists.
    layer = api.get(f"/api/temporal?{query}&pattern_types=periodic")["patterns"]
    assert layer == []

    stats = api.get(f"/api/temporal/stats?{query}&granularity=unit")
    assert stats["granularity"] == "unit"
    assert [u["unit"] for u in stats["units"]] == list(range(UNITS))
    [osc] = stats["oscillating_units"]
    assert (osc["unit"], osc["location"]) == (41, {"x": 41 % WIDTH, "y": 41 // WIDTH})
    assert abs(osc["frequency"] - 3.0) <= BIN_HZ
    assert osc["periodicity_strength"] > 0.8 and abs(osc["amplitude"] - 0.5) < 0.05
    assert stats["periodicity"]["periodic_units"] == 1
    unit41 = stats["units"][41]
    assert unit41["periodic"] and abs(unit41["dominant_frequency"] - 3.0) <= BIN_HZ
    assert unit41["samples"] == N and abs(unit41["std"] - np.sqrt(0.125 + 0.01)) < 0.03
    assert not any(u["periodic"] for u in stats["units"] if u["unit"] != 41)

    patterns = api.get(f"/api/temporal?{query}&granularity=unit&pattern_types=periodic")
    [found] = patterns["patterns"]
    assert found["unit"] == 41 and found["metadata"]["unit"] == 41
    assert found["location"] == {"x": 1, "y": 5}
    assert abs(found["frequency"] - 3.0) <= BIN_HZ

    chosen = api.get(f"/api/temporal/stats?{query}&granularity=unit&unit=0-3,41,60-63")
    assert [u["unit"] for u in chosen["units"]] == [0, 1, 2, 3, 41, 60, 61, 62, 63]
    assert [u["unit"] for u in chosen["oscillating_units"]] == [41]
    assert chosen["layers"][0]["layer_id"] == "fc"  # the layer's own line stays


def test_unit_selector_bounds(api: Api) -> None:
    model = unique("sel")
    api.ingest_series(model, "fc", oscillating_layer(0, 3.0, seed=1)[:20])
    api.ingest_series(model, "wide", np.zeros((10, 5000), np.float32))
    base = f"model_id={model}&layer_id=fc"
    cases = [
        (f"/api/temporal?{base}&unit=3", "granularity=unit"),
        (f"/api/temporal/stats?{base}&granularity=layer&unit=3", "granularity=unit"),
        (f"/api/temporal?{base}&granularity=unit&unit=64", "has 64 units"),
        (f"/api/temporal/stats?{base}&granularity=unit&unit=0-99999999999", "has 64 units"),
        (f"/api/temporal?{base}&granularity=unit&unit=9-3", "runs backwards"),
        (f"/api/temporal?{base}&granularity=unit&unit=a", "unit indices and inclusive"),
        (f"/api/temporal?{base}&granularity=unit&unit=1,,2", "unit indices and inclusive"),
        (f"/api/temporal?{base}&granularity=cells", "granularity"),
        (f"/api/temporal?model_id={model}&granularity=unit", "--max-matrix-labels"),
        (f"/api/temporal/stats?model_id={model}&layer_id=wide&granularity=unit",
         "--max-matrix-labels"),
        (f"/api/layers/health?model_id={model}", "--max-matrix-labels"),
        (f"/api/layers/health?model_id={model}&top_k=100000", "top_k"),
    ]
    for path, words in cases:
        status, body = api.call("GET", path)
        assert status == 400, (path, body)
        assert words in body["error"]["message"], (path, body)
    status, body = api.call("GET", f"/api/temporal?{base}&granularity=unit&unit=1&unit=2")
    assert status == 400 and "more than once" in body["error"]["message"]
    ok = api.get(f"/api/temporal/stats?model_id={model}&layer_id=wide&granularity=unit"
                 "&unit=4990-4999")
    assert [u["unit"] for u in ok["units"]] == list(range(4990, 5000))
    assert ok["units"][0]["location"] == {"x": 4990 % 71, "y": 4990 // 71}


def test_health_names_dead_saturated_and_spiking_units(api: Api) -> None:
    model = unique("health")
    rng = np.random.default_rng(11)
    relu = (np.abs(rng.normal(0.0, 1.0, (N, UNITS))) + 0.05).astype(np.float32)
    relu[120:, 37] = 0.0  # dies at step 120
    relu[:, 2] = 0.0  # dead from the start
    relu[-1, 12] = 40.0  # one spike in the newest frame
    api.ingest_series(model, "relu", relu)
    tanh = np.clip(rng.normal(0.0, 0.3, (N, UNITS)), -0.9, 0.9).astype(np.float32)
    tanh[150:, 5] = 0.995
    tanh[:, 9] = -1.0
    api.ingest_series(model, "tanh", tanh)

    doc = api.get(f"/api/layers/health?model_id={model}&top_k=3")
    by_layer = {h["layer_id"]: h for h in doc["layers"]}
    relu_h, tanh_h = by_layer["relu"], by_layer["tanh"]
    assert (relu_h["units"], relu_h["frames"]) == (UNITS, N)
    assert [d["unit"] for d in relu_h["dead_units"]] == [2, 37] and relu_h["dead_count"] == 2
    from_start, dead = relu_h["dead_units"]
    assert dead["location"] == {"x": 37 % WIDTH, "y": 37 // WIDTH}
    assert (dead["since_step"], dead["frames"], dead["since_window_start"]) == (120, 80, False)
    assert abs(dead["since"] - (1.7e9 + 120 / RATE)) < 1e-3
    assert (from_start["since_step"], from_start["since_window_start"]) == (0, True)
    assert relu_h["saturated_units"] == []
    top = relu_h["top_spikes"]
    assert len(top) == 3 and top[0]["unit"] == 12 and top[0]["step"] == N - 1
    assert top[0]["score"] > 20 and top[0]["value"] == 40.0
    assert top[0]["score"] >= top[1]["score"] >= top[2]["score"]

    assert [s["unit"] for s in tanh_h["saturated_units"]] == [5, 9]
    five, nine = tanh_h["saturated_units"]
    assert (five["since_step"], five["frames"], five["location"]) == (150, 50, {"x": 5, "y": 0})
    assert abs(five["value"] - 0.995) < 1e-6 and nine["value"] == -1.0
    assert nine["since_window_start"] and tanh_h["dead_units"] == []
    assert tanh_h["criteria"]["recent_frames"] == 8

    one = api.get(f"/api/layers/health?model_id={model}&layer_id=relu")
    assert [h["layer_id"] for h in one["layers"]] == ["relu"]
    assert len(one["layers"][0]["top_spikes"]) == 5  # the default top_k
    status, _ = api.call("GET", "/api/layers/health?model_id=absent")
    assert status == 404
