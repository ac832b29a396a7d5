"""Soak (``make test-long``): 200 subscribers through a bridge, continuous ingestion, 10 minutes.

Ingestion runs at a steady rate over HTTP (every tenth frame raises an
anomaly, every frame feeds the heatmaps and analytics); 200 gRPC
subscribers follow the anomaly log through a real bridge, 50 more follow
heatmaps. RSS of server and bridge is sampled every few seconds; after the
warm-up (the first fifth of the run) it must stay flat: the highest sample
may exceed the first post-warm-up sample by at most ``RSS_GROWTH_MIB``.
Nothing is lost: every subscriber receives every logged sequence, in order.

``NH_SOAK_SECONDS`` shortens the run (e.g. 60 to try it out).
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import aiohttp
import numpy as np
import pytest
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support._process import rss_mib
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

SOAK_SECONDS = float(os.environ.get("NH_SOAK_SECONDS", "600"))
ANOMALY_SUBSCRIBERS = 200
HEATMAP_SUBSCRIBERS = 50
RSS_GROWTH_MIB = 64.0
SAMPLE_EVERY = 5.0



async def _ingest(url: str, stop: asyncio.Event) -> int:
    """Ten frames per batch, ten batches per second, one NaN frame per batch."""
    rng = np.random.default_rng(0)
    step = 0
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            frames = []
            for i in range(10):
                values = rng.normal(size=64).astype(float).tolist()
                if i == 0:
                    values[3] = "NaN"
                frames.append({"model_id": "soak", "layer_id": f"l{step % 4}", "step": step,
                               "values": values})
                step += 1
            async with http.post(f"{url}/api/activations", data=json.dumps({"frames": frames}),
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
            await asyncio.sleep(0.1)
    return step


async def _model_exists(url: str, model: str) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(30):
        while True:
            async with http.get(f"{url}/api/models") as resp:
                if model in {m["model_id"] for m in (await resp.json())["models"]}:
                    return
            await asyncio.sleep(0.05)


async def _logged(url: str) -> list[int]:
    logged: list[int] = []
    async with aiohttp.ClientSession() as http:
        while True:
            params = {"limit": "10000", "after_sequence": str(logged[-1] if logged else 0)}
            async with http.get(f"{url}/api/anomalies", params=params) as resp:
                page = await resp.json()
            if not page["anomalies"]:
                return logged
            logged += [a["sequence"] for a in page["anomalies"]]


@pytest.mark.long
@pytest.mark.timeout(SOAK_SECONDS + 300)
async def test_soak_200_subscribers_continuous_ingestion() -> None:
    with ServerProcess(extra_args=["--anomaly-cooldown", "0", "--anomaly-retention",
                                   "1000000"]) as server, BridgeProcess(server.url) as bridge:
        channels = [bridge.aio_channel() for _ in range(4)]
        stubs = [pb_grpc.NeuralHeatmapServiceStub(ch) for ch in channels]
        seen: list[list[int]] = [[] for _ in range(ANOMALY_SUBSCRIBERS)]
        heatmaps = [0] * HEATMAP_SUBSCRIBERS

        async def follow_anomalies(i: int) -> None:
            call = stubs[i % 4].SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=0))
            async for msg in call:
                seen[i] += [a.sequence for a in msg.update.anomalies]

        async def follow_heatmaps(i: int) -> None:
            call = stubs[i % 4].SubscribeHeatmap(pb.SubscribeHeatmapRequest(model_ids=["soak"]))
            async for _ in call:
                heatmaps[i] += 1

        stop = asyncio.Event()
        writer = asyncio.create_task(_ingest(server.url, stop))
        # A live heatmap stream may name only a model that exists (NOT_FOUND otherwise), so
        # the readers open once the first frame has made it; anomaly readers start from 0.
        await _model_exists(server.url, "soak")
        readers = [asyncio.create_task(follow_anomalies(i)) for i in range(ANOMALY_SUBSCRIBERS)]
        readers += [asyncio.create_task(follow_heatmaps(i)) for i in range(HEATMAP_SUBSCRIBERS)]
        samples: list[tuple[float, float, float]] = []
        started = time.monotonic()
        while time.monotonic() - started < SOAK_SECONDS:
            await asyncio.sleep(SAMPLE_EVERY)
            assert server.proc is not None
            samples.append((time.monotonic() - started, rss_mib(server.proc.pid),
                            rss_mib(bridge.pid)))
            assert not writer.done(), writer.exception()
        stop.set()
        frames = await writer
        logged = await _logged(server.url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(len(s) < len(logged) for s in seen):
            await asyncio.sleep(0.5)
        for task in readers:
            task.cancel()
        for ch in channels:
            await ch.close()

    assert len(logged) >= frames // 10 * 0.9, (len(logged), frames)
    for i, s in enumerate(seen):
        assert s == logged, f"subscriber {i} got {len(s)} of {len(logged)} anomalies"
    assert all(h > 0 for h in heatmaps)
    warm = [s for s in samples if s[0] >= SOAK_SECONDS / 5]
    assert len(warm) >= 3, samples
    for column, name in ((1, "server"), (2, "bridge")):
        base = warm[0][column]
        peak = max(s[column] for s in warm)
        print(f"{name} RSS after warm-up: {base:.1f} MiB -> peak {peak:.1f} MiB, "
              f"last {warm[-1][column]:.1f} MiB")
        assert peak - base <= RSS_GROWTH_MIB, (name, [round(s[column], 1) for s in samples])
