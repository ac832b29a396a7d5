"""The bridge's cache of converted anomalies: same answers, bounded, reset on a new log.

Unit tests of ``AnomalyCache``, then one real bridge in front of a small
upstream whose log is replaced (a server whose data dir was wiped hands out
sequence 1 again, for a different anomaly): the bridge must answer the new one.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from neural_heatmap_bridge._anomaly_cache import AnomalyCache
from neural_heatmap_bridge._convert import anomaly
from neural_heatmap_contract.v1 import analytics_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import free_port


def doc(seq: int, kind: str = "spike", ts: float = 1.7e9) -> dict[str, Any]:
    return {
        "sequence": seq,
        "anomaly_type": kind,
        "severity": "high",
        "timestamp": ts + seq,
        "location": {"x": 1, "y": 2},
        "layer": "fc1",
        "model_id": "m",
        "score": 12.5,
        "description": f"anomaly {seq}",
        "metadata": {"suppressed": 0, "nested": {"a": [1, 2]}},
    }


def test_cached_answer_equals_conversion() -> None:
    cache = AnomalyCache(16)
    first = cache.convert([doc(1), doc(2)])
    again = cache.convert([doc(1), doc(2)])
    assert [m.SerializeToString() for m in again] == [
        anomaly(d).SerializeToString() for d in (doc(1), doc(2))
    ]
    assert again[0] is first[0]  # served from the cache
    assert (cache.hits, cache.misses) == (2, 2)


def test_bounded_lru() -> None:
    cache = AnomalyCache(3)
    cache.convert([doc(1), doc(2), doc(3)])
    cache.get(doc(1))  # 1 is now the newest used; 2 the oldest
    cache.get(doc(4))
    assert len(cache) == 3
    hits = cache.hits
    cache.get(doc(1))
    assert cache.hits == hits + 1
    cache.get(doc(2))  # evicted: converted again
    assert cache.hits == hits + 1


def test_new_log_behind_the_same_sequence_resets() -> None:
    cache = AnomalyCache(16)
    cache.convert([doc(1), doc(2)])
    fresh = cache.get(doc(1, kind="exploding", ts=1.8e9))
    assert fresh.anomaly_type == analytics_pb2.ANOMALY_TYPE_EXPLODING
    assert cache.resets == 1
    assert len(cache) == 1  # everything from the old log is gone
    assert cache.get(doc(2)).description == "anomaly 2"
    assert cache.misses == 4


def test_without_sequence_or_when_off_nothing_is_cached() -> None:
    cache = AnomalyCache(16)
    unsequenced = doc(0)
    del unsequenced["sequence"]
    cache.convert([unsequenced, doc(0)])
    assert len(cache) == 0
    off = AnomalyCache(0)
    off.convert([doc(1), doc(1)])
    assert len(off) == 0 and off.hits == 0


def test_cached_messages_are_not_changed_by_answers() -> None:
    cache = AnomalyCache(16)
    msg = cache.get(doc(1))
    before = msg.SerializeToString()
    resp = pb.GetAnomaliesResponse(anomalies=[msg])
    resp.anomalies[0].description = "changed in the answer"
    assert msg.SerializeToString() == before


# ---------------------------------------------------------------- through a real bridge
class Log:
    """An upstream with a sequenced anomaly log that a test can replace."""

    def __init__(self) -> None:
        self.anomalies = [doc(1), doc(2)]

    def app(self) -> web.Application:
        async def health(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def anomalies(_: web.Request) -> web.Response:
            return web.json_response(
                {
                    "anomalies": copy.deepcopy(self.anomalies),
                    "first_sequence": self.anomalies[0]["sequence"],
                    "last_sequence": self.anomalies[-1]["sequence"],
                }
            )

        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_get("/api/anomalies", anomalies)
        return app


@pytest_asyncio.fixture(loop_scope="session")
async def log_and_stub() -> AsyncIterator[tuple[Log, pb_grpc.NeuralHeatmapServiceStub]]:
    state = Log()
    runner = web.AppRunner(state.app(), shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        with BridgeProcess(f"http://127.0.0.1:{port}") as bridge:
            async with bridge.aio_channel() as ch:
                yield state, pb_grpc.NeuralHeatmapServiceStub(ch)
    finally:
        await runner.cleanup()


@pytest.mark.asyncio(loop_scope="session")
async def test_bridge_answers_the_new_log_after_a_wipe(
    log_and_stub: tuple[Log, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    state, stub = log_and_stub
    for _ in range(2):  # the second answer comes from the cache
        resp = await stub.GetAnomalies(pb.GetAnomaliesRequest(limit=10), timeout=10)
        assert [a.description for a in resp.anomalies] == ["anomaly 1", "anomaly 2"]
        assert resp.anomalies[0].anomaly_type == analytics_pb2.ANOMALY_TYPE_SPIKE
    # The server's data dir was wiped: sequence 1 is now another anomaly.
    state.anomalies = [dict(doc(1, kind="exploding", ts=1.9e9), description="after the wipe")]
    resp = await stub.GetAnomalies(pb.GetAnomaliesRequest(limit=10), timeout=10)
    assert [a.description for a in resp.anomalies] == ["after the wipe"]
    assert resp.anomalies[0].anomaly_type == analytics_pb2.ANOMALY_TYPE_EXPLODING
    assert resp.anomalies[0].timestamp.seconds == int(1.9e9 + 1)
