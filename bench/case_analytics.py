"""Case 5: time to answer a correlation query as series and window grow.

For every (series S, window W) one layer of S units gets exactly W frames (binary
ingestion, explicit timestamps), so a unit-granularity query for that layer is an
S x S Pearson matrix over W samples. Measured: the server answering directly over
HTTP (binary matrix, so JSON does not dominate), the same through the bridge (raw
gRPC stub), and ``numpy.corrcoef`` on the same (W, S) array in this process. The
largest absolute difference between the server's and numpy's matrices is kept as
a correctness check.

The server keeps answers while its store is unchanged (``CorrelationCache``, keyed
on the store's version). So that "computed" really computes, one frame is ingested
into an unrelated layer (outside the clock) before each computed query; "cached"
repeats the query on unchanged data.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import aiohttp
import numpy as np

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

MODEL = "bench-analytics"
NUMPY = "numpy.corrcoef in-process"
DIRECT = "server direct, computed (HTTP binary)"
BRIDGE = "server via bridge, computed (gRPC)"
CACHED = "server direct, cached (HTTP binary)"


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1.analytics_pb2 import GRANULARITY_UNIT
    from neural_heatmap_contract.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    res = CaseResult("analytics", "correlation query time vs numpy.corrcoef, growing series "
                     "and window")
    base = env.http_url
    rng = np.random.default_rng(5)
    data: dict[tuple[int, int], np.ndarray] = {}
    timeout = aiohttp.ClientTimeout(total=600)
    ch = channel(env.grpc_target)
    stub = NeuralHeatmapServiceStub(ch)
    diffs: dict[str, float] = {}
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for sn in s.analytics_series:
            for w in s.analytics_windows:
                x = correlated_series(w, sn, rng)
                data[(sn, w)] = x
                ts = time.time() - w * 0.01 + np.arange(w) * 0.01
                await ingest_binary(http, base, MODEL, f"s{sn}w{w}", x, timestamps=ts,
                                    steps=np.arange(w))

        async def direct(layer: str) -> np.ndarray:
            return await unit_matrix(http, base, MODEL, layer)

        async def bridge(layer: str) -> np.ndarray:
            resp = await stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest(
                model_ids=[MODEL], layer_ids=[layer], granularity=GRANULARITY_UNIT),
                timeout=120)
            return tensor_to_numpy(resp.matrix.matrix)

        for sn in s.analytics_series:
            for w in s.analytics_windows:
                layer = f"s{sn}w{w}"
                x = data[(sn, w)]

                async def numpy_fn(_layer: str, x: np.ndarray = x) -> np.ndarray:
                    return np.corrcoef(x, rowvar=False)

                fns = {NUMPY: numpy_fn, DIRECT: direct, BRIDGE: bridge, CACHED: direct}
                bump = np.ones((1, 4), dtype=np.float32)
                got = await direct(layer)
                ref = np.corrcoef(x, rowvar=False)
                diffs[layer] = (float(np.nanmax(np.abs(got - ref))) if got.shape == ref.shape
                                else float("nan"))
                await bridge(layer)
                times: dict[str, list[float]] = {k: [] for k in fns}
                for rep in range(s.analytics_reps):
                    for name in alternate(list(fns), rep):
                        if name in (DIRECT, BRIDGE):  # invalidate the server's cached answer
                            await ingest_binary(http, base, "bench-analytics-bump", "b", bump)
                        elif name == CACHED:  # make sure the answer is cached
                            await direct(layer)
                        gc.collect()  # the previous variant's garbage is not this one's cost
                        t = time.perf_counter()
                        await fns[name](layer)
                        times[name].append((time.perf_counter() - t) * 1e3)
                g = f"{sn} series x {w} frames"
                res.metric(g, NUMPY, "time to matrix", "ms", times[NUMPY])
                res.metric(g, DIRECT, "time to matrix", "ms", times[DIRECT],
                           ratio=paired(times[DIRECT], times[NUMPY]), ratio_label="x numpy")
                res.metric(g, BRIDGE, "time to matrix", "ms", times[BRIDGE],
                           ratio=paired(times[BRIDGE], times[NUMPY]), ratio_label="x numpy")
                res.metric(g, CACHED, "time to matrix", "ms", times[CACHED],
                           ratio=paired(times[CACHED], times[NUMPY]), ratio_label="x numpy")
    await ch.close()
    res.extra["max_abs_diff_vs_numpy"] = diffs
    worst = max(diffs.values()) if diffs else float("nan")
    res.notes.append(f"largest |server - numpy.corrcoef| over all sizes: {worst:.2e} "
                     "(float32 answer)")
    return res
