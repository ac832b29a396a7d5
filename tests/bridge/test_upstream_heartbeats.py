"""The bridge checks its anomaly ring against the upstream's ``anomaly_heartbeat`` heads.

The real server never loses an anomaly on its WebSocket, so the fake upstream of
``test_resilience`` stands in: it logs an anomaly without pushing it, then sends
a heartbeat naming it as the head. A current ring that is behind the head it is
told has lost something; the bridge must notice, not wait for the next anomaly
(which would carry every live stream's cursor past the lost one for good).
"""

from __future__ import annotations

import asyncio

from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from tests.bridge.test_resilience import LogFake, anomaly, bridge_for, collect


async def test_a_head_beyond_the_ring_renews_the_subscription_and_loses_nothing() -> None:
    fake = LogFake()
    fake.ws_mode = "ok"
    async with fake.serving() as url, bridge_for(url) as (_bridge, stub):
        await fake.add(2)
        call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=0))
        seen: list[int] = []
        await collect(call, seen, 2)
        await asyncio.sleep(1.0)  # the ring is current and the stream live
        await fake.add(1)
        await collect(call, seen, 3)
        subscribes_before = fake.subscribe_count
        fake.log.append(anomaly(4))  # logged, never pushed: lost on the way
        for sock in list(fake.subscribed):
            await sock.send_json({"type": "anomaly_heartbeat", "data": {"last_sequence": 4}})
        await collect(call, seen, 4)
        await fake.add(1)
        await collect(call, seen, 5)
        call.cancel()
    assert seen == [1, 2, 3, 4, 5]
    assert fake.subscribe_count > subscribes_before  # the subscription was renewed
