"""Server-streaming RPCs through the real bridge: live updates, anomaly replay, slow readers."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiohttp
import numpy as np
import pytest
from neural_heatmap_contract.v1 import (
    common_pb2,
    updates_pb2,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

from tests.bridge.conftest import frame, get_json, ingest, nan_anomalies
from tests.support._process import rss_mib
from tests.support.anomaly_consumers import post_nan_frames
from tests.support.bridge_process import BridgeProcess
from tests.support.metrics import metric
from tests.support.server_process import ServerProcess


async def first(call: Any, timeout: float = 10.0) -> Any:
    """The next message of a stream that is not a heartbeat, or fail after ``timeout``."""

    async def read() -> Any:
        while True:
            msg = await call.read()
            if not is_heartbeat(msg):
                return msg

    return await asyncio.wait_for(read(), timeout)


def is_heartbeat(msg: Any) -> bool:
    """Whether a stream message is an anomaly heartbeat (either RPC's shape)."""
    if isinstance(msg, pb.SubscribeAnomaliesResponse):
        return msg.HasField("heartbeat")
    if isinstance(msg, pb.StreamUpdatesResponse):
        return msg.WhichOneof("update") == "anomaly_heartbeat"
    return False


async def test_subscribe_heatmap_delivers_ingested_values(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    values = np.linspace(-1, 1, 16, dtype="<f4")
    await ingest(stub, [frame("m-heat", "conv", values)])  # a stream names existing models
    call = stub.SubscribeHeatmap(pb.SubscribeHeatmapRequest(model_ids=["m-heat"]))

    async def feed() -> None:
        step = 0
        while True:
            await ingest(stub, [frame("m-heat", "conv", values, step=step)])
            step += 1
            await asyncio.sleep(0.1)

    feeder = asyncio.create_task(feed())
    try:
        msg = await first(call)
    finally:
        feeder.cancel()
        call.cancel()
    u = msg.update
    assert (u.model_id, u.layer, u.width, u.height) == ("m-heat", "conv", 4, 4)
    assert u.values.data == values.tobytes()
    assert u.intensity == pytest.approx(float(values.mean()), abs=1e-6)
    assert (u.location.x, u.location.y) == (3, 3)  # the most active unit is the last one


async def test_subscribe_correlations_and_temporal(
    stub: pb_grpc.NeuralHeatmapServiceStub, loaded: Any
) -> None:
    corr = stub.SubscribeCorrelations(pb.SubscribeCorrelationsRequest())
    temp = stub.SubscribeTemporal(pb.SubscribeTemporalRequest())
    try:
        c = (await first(corr)).update
        t = (await first(temp)).update
    finally:
        corr.cancel()
        temp.cancel()
    n = len(c.matrix.labels)
    assert n >= 2 and list(c.matrix.matrix.shape) == [n, n]
    assert len(c.matrix.matrix.data) == n * n * 4
    assert t.timestamp.seconds > 0 and len(t.patterns) > 0


async def test_subscribe_anomalies_replays_then_goes_live(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession
) -> None:
    await nan_anomalies(http, "m-replay", 3)
    head = (await get_json(http, "/api/anomalies", limit="1"))["last_sequence"]
    start = head - 3
    call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=start))
    seen: list[int] = []
    try:
        while len(seen) < 3:
            seen += [a.sequence for a in (await first(call)).update.anomalies]
        await nan_anomalies(http, "m-replay", 2)
        while len(seen) < 5:
            seen += [a.sequence for a in (await first(call)).update.anomalies]
    finally:
        call.cancel()
    logged = await get_json(http, "/api/anomalies", after_sequence=str(start), limit="100")
    assert seen == [a["sequence"] for a in logged["anomalies"]][:5]
    assert seen == sorted(set(seen))


async def test_anomaly_filters_and_stream_updates(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession
) -> None:
    for model in ("m-filter-a", "m-filter-b"):  # a stream names existing models
        await ingest(stub, [frame(model, "ok", np.zeros(8, dtype="<f4"))])
    only_b = stub.SubscribeAnomalies(
        pb.SubscribeAnomaliesRequest(
            model_ids=["m-filter-b"], min_severity=common_pb2.SEVERITY_CRITICAL
        )
    )
    mixed = stub.StreamUpdates(
        pb.StreamUpdatesRequest(types=[updates_pb2.UPDATE_TYPE_ANOMALY], model_ids=["m-filter-a"])
    )
    try:
        await asyncio.sleep(0.5)  # both streams registered ("only new ones")
        await nan_anomalies(http, "m-filter-a", 1)
        await nan_anomalies(http, "m-filter-b", 1)
        got_b = (await first(only_b)).update.anomalies
        got_a = await first(mixed)
    finally:
        only_b.cancel()
        mixed.cancel()
    assert [a.model_id for a in got_b] == ["m-filter-b"]
    assert got_a.WhichOneof("update") == "anomaly"
    assert [a.model_id for a in got_a.anomaly.anomalies] == ["m-filter-a"]


async def test_stream_updates_multiplexes_kinds(stub: pb_grpc.NeuralHeatmapServiceStub) -> None:
    call = stub.StreamUpdates(
        pb.StreamUpdatesRequest(
            types=[updates_pb2.UPDATE_TYPE_HEATMAP, updates_pb2.UPDATE_TYPE_CORRELATION]
        )
    )
    kinds: set[str] = set()

    async def feed() -> None:
        while True:
            await ingest(stub, [frame("m-mux", "fc", np.arange(9, dtype="<f4"))])
            await asyncio.sleep(0.1)

    feeder = asyncio.create_task(feed())
    try:
        while kinds != {"heatmap", "correlation"}:
            kinds.add((await first(call)).WhichOneof("update"))
    finally:
        feeder.cancel()
        call.cancel()




async def test_stalled_subscriber_does_not_delay_others(server: ServerProcess) -> None:
    """A reader that stops reading overflows into log catch-up; others stay fast."""
    http = aiohttp.ClientSession(base_url=server.url)
    with BridgeProcess(server.url, "--queue-size", "32", metrics=True) as bridge:
        ch = bridge.aio_channel()
        stub = pb_grpc.NeuralHeatmapServiceStub(ch)
        head = (await get_json(http, "/api/anomalies", limit="1"))["last_sequence"]
        stalled = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=head))
        fast = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=head))
        fast_seen: list[int] = []
        latencies: list[float] = []
        rss_before = rss_mib(bridge.pid)
        for _ in range(30):
            sent = time.monotonic()
            await post_nan_frames(http, "m-stall", 100)
            while len(fast_seen) < 100 * (_ + 1):
                fast_seen += [a.sequence for a in (await first(fast)).update.anomalies]
            latencies.append(time.monotonic() - sent)
        rss_after = rss_mib(bridge.pid)
        assert fast_seen == list(range(head + 1, head + 3001))
        assert max(latencies) < 2.0, latencies
        assert await metric(bridge.metrics_url or "", "nh_bridge_anomaly_queue_overflows") >= 1
        assert rss_after - rss_before < 60, (rss_before, rss_after)
        # The stalled reader now reads: everything, once, in order, from the log.
        slow_seen: list[int] = []
        while len(slow_seen) < 3000:
            slow_seen += [a.sequence for a in (await first(stalled)).update.anomalies]
        assert slow_seen == fast_seen
        stalled.cancel()
        fast.cancel()
        await ch.close()
    await http.close()


@pytest.mark.slow
async def test_fifty_subscribers_survive_server_kill_and_restart() -> None:
    """SIGKILL the server mid-stream: each of 50 subscribers gets every sequence once, in order."""
    server = ServerProcess(extra_args=["--anomaly-cooldown", "0"])
    server.start()
    try:
        with BridgeProcess(server.url) as bridge:
            ch = bridge.aio_channel()
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            calls = [
                stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=0))
                for _ in range(50)
            ]
            seen: list[list[int]] = [[] for _ in calls]

            async def read(i: int) -> None:
                async for msg in calls[i]:
                    seen[i] += [a.sequence for a in msg.update.anomalies]

            readers = [asyncio.create_task(read(i)) for i in range(len(calls))]
            async with aiohttp.ClientSession(base_url=server.url) as http:
                for _ in range(3):
                    await post_nan_frames(http, "m-kill", 40)
            # A call opens lazily; on a busy machine one may still be opening. One that
            # opened while the server is down is refused (UNAVAILABLE, the client resumes):
            # these plain calls do not resume, so every stream must be open before the kill.
            async with asyncio.timeout(30):
                while not all(seen):
                    await asyncio.sleep(0.05)
            server.kill()
            await asyncio.sleep(1.0)
            server.start()
            async with aiohttp.ClientSession(base_url=server.url) as http:
                for _ in range(3):
                    await post_nan_frames(http, "m-kill", 40)
                    await asyncio.sleep(0.2)
                logged: list[int] = []
                while True:
                    page = await get_json(
                        http,
                        "/api/anomalies",
                        limit="1000",
                        after_sequence=str(logged[-1] if logged else 0),
                    )
                    if not page["anomalies"]:
                        break
                    logged += [a["sequence"] for a in page["anomalies"]]
            assert len(logged) == 240
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and any(len(s) < len(logged) for s in seen):
                await asyncio.sleep(0.1)
            for s in seen:
                assert s == logged
            for task in readers:
                task.cancel()
            await ch.close()
    finally:
        server.cleanup()


def test_bridge_memory_is_reasonable(bridge: BridgeProcess) -> None:
    assert rss_mib(bridge.pid) < 400
    assert os.path.exists(f"/proc/{bridge.pid}")


async def test_heatmap_models_named_by_the_stream_beat_the_stored_filter(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    from neural_heatmap_contract.v1 import view_pb2

    await stub.SetFilter(pb.SetFilterRequest(filter=view_pb2.Filter(model_ids=["m-a"])))
    await ingest(stub, [frame("m-heat2", "fc", np.ones(4, dtype="<f4"))])
    call = stub.SubscribeHeatmap(pb.SubscribeHeatmapRequest(model_ids=["m-heat2"]))

    async def feed() -> None:
        while True:
            await ingest(stub, [frame("m-heat2", "fc", np.ones(4, dtype="<f4"))])
            await asyncio.sleep(0.1)

    feeder = asyncio.create_task(feed())
    try:
        msg = await first(call)
    finally:
        feeder.cancel()
        call.cancel()
        await stub.ClearFilter(pb.ClearFilterRequest())
    assert msg.update.model_id == "m-heat2"
