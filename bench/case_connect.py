"""Case connect: the bridge's web port (Connect, gRPC-Web) next to its gRPC port, same calls.

One bridge serves both ports (``--web-port``), so every ratio compares protocols over the
same handlers in the same process. Variants: gRPC (the reference), Connect binary,
Connect JSON and gRPC-Web binary, all over the bridge's own HTTP/1.1 port (uvicorn).

* unary ``GetAnomalies(limit=10)`` (the unary case's call, read cache on): latency at
  concurrency 1 from Python clients (grpc.aio; connectrpc's client, whose HTTP stack is
  another library, so its cost is in the ratio too), and throughput at concurrency 32
  from the Go load generators (ghz for gRPC, hey POSTing the Connect and gRPC-Web bodies),
  which keep the clients' cost out of the ratio;
* streaming ``SubscribeAnomalies``: catch-up (every logged anomaly of a model from
  sequence 0, anomalies per second) and live delivery (one NaN frame posted to the
  server at a time; ms until each transport's stream has its anomaly; all four streams
  open at once, so they wait for the same event). The sequences delivered are checked
  against the log on every transport (``connect_lossless``).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np

from bench._data import channel, head_sequence, ingest_binary, logged_sequences, nan_frames
from bench._procs import Environment, add_bridge, free_port
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, paired, percentile
from bench._tools import run_ghz, run_hey
from bench._unary import latency, python_load, warm_up

MODEL, LIVE = "bench-connect", "bench-connect-live"
GRPC = "gRPC (grpc.aio)"
WEB = {"Connect binary": ("connect", "proto"), "Connect JSON": ("connect", "json"),
       "gRPC-Web binary": ("grpc-web", "proto")}
SERVICE = "neural_heatmap.v1.NeuralHeatmapService"
LIVE_WAIT_S = 10.0  # longest wait for one live anomaly on every stream


def _web_client(url: str, protocol: str, codec: str) -> Any:
    from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
    from connectrpc.protocol import ProtocolType
    from neural_heatmap_contract.v1.neural_heatmap_service_connect import (
        NeuralHeatmapServiceClient,
    )

    return NeuralHeatmapServiceClient(
        url, protocol=ProtocolType.CONNECT if protocol == "connect" else ProtocolType.GRPC_WEB,
        codec=google_protobuf_json_codec() if codec == "json" else google_protobuf_binary_codec(),
        send_compression=None, accept_compression=(),
    )


def _hey_request(variant: str, request: Any) -> tuple[bytes, str, list[str]]:
    """Body, content type and headers of one unary call as hey sends it."""
    protocol, codec = WEB[variant]
    if protocol == "grpc-web":
        data = request.SerializeToString()
        return (b"\0" + struct.pack(">I", len(data)) + data, "application/grpc-web+proto",
                ["X-Grpc-Web: 1"])
    if codec == "json":
        from google.protobuf import json_format

        return json_format.MessageToJson(request).encode(), "application/json", \
            ["Connect-Protocol-Version: 1"]
    return request.SerializeToString(), "application/proto", ["Connect-Protocol-Version: 1"]


async def _check_body(url: str, variant: str, request: Any) -> None:
    """One call with hey's body: hey counts any 200 as success, and gRPC-Web reports its
    failures inside a 200 answer, so the body must be right before it is timed."""
    body, ctype, headers = _hey_request(variant, request)
    extra = dict(h.split(": ", 1) for h in headers)
    async with aiohttp.ClientSession() as http, http.post(
        url, data=body, headers={"content-type": ctype, **extra}
    ) as r:
        answer = await r.read()
    grpc_ok = WEB[variant][0] != "grpc-web" or b"grpc-status: 0\r\n" in answer.lower()
    ok = r.status == 200 and grpc_ok
    if not ok:
        raise RuntimeError(f"{variant} call for hey failed: {r.status} {answer[-200:]!r}")


async def _seed(http: aiohttp.ClientSession, base: str, model: str, count: int) -> None:
    rng = np.random.default_rng(5)
    for _ in range(count):  # one anomaly per one-frame batch
        await ingest_binary(http, base, model, "fc1", nan_frames(1, 16, rng))


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    res = CaseResult("connect", "Connect and gRPC-Web on the web port vs gRPC, same bridge")
    web_port = free_port()
    target, _pid = await asyncio.to_thread(add_bridge, env, "--web-port", str(web_port))
    web = f"http://127.0.0.1:{web_port}"
    base = env.http_url
    async with aiohttp.ClientSession() as http:
        await _seed(http, base, MODEL, s.connect_catchup)
        logged = await logged_sequences(http, base, MODEL, 0, await head_sequence(http, base))
    res.notes.append(f"seeded {len(logged)} anomalies of {MODEL} (one NaN frame per batch)")
    ch = channel(target)
    stub = NeuralHeatmapServiceStub(ch)
    clients = {v: _web_client(web, *pw) for v, pw in WEB.items()}
    try:
        req = pb.GetAnomaliesRequest(limit=10)

        def web_call(v: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                await clients[v].get_anomalies(req, timeout_ms=10000)
            return call

        async def grpc_call() -> None:
            await stub.GetAnomalies(req, timeout=10)

        calls = {GRPC: grpc_call, **{v: web_call(v) for v in WEB}}
        await warm_up(calls)
        p50, p99 = await latency(calls, s)
        group = f"unary GetAnomalies(limit=10), concurrency 1, {s.unary_requests} req x {s.reps}"
        for metric, vals in (("p50", p50), ("p99", p99)):
            res.metric(group, GRPC, metric, "ms", vals[GRPC])
            for v in WEB:
                res.metric(group, v, metric, "ms", vals[v], ratio=paired(vals[v], vals[GRPC]),
                           ratio_label="x gRPC")
        await _throughput(res, s, ctx, target, web, req, calls)
        await _catch_up(res, s, stub, clients, logged, pb)
        await _live(res, s, base, stub, clients, pb)
    finally:
        await ch.close()
        for client in clients.values():
            await client.close()
    return res


async def _throughput(res: CaseResult, s: Settings, ctx: dict[str, Any], target: str, web: str,
                      req: Any, calls: dict[str, Callable[[], Awaitable[None]]]) -> None:
    ghz, hey = ctx["tools"].get("ghz"), ctx["tools"].get("hey")
    protoset = ctx.get("protoset")
    c = s.unary_concurrency
    use_go = bool(ghz and hey and protoset)
    if not use_go:
        res.notes.append("ghz/hey not found: throughput measured with Python clients instead "
                         "(includes client overhead); run `make setup`")
    rps: dict[str, list[float]] = {k: [] for k in calls}
    tp99: dict[str, list[float]] = {k: [] for k in calls}
    errors = dict.fromkeys(calls, 0)
    url = f"{web}/{SERVICE}/GetAnomalies"
    for rep in range(s.reps):
        for name in alternate(list(calls), rep):
            if not use_go:
                out = await python_load(calls[name], c, s.unary_seconds)
            elif name == GRPC:
                out = await asyncio.to_thread(run_ghz, ghz, protoset, target, "GetAnomalies",
                                              {"limit": 10}, c, s.unary_seconds)
            else:
                if rep == 0:
                    await _check_body(url, name, req)
                body, ctype, headers = _hey_request(name, req)
                out = await asyncio.to_thread(run_hey, hey, url, c, s.unary_seconds, body=body,
                                              content_type=ctype, headers=headers)
            rps[name].append(out["rps"])
            tp99[name].append(out["p99_ms"] if out["p99_ms"] is not None else np.nan)
            # ghz counts the calls in flight at its end (about one per worker) as failed.
            errors[name] += max(0, int(out["errors"]) - (c if name == GRPC else 0))
    tools = "ghz / hey" if use_go else f"python x{c}"
    group = f"unary throughput, concurrency {c} ({tools}), {s.unary_seconds:g} s x {s.reps}"
    for metric, vals, unit in (("requests/s", rps, "req/s"), ("p99 under load", tp99, "ms")):
        res.metric(group, GRPC, metric, unit, vals[GRPC])
        for v in WEB:
            res.metric(group, v, metric, unit, vals[v], ratio=paired(vals[v], vals[GRPC]),
                       ratio_label="x gRPC")
    res.extra["throughput_errors"] = errors


async def _catch_up(res: CaseResult, s: Settings, stub: Any, clients: dict[str, Any],
                    logged: list[int], pb: Any) -> None:
    """Every logged anomaly of MODEL from sequence 0, per transport: anomalies per second."""
    want = len(logged)
    request = pb.SubscribeAnomaliesRequest(after_sequence=0, model_ids=[MODEL])
    rate: dict[str, list[float]] = {GRPC: [], **{v: [] for v in WEB}}
    mismatches = 0

    async def read(name: str) -> list[int]:
        seqs: list[int] = []
        if name == GRPC:
            call = stub.SubscribeAnomalies(request, timeout=120)
            async for msg in call:
                seqs.extend(a.sequence for a in msg.update.anomalies)
                if len(seqs) >= want:
                    call.cancel()
                    break
            return seqs
        stream = clients[name].subscribe_anomalies(request, timeout_ms=120000)
        async with contextlib.aclosing(stream):
            async for msg in stream:
                seqs.extend(a.sequence for a in msg.update.anomalies)
                if len(seqs) >= want:
                    break
        return seqs

    for rep in range(s.reps):
        for name in alternate(list(rate), rep):
            t0 = time.perf_counter()
            seqs = await read(name)
            rate[name].append(len(seqs) / (time.perf_counter() - t0))
            mismatches += int(seqs != logged)
    group = f"SubscribeAnomalies catch-up of {want} anomalies from sequence 0, x {s.reps}"
    res.metric(group, GRPC, "anomalies/s", "1/s", rate[GRPC])
    for v in WEB:
        res.metric(group, v, "anomalies/s", "1/s", rate[v], ratio=paired(rate[v], rate[GRPC]),
                   ratio_label="x gRPC")
    res.extra["catch_up_mismatches"] = mismatches


async def _live(res: CaseResult, s: Settings, base: str, stub: Any, clients: dict[str, Any],
                pb: Any) -> None:
    """One NaN frame at a time; ms until every transport's live stream has its anomaly."""
    names = [GRPC, *WEB]
    arrivals: dict[str, list[float]] = {n: [] for n in names}
    seqs: dict[str, list[int]] = {n: [] for n in names}
    request = pb.SubscribeAnomaliesRequest(model_ids=[LIVE])
    rng = np.random.default_rng(9)

    async def consume(name: str) -> None:
        stream = (stub.SubscribeAnomalies(request, timeout=600) if name == GRPC
                  else clients[name].subscribe_anomalies(request, timeout_ms=600000))
        async for msg in stream:
            for a in msg.update.anomalies:
                arrivals[name].append(time.perf_counter())
                seqs[name].append(a.sequence)

    async with aiohttp.ClientSession() as http:
        # The model must exist before a live stream may name it.
        await ingest_binary(http, base, LIVE, "fc1", np.zeros((1, 16), dtype=np.float32))
        tasks = [asyncio.get_running_loop().create_task(consume(n)) for n in names]
        try:
            p50: dict[str, list[float]] = {n: [] for n in names}
            p99: dict[str, list[float]] = {n: [] for n in names}
            missed = 0
            primed = False
            for _rep in range(s.reps):
                lat: dict[str, list[float]] = {n: [] for n in names}
                for _ in range(s.connect_live_events + (0 if primed else 1)):
                    count = {n: len(arrivals[n]) for n in names}
                    t0 = time.perf_counter()
                    await ingest_binary(http, base, LIVE, "fc1", nan_frames(1, 16, rng))
                    deadline = t0 + LIVE_WAIT_S
                    while (any(len(arrivals[n]) <= count[n] for n in names)
                           and time.perf_counter() < deadline):
                        await asyncio.sleep(0.0005)
                    if not primed:  # the first one only proves every stream subscribed
                        primed = True
                        continue
                    for n in names:
                        if len(arrivals[n]) > count[n]:
                            lat[n].append((arrivals[n][count[n]] - t0) * 1e3)
                        else:
                            missed += 1
                for n in names:
                    p50[n].append(percentile(lat[n], 50))
                    p99[n].append(percentile(lat[n], 99))
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    group = (f"SubscribeAnomalies live: NaN frame posted -> anomaly on the stream, "
             f"{s.connect_live_events} events x {s.reps}, four streams open together")
    for metric, vals in (("p50", p50), ("p99", p99)):
        res.metric(group, GRPC, metric, "ms", vals[GRPC])
        for v in WEB:
            res.metric(group, v, metric, "ms", vals[v], ratio=paired(vals[v], vals[GRPC]),
                       ratio_label="x gRPC")
    differ = sum(int(seqs[v] != seqs[GRPC]) for v in WEB)
    catch_up = int(res.extra.get("catch_up_mismatches", 0))
    res.extra["live_sequences_differ"] = differ
    res.extra["live_missed"] = missed
    bad = catch_up + differ + missed
    res.target("connect_lossless",
               "Connect and gRPC-Web streams deliver exactly gRPC's anomaly sequences",
               "0 differences", float(bad), "streams", bad == 0,
               f"catch-up runs differing from the log {catch_up}, live streams differing from "
               f"gRPC's {differ}, live anomalies not delivered within {LIVE_WAIT_S:g} s {missed}")
