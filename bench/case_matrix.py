"""Case 2: a large correlation matrix to a numpy array, three ways.

- seed JSON: ``GET /api/correlation`` answering JSON, then ``np.array(..., float32)``
  (what the seed's client does);
- raw binary over HTTP (the floor): the same route with
  ``Accept: application/vnd.neural-heatmap.matrix``, then ``np.frombuffer``;
- the Python SDK through the bridge: ``get_correlation_matrix(...).to_numpy()``
  (the raw gRPC stub + ``np.frombuffer`` when the SDK is not importable, marked so).

An N-label matrix is made cheaply with unit granularity: one layer of N units,
a few dozen steps, ingested in one binary request; every variant asks for exactly
that layer, so all three compute the same N x N matrix.
"""

from __future__ import annotations

import gc
import inspect
import time
from typing import Any

import aiohttp
import numpy as np
from neural_heatmap_contract import routes

from bench._data import (
    channel,
    correlated_series,
    ingest_binary,
    tensor_to_numpy,
    unit_matrix,
)
from bench._procs import Environment
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, paired

MODEL = "bench-matrix"
JSON, FLOOR, SDK = "seed JSON route (HTTP)", "raw binary HTTP (floor)", "SDK via bridge"


async def make_sdk_fetch(target: str) -> tuple[str, Any, Any]:
    """An async ``fetch(model, layer) -> ndarray`` through the SDK, or the raw stub fallback."""
    try:
        from neural_heatmap import NeuralHeatmapClient

        params = inspect.signature(NeuralHeatmapClient.get_correlation_matrix).parameters
        if "granularity" not in params:
            raise ImportError("SDK get_correlation_matrix has no granularity")
        client = NeuralHeatmapClient(target)
        await client.connect()

        async def fetch_sdk(model: str, layer: str) -> np.ndarray:
            cm = await client.get_correlation_matrix([model], [layer], granularity="unit",
                                                     timeout=120)
            arr = cm.to_numpy() if hasattr(cm, "to_numpy") else np.asarray(cm.matrix)
            return arr

        return SDK, fetch_sdk, client.close
    except ImportError:
        pass
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1.analytics_pb2 import GRANULARITY_UNIT
    from neural_heatmap_contract.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    ch = channel(target)
    stub = NeuralHeatmapServiceStub(ch)

    async def fetch_stub(model: str, layer: str) -> np.ndarray:
        resp = await stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest(
            model_ids=[model], layer_ids=[layer], granularity=GRANULARITY_UNIT), timeout=120)
        return tensor_to_numpy(resp.matrix.matrix)

    return "raw gRPC stub via bridge (SDK not ready)", fetch_stub, ch.close


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    res = CaseResult("matrix", "N-label correlation matrix to numpy: seed JSON vs binary "
                     "HTTP (floor) vs SDK via bridge")
    base = env.http_url
    rng = np.random.default_rng(2)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        t0 = time.time() - s.matrix_steps
        ts = t0 + np.arange(s.matrix_steps, dtype=np.float64)
        for n in s.matrix_sizes:
            data = correlated_series(s.matrix_steps, n, rng)
            await ingest_binary(http, base, MODEL, f"u{n}", data, timestamps=ts,
                                steps=np.arange(s.matrix_steps))
        res.notes.append(f"each N-label matrix: unit granularity on one layer of N units, "
                         f"{s.matrix_steps} steps (binary ingestion)")

        sdk_name, sdk_fetch, sdk_close = await make_sdk_fetch(env.grpc_target)
        if sdk_name != SDK:
            res.notes.append("SDK not usable: the raw gRPC stub + np.frombuffer was measured "
                             "instead of the SDK")

        async def fetch_json(model: str, layer: str) -> np.ndarray:
            async with http.get(f"{base}{routes.http('GetCorrelationMatrix').path}", params={
                    "model_id": model, "layer_id": layer, "granularity": "unit"}) as r:
                if r.status != 200:
                    raise RuntimeError(f"JSON correlation -> {r.status}: {await r.text()}")
                body = await r.json()
            return np.array(body["matrix"], dtype=np.float32)

        async def fetch_floor(model: str, layer: str) -> np.ndarray:
            return await unit_matrix(http, base, model, layer)

        fetch = {JSON: fetch_json, FLOOR: fetch_floor, sdk_name: sdk_fetch}
        checks: dict[str, Any] = {}
        try:
            for n in s.matrix_sizes:
                layer = f"u{n}"
                ref = await fetch_floor(MODEL, layer)  # warm-up and reference
                checks[n] = {"shape": list(ref.shape)}
                for name, fn in fetch.items():
                    arr = await fn(MODEL, layer)
                    checks[n][name] = float(np.nanmax(np.abs(arr - ref))) if arr.shape == \
                        ref.shape else f"shape {arr.shape}"
                times: dict[str, list[float]] = {k: [] for k in fetch}
                for rep in range(s.matrix_reps):
                    for name in alternate(list(fetch), rep):
                        gc.collect()  # the previous variant's garbage is not this one's cost
                        t = time.perf_counter()
                        arr = await fetch[name](MODEL, layer)
                        times[name].append((time.perf_counter() - t) * 1e3)
                        if arr.shape != (n, n):
                            raise RuntimeError(f"{name} gave shape {arr.shape} for {n} labels")
                group = f"{n} labels ({n * n * 4 / 2**20:.1f} MiB float32)"
                res.metric(group, FLOOR, "wall time to ndarray", "ms", times[FLOOR],
                           ratio=[1.0] * len(times[FLOOR]), ratio_label="x floor")
                res.metric(group, sdk_name, "wall time to ndarray", "ms", times[sdk_name],
                           ratio=paired(times[sdk_name], times[FLOOR]), ratio_label="x floor")
                res.metric(group, JSON, "wall time to ndarray", "ms", times[JSON],
                           ratio=paired(times[JSON], times[FLOOR]), ratio_label="x floor")
                res.metric(group, "seed JSON / SDK", "speed-up of SDK over JSON", "x",
                           paired(times[JSON], times[sdk_name]))
        finally:
            await sdk_close()
    res.extra["max_abs_diff_vs_floor"] = checks

    n = max(s.matrix_sizes)
    rows = {r["variant"]: r for r in res.rows if r["group"].startswith(f"{n} labels")}
    sdk_ratio = rows[sdk_name]["ratio"]["median"] if sdk_name in rows else None
    speedup = rows["seed JSON / SDK"]["median"] if "seed JSON / SDK" in rows else None
    scope = "" if n == 2048 else f"measured at {n} labels (quick sizes), target is for 2048"
    res.target("matrix_sdk_floor", f"{n}-label matrix via SDK vs raw-bytes floor", "<= 4 x",
               sdk_ratio, "x", None if sdk_ratio is None else sdk_ratio <= 4.0, scope)
    res.target("matrix_sdk_json", f"{n}-label matrix via SDK faster than seed JSON", ">= 25 x",
               speedup, "x", None if speedup is None else speedup >= 25.0, scope)
    return res
