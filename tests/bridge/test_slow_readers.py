"""A stream whose client stops reading is ended, and resumed without loss (issue 23, finding 5).

The bridge runs with ``--slow-stream-timeout 1``. A backlog of anomalies is
logged first, so a stream opened at sequence 0 catches up in pages of 1,000
anomalies (~250 KB each); the clients keep grpc's initial 64 KiB HTTP/2 window
(no BDP probing, which would grow it to megabytes and the backlog with it), so
the bridge's writes stop after about one page. The client reads one update and
pauses. The bridge's write stays pending, and
after the timeout the stream ends with RESOURCE_EXHAUSTED (reason
``SLOW_READER``): what was written before arrives first, then the status naming
the last sequence sent. A raw client sees exactly that; the Python SDK resumes
from its last sequence and holds every logged anomaly once, in order.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import aiohttp
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from neural_heatmap import NeuralHeatmapClient
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.anomaly_consumers import logged_sequences, post_nan_frames
from tests.support.bridge_process import BridgeProcess
from tests.support.metrics import metric
from tests.support.server_process import ServerProcess

SLOW = 1.0  # the bridge's --slow-stream-timeout here
MODEL = "slow"
LAYERS = 100  # anomalies per ingest request (one per layer)
REQUESTS = 60  # 6,000 anomalies: six catch-up pages of 1,000
# A client whose HTTP/2 window stays at 64 KiB (see the module docstring).
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 64 * 1024)]
WAIT = 60.0  # generous bound for the bridge to notice, on a loaded machine
CUT = "nh_bridge_slow_streams_total"
ACTIVE = 'nh_bridge_active_streams{method="SubscribeAnomalies"'


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    with (
        ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server,
        BridgeProcess(server.url, "--slow-stream-timeout", str(SLOW), metrics=True) as bridge,
    ):
        yield server, bridge


@pytest.fixture(scope="module")
def logged(stack: tuple[ServerProcess, BridgeProcess]) -> list[int]:
    """Every logged sequence of ``MODEL`` (the backlog, logged once for the module)."""

    async def log_backlog() -> list[int]:
        async with aiohttp.ClientSession(base_url=stack[0].url) as http:
            for _ in range(REQUESTS):
                await post_nan_frames(http, MODEL, LAYERS)
            return await logged_sequences(http, 0, MODEL)

    out = asyncio.run(log_backlog())
    assert len(out) == LAYERS * REQUESTS
    return out


async def _cut_streams(bridge: BridgeProcess) -> float:
    assert bridge.metrics_url is not None
    return await metric(bridge.metrics_url, CUT)


async def _until_cut(bridge: BridgeProcess, before: float) -> None:
    """Wait until the bridge has ended one more slow stream than ``before``."""
    async with asyncio.timeout(WAIT):
        while await _cut_streams(bridge) <= before:
            await asyncio.sleep(0.2)


async def test_a_stream_that_is_not_read_ends_resource_exhausted_after_what_was_sent(
    stack: tuple[ServerProcess, BridgeProcess], logged: list[int]
) -> None:
    _, bridge = stack
    before = await _cut_streams(bridge)
    options = [("grpc.max_receive_message_length", 64 << 20), *SMALL_WINDOW]
    async with grpc.aio.insecure_channel(bridge.target, options=options) as channel:
        call = pb_grpc.NeuralHeatmapServiceStub(channel).SubscribeAnomalies(
            pb.SubscribeAnomaliesRequest(after_sequence=0, model_ids=[MODEL])
        )
        stream: AsyncIterator[pb.SubscribeAnomaliesResponse] = call.__aiter__()
        first = await stream.__anext__()
        assert first.update.anomalies[0].sequence == logged[0]
        await _until_cut(bridge, before)  # the client reads nothing meanwhile
        received = [a.sequence for a in first.update.anomalies]
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for msg in stream:
                received += [a.sequence for a in msg.update.anomalies]
    assert ended.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--slow-stream-timeout" in (ended.value.details() or "")
    named = re.search(r"up to sequence (\d+)", ended.value.details() or "")
    assert named is not None, ended.value.details()
    # Everything written before the status arrived, in order, up to the sequence it names.
    assert received == logged[: len(received)]
    assert received[-1] == int(named.group(1))
    assert len(received) < len(logged)  # it really was cut before the end of the backlog
    # Its handler ended too (nothing left waiting in the bridge), without an error logged.
    assert bridge.metrics_url is not None
    async with asyncio.timeout(WAIT):
        while await metric(bridge.metrics_url, ACTIVE):
            await asyncio.sleep(0.2)
    assert "ERROR" not in bridge.log() and "Traceback" not in bridge.log()
    status = rpc_status.from_call(ended.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.metadata["sequence"]) == ("SLOW_READER", named.group(1))


async def test_the_sdk_resumes_a_cut_stream_without_loss(
    stack: tuple[ServerProcess, BridgeProcess], logged: list[int]
) -> None:
    _, bridge = stack
    before = await _cut_streams(bridge)
    received: list[int] = []
    client = NeuralHeatmapClient(bridge.target, channel_options=SMALL_WINDOW)
    updates = client.stream_anomalies(after_sequence=0, model_ids=[MODEL], reconnect_delay=0.05)
    try:
        first = await updates.__anext__()
        received += [a.sequence for a in first.anomalies]
        await _until_cut(bridge, before)  # the consumer pauses; the bridge cuts the stream
        async with asyncio.timeout(WAIT):
            async for update in updates:
                received += [a.sequence for a in update.anomalies]
                if len(received) >= len(logged):
                    break
    finally:
        await updates.aclose()
        await client.disconnect()
    assert received == logged  # each once, in order, across the cut
    assert await _cut_streams(bridge) >= before + 1
