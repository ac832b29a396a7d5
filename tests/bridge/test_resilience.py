"""The shared upstream WebSocket misbehaving while HTTP works, against a small fake upstream.

The real server cannot be told to accept WebSockets and drop them at once, or
to accept them and never answer, so a fake with a sequenced anomaly log over
HTTP (as ``GET /api/anomalies``) and a switchable ``/ws`` stands in for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from grpc_health.v1 import health_pb2
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import free_port


def anomaly(sequence: int) -> dict[str, Any]:
    """One logged anomaly as the server writes it."""
    return {
        "sequence": sequence,
        "anomaly_type": "spike",
        "severity": "high",
        "timestamp": 1.7e9 + sequence,
        "location": {"x": 1, "y": 2},
        "layer": "fc1",
        "model_id": "m-fake",
        "score": 3.0,
        "description": f"spike {sequence}",
        "metadata": {},
    }


class LogFake:
    """An upstream whose anomaly log is always readable over HTTP and whose ``/ws`` can fail.

    ``ws_mode``: ``"drop"`` accepts the WebSocket and closes it at once;
    ``"silent"`` accepts it and never answers; ``"ok"`` acknowledges
    subscriptions, replays after ``after_sequence`` and pushes new anomalies,
    as the real server does.
    """

    def __init__(self) -> None:
        self.ws_mode = "drop"
        self.ws_attempts = 0
        self.http_reads = 0
        self.log: list[dict[str, Any]] = []
        self.open: set[web.WebSocketResponse] = set()
        self.subscribed: set[web.WebSocketResponse] = set()
        self.subscribe_count = 0  # subscribe_anomalies messages answered

    async def add(self, count: int) -> None:
        """Log ``count`` more anomalies and push them to subscribed sockets."""
        batch = [anomaly(len(self.log) + i + 1) for i in range(count)]
        self.log += batch
        for sock in list(self.subscribed):
            await sock.send_json({"type": "anomaly_update", "data": {"anomalies": batch}})

    async def close_sockets(self) -> None:
        """End every open WebSocket (the bridge sees a drop)."""
        for sock in list(self.open):
            await sock.close()

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def anomalies(self, request: web.Request) -> web.Response:
        self.http_reads += 1
        after = int(request.query.get("after_sequence", "-1"))
        limit = int(request.query.get("limit", "100"))
        if after < 0:
            page = self.log[-limit:]
        else:
            page = [a for a in self.log if a["sequence"] > after][:limit]
        return web.json_response(
            {"anomalies": page, "last_sequence": len(self.log), "first_sequence": 1}
        )

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        self.ws_attempts += 1
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        if self.ws_mode == "drop":
            await sock.close()
            return sock
        self.open.add(sock)
        try:
            async for msg in sock:
                if msg.type != WSMsgType.TEXT or self.ws_mode != "ok":
                    continue
                doc = json.loads(msg.data)
                kind, data = doc["type"], doc.get("data") or {}
                await sock.send_json({"type": "data", "data": {"request": kind, "status": "ok"}})
                if kind == "subscribe_anomalies":
                    self.subscribe_count += 1
                    after = int(data.get("after_sequence", len(self.log)))
                    replay = [a for a in self.log if a["sequence"] > after]
                    if replay:
                        await sock.send_json(
                            {"type": "anomaly_update", "data": {"anomalies": replay}}
                        )
                    self.subscribed.add(sock)
        finally:
            self.open.discard(sock)
            self.subscribed.discard(sock)
        return sock

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the base URL."""
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/api/anomalies", self.anomalies)
        app.router.add_get("/ws", self.ws)
        runner = web.AppRunner(app, shutdown_timeout=0.2)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await self.close_sockets()
            await runner.cleanup()


async def collect(call: Any, seen: list[int], upto: int, timeout: float = 5.0) -> None:
    """Read the stream until sequence ``upto`` has been seen."""
    async with asyncio.timeout(timeout):
        while not seen or seen[-1] < upto:
            seen += [a.sequence for a in (await call.read()).update.anomalies]


async def next_update(call: Any) -> Any:
    """The next message that is not a heartbeat (idle streams get those)."""
    while True:
        msg = await call.read()
        if not msg.HasField("heartbeat"):
            return msg


@asynccontextmanager
async def bridge_for(
    url: str,
) -> AsyncIterator[tuple[BridgeProcess, pb_grpc.NeuralHeatmapServiceStub]]:
    """A real bridge in front of ``url``, started off the loop (the fake answers on the loop)."""
    bridge = BridgeProcess(url)
    await asyncio.to_thread(bridge.start)
    try:
        async with bridge.aio_channel() as ch:
            yield bridge, pb_grpc.NeuralHeatmapServiceStub(ch)
    finally:
        await asyncio.to_thread(bridge.stop)


async def test_ws_that_drops_at_once_is_not_hammered_and_http_still_delivers() -> None:
    fake = LogFake()
    await fake.add(5)
    async with fake.serving() as url, bridge_for(url) as (bridge, stub):
        call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=2))
        seen: list[int] = []
        await collect(call, seen, 5)
        await asyncio.sleep(1.0)
        await fake.add(2)  # logged while the WebSocket delivers nothing: paged from HTTP
        await collect(call, seen, 7)
        await asyncio.sleep(2.0)
        attempts = fake.ws_attempts
        health = await asyncio.to_thread(bridge.health)
        call.cancel()
    assert seen == [3, 4, 5, 6, 7]
    # ~3 s of an accept-and-close upstream: backoff 50-100 ms doubling (the shared policy),
    # never reset: about six attempts.
    assert 2 <= attempts <= 10, attempts
    assert health == health_pb2.HealthCheckResponse.SERVING


async def test_stream_is_exact_across_a_silent_a_working_and_a_dropping_websocket() -> None:
    fake = LogFake()
    fake.ws_mode = "silent"  # accepted, never acknowledges: the ring is never current
    await fake.add(5)
    async with fake.serving() as url, bridge_for(url) as (_, stub):
        call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=2))
        seen: list[int] = []
        await collect(call, seen, 5)
        await fake.add(2)
        await collect(call, seen, 7)

        fake.ws_mode = "ok"
        await fake.close_sockets()
        async with asyncio.timeout(5):
            while not fake.subscribed:
                await asyncio.sleep(0.05)
        await fake.add(2)  # pushed over the WebSocket: the stream is live on the ring
        await collect(call, seen, 9)
        reads = fake.http_reads
        await asyncio.sleep(1.0)
        assert fake.http_reads == reads, "a live stream must not poll the log"

        fake.ws_mode = "drop"
        await fake.close_sockets()
        await fake.add(1)  # only in the log: the live stream falls back to paging
        await collect(call, seen, 10)

        fake.ws_mode = "ok"
        async with asyncio.timeout(5):
            while not fake.subscribed:
                await asyncio.sleep(0.05)
        await fake.add(1)
        await collect(call, seen, 11)
        fresh = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=0))
        everything: list[int] = []
        await collect(fresh, everything, 11)
        with pytest.raises(TimeoutError):  # nothing replayed twice after the reconnects
            await asyncio.wait_for(next_update(call), 0.7)
        call.cancel()
        fresh.cancel()
    assert seen == list(range(3, 12))
    assert everything == list(range(1, 12))
