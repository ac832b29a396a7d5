"""``client.consume(name, handler)``: the service keeps the cursor, the SDK keeps nothing."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from neural_heatmap import Anomaly, NeuralHeatmapClient

from tests.support.anomaly_consumers import post_nan_frames
from tests.support.server_process import ServerProcess


async def _consume(client: NeuralHeatmapClient, server: ServerProcess, name: str,
                   count: int) -> list[int]:
    """Run ``consume``, log ``count`` anomalies, return what the handler got, then cancel."""
    got: list[int] = []
    done = asyncio.Event()

    async def handler(anomaly: Anomaly) -> None:
        got.append(anomaly.sequence)
        if len(got) >= count:
            done.set()

    task = asyncio.create_task(client.consume(name, handler))
    try:
        await asyncio.sleep(0.5)  # subscribed: a new consumer starts at the log's head
        async with aiohttp.ClientSession(server.url) as http:
            await post_nan_frames(http, "sdk-consume", count)
        await asyncio.wait_for(done.wait(), 20)
        await asyncio.sleep(0.3)  # the last acknowledgement
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return got


async def test_consume_resumes_after_the_last_acknowledged_anomaly(
        client: NeuralHeatmapClient, server: ServerProcess) -> None:
    first = await _consume(client, server, "sdk-billing", 3)
    second = await _consume(client, server, "sdk-billing", 2)
    assert len(first) == 3 and first == sorted(first)
    # nothing handled twice: the service kept the cursor, the client kept nothing
    assert second == [first[-1] + 1, first[-1] + 2]
    assert await client.ack_anomalies("sdk-billing", 0) == second[-1]
