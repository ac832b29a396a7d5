"""The bridge's memory returns near its baseline after streams close (``make test-long``).

Issue 23, finding 5: with 500 never-read ``SubscribeAnomalies`` calls the
bridge's RSS grew with every message delivered and stayed up after the calls
closed, run after run (72 -> 317 MiB). The cause was native protobuf memory:
the memo of encoded updates (``_shared_updates``) pinned every update message
it remembered and was bounded by the encodings' bytes alone.

Ingestion raises ``RATE`` anomalies per second throughout. Each wave opens
``IDLE`` calls that are never read and ``READERS`` that are (resuming after
any end, as clients do), holds them ``WAVE`` seconds, and closes them; the
bridge's RSS is sampled ``SETTLE`` seconds later. The first ``WARM_UP`` waves
warm the bridge up (its bounded caches fill: ``--anomaly-cache`` and
``--ring-size`` are lowered so that they reach their bounds, and the memo of
encodings reaches its 1,024 entries; measured, the RSS levels off within
about 200 s); after every later wave the RSS must be within ``RSS_SLACK_MIB`` of
the level after the warm-up, and after every wave no stream is left open in
the bridge (idle calls it ended as slow readers included: their handlers end
once their client leaves). Measured with ``scripts/bridge_memory.py`` (500
idle calls, 20 readers, 40 anomalies/s, 75 s waves, default caches): before the
fix the RSS after each wave was 100.6, 115.0, 128.5, 137.5 MiB, growing for as
long as it ran; after it 92.4, 104.1, 110.1, 112.2 MiB, levelling off as the
anomaly cache reaches its 8,192 entries. Idle calls whose window fills are
ended by the slow-reader watchdog (``--slow-stream-timeout``); every reader
holds every anomaly logged while it was open, once, in order.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support._process import rss_mib
from tests.support.anomaly_consumers import ResumingConsumer, log_head, logged_sequences
from tests.support.bridge_process import BridgeProcess
from tests.support.metrics import metric
from tests.support.server_process import ServerProcess

IDLE = 500
READERS = 20
RATE = 40  # anomalies per second
WAVES = 7
WARM_UP = 3  # waves before the baseline: the bounded caches fill (see the module docstring)
WAVE = 45.0
SETTLE = 10.0
RSS_SLACK_MIB = 12.0
MODEL = "mem"
ACTIVE = 'nh_bridge_active_streams{method="SubscribeAnomalies"'
BRIDGE_ARGS = ["--anomaly-cache", "1024", "--ring-size", "1024", "--slow-stream-timeout", "10"]


async def _ingest(url: str, stop: asyncio.Event) -> None:
    """Ten requests a second, each logging ``RATE / 10`` anomalies (one NaN layer each)."""
    per_request = RATE // 10
    step = 0
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            frames = [
                {"model_id": MODEL, "layer_id": f"l{i}", "step": step,
                 "values": ["NaN", *([0.5] * 63)]}
                for i in range(per_request)
            ]
            step += 1
            async with http.post(f"{url}/api/activations", data=json.dumps({"frames": frames}),
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
            await asyncio.sleep(0.1)


async def _wave(server: ServerProcess, bridge: BridgeProcess) -> None:
    """One wave of idle calls and readers; every stream has left the bridge at its end."""
    async with aiohttp.ClientSession(base_url=server.url) as http:
        start = await log_head(http)
    channels = [bridge.aio_channel() for _ in range(4)]
    stubs = [pb_grpc.NeuralHeatmapServiceStub(ch) for ch in channels]
    idle = [stubs[i % 4].SubscribeAnomalies(pb.SubscribeAnomaliesRequest(model_ids=[MODEL]))
            for i in range(IDLE)]
    readers = [ResumingConsumer(stubs[i % 4], start, [MODEL]) for i in range(READERS)]
    tasks = [asyncio.create_task(r.run()) for r in readers]
    await asyncio.sleep(WAVE)
    async with aiohttp.ClientSession(base_url=server.url) as http:
        end = await log_head(http)
        logged = [s for s in await logged_sequences(http, start, MODEL) if s <= end]
    async with asyncio.timeout(60):
        while any(len(r.seen) < len(logged) for r in readers):
            await asyncio.sleep(0.5)
    for t in tasks:
        t.cancel()
    for call in idle:
        call.cancel()
    for ch in channels:
        await ch.close()
    for r in readers:
        assert r.seen[: len(logged)] == logged, "a reader lost or repeated anomalies"
    assert bridge.metrics_url is not None
    async with asyncio.timeout(60):
        while await metric(bridge.metrics_url, ACTIVE):
            await asyncio.sleep(0.5)


@pytest.mark.long
@pytest.mark.timeout(WAVES * (WAVE + SETTLE + 60) + 120)
async def test_bridge_rss_returns_near_its_baseline_after_waves_of_idle_streams() -> None:
    with (
        ServerProcess(extra_args=["--anomaly-cooldown", "0", "--anomaly-retention",
                                  "1000000"]) as server,
        BridgeProcess(server.url, *BRIDGE_ARGS, metrics=True) as bridge,
    ):
        stop = asyncio.Event()
        writer = asyncio.create_task(_ingest(server.url, stop))
        started = rss_mib(bridge.pid)
        after: list[float] = []
        try:
            for _ in range(WAVES):
                await _wave(server, bridge)
                await asyncio.sleep(SETTLE)
                after.append(rss_mib(bridge.pid))
                assert not writer.done(), writer.exception()
        finally:
            stop.set()
            await writer
        assert bridge.metrics_url is not None
        cut = await metric(bridge.metrics_url, "nh_bridge_slow_streams_total")
    print(f"bridge RSS: {started:.1f} MiB at start, after each wave "
          f"{[round(r, 1) for r in after]}; idle calls ended as slow readers: {cut:.0f}")
    baseline = after[WARM_UP - 1]
    assert max(after[WARM_UP:]) - baseline <= RSS_SLACK_MIB, (started, after)
