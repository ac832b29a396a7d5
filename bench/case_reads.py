"""Case 2: hot reads (ListModels, GetTheme) with the bridge's read cache on and off, and a
throughput-vs-concurrency sweep of GetAnomalies(limit=10).

Three variants take part in every alternation: direct HTTP (the route the RPC
calls), the bridge as started (read cache on) and a second bridge with
``--no-read-cache``. Latency at concurrency 1 comes from Python clients, throughput
at concurrency 32 from ``hey``/``ghz`` (as in case 1). A differential check
(``bench._differential``) compares cached with uncached answers after changes
made directly on the server. The sweep runs GetAnomalies(limit=10) at several
concurrencies, one repetition per point, variants alternating at each point; it
feeds the throughput-vs-concurrency curve (``bench._plots``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from neural_heatmap_contract import routes

from bench._data import channel, ingest_binary, nan_frames
from bench._procs import Environment, add_bridge
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, paired
from bench._tools import run_ghz, run_hey
from bench._unary import Call, cache_differential, direct_get, latency, python_load, warm_up

MODEL = "bench-reads"
DIRECT, ON, OFF = "direct HTTP", "bridge, read cache on", "bridge --no-read-cache"


async def _throughput(name: str, kind: str, ctx: dict[str, Any], url: str, target: str,
                      method: str, data: dict[str, Any], c: int, seconds: float,
                      fallback: Call) -> dict[str, Any]:
    """One load run: hey (HTTP) or ghz (gRPC), or Python clients when a tool is missing."""
    ghz, hey, protoset = ctx["tools"].get("ghz"), ctx["tools"].get("hey"), ctx.get("protoset")
    if not (ghz and hey and protoset):
        return await python_load(fallback, c, seconds)
    if kind == "http":
        return await asyncio.to_thread(run_hey, hey, url, c, seconds)
    return await asyncio.to_thread(run_ghz, ghz, Path(protoset), target, method, data, c,
                                   seconds)


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    res = CaseResult("reads", "ListModels / GetTheme via bridge (read cache on, off) vs direct "
                              "HTTP; GetAnomalies throughput vs concurrency")
    base = env.http_url
    rng = np.random.default_rng(2)
    off_target, _ = await asyncio.to_thread(add_bridge, env, "--no-read-cache")
    on_ch, off_ch = channel(env.grpc_target), channel(off_target)
    on, off = NeuralHeatmapServiceStub(on_ch), NeuralHeatmapServiceStub(off_ch)
    targets = {ON: env.grpc_target, OFF: off_target}
    stubs = {ON: on, OFF: off}
    methods: dict[str, tuple[str, str, Any]] = {
        # RPC name: (HTTP route it calls, ghz method, request)
        "ListModels": (routes.http("ListModels").path, "ListModels", pb.ListModelsRequest()),
        "GetTheme": (routes.http("GetTheme").path, "GetTheme", pb.GetThemeRequest()),
    }
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            for layer in range(8):  # a model list of a realistic size
                await ingest_binary(http, base, MODEL, f"layer{layer}", nan_frames(4, 64, rng))
            await cache_differential(
                res, s, http, base, MODEL, on, off,
                {"ListModels": lambda st: st.ListModels(pb.ListModelsRequest(), timeout=10),
                 "GetTheme": lambda st: st.GetTheme(pb.GetThemeRequest(), timeout=10)},
                "reads_cache_differential", "ListModels, GetTheme")
            for rpc, (route, _, request) in methods.items():
                await _one_method(res, s, ctx, http, base + route, rpc, request, stubs, targets)
            await _sweep(res, s, ctx, http, base, stubs, targets, pb.GetAnomaliesRequest(limit=10))
    finally:
        await on_ch.close()
        await off_ch.close()
    return res


def _calls(http: aiohttp.ClientSession, url: str, rpc: str, request: Any,
           stubs: dict[str, Any]) -> dict[str, Call]:
    def grpc_call(stub: Any) -> Call:
        async def call() -> None:
            await getattr(stub, rpc)(request, timeout=10)
        return call

    return {DIRECT: direct_get(http, url), ON: grpc_call(stubs[ON]), OFF: grpc_call(stubs[OFF])}


async def _one_method(res: CaseResult, s: Settings, ctx: dict[str, Any],
                      http: aiohttp.ClientSession, url: str, rpc: str, request: Any,
                      stubs: dict[str, Any], targets: dict[str, str]) -> None:
    calls = _calls(http, url, rpc, request, stubs)
    await warm_up(calls)
    p50, _ = await latency(calls, s)
    group = f"{rpc}: latency, concurrency 1, {s.unary_requests} req x {s.reps} reps"
    res.metric(group, DIRECT, "p50", "ms", p50[DIRECT])
    for v in (ON, OFF):
        res.metric(group, v, "p50", "ms", p50[v], ratio=paired(p50[v], p50[DIRECT]),
                   ratio_label="x direct")
        res.metric(group, f"{v} - direct", "p50 added", "ms", paired(p50[v], p50[DIRECT], "diff"))

    c = s.unary_concurrency
    rps: dict[str, list[float]] = {k: [] for k in calls}
    for rep in range(s.reps):
        for name in alternate(list(calls), rep):
            out = await _throughput(name, "http" if name == DIRECT else "grpc", ctx, url,
                                    targets.get(name, ""), rpc, {}, c, s.unary_seconds,
                                    calls[name])
            rps[name].append(out["rps"])
    group = f"{rpc}: throughput, concurrency {c}, {s.unary_seconds:g} s x {s.reps} reps"
    res.metric(group, DIRECT, "requests/s", "req/s", rps[DIRECT])
    for v in (ON, OFF):
        res.metric(group, v, "requests/s", "req/s", rps[v], ratio=paired(rps[v], rps[DIRECT]),
                   ratio_label="x direct")


async def _sweep(res: CaseResult, s: Settings, ctx: dict[str, Any],
                 http: aiohttp.ClientSession, base: str, stubs: dict[str, Any],
                 targets: dict[str, str], request: Any) -> None:
    """GetAnomalies(limit=10) requests/s at each concurrency (the scaling curve)."""
    url = f"{base}{routes.http('GetAnomalies').path}?limit=10"
    calls = _calls(http, url, "GetAnomalies", request, stubs)
    levels = [1, 8, 32] if s.quick else [1, 4, 16, 32, 64]
    seconds = max(0.5, s.unary_seconds / 2)
    curve: dict[str, dict[int, float]] = {k: {} for k in calls}
    for i, c in enumerate(levels):
        for name in alternate(list(calls), i):
            out = await _throughput(name, "http" if name == DIRECT else "grpc", ctx, url,
                                    targets.get(name, ""), "GetAnomalies", {"limit": 10}, c,
                                    seconds, calls[name])
            curve[name][c] = out["rps"]
    res.extra["concurrency_sweep"] = {"levels": levels, "seconds": seconds,
                                      "requests_per_s": curve}
    group = f"GetAnomalies(limit=10): throughput vs concurrency, {seconds:g} s per point"
    for c in levels:
        for name, points in curve.items():
            res.metric(group, name, f"requests/s at c={c}", "req/s", [points[c]])
