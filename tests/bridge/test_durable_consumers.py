"""Durable named consumers and consumer groups, through a real bridge, on both log backends.

The server keeps each consumer's acknowledged cursor (plain consumers) or its
leases (groups, ``shared``); the tests use raw stubs, so what they show is what
the bridge and server guarantee, not an SDK. Each runs once with the SQLite log
and once with the log on NATS JetStream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import aiohttp
import grpc
import pytest
import pytest_asyncio
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.anomaly_consumers import post_nan_frames
from tests.support.bridge_process import BridgeProcess
from tests.support.nats_process import NatsProcess
from tests.support.server_process import ServerProcess

ACK_DEADLINE = 1.0


@pytest.fixture(params=["sqlite", "jetstream"])
def parts(request: pytest.FixtureRequest) -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    with ExitStack() as stack:
        log_args: list[str] = []
        if request.param == "jetstream":
            nats_server = stack.enter_context(NatsProcess())
            log_args = ["--anomaly-log", nats_server.url, "--anomaly-stream", "NH_DURABLE"]
        server = ServerProcess(extra_args=["--anomaly-cooldown", "0", "--consumer-ack-deadline",
                                           str(ACK_DEADLINE), *log_args])
        stack.callback(server.cleanup)
        server.start()
        bridge = stack.enter_context(BridgeProcess(server.url, *log_args))
        yield server, bridge


@pytest_asyncio.fixture
async def stub(parts: tuple[ServerProcess, BridgeProcess]
               ) -> AsyncIterator[pb_grpc.NeuralHeatmapServiceStub]:
    async with parts[1].aio_channel() as channel:
        yield pb_grpc.NeuralHeatmapServiceStub(channel)


async def _take(call: grpc.aio.UnaryStreamCall, count: int) -> list[int]:
    """The next ``count`` sequences of an anomaly stream (heartbeats skipped)."""
    seen: list[int] = []
    while len(seen) < count:
        msg = await asyncio.wait_for(call.read(), 15)
        seen += [a.sequence for a in msg.update.anomalies]
    return seen


async def test_a_named_consumer_resumes_after_its_last_ack_across_a_server_restart(
        parts: tuple[ServerProcess, BridgeProcess], stub: pb_grpc.NeuralHeatmapServiceStub
) -> None:
    server, _ = parts
    async with aiohttp.ClientSession(server.url) as http:
        await post_nan_frames(http, "before", 2)  # logged before the consumer exists
        call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(consumer="billing"))
        await asyncio.sleep(0.5)
        await post_nan_frames(http, "durable", 5)
        first = await _take(call, 5)
        call.cancel()
        assert first == [3, 4, 5, 6, 7]  # a new consumer starts at the log's head
        acked = await stub.AckAnomalies(pb.AckAnomaliesRequest(consumer="billing", sequence=5))
        assert acked.acked_sequence == 5
    server.restart()
    async with aiohttp.ClientSession(server.url) as http:
        await post_nan_frames(http, "durable", 1)
    call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(consumer="billing"))
    assert await _take(call, 3) == [6, 7, 8]  # unacknowledged ones again, then new
    call.cancel()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(
            consumer="billing", shared=True)).read()
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # a plain consumer's name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AckAnomalies(pb.AckAnomaliesRequest(consumer="no/such", sequence=1))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_group_splits_the_work_and_redelivers_what_a_dead_member_held(
        parts: tuple[ServerProcess, BridgeProcess], stub: pb_grpc.NeuralHeatmapServiceStub
) -> None:
    server, _ = parts
    request = pb.SubscribeAnomaliesRequest(consumer="workers", shared=True)
    members = [stub.SubscribeAnomalies(request)]  # 1 and 2 join later (an open stream claims)
    acked: list[int] = []
    held_by_dead: list[int] = []

    async def work(i: int) -> None:
        async for msg in members[i]:
            for a in msg.update.anomalies:
                if i == 0:
                    held_by_dead.append(a.sequence)  # member 0 dies without acknowledging
                    members[0].cancel()
                    return
                await stub.AckAnomalies(pb.AckAnomaliesRequest(consumer="workers",
                                                               sequence=a.sequence))
                acked.append(a.sequence)

    # Member 0 is alone when the first anomalies arrive, so it surely holds one when it dies
    # (with all three waiting, the other two may take everything: the group promises no share).
    tasks = [asyncio.create_task(work(0))]
    await asyncio.sleep(1.0)  # member 0 has claimed once: the group exists
    async with aiohttp.ClientSession(server.url) as http:
        await post_nan_frames(http, "group", 3)
        for _ in range(100):
            if held_by_dead:
                break
            await asyncio.sleep(0.1)
        members += [stub.SubscribeAnomalies(request) for _ in (1, 2)]
        tasks += [asyncio.create_task(work(i)) for i in (1, 2)]
        for _ in range(9):
            await post_nan_frames(http, "group", 3)
            await asyncio.sleep(0.1)
    for _ in range(100):
        if len(acked) >= 30:
            break
        await asyncio.sleep(0.2)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(acked) == list(range(1, 31))  # every anomaly acknowledged exactly once
    assert held_by_dead and set(held_by_dead) <= set(acked)  # redelivered to the others
    state = await stub.AckAnomalies(pb.AckAnomaliesRequest(consumer="workers", sequence=30))
    assert state.acked_sequence == 30
