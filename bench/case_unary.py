"""Case 1: small anomaly queries, direct HTTP versus the bridge (read cache on and off).

Latency at concurrency 1 comes from Python clients (aiohttp + ``json.loads`` versus a
``grpc.aio`` stub, each producing a usable object), run in alternating blocks.
Throughput at concurrency 32 comes from the Go load generators ``hey`` (HTTP) and
``ghz`` (gRPC), so the client's own cost stays out of the ratio.

Three reference grpc.aio servers (``bench._grpc_floor``) split the bridge's cost:
``floor`` answers the bridge's own response pre-built (the ceiling of any Python
grpc.aio service here), ``floor+hop`` also makes the upstream HTTP call, and
``floor+hop+convert`` also converts with the bridge's converter. The steps between
them say how much of the gap to direct HTTP each part of the bridge's work costs.

The bridge runs twice: as started (its push-invalidated read cache on) and a second
one with ``--no-read-cache`` (every call pays the upstream hop); both take part in
every alternation. A differential check (``bench._differential``) compares the
cached answers with the uncached ones after changes made directly on the server.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from neural_heatmap_contract import routes

from bench._data import channel, get_json, ingest_binary, nan_frames
from bench._machine import REPO
from bench._procs import CpuMeter, Environment, add_bridge, free_port
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, paired
from bench._tools import run_ghz, run_hey
from bench._unary import cache_differential, direct_get, latency, python_load, warm_up

MODEL = "bench-unary"
D_PY, B_PY = "direct HTTP (aiohttp)", "bridge gRPC (grpc.aio)"
B_OFF = "bridge --no-read-cache (grpc.aio)"
# The targets (#14): the bridge with its cache on, against direct HTTP.
P50_ADDED_MS, THROUGHPUT_RATIO = 0.5, 0.80
REFS = {"static": "ref: grpc.aio floor", "upstream": "ref: floor+hop",
        "convert": "ref: floor+hop+convert"}


def _start_ref(mode: str, response: bytes, workdir: Path,
               upstream: str) -> tuple[subprocess.Popen[bytes], str] | None:
    """Start one reference server; None when it cannot start (e.g. bridge internals moved)."""
    path = workdir / "floor-response.bin"
    path.write_bytes(response)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._grpc_floor", mode, str(port), str(path), upstream],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        proc.wait()
        return None
    return proc, f"127.0.0.1:{port}"


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    res = CaseResult("unary", "GetAnomalies(limit=10) via bridge vs "
                     f"{routes.http('GetAnomalies').operation}?limit=10")
    base = env.http_url
    url = f"{base}{routes.http('GetAnomalies').path}?limit=10"
    rng = np.random.default_rng(1)
    workdir = Path(tempfile.mkdtemp(prefix="nh-unary-"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        # The server reports at most one anomaly per type per ingested batch: one frame each.
        accepted = 0
        for _ in range(30):
            accepted += await ingest_binary(http, base, MODEL, "fc1", nan_frames(1, 16, rng))
        page = await get_json(http, f"{base}{routes.http('GetAnomalies').path}", limit=10)

        ch = channel(env.grpc_target)
        stub = NeuralHeatmapServiceStub(ch)
        off_target, off_pid = await asyncio.to_thread(add_bridge, env, "--no-read-cache")
        off_ch = channel(off_target)
        off_stub = NeuralHeatmapServiceStub(off_ch)
        req = pb.GetAnomaliesRequest(limit=10)
        first = await stub.GetAnomalies(req, timeout=10)
        await cache_differential(
            res, s, http, base, MODEL, stub, off_stub,
            {"GetAnomalies(limit=10)": lambda st: st.GetAnomalies(req, timeout=10)},
            "unary_cache_differential", "GetAnomalies(limit=10)")
        res.notes.append(f"seeded {accepted} one-frame batches with a NaN each; a limit=10 page "
                         f"holds {len(page.get('anomalies', []))} anomalies "
                         f"({len(json.dumps(page))} bytes of JSON, {first.ByteSize()} bytes "
                         "of protobuf)")
        refs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        for mode, label in REFS.items():
            started = await asyncio.to_thread(_start_ref, mode, first.SerializeToString(),
                                              workdir, base)
            if started is None:
                res.notes.append(f"reference server {label!r} did not start; left out")
            else:
                refs[label] = started
        ref_channels = {label: channel(t) for label, (_, t) in refs.items()}
        ref_stubs = {label: NeuralHeatmapServiceStub(c) for label, c in ref_channels.items()}

        async def bridge() -> None:
            await stub.GetAnomalies(req, timeout=10)

        async def bridge_off() -> None:
            await off_stub.GetAnomalies(req, timeout=10)

        def ref_call(label: str) -> Any:
            async def call() -> None:
                await ref_stubs[label].GetAnomalies(req, timeout=10)
            return call

        try:
            calls = {D_PY: direct_get(http, url), B_PY: bridge, B_OFF: bridge_off,
                     **{k: ref_call(k) for k in ref_stubs}}
            await warm_up(calls)

            # ---- latency at concurrency 1
            p50, p99 = await latency(calls, s)
            group = f"latency, concurrency 1, {s.unary_requests} req x {s.reps} reps"
            for metric, vals in (("p50", p50), ("p99", p99)):
                res.metric(group, D_PY, metric, "ms", vals[D_PY])
                for v in list(calls)[1:]:
                    res.metric(group, v, metric, "ms", vals[v], ratio=paired(vals[v], vals[D_PY]),
                               ratio_label="x direct")
            diff = paired(p50[B_PY], p50[D_PY], op="diff")
            res.metric(group, "bridge - direct", "p50 added", "ms", diff)
            for v in list(calls)[2:]:
                res.metric(group, f"{v.removeprefix('ref: ')} - direct", "p50 added", "ms",
                           paired(p50[v], p50[D_PY], op="diff"))
            med_diff = float(np.median(diff)) if diff else None
            res.target("unary_p50", "bridge unary p50 latency above direct (read cache on)",
                       f"<= +{P50_ADDED_MS} ms", med_diff, "ms",
                       None if med_diff is None else med_diff <= P50_ADDED_MS)

            # ---- throughput at concurrency 32
            ghz, hey = ctx["tools"].get("ghz"), ctx["tools"].get("hey")
            protoset: Path | None = ctx.get("protoset")
            c = s.unary_concurrency
            use_go = bool(ghz and hey and protoset)
            labels = list(calls)
            if use_go:
                names = ["direct HTTP (hey)", "bridge gRPC (ghz)",
                         *(f"{k.rsplit(' (', 1)[0]} (ghz)" for k in labels[2:3]),
                         *(f"{k} (ghz)" for k in labels[3:])]
            else:
                names = [f"{k.rsplit(' (', 1)[0]} (python x{c})" for k in labels]
                res.notes.append("ghz/hey not found: throughput measured with Python clients "
                                 "instead (includes client overhead); run `make setup`")
            d, b = names[0], names[1]
            targets = {b: env.grpc_target, names[2]: off_target,
                       **{n: refs[k][1] for n, k in zip(names[3:], labels[3:], strict=True)}}
            py_fns = {n: calls[k] for n, k in zip(names, labels, strict=True)}
            ref_pids = {k.removeprefix("ref: "): p.pid for k, (p, _) in refs.items()}
            ref_pids["bridge --no-read-cache"] = off_pid
            rps: dict[str, list[float]] = {k: [] for k in names}
            tp50: dict[str, list[float]] = {k: [] for k in names}
            tp99: dict[str, list[float]] = {k: [] for k in names}
            errors: dict[str, int] = dict.fromkeys(names, 0)
            statuses: dict[str, list[Any]] = {k: [] for k in names}
            cpu: dict[str, list[dict[str, float | None]]] = {k: [] for k in names}
            for rep in range(s.reps):
                for name in alternate(names, rep):
                    meter = CpuMeter(env, ref_pids)
                    meter.start()
                    if not use_go:
                        out = await python_load(py_fns[name], c, s.unary_seconds)
                    elif name == d:
                        out = await asyncio.to_thread(run_hey, hey, url, c, s.unary_seconds)
                    else:
                        out = await asyncio.to_thread(
                            run_ghz, ghz, protoset, targets[name], "GetAnomalies",
                            {"limit": 10}, c, s.unary_seconds)
                    cpu[name].append(meter.stop())
                    rps[name].append(out["rps"])
                    tp50[name].append(out["p50_ms"] if out["p50_ms"] is not None else np.nan)
                    tp99[name].append(out["p99_ms"] if out["p99_ms"] is not None else np.nan)
                    errors[name] += int(out["errors"])
                    statuses[name].append(out.get("status"))
        finally:
            await ch.close()
            await off_ch.close()
            for rc in ref_channels.values():
                await rc.close()
            for proc, _ in refs.values():
                if proc.stdin is not None:
                    proc.stdin.close()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    group = f"throughput, concurrency {c}, {s.unary_seconds:g} s x {s.reps} reps"
    ratio = paired(rps[b], rps[d])
    for metric, vals, unit in (("requests/s", rps, "req/s"), ("p50 under load", tp50, "ms"),
                               ("p99 under load", tp99, "ms")):
        res.metric(group, d, metric, unit, vals[d])
        for v in names[1:]:
            res.metric(group, v, metric, unit, vals[v], ratio=paired(vals[v], vals[d]),
                       ratio_label="x direct")
    if len(names) > 3:
        res.metric(group, "bridge / grpc.aio floor", "share of the grpc.aio ceiling", "x",
                   paired(rps[b], rps[names[3]]))
    # CPU microseconds per call: in the serving process (where the bridge's time goes), and in
    # every process on the path including the load tool (what bounds throughput on 2 cores).
    for n in names:
        proc = ("server" if n == d else "bridge" if n == b
                else n.split(": ", 1)[-1].rsplit(" (", 1)[0])
        path = {d: ("server",), b: ("bridge", "server")}.get(n, (proc, "server"))
        us = [1e6 * (cc.get(proc) or 0.0) / r for cc, r in zip(cpu[n], rps[n], strict=True)
              if r and cc.get(proc)]
        if us:
            res.metric(group, n, "CPU per call, serving process", "us", us)
        tot = [1e6 * sum((cc.get(k) or 0.0) for k in (*path, "load tool")) / r
               for cc, r in zip(cpu[n], rps[n], strict=True) if r]
        if tot and any(cc.get("load tool") for cc in cpu[n]):
            res.metric(group, n, "CPU per call, all processes incl. load tool", "us", tot)
    med = float(np.median(ratio)) if ratio else None
    note = "" if use_go else "Python load generators (ghz/hey missing)"
    # ghz counts the calls in flight when its duration ends (about one per worker) as
    # UNAVAILABLE; anything beyond that, or any other non-OK code, is a real failure.
    real: dict[str, int] = {}
    for k, runs in statuses.items():
        for st in runs:
            if not st:
                continue
            bad = {code: n for code, n in st.items() if code not in ("OK", "200", 200)}
            cut = min(bad.get("Unavailable", 0), c)
            real[k] = real.get(k, 0) + sum(bad.values()) - cut
    if any(real.values()):
        note = (note + "; " if note else "") + "failed calls: " + ", ".join(
            f"{k} {v}" for k, v in real.items() if v)
    res.extra["failed_calls"] = real
    res.target("unary_throughput", "bridge unary throughput vs direct HTTP (read cache on)",
               f">= {THROUGHPUT_RATIO:.2f} x", med, "x",
               None if med is None else med >= THROUGHPUT_RATIO, note)
    res.extra["cpu_share_during_throughput"] = cpu
    res.extra["errors"] = errors
    res.extra["status_distribution"] = statuses
    for k in names:
        if cpu[k]:
            shares = ", ".join(f"{p} {v:.2f}" for p, v in sorted(
                cpu[k][-1].items(), key=lambda kv: -(kv[1] or 0)) if v)
            res.notes.append(f"CPU share of one core during {k}: {shares}")
    return res
