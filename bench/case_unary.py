"""Case 1: small anomaly queries, direct HTTP versus the bridge.

Latency at concurrency 1 comes from Python clients (aiohttp + ``json.loads`` versus a
``grpc.aio`` stub, each producing a usable object), run in alternating blocks.
Throughput at concurrency 32 comes from the Go load generators ``hey`` (HTTP) and
``ghz`` (gRPC), so the client's own cost stays out of the ratio.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench._data import channel, get_json, ingest_binary, nan_frames
from bench._procs import CpuMeter, Environment
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, paired, percentile
from bench._tools import run_ghz, run_hey

MODEL = "bench-unary"


async def _python_load(fn: Any, concurrency: int, seconds: float) -> dict[str, Any]:
    """Fallback when a Go tool is missing: ``concurrency`` tasks calling ``fn`` for ``seconds``."""
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                await fn()
                lat.append(time.perf_counter() - t0)
            except Exception:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {"rps": len(lat) / wall, "count": len(lat) + errors, "ok": len(lat),
            "errors": errors, "p50_ms": percentile(lat, 50) * 1e3,
            "p99_ms": percentile(lat, 99) * 1e3}


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    from neural_heatmap.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    res = CaseResult("unary", "GetAnomalies(limit=10) via bridge vs GET /api/anomalies?limit=10")
    base = env.http_url
    url = f"{base}/api/anomalies?limit=10"
    rng = np.random.default_rng(1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        # The server reports at most one anomaly per type per ingested batch: one frame each.
        accepted = 0
        for _ in range(30):
            accepted += await ingest_binary(http, base, MODEL, "fc1", nan_frames(1, 16, rng))
        page = await get_json(http, f"{base}/api/anomalies", limit=10)
        res.notes.append(f"seeded {accepted} one-frame batches with a NaN each; a limit=10 page "
                         f"holds {len(page.get('anomalies', []))} anomalies "
                         f"({len(json.dumps(page))} bytes of JSON)")

        ch = channel(env.grpc_target)
        stub = NeuralHeatmapServiceStub(ch)
        req = pb.GetAnomaliesRequest(limit=10)

        async def direct() -> None:
            async with http.get(url) as r:
                body = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"direct {r.status}")
                json.loads(body)

        async def bridge() -> None:
            await stub.GetAnomalies(req, timeout=10)

        calls = {"direct HTTP (aiohttp)": direct, "bridge gRPC (grpc.aio)": bridge}
        for fn in calls.values():  # warm up connections and code paths
            for _ in range(20):
                await fn()

        # ---- latency at concurrency 1
        p50: dict[str, list[float]] = {k: [] for k in calls}
        p99: dict[str, list[float]] = {k: [] for k in calls}
        for rep in range(s.reps):
            for name in alternate(list(calls), rep):
                fn = calls[name]
                samples = []
                for _ in range(s.unary_requests):
                    t0 = time.perf_counter()
                    await fn()
                    samples.append(time.perf_counter() - t0)
                p50[name].append(percentile(samples, 50) * 1e3)
                p99[name].append(percentile(samples, 99) * 1e3)
        d, b = list(calls)
        group = f"latency, concurrency 1, {s.unary_requests} req x {s.reps} reps"
        res.metric(group, d, "p50", "ms", p50[d])
        res.metric(group, b, "p50", "ms", p50[b], ratio=paired(p50[b], p50[d]),
                   ratio_label="x direct")
        res.metric(group, d, "p99", "ms", p99[d])
        res.metric(group, b, "p99", "ms", p99[b], ratio=paired(p99[b], p99[d]),
                   ratio_label="x direct")
        diff = paired(p50[b], p50[d], op="diff")
        res.metric(group, "bridge - direct", "p50 added", "ms", diff)
        med_diff = float(np.median(diff)) if diff else None
        res.target("unary_p50", "bridge unary p50 latency above direct", "<= +1 ms",
                   med_diff, "ms", None if med_diff is None else med_diff <= 1.0)

        # ---- throughput at concurrency 32
        ghz, hey = ctx["tools"].get("ghz"), ctx["tools"].get("hey")
        protoset: Path | None = ctx.get("protoset")
        c = s.unary_concurrency
        use_go = bool(ghz and hey and protoset)
        names = (["direct HTTP (hey)", "bridge gRPC (ghz)"] if use_go
                 else ["direct HTTP (aiohttp x32)", "bridge gRPC (grpc.aio x32)"])
        if not use_go:
            res.notes.append("ghz/hey not found: throughput measured with Python clients instead "
                             "(includes client overhead); run `make setup`")
        rps: dict[str, list[float]] = {k: [] for k in names}
        tp50: dict[str, list[float]] = {k: [] for k in names}
        tp99: dict[str, list[float]] = {k: [] for k in names}
        errors: dict[str, int] = dict.fromkeys(names, 0)
        statuses: dict[str, list[Any]] = {k: [] for k in names}
        cpu: dict[str, list[dict[str, float | None]]] = {k: [] for k in names}
        for rep in range(s.reps):
            for name in alternate(names, rep):
                meter = CpuMeter(env)
                meter.start()
                if name.startswith("direct"):
                    out = (await asyncio.to_thread(run_hey, hey, url, c, s.unary_seconds)
                           if use_go else await _python_load(direct, c, s.unary_seconds))
                else:
                    out = (await asyncio.to_thread(
                        run_ghz, ghz, protoset, env.grpc_target, "GetAnomalies",
                        {"limit": 10}, c, s.unary_seconds)
                        if use_go else await _python_load(bridge, c, s.unary_seconds))
                cpu[name].append(meter.stop())
                rps[name].append(out["rps"])
                tp50[name].append(out["p50_ms"] if out["p50_ms"] is not None else float("nan"))
                tp99[name].append(out["p99_ms"] if out["p99_ms"] is not None else float("nan"))
                errors[name] += int(out["errors"])
                statuses[name].append(out.get("status"))
        await ch.close()

    d, b = names
    group = f"throughput, concurrency {c}, {s.unary_seconds:g} s x {s.reps} reps"
    ratio = paired(rps[b], rps[d])
    res.metric(group, d, "requests/s", "req/s", rps[d])
    res.metric(group, b, "requests/s", "req/s", rps[b], ratio=ratio, ratio_label="x direct")
    res.metric(group, d, "p50 under load", "ms", tp50[d])
    res.metric(group, b, "p50 under load", "ms", tp50[b], ratio=paired(tp50[b], tp50[d]),
               ratio_label="x direct")
    res.metric(group, d, "p99 under load", "ms", tp99[d])
    res.metric(group, b, "p99 under load", "ms", tp99[b], ratio=paired(tp99[b], tp99[d]),
               ratio_label="x direct")
    med = float(np.median(ratio)) if ratio else None
    note = "" if use_go else "Python load generators (ghz/hey missing)"
    if any(errors.values()):
        note = (note + "; " if note else "") + f"errors: {errors}"
    res.target("unary_throughput", "bridge unary throughput vs direct HTTP", ">= 0.50 x",
               med, "x", None if med is None else med >= 0.5, note)
    res.extra["cpu_share_during_throughput"] = cpu
    res.extra["errors"] = errors
    res.extra["status_distribution"] = statuses
    busiest = {k: max(((p, v) for p, v in cpu[k][-1].items() if v is not None),
                      key=lambda x: x[1], default=("?", 0.0)) for k in names if cpu[k]}
    res.notes.append("busiest process during throughput runs (share of one core): " + "; ".join(
        f"{k}: {p} {v:.2f}" for k, (p, v) in busiest.items()))
    return res
