"""A quiet anomaly stream is never a stuck one (issue 18; issue 10, item 5).

Real server and bridge processes; the bridge runs with short liveness bounds so
each case takes seconds. Shown here:

* many more streams on one client connection than the bridge used to allow
  (1000) are all served: the old cap made the 1001st wait silently;
* idle streams get heartbeats naming the log head, on both stream RPCs;
* a stream that stops receiving inside the bridge (``--test-faults mute@1``, test-only)
  is ended UNAVAILABLE by the bridge's watchdog, and resuming loses nothing;
* a server that keeps its socket open but stops answering (SIGSTOP) is
  detected within the stall bound: health NOT_SERVING, streams end
  UNAVAILABLE, new ones are refused; after SIGCONT everything resumes with
  every sequence exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
from neural_heatmap_contract.v1 import updates_pb2

from tests.support.anomaly_consumers import (
    ResumingConsumer,
    log_head,
    logged_sequences,
    post_nan_frames,
)
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

SERVER_ARGS = ["--anomaly-cooldown", "0"]
HEARTBEAT = 0.3
STALL = 1.5
LIVENESS_ARGS = ["--heartbeat-interval", str(HEARTBEAT), "--stall-timeout", str(STALL)]


async def until(check: Callable[[], bool], timeout: float, what: Callable[[], object]) -> None:
    """Wait for ``check()``; fail with ``what()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what()}")
        await asyncio.sleep(0.05)


async def test_more_streams_than_the_old_cap_share_one_connection() -> None:
    """Issue 18's silent stream: separate channels of one process share one HTTP/2
    connection, and the bridge used to cap it at 1000 streams; a stream beyond the
    cap got no headers, no error and no data. 1001 streams must all be served."""
    with ServerProcess(extra_args=SERVER_ARGS) as server, BridgeProcess(server.url) as bridge:
        async with aiohttp.ClientSession(base_url=server.url) as http:
            head = await log_head(http)
            chans = [bridge.aio_channel() for _ in range(1001)]
            calls = [
                pb_grpc.NeuralHeatmapServiceStub(ch).SubscribeAnomalies(
                    pb.SubscribeAnomaliesRequest(after_sequence=head)
                )
                for ch in chans
            ]
            try:
                await asyncio.wait_for(asyncio.gather(*(c.initial_metadata() for c in calls)), 60)
                await post_nan_frames(http, "m-cap", 1)
                firsts = await asyncio.wait_for(
                    asyncio.gather(*(_first_anomaly(c) for c in calls)), 60
                )
            finally:
                for c in calls:
                    c.cancel()
                await asyncio.gather(*(ch.close() for ch in chans))
    assert firsts == [head + 1] * 1001


async def _first_anomaly(call: grpc.aio.UnaryStreamCall[Any, pb.SubscribeAnomaliesResponse]) -> int:
    async for msg in call:
        if msg.update.anomalies:
            return int(msg.update.anomalies[0].sequence)
    raise AssertionError("stream ended")


async def test_idle_streams_get_heartbeats_with_the_log_head() -> None:
    with (
        ServerProcess(extra_args=SERVER_ARGS) as server,
        BridgeProcess(server.url, *LIVENESS_ARGS) as bridge,
    ):
        async with aiohttp.ClientSession(base_url=server.url) as http, bridge.aio_channel() as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            await post_nan_frames(http, "m-beat", 2)
            head = await log_head(http)
            subscribe = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=0))
            updates = stub.StreamUpdates(
                pb.StreamUpdatesRequest(types=[updates_pb2.UPDATE_TYPE_ANOMALY])
            )
            try:
                first = await asyncio.wait_for(subscribe.read(), 10)
                assert [a.sequence for a in first.update.anomalies] == list(range(1, head + 1))
                beat = await asyncio.wait_for(subscribe.read(), 10)  # idle from now on
                assert beat.HasField("heartbeat") and not beat.HasField("update")
                assert beat.heartbeat.last_sequence == head
                assert abs(beat.heartbeat.timestamp.ToDatetime().timestamp() - time.time()) < 60
                mixed = await asyncio.wait_for(updates.read(), 10)
                assert mixed.WhichOneof("update") == "anomaly_heartbeat"
                assert mixed.anomaly_heartbeat.last_sequence == head
                await post_nan_frames(http, "m-beat", 1)
                while (msg := await asyncio.wait_for(subscribe.read(), 10)).HasField("heartbeat"):
                    pass
                assert [a.sequence for a in msg.update.anomalies] == [head + 1]
                beat = await asyncio.wait_for(subscribe.read(), 10)
                assert beat.heartbeat.last_sequence == head + 1
            finally:
                subscribe.cancel()
                updates.cancel()


async def test_a_stream_muted_inside_the_bridge_ends_unavailable_and_resumes_exactly() -> None:
    """``mute@1``: the first anomaly stream never receives; its watchdog ends it."""
    with (
        ServerProcess(extra_args=SERVER_ARGS) as server,
        BridgeProcess(server.url, *LIVENESS_ARGS, faults="mute@1") as bridge,
    ):
        async with aiohttp.ClientSession(base_url=server.url) as http, bridge.aio_channel() as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            start = await log_head(http)
            muted = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=start))
            await muted.initial_metadata()
            await post_nan_frames(http, "m-mute", 3)
            opened = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for msg in muted:
                    assert not msg.update.anomalies, "a muted stream delivered"
            ended_after = time.monotonic() - opened
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "no progress past sequence" in (caught.value.details() or "")
            # heartbeat interval + stall timeout + one check interval, with slack for load
            assert ended_after < 2 * HEARTBEAT + STALL + 10
            consumer = ResumingConsumer(stub, start, ["m-mute"])
            task = asyncio.create_task(consumer.run())
            expected = await logged_sequences(http, start, "m-mute")
            try:
                await until(lambda: consumer.seen == expected, 15, lambda: consumer.seen)
            finally:
                task.cancel()
    assert len(expected) == 3


def _health(bridge: BridgeProcess) -> int:
    try:
        return bridge.health(timeout=1.0)
    except grpc.RpcError:
        return -1


async def test_a_stopped_server_is_detected_and_everything_recovers_after_it_continues() -> None:
    """Issue 10, item 5: SIGSTOP keeps the server's sockets open but answers nothing."""
    model = "m-sigstop"
    server = ServerProcess(extra_args=SERVER_ARGS)
    server.start()
    stopped = False
    try:
        with BridgeProcess(server.url, *LIVENESS_ARGS) as bridge:
            async with aiohttp.ClientSession(base_url=server.url) as http:
                start = await log_head(http)
                ch = bridge.aio_channel()
                stub = pb_grpc.NeuralHeatmapServiceStub(ch)
                consumers = [ResumingConsumer(stub, start, [model]) for _ in range(5)]
                tasks = [asyncio.create_task(c.run()) for c in consumers]
                for _ in range(5):
                    await post_nan_frames(http, model, 2)
                await until(
                    lambda: all(len(c.seen) == 10 for c in consumers),
                    15,
                    lambda: [c.seen for c in consumers],
                )
                assert _health(bridge) == health_pb2.HealthCheckResponse.SERVING

                assert server.proc is not None
                pid = server.proc.pid
                os.kill(pid, signal.SIGSTOP)
                stopped = True
                stopped_at = time.monotonic()
                await until(
                    lambda: all(c.reopened["UNAVAILABLE"] >= 1 for c in consumers),
                    STALL + 15,
                    lambda: [c.reopened for c in consumers],
                )
                streams_ended_after = time.monotonic() - stopped_at
                await until(
                    lambda: _health(bridge) == health_pb2.HealthCheckResponse.NOT_SERVING,
                    15,
                    lambda: _health(bridge),
                )
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.SubscribeAnomalies(
                        pb.SubscribeAnomaliesRequest(after_sequence=start)
                    ).read()
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

                os.kill(pid, signal.SIGCONT)
                stopped = False
                await until(
                    lambda: _health(bridge) == health_pb2.HealthCheckResponse.SERVING,
                    15,
                    lambda: _health(bridge),
                )
                for _ in range(5):
                    await post_nan_frames(http, model, 2)
                expected = await logged_sequences(http, start, model)
                await until(
                    lambda: all(c.seen == expected for c in consumers),
                    30,
                    lambda: [c.seen for c in consumers],
                )
                for t in tasks:
                    t.cancel()
                await ch.close()
    finally:
        if stopped and server.proc is not None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.cleanup()
    assert len(expected) == 20
    # a ping after two thirds of the stall bound, its pong due within the last third
    assert streams_ended_after < STALL + 10
