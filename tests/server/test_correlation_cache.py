"""The correlation cache: identical answers while the data is unchanged, fresh ones after.

Over HTTP against the real server (JSON and binary), plus unit tests of
``CorrelationCache`` on an ``ActivationStore`` (bounds, read-only sharing).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from neural_heatmap_server.correlation import CorrelationCache, CorrelationQuery
from neural_heatmap_server.store import ActivationStore, FrameBatch

from tests.server.conftest import Api, unique

BINARY = "application/vnd.neural-heatmap.matrix"


def _binary(api: Api, path: str) -> np.ndarray:
    status, _, body = api.request("GET", path, headers={"Accept": BINARY})
    assert status == 200
    (hlen,) = struct.unpack_from("<I", body)
    n = len(json.loads(body[4:4 + hlen])["labels"])
    return np.frombuffer(body, "<f4", offset=4 + hlen).reshape(n, n)


def test_a_new_frame_changes_the_answer(api: Api) -> None:
    rng = np.random.default_rng(5)
    model = unique("cache")
    base = rng.normal(0, 1, 40)
    api.ingest_series(model, "a", (base[:, None] + rng.normal(0, 0.1, (40, 4))).astype(np.float32))
    api.ingest_series(model, "b", (base[:, None] + rng.normal(0, 0.1, (40, 4))).astype(np.float32))
    path = f"/api/correlation?model_ids={model}&granularity=unit"
    first = api.get(path)
    again = api.get(path)
    assert again["matrix"] == first["matrix"] and again["labels"] == first["labels"]
    np.testing.assert_allclose(_binary(api, path), np.array(first["matrix"]), atol=1e-6)
    # One more frame (later step) in each layer that breaks the pattern: the answer moves.
    odd = rng.normal(0, 5, (1, 4)).astype(np.float32)
    api.ingest_series(model, "a", odd, t0=1.7e9 + 10, steps=False)
    api.ingest_series(model, "b", -odd, t0=1.7e9 + 10, steps=False)
    after = api.get(path)
    assert after["metadata"]["samples"] == first["metadata"]["samples"] + 1
    assert after["matrix"] != first["matrix"]
    np.testing.assert_allclose(_binary(api, path), np.array(after["matrix"]), atol=1e-6)
    # A layer ingested into another model also invalidates (the store changed):
    # the answer is recomputed and stays equal.
    api.ingest_series(unique("other"), "x", rng.normal(0, 1, (3, 2)).astype(np.float32))
    assert api.get(path)["matrix"] == after["matrix"]


def _store_with(units: int, frames: int = 16) -> ActivationStore:
    store = ActivationStore(capacity=64, max_units=4096, max_layers=8)
    rng = np.random.default_rng(1)
    store.append(_batch("m", "l", rng.normal(0, 1, (frames, units)).astype(np.float32), 0))
    return store


def _batch(model: str, layer: str, values: np.ndarray, first_step: int) -> FrameBatch:
    n = len(values)
    return FrameBatch(model, layer, np.arange(n, dtype=np.float64) + 1.7e9 + first_step,
                      np.arange(first_step, first_step + n, dtype=np.int64), values)


def test_hit_until_the_store_changes() -> None:
    store = _store_with(8)
    cache = CorrelationCache()
    q = CorrelationQuery(["m"], ["l"], granularity="unit")
    first = cache.get(store, q)
    second = cache.get(store, q)
    assert cache.hits == 1
    assert second.matrix is first.matrix and not second.matrix.flags.writeable
    second.metadata["touched"] = True  # an answer's metadata is its own
    assert "touched" not in cache.get(store, q).metadata
    store.append(_batch("m", "l", np.ones((1, 8), np.float32) * 3, 100))
    third = cache.get(store, q)
    assert cache.hits == 2 and third.metadata["samples"] == first.metadata["samples"] + 1
    with pytest.raises(ValueError):
        third.matrix[0, 0] = 2.0


def test_bounded_by_entries_and_bytes() -> None:
    store = _store_with(64)
    by_count = CorrelationCache(max_entries=2)
    for g, layers in [("unit", ["l"]), ("unit", ["m/l"]), ("layer", None)]:
        by_count.get(store, CorrelationQuery(["m"], layers, granularity=g))
    assert len(by_count._items) == 2
    by_bytes = CorrelationCache(max_entries=8, max_bytes=64 * 64 * 8 - 1)
    by_bytes.get(store, CorrelationQuery(["m"], ["l"], granularity="unit"))
    assert len(by_bytes._items) == 0  # a 64 x 64 float64 matrix is over the budget
    off = CorrelationCache(max_entries=0)
    off.get(store, CorrelationQuery(["m"], ["l"], granularity="unit"))
    assert len(off._items) == 0 and off.hits == 0
