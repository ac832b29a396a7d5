"""N bridges on a JetStream anomaly log survive the loss of any part, and nothing is lost.

NATS JetStream, one server and three bridges on loopback ports; plain resuming
consumers reach the bridges through one gRPC channel balanced with
``round_robin`` over the three addresses, and the bridges end connections after
``--max-connection-age`` so streams move between them. A writer ingests 20
anomalies/s while, in turn, one bridge is SIGKILLed (and restarted), then
another, then the server, then the NATS server (restarted on the same store).
At the end every consumer holds every sequence of the stream exactly once, in
order; counts are printed. The short run is in ``make test``; the minute-long
one in ``make test-long``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import aiohttp
import nats
import pytest
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.anomaly_consumers import ResumingConsumer
from tests.support.cluster import STREAM, Cluster

RATE = 20  # anomalies per second
LAYERS_PER_POST = 2


async def _writer(url: str, stop: asyncio.Event) -> int:
    """Ingest ``RATE`` anomalies/s until ``stop``; failed posts (server down) are skipped."""
    posted = 0
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=3)) as http:
        while not stop.is_set():
            frames = [{"model_id": "chaos", "layer_id": f"l{i}", "values": [float("nan"), 1.0]}
                      for i in range(LAYERS_PER_POST)]
            try:
                async with http.post("/api/activations", json={"frames": frames}) as resp:
                    posted += LAYERS_PER_POST if resp.status == 200 else 0
            except (aiohttp.ClientError, TimeoutError, ConnectionError):
                pass
            await asyncio.sleep(LAYERS_PER_POST / RATE)
    return posted


async def _stream_sequences(url: str) -> list[int]:
    """Every sequence the stream holds (the truth the consumers are checked against)."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(STREAM)
        return list(range(info.state.first_seq, info.state.last_seq + 1))
    finally:
        await nc.close()


async def _run(duration: float) -> None:
    step = duration / 5
    with Cluster(bridges=3, max_connection_age=step) as cluster:
        channel = cluster.channel()
        stub = pb_grpc.NeuralHeatmapServiceStub(channel)
        consumers = [ResumingConsumer(stub, after=0) for _ in range(3)]
        tasks = [asyncio.create_task(c.run()) for c in consumers]
        stop = asyncio.Event()
        writer = asyncio.create_task(_writer(cluster.server.url, stop))

        def restart(kill: Callable[[], None], start: Callable[[], object]) -> None:
            kill()
            time.sleep(0.5)
            start()

        events = [
            ("bridge 1", lambda: restart(cluster.bridges[0].kill, cluster.bridges[0].start)),
            ("bridge 2", lambda: restart(cluster.bridges[1].kill, cluster.bridges[1].start)),
            ("server", lambda: restart(cluster.server.kill, cluster.server.start)),
            ("nats", lambda: restart(cluster.nats.kill, cluster.nats.start)),
        ]
        for name, event in events:
            await asyncio.sleep(step)
            print(f"SIGKILL {name}")
            await asyncio.to_thread(event)
        await asyncio.sleep(step)
        stop.set()
        posted = await writer
        expected = await _stream_sequences(cluster.nats.url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
                (c.seen[-1:] or [0])[0] < expected[-1] for c in consumers):
            await asyncio.sleep(0.5)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await channel.close()
        counts = {f"plain-{i}": {"received": len(c.seen), "reopened": dict(c.reopened)}
                  for i, c in enumerate(consumers)}
        print(json.dumps({"posted": posted, "logged": len(expected), "consumers": counts}))
        assert len(expected) >= posted > RATE * duration / 2
        for c in consumers:
            assert c.seen == expected  # every sequence exactly once, in order
            assert sum(c.reopened.values()) >= 2  # they did move between bridges


async def test_cluster_survives_bridge_server_and_nats_kills_short() -> None:
    await _run(duration=20)


@pytest.mark.long
async def test_cluster_survives_bridge_server_and_nats_kills_long() -> None:
    await _run(duration=60)
