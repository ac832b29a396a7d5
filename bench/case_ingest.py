"""Case 4: ingestion of 1,024-unit float32 frames, bridge versus direct HTTP.

- bridge: one client-streaming ``IngestActivations`` call, ``ingest_grpc_batch``
  frames per message (raw float32 tensors), round-robin over a few layers;
- direct: sequential ``POST /api/activations`` binary bodies of
  ``ingest_http_batch`` frames (the server's own floor).

Messages and bodies are built before the clock starts. After each run the case
checks that the analytics kept up: the server's frame count for the model grew
by exactly what was sent (polled for up to 10 s, reporting how long it took to
become visible), and a small query right after the run answers about as fast as
on an idle server (no backlog queued behind the ingestion).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import numpy as np
from neural_heatmap_contract import routes

from bench._data import channel, frames_body, get_json
from bench._procs import CpuMeter, Environment
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, paired

BRIDGE, DIRECT = "bridge IngestActivations (gRPC stream)", "direct HTTP binary POST"
MODELS = {BRIDGE: "bench-ingest-bridge", DIRECT: "bench-ingest-direct"}
POOL = 8  # distinct value blocks per layer, reused round-robin


async def _model_frames(http: aiohttp.ClientSession, base: str, model: str) -> int:
    data = await get_json(http, f"{base}{routes.http('ListModels').path}")
    for m in data.get("models", []):
        if m.get("model_id") == model:
            return int(m.get("frames") or sum(int(x.get("frames", 0)) for x in m["layers"]))
    return 0


async def _probe_ms(http: aiohttp.ClientSession, base: str, n: int = 5) -> float:
    best = []
    for _ in range(n):
        t = time.perf_counter()
        async with http.get(base + routes.http("GetAnomalies").path, params={"limit": "1"}) as r:
            await r.read()
        best.append((time.perf_counter() - t) * 1e3)
    return float(np.median(best))


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    from neural_heatmap_contract.v1 import ingest_pb2, tensor_pb2
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    res = CaseResult("ingest", f"frames of {s.ingest_units} float32 units/s: bridge "
                     "IngestActivations vs direct HTTP binary")
    base = env.http_url
    rng = np.random.default_rng(4)
    u, L = s.ingest_units, s.ingest_layers
    layers = [f"l{i}" for i in range(L)]
    # ---- pre-built payloads
    gb, hb = s.ingest_grpc_batch, s.ingest_http_batch
    grpc_msgs: list[Any] = []
    for i in range(POOL * L):
        layer = layers[i % L]
        vals = rng.uniform(0.1, 1.0, size=(gb, u)).astype(np.float32)
        grpc_msgs.append(pb.IngestActivationsRequest(frames=[
            ingest_pb2.ActivationFrame(
                model_id=MODELS[BRIDGE], layer_id=layer,
                values=tensor_pb2.Tensor(shape=[u], dtype=tensor_pb2.DATA_TYPE_FLOAT32,
                                         data=vals[k].tobytes()))
            for k in range(gb)]))
    http_bodies: list[tuple[str, bytes]] = []
    for i in range(POOL * L):
        vals = rng.uniform(0.1, 1.0, size=(hb, u)).astype(np.float32)
        http_bodies.append((layers[i % L], frames_body(vals)))
    n_grpc_msgs = max(1, s.ingest_frames // gb)
    n_http_posts = max(1, s.ingest_frames // hb)
    sent = {BRIDGE: n_grpc_msgs * gb, DIRECT: n_http_posts * hb}
    res.notes.append(f"{sent[BRIDGE]} frames per bridge run ({gb} frames/message), "
                     f"{sent[DIRECT]} per direct run ({hb} frames/POST, "
                     f"{hb * (16 + 4 * u) / 2**20:.2f} MiB), {L} layers round-robin")

    ch = channel(env.grpc_target)
    stub = NeuralHeatmapServiceStub(ch)

    async def bridge_run() -> int:
        async def gen() -> Any:
            for i in range(n_grpc_msgs):
                yield grpc_msgs[i % len(grpc_msgs)]
        resp = await stub.IngestActivations(gen(), timeout=600)
        if resp.frames_rejected:
            res.notes.append(f"bridge rejected {resp.frames_rejected} frames: "
                             f"{[r.message for r in resp.rejections[:2]]}")
        return int(resp.frames_accepted)

    timeout = aiohttp.ClientTimeout(total=600)
    ingest_path = routes.http("IngestActivations").path
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def direct_run() -> int:
            acc = 0
            for i in range(n_http_posts):
                layer, body = http_bodies[i % len(http_bodies)]
                async with http.post(base + ingest_path, data=body, params={
                        "model_id": MODELS[DIRECT], "layer_id": layer, "units": str(u)},
                        headers={"Content-Type": "application/vnd.neural-heatmap.frames"}) as r:
                    text = await r.text()
                    if r.status != 200:
                        raise RuntimeError(f"direct ingest -> {r.status}: {text[:200]}")
                acc += hb
            return acc

        fns = {BRIDGE: bridge_run, DIRECT: direct_run}
        # warm-up: one small round each, so layers exist and code paths are hot
        for fn in fns.values():
            saved = (n_grpc_msgs, n_http_posts)
            n_grpc_msgs, n_http_posts = 1, 1
            await fn()
            n_grpc_msgs, n_http_posts = saved
        idle_probe = await _probe_ms(http, base)
        fps: dict[str, list[float]] = {k: [] for k in fns}
        visible_s: dict[str, list[float]] = {k: [] for k in fns}
        probe_after: dict[str, list[float]] = {k: [] for k in fns}
        mismatches: list[str] = []
        cpu: dict[str, list[Any]] = {k: [] for k in fns}
        for rep in range(s.ingest_reps):
            for name in alternate(list(fns), rep):
                before = await _model_frames(http, base, MODELS[name])
                meter = CpuMeter(env)
                meter.start()
                t = time.perf_counter()
                accepted = await fns[name]()
                wall = time.perf_counter() - t
                cpu[name].append(meter.stop())
                probe_after[name].append(await _probe_ms(http, base, 3))
                fps[name].append(accepted / wall)
                t_vis = time.perf_counter()
                after = before
                while time.perf_counter() - t_vis < 10.0:
                    after = await _model_frames(http, base, MODELS[name])
                    if after - before >= sent[name]:
                        break
                    await asyncio.sleep(0.05)
                visible_s[name].append(wall + (time.perf_counter() - t_vis))
                if accepted != sent[name] or after - before != sent[name]:
                    mismatches.append(f"{name} rep {rep}: sent {sent[name]}, accepted "
                                      f"{accepted}, server count +{after - before}")
    await ch.close()

    g = f"{s.ingest_units}-unit frames, {s.ingest_reps} reps"
    res.metric(g, DIRECT, "frames/s", "frames/s", fps[DIRECT])
    res.metric(g, BRIDGE, "frames/s", "frames/s", fps[BRIDGE],
               ratio=paired(fps[BRIDGE], fps[DIRECT]), ratio_label="x direct")
    res.metric(g, DIRECT, "MB/s of float32", "MB/s", [f * u * 4 / 1e6 for f in fps[DIRECT]])
    res.metric(g, BRIDGE, "MB/s of float32", "MB/s", [f * u * 4 / 1e6 for f in fps[BRIDGE]])
    res.metric(g, DIRECT, "query ms right after run", "ms", probe_after[DIRECT],
               note=f"idle {idle_probe:.2f} ms")
    res.metric(g, BRIDGE, "query ms right after run", "ms", probe_after[BRIDGE],
               note=f"idle {idle_probe:.2f} ms")
    res.extra["cpu_share"] = cpu
    res.extra["visible_seconds"] = visible_s
    res.notes.append("frame counts: " + ("server count grew by exactly what was sent in every "
                                         "run" if not mismatches else "; ".join(mismatches)))
    for name in fns:
        c = cpu[name][-1]
        res.notes.append(f"{name}: CPU share of one core: " + ", ".join(
            f"{k} {v:.2f}" for k, v in c.items() if v is not None))
    bmed = float(np.median(fps[BRIDGE]))
    dmed = float(np.median(fps[DIRECT]))
    keep = "" if not mismatches else "frame counts did not match (see notes)"
    res.target("ingest_bridge", f"ingest through the bridge, {u}-unit frames", ">= 2000 frames/s",
               bmed, "frames/s", bmed >= 2000 and not mismatches, keep)
    res.target("ingest_direct", f"(server) ingest direct HTTP binary, {u}-unit frames",
               ">= 1000 frames/s", dmed, "frames/s", dmed >= 1000 and not mismatches, keep)
    return res
