"""Raw-stub durable consumers for chaos tests: a named consumer and group members.

Like ``anomaly_consumers.ResumingConsumer`` they use no SDK, so a test built on
them shows what the bridge and server guarantee. Each anomaly counts as
processed once its acknowledgement succeeded; a failed acknowledgement is
repeated (it is idempotent) until it does, so a lost answer cannot hide one.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc


class DurableConsumer:
    """One subscriber under a consumer name (``shared``: a member of that group).

    Args:
        stub: Where to subscribe and acknowledge.
        name: The consumer (or group) name.
        shared: Join the group instead of being the one plain consumer.
        processed: Where acknowledged sequences are appended (members of a group share one).
    """

    def __init__(self, stub: pb_grpc.NeuralHeatmapServiceStub, name: str, shared: bool,
                 processed: list[int]) -> None:
        self.stub = stub
        self.name = name
        self.shared = shared
        self.processed = processed
        self.reopened: Counter[str] = Counter()

    async def _ack(self, sequence: int) -> None:
        while True:
            try:
                await self.stub.AckAnomalies(
                    pb.AckAnomaliesRequest(consumer=self.name, sequence=sequence), timeout=5)
                return
            except grpc.aio.AioRpcError as exc:
                self.reopened["ACK_" + exc.code().name] += 1
                await asyncio.sleep(0.2)

    async def run(self) -> None:
        """Consume until cancelled, reopening under the same name after every failure."""
        request = pb.SubscribeAnomaliesRequest(consumer=self.name, shared=self.shared)
        while True:
            call = self.stub.SubscribeAnomalies(request)
            try:
                async for msg in call:
                    for a in msg.update.anomalies:
                        await self._ack(a.sequence)
                        self.processed.append(a.sequence)
                self.reopened["ENDED"] += 1
            except grpc.aio.AioRpcError as exc:
                self.reopened[exc.code().name] += 1
            finally:
                call.cancel()
            await asyncio.sleep(0.1)
