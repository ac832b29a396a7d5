"""Plain-stub anomaly consumers that resume by themselves, as a careful outside client would.

``ResumingConsumer`` is what issue 18's reporter ran a thousand of: a raw
``SubscribeAnomalies`` stream that, on *any* error or end, reopens with
``after_sequence`` = the last sequence it received. It uses no SDK, so tests
built on it show what the bridge itself guarantees. Heartbeats are counted and
otherwise ignored.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence

import aiohttp
import grpc
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc


class ResumingConsumer:
    """One subscriber: every sequence it receives, and why it had to reopen.

    Args:
        stub: Where to subscribe (streams of many consumers may share a channel;
            each stream resumes on its own).
        after: Sequence to start after.
        model_ids: The subscription's model filter.
    """

    def __init__(
        self, stub: pb_grpc.NeuralHeatmapServiceStub, after: int, model_ids: Sequence[str] = ()
    ) -> None:
        self.stub = stub
        self.last = after
        self.model_ids = list(model_ids)
        self.seen: list[int] = []
        self.reopened: Counter[str] = Counter()  # by status code name
        self.heartbeats = 0

    async def run(self) -> None:
        """Consume until cancelled, reopening after every failure with a short jittered wait."""
        while True:
            call = self.stub.SubscribeAnomalies(
                pb.SubscribeAnomaliesRequest(after_sequence=self.last, model_ids=self.model_ids)
            )
            try:
                async for msg in call:
                    if msg.HasField("heartbeat"):
                        self.heartbeats += 1
                        continue
                    for a in msg.update.anomalies:
                        self.seen.append(a.sequence)
                        self.last = max(self.last, a.sequence)
                self.reopened["ENDED"] += 1
            except grpc.aio.AioRpcError as exc:
                self.reopened[exc.code().name] += 1
            finally:
                call.cancel()
            await asyncio.sleep(random.uniform(0.05, 0.3))


async def post_nan_frames(http: aiohttp.ClientSession, model: str, layers: int) -> None:
    """One request to the server that logs one non_finite anomaly per layer."""
    frames = [
        {"model_id": model, "layer_id": f"l{i}", "values": [float("nan"), 1.0]}
        for i in range(layers)
    ]
    async with http.post("/api/activations", json={"frames": frames}) as resp:
        assert resp.status == 200, await resp.text()


async def logged_sequences(http: aiohttp.ClientSession, after: int, model: str) -> list[int]:
    """Every sequence of ``model`` the server's log holds after ``after``, ascending."""
    out: list[int] = []
    cursor = after
    while True:
        params = {"after_sequence": str(cursor), "limit": "1000", "model_id": model}
        async with http.get("/api/anomalies", params=params) as resp:
            assert resp.status == 200, await resp.text()
            page = await resp.json()
        if not page["anomalies"]:
            return out
        out += [a["sequence"] for a in page["anomalies"]]
        cursor = page["anomalies"][-1]["sequence"]


async def log_head(http: aiohttp.ClientSession) -> int:
    """The server log's newest sequence."""
    async with http.get("/api/anomalies", params={"limit": "1"}) as resp:
        assert resp.status == 200, await resp.text()
        return int((await resp.json())["last_sequence"])


# Reconnect quickly after a bridge restart (gRPC's default backoff starts at 1 s, up to 120 s).
_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000)]


def channels(target: str, count: int, *, own_connections: bool) -> list[grpc.aio.Channel]:
    """``count`` channels to ``target``.

    Args:
        own_connections: Give each channel its own HTTP/2 connection; otherwise they
            share one, as separate channels of one process do by default.
    """
    options = list(_RECONNECT)
    if own_connections:
        options.append(("grpc.use_local_subchannel_pool", 1))
    return [grpc.aio.insecure_channel(target, options=options) for _ in range(count)]
