"""``anomaly_heartbeat`` on idle anomaly subscriptions that ask for it (docs/http-api.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import aiohttp
import numpy as np

from tests.server.conftest import Api, unique
from tests.server.test_ws import _ask, _next
from tests.support.server_process import ServerProcess


async def test_idle_subscription_gets_heartbeats_naming_the_head(
    server: ServerProcess, api: Api
) -> None:
    model = unique("beat")
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        head = api.get("/api/anomalies?limit=1")["last_sequence"]
        doc = await _ask(ws, "subscribe_anomalies",
                         {"after_sequence": head, "heartbeat_interval": 0.2})
        assert doc["data"]["status"] == "ok"
        beat = await _next(ws, "anomaly_heartbeat")
        assert beat["last_sequence"] == head
        assert abs(beat["timestamp"] - time.time()) < 60
        api.ingest_series(model, "l", np.array([[np.nan, 1.0]], dtype="f4"))
        update = await _next(ws, "anomaly_update")
        logged = update["anomalies"][-1]["sequence"]
        assert logged > head
        beat = await _next(ws, "anomaly_heartbeat")
        assert beat["last_sequence"] == api.get("/api/anomalies?limit=1")["last_sequence"]
        assert beat["last_sequence"] >= logged


async def test_no_heartbeats_unless_asked_and_bad_intervals_refused(server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        doc = await _ask(ws, "subscribe_anomalies", {"heartbeat_interval": 0.01})
        assert doc["type"] == "error" and doc["data"]["code"] == "invalid_argument"
        assert "heartbeat_interval" in doc["data"]["message"]
        doc = await _ask(ws, "subscribe_anomalies", {})
        assert doc["data"]["status"] == "ok"
        kinds = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.5):  # longer than the server's re-check period
                while True:
                    kinds.append(json.loads((await ws.receive()).data)["type"])
        assert "anomaly_heartbeat" not in kinds
