"""A client process holding many SubscribeAnomalies streams (run by the fan-out case).

Protocol (JSON lines): the worker prints ``{"event": "ready", ...}`` once every
stream has received at least one anomaly (warm-up), and ``{"event": "progress"}``
lines meanwhile. The parent then writes ``{"cmd": "check", "expected": [...],
"drain": s, "out": path}``; the worker waits until every stream holds every
expected sequence (or ``drain`` seconds pass), saves the end-to-end latencies of
the expected deliveries to ``out`` (``.npy``, seconds) and prints one result line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import sys
import time
from typing import Any

import grpc
import numpy as np

from bench._data import GRPC_OPTIONS


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(argv: list[str] | None = None) -> None:
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1.neural_heatmap_service_pb2_grpc import NeuralHeatmapServiceStub

    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--subscribers", type=int, required=True)
    ap.add_argument("--per-channel", type=int, default=100)
    ap.add_argument("--model", required=True)
    ap.add_argument("--max-seconds", type=float, default=600.0)
    a = ap.parse_args(argv)

    n = a.subscribers
    nch = max(1, math.ceil(n / a.per_channel))
    # A list of bridges (``ipv4:h:p1,h:p2``, the cluster case) is balanced stream by stream.
    balance = [("grpc.lb_policy_name", "round_robin")] if "," in a.target else []
    channels = [grpc.aio.insecure_channel(a.target, options=[
        *GRPC_OPTIONS, ("grpc.use_local_subchannel_pool", 1), *balance]) for _ in range(nch)]
    stubs = [NeuralHeatmapServiceStub(c) for c in channels]
    seqs: list[list[int]] = [[] for _ in range(n)]
    lats: list[list[float]] = [[] for _ in range(n)]
    errors: dict[int, str] = {}
    ready = 0
    all_ready = asyncio.Event()
    calls: list[Any] = []

    async def subscriber(i: int) -> None:
        nonlocal ready
        call = stubs[i % nch].SubscribeAnomalies(
            pb.SubscribeAnomaliesRequest(model_ids=[a.model]))
        calls.append(call)
        first = True
        try:
            async for resp in call:
                now = time.time()
                s_i, l_i = seqs[i], lats[i]
                for an in resp.update.anomalies:
                    s_i.append(an.sequence)
                    l_i.append(now - (an.timestamp.seconds + an.timestamp.nanos * 1e-9))
                if first:
                    first = False
                    ready += 1
                    if ready == n:
                        all_ready.set()
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                errors[i] = f"{exc.code().name}: {exc.details()}"
        except asyncio.CancelledError:
            pass

    tasks = [asyncio.create_task(subscriber(i)) for i in range(n)]
    deadline = time.monotonic() + a.max_seconds
    while not all_ready.is_set() and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(all_ready.wait(), timeout=1.0)
        except TimeoutError:
            _emit({"event": "progress", "ready": ready, "errors": len(errors)})
    _emit({"event": "ready", "ready": ready, "errors": len(errors)})

    line = await asyncio.to_thread(sys.stdin.readline)
    cmd = json.loads(line) if line.strip() else {"cmd": "stop"}
    result: dict[str, Any] = {"event": "result"}
    if cmd.get("cmd") == "check":
        expected = cmd["expected"]
        exp_set = set(expected)
        last = max(expected) if expected else 0
        drain_deadline = time.monotonic() + float(cmd.get("drain", 10.0))
        while time.monotonic() < drain_deadline:
            if all((s and s[-1] >= last) or i in errors for i, s in enumerate(seqs)):
                break
            await asyncio.sleep(0.05)
        lost = dup = out_of_order = delivered = 0
        lat_all: list[float] = []
        incomplete = 0
        for i in range(n):
            got = [(s, lat) for s, lat in zip(seqs[i], lats[i], strict=True) if s in exp_set]
            got_seqs = [s for s, _ in got]
            uniq = set(got_seqs)
            delivered += len(got_seqs)
            dup += len(got_seqs) - len(uniq)
            missing = len(exp_set - uniq)
            lost += missing
            incomplete += missing > 0
            out_of_order += sum(1 for x, y in itertools.pairwise(got_seqs) if y <= x)
            lat_all.extend(lat for _, lat in got)
        np.save(cmd["out"], np.asarray(lat_all, dtype=np.float64))
        result.update(subscribers=n, expected=len(expected), delivered=delivered, lost=lost,
                      duplicates=dup, out_of_order=out_of_order, errors=len(errors),
                      incomplete_subscribers=incomplete,
                      error_samples=list(errors.values())[:3])
    for c in calls:
        c.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ch in channels:
        await ch.close()
    _emit(result)


if __name__ == "__main__":
    asyncio.run(main())
