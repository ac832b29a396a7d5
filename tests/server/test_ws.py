"""The /ws endpoint: every client message, every server message, errors, slow clients."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from typing import Any

import aiohttp
import numpy as np

from tests.server.conftest import FAST_ARGS, Api, unique
from tests.support.server_process import ServerProcess


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str, request: str | None = None,
                timeout: float = 5.0) -> dict[str, Any]:
    """The next message of ``kind`` (and ``data.request``), skipping others."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            doc = json.loads(msg.data)
            if doc["type"] == kind and (request is None or doc["data"].get("request") == request):
                return dict(doc["data"])


async def _ask(ws: aiohttp.ClientWebSocketResponse, kind: str,
               data: dict[str, Any] | None = None) -> dict[str, Any]:
    await ws.send_str(json.dumps({"type": kind, "data": data or {}}))
    async with asyncio.timeout(5):
        while True:
            doc = json.loads((await ws.receive()).data)
            if doc["type"] in ("data", "error") and doc["data"].get("request") == kind:
                return dict(doc)


async def test_requests_and_errors(server: ServerProcess, api: Api) -> None:
    model = unique("ws")
    api.ingest_series(model, "a", np.random.default_rng(0).normal(size=(20, 4)).astype("f4"))
    api.ingest_series(model, "b", np.random.default_rng(1).normal(size=(20, 4)).astype("f4"))
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        doc = await _ask(ws, "ingest_activations", {"frames": [
            {"model_id": model, "layer_id": "c", "values": [1.0, "NaN"], "step": 1}]})
        assert doc == {"type": "data", "data": {"request": "ingest_activations", "accepted": 1}}
        doc = await _ask(ws, "get_correlation_matrix", {"model_ids": [model],
                                                        "layer_ids": ["a", "b"]})
        assert doc["type"] == "data" and doc["data"]["labels"] == [f"{model}/a", f"{model}/b"]
        http = api.get(f"/api/correlation?model_ids={model}&layer_ids=a,b")
        assert doc["data"]["matrix"] == http["matrix"]
        doc = await _ask(ws, "get_temporal_patterns", {"model_id": model})
        assert doc["type"] == "data" and "patterns" in doc["data"]
        doc = await _ask(ws, "get_anomalies", {"model_id": model})
        assert doc["data"]["anomalies"][0]["anomaly_type"] == "non_finite"
        assert doc["data"]["last_sequence"] >= doc["data"]["anomalies"][0]["sequence"]
        doc = await _ask(ws, "set_filter", {"model_ids": [model]})
        assert doc["data"]["status"] == "ok" and api.get("/api/filter") == {"model_ids": [model]}
        await _ask(ws, "set_filter", {})
        doc = await _ask(ws, "set_theme", {"theme": "contour"})
        assert doc["data"]["theme"] == "contour" and api.get("/api/theme")["theme"] == "contour"
        doc = await _ask(ws, "set_layout", {"z_order": ["a"]})
        assert doc["data"]["layout"] == {"z_order": ["a"]}
        doc = await _ask(ws, "export_data", {"filename": f"{model}.json", "format": "json",
                                             "model_ids": [model]})
        assert doc["data"]["status"] == "ok" and (server.export_dir / f"{model}.json").exists()
        for kind, data in [("get_anomalies", {"severity": "dire"}),
                           ("set_theme", {"theme": "neon"}),
                           ("get_correlation_matrix", {"model_ids": ["ghost"]}),
                           ("set_filter", {"intensity_range": [3, 1]}),
                           ("ingest_activations", {"model_id": model, "layer_id": "c",
                                                   "values": [1.0]}),
                           ("get_temporal_patterns", {"pattern_types": ["nope"]})]:
            doc = await _ask(ws, kind, data)
            assert doc["type"] == "error", (kind, doc)
            assert {"code", "message", "details", "request"} <= set(doc["data"])
        for raw in ["{not json", "[1,2]", '{"type": "dance"}', '{"type": "get_anomalies", '
                    '"data": 5}', '{"data": {}}']:
            await ws.send_str(raw)
            err = await _next(ws, "error")
            assert err["code"] == "invalid_argument", raw
        await ws.send_bytes(b"\x00\x01")
        assert (await _next(ws, "error"))["code"] == "invalid_argument"
        doc = await _ask(ws, "get_anomalies", {"limit": 1})  # still open
        assert doc["type"] == "data"


async def test_subscriptions_push_updates(server: ServerProcess, api: Api) -> None:
    model = unique("push")
    rng = np.random.default_rng(6)
    t = np.arange(60) / 20.0
    api.ingest_series(model, "a", np.tile(np.sin(2 * math.pi * t)[:, None], (1, 9)).astype("f4"))
    api.ingest_series(model, "b", rng.normal(size=(60, 9)).astype("f4"))
    before = api.get("/api/anomalies")["last_sequence"]
    api.post("/api/activations", {"model_id": model, "layer_id": "a", "values": [np.nan] * 9})
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        for kind, data in [("subscribe_heatmap", {"model_ids": [model], "layer_ids": ["b"]}),
                           ("subscribe_correlations", {}), ("subscribe_temporal", {}),
                           ("subscribe_anomalies", {"after_sequence": before,
                                                    "model_ids": [model]})]:
            await ws.send_str(json.dumps({"type": kind, "data": data}))
        replay = await _next(ws, "anomaly_update")
        assert replay["anomalies"][0]["sequence"] == before + 1
        assert replay["severity"] == "critical" and replay["description"]
        values = rng.normal(size=9).tolist()
        values[7] = 50.0
        await ws.send_str(json.dumps({"type": "ingest_activations", "data": {
            "model_id": model, "layer_id": "b", "values": values, "step": 99}}))
        heat = await _next(ws, "heatmap_update")
        assert heat["model_id"] == model and heat["layer"] == "b" and heat["step"] == 99
        assert heat["location"] == {"x": 1, "y": 2} and heat["width"] == 3
        assert heat["values"][7] == 50.0 and abs(heat["intensity"] - np.mean(values)) < 1e-4
        live = await _next(ws, "anomaly_update")
        assert live["anomalies"][0]["anomaly_type"] == "exploding"
        assert live["anomalies"][0]["sequence"] > before + 1
        corr = await _next(ws, "correlation_update")
        assert {"timestamp", "matrix", "labels", "metadata"} <= set(corr)
        temporal = await _next(ws, "temporal_update")
        assert {"timestamp", "patterns", "trends", "state_changes"} <= set(temporal)
        for kind in ("unsubscribe_heatmap", "unsubscribe_correlations", "unsubscribe_temporal",
                     "unsubscribe_anomalies"):
            doc = await _ask(ws, kind)
            assert doc["data"] == {"request": kind, "status": "ok"}


async def test_expired_sequence_over_ws() -> None:
    with ServerProcess(extra_args=[*FAST_ARGS, "--anomaly-retention", "2"]) as server:
        api = Api(server)
        for _ in range(4):
            api.post("/api/activations", {"model_id": "m", "layer_id": "l", "values": [np.nan]})
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            doc = await _ask(ws, "subscribe_anomalies", {"after_sequence": 0})
            assert doc["type"] == "error" and doc["data"]["code"] == "sequence_expired"
            doc = await _ask(ws, "subscribe_anomalies", {"after_sequence": 2,
                                                         "min_severity": "high"})
            assert doc["data"]["status"] == "ok"
            replay = await _next(ws, "anomaly_update")
            assert [a["sequence"] for a in replay["anomalies"]] == [3, 4]


def _small_buffer_socket(addr_info: Any) -> socket.socket:
    """A client socket with a tiny receive buffer, so a client that stops reading
    pushes back on the server after kilobytes instead of tens of megabytes."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_slow_client_does_not_stall_others() -> None:
    with ServerProcess(extra_args=[*FAST_ARGS, "--ws-queue", "8"]) as server:
        api = Api(server)
        slow_connector = aiohttp.TCPConnector(socket_factory=_small_buffer_socket)
        async with aiohttp.ClientSession() as session, \
                aiohttp.ClientSession(connector=slow_connector) as slow_session:
            slow = await slow_session.ws_connect(server.ws_url, max_msg_size=0)
            fast = await session.ws_connect(server.ws_url, max_msg_size=0)
            for ws in (slow, fast):
                await ws.send_str(json.dumps({"type": "subscribe_heatmap", "data": {}}))
                await ws.send_str(json.dumps({"type": "subscribe_anomalies", "data": {}}))
            await _next(fast, "data", "subscribe_anomalies")
            units = 16384
            received: list[int] = []
            heatmaps = 0

            async def read_fast() -> None:
                nonlocal heatmaps
                async for msg in fast:
                    doc = json.loads(msg.data)
                    if doc["type"] == "anomaly_update":
                        received.extend(a["sequence"] for a in doc["data"]["anomalies"])
                    elif doc["type"] == "heatmap_update":
                        heatmaps += 1

            reader = asyncio.create_task(read_fast())
            values = np.full(units, 0.5, dtype=np.float32)
            values[0] = np.nan
            for _ in range(120):
                await asyncio.to_thread(api.ingest_series, "slow", "l", values[None, :])
            last = api.get("/api/anomalies")["last_sequence"]
            async with asyncio.timeout(10):
                while len(received) < 120:
                    await asyncio.sleep(0.05)
            assert received == list(range(last - 119, last + 1))
            assert heatmaps >= 1
            codes = []
            async with asyncio.timeout(10):
                async for _ in slow:
                    pass
                codes.append(slow.close_code)
            assert codes == [1013]
            reader.cancel()
            await fast.close()
