"""Many resuming plain-stub subscribers through bridge and server kills (issue 18).

Every consumer is a raw ``SubscribeAnomalies`` stream that reopens with
``after_sequence`` = the last sequence it received on any error
(``tests/support/anomaly_consumers``). Anomalies flow all along (through the
server's HTTP route, so they keep coming while the bridge is down); the bridge
and the server are SIGKILLed and restarted on the same ports. At the end every
consumer must hold exactly the sequences the server logged, each once, in order.

``make test`` runs 200 consumers (streams spread over a few connections) through
one bridge kill and one server kill; ``make test-long`` runs 1,000 consumers on
separate channels of one process (so, like the issue's reporter, on one shared
HTTP/2 connection) through three of each, five times.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.anomaly_consumers import (
    ResumingConsumer,
    channels,
    log_head,
    logged_sequences,
    post_nan_frames,
)
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

MODEL = "m-mass"


async def _produce(url: str, stop: asyncio.Event, per_second: int) -> None:
    """Log ``per_second`` anomalies a second in batches of 4; retry while the server is down."""
    async with aiohttp.ClientSession(base_url=url) as http:
        while not stop.is_set():
            with contextlib.suppress(aiohttp.ClientError, OSError, AssertionError):
                await post_nan_frames(http, MODEL, 4)
            await asyncio.sleep(4 / per_second)


async def _until_all(
    consumers: list[ResumingConsumer], expected: list[int], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while any(c.seen[-1:] != expected[-1:] for c in consumers):
        if time.monotonic() > deadline:
            behind = [c for c in consumers if c.seen[-1:] != expected[-1:]]
            raise AssertionError(
                f"{len(behind)} of {len(consumers)} consumers not at {expected[-1]}; e.g. "
                f"last={[c.last for c in behind[:5]]} "
                f"reopened={[dict(c.reopened) for c in behind[:5]]}"
            )
        await asyncio.sleep(0.2)


async def run_mass_reconnect(
    consumers: int, connections: int | None, kills: list[str], per_second: int = 20
) -> None:
    """Run the scenario; ``connections=None`` puts every consumer on its own channel."""
    server = ServerProcess(extra_args=["--anomaly-cooldown", "0"])
    server.start()
    bridge = BridgeProcess(server.url, "--heartbeat-interval", "1", "--stall-timeout", "4")
    bridge.start()
    chans = (
        channels(bridge.target, consumers, own_connections=False)
        if connections is None
        else channels(bridge.target, connections, own_connections=True)
    )
    tasks: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession(base_url=server.url) as http:
            start = await log_head(http)
        subs = [
            ResumingConsumer(
                pb_grpc.NeuralHeatmapServiceStub(chans[i % len(chans)]), start, [MODEL]
            )
            for i in range(consumers)
        ]
        tasks = [asyncio.create_task(c.run()) for c in subs]
        producer = asyncio.create_task(_produce(server.url, stop, per_second))
        # Every stream is live. A functional bound, not a speed check: alone, a whole run
        # takes ~40 s on 2 cores; with a CI run beside it, 60 s to go live was too few.
        deadline = time.monotonic() + 180
        while not all(c.seen for c in subs):
            assert time.monotonic() < deadline, (
                f"{sum(1 for c in subs if not c.seen)} streams received nothing in 180 s")
            await asyncio.sleep(0.2)
        for victim in kills:
            proc = bridge if victim == "bridge" else server
            proc.kill()
            await asyncio.sleep(0.5)  # anomalies keep being logged (or refused) meanwhile
            await asyncio.to_thread(proc.start)
            await asyncio.sleep(3.0)
        stop.set()
        await producer
        async with aiohttp.ClientSession(base_url=server.url) as http:
            expected = await logged_sequences(http, start, MODEL)
        await _until_all(subs, expected, 120)
        await asyncio.sleep(1.0)  # nothing extra arrives
        wrong = [i for i, c in enumerate(subs) if c.seen != expected]
        assert not wrong, (
            f"{len(wrong)} consumers differ from the log of {len(expected)}; first: "
            f"{subs[wrong[0]].seen[-10:]} vs {expected[-10:]}"
        )
        assert all(c.reopened for c in subs), "every consumer went through the kills"
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(ch.close() for ch in chans))
        bridge.stop()
        server.cleanup()


async def test_200_resuming_subscribers_through_a_bridge_and_a_server_kill() -> None:
    await run_mass_reconnect(200, connections=4, kills=["bridge", "server"])


@pytest.mark.long
@pytest.mark.parametrize("run", range(5))
async def test_1000_resuming_subscribers_through_repeated_kills(run: int) -> None:
    await run_mass_reconnect(
        1000, connections=None, kills=["bridge", "server", "bridge", "server", "bridge", "server"]
    )
