"""Overload safety over HTTP: heavy work never stalls /health, WebSockets or SIGTERM.

The server runs with two workers and room for three analytics requests; the
heaviest requests we can build (a compare naming two models thousands of
times, a 2048-label unit matrix as JSON, temporal analysis of every layer)
are sent at once, several times over. Each must end with a precise status
(200, 400, 429 ``overloaded`` or 504 ``deadline_exceeded``), and /health and
a WebSocket must answer within 2 s throughout.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from tests.server.conftest import Api
from tests.server.overload_support import (
    BIG_UNITS,
    LAYERS_PER_MODEL,
    OVERLOAD_ARGS,
    HealthProbe,
    http_health,
    load_heavy_data,
    run_concurrently,
)
from tests.support.server_process import ServerProcess

HEAVY_COMPARE = {"model_ids": ["heavy-a", "heavy-b"] * 3000}
UNIT_MATRIX = "/api/correlation?model_ids=heavy-big&granularity=unit"


@pytest.fixture(scope="module")
def heavy() -> Iterator[tuple[ServerProcess, Api]]:
    with ServerProcess(extra_args=OVERLOAD_ARGS) as proc:
        api = Api(proc)
        load_heavy_data(api)
        yield proc, api


def _call(api: Api, method: str, path: str, body: Any = None,
          headers: dict[str, str] | None = None) -> Callable[[], tuple[int, dict[str, str], Any]]:
    def call() -> tuple[int, dict[str, str], Any]:
        status, hdrs, payload = api.request(method, path, body, headers=headers)
        # Only errors are decoded: json.loads of an 88 MB matrix would hold this
        # process's GIL for seconds and stall the health probe thread, not the server.
        return status, hdrs, json.loads(payload) if status != 200 else payload
    return call


def _heaviest(api: Api) -> list[Callable[[], tuple[int, dict[str, str], Any]]]:
    return [
        _call(api, "POST", "/api/compare", HEAVY_COMPARE),
        _call(api, "GET", UNIT_MATRIX),
        _call(api, "GET", UNIT_MATRIX + "&start_time=1"),  # another cache key
        _call(api, "GET", "/api/temporal?time_window=1e12"),
        _call(api, "GET", "/api/temporal/stats"),
        _call(api, "GET", "/api/models?include_units=true"),
    ] * 2


async def _ws_round_trips(url: str, seconds: float) -> float:
    """Cheap WebSocket requests for ``seconds``; the slowest round trip."""
    worst = 0.0
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            await ws.send_str(json.dumps({"type": "get_anomalies", "data": {"limit": 1}}))
            async with asyncio.timeout(5):
                while True:
                    doc = json.loads((await ws.receive()).data)
                    if doc["data"].get("request") == "get_anomalies":
                        break
            worst = max(worst, time.monotonic() - started)
            await asyncio.sleep(0.1)
    return worst


def test_health_and_websocket_answer_while_the_heaviest_requests_run(
        heavy: tuple[ServerProcess, Api]) -> None:
    server, api = heavy
    with HealthProbe(http_health(server.url)) as probe:
        loop = asyncio.new_event_loop()
        ws_task = loop.create_task(_ws_round_trips(server.ws_url, 4.0))
        results = run_concurrently(_heaviest(api))
        ws_worst = loop.run_until_complete(ws_task)
        loop.close()
    assert probe.failures == [] and probe.count >= 5
    assert probe.worst < 2.0, f"/health took {probe.worst:.2f} s under load"
    assert ws_worst < 2.0, f"a WebSocket request took {ws_worst:.2f} s under load"
    statuses = []
    for result in results:
        assert not isinstance(result, Exception), result
        status, headers, body = result  # type: ignore[misc]
        statuses.append(status)
        assert status in (200, 429, 504), (status, body)
        if status == 429:
            assert body["error"]["code"] == "overloaded"
            assert headers["Retry-After"] == "1"
            assert "--max-pending-analytics" in body["error"]["message"]
        if status == 504:
            assert body["error"]["code"] == "deadline_exceeded"
    assert 429 in statuses, statuses  # 12 requests, room for 3: admission control refused some


def test_duplicate_ids_are_merged_and_the_answer_is_the_two_model_answer(
        heavy: tuple[ServerProcess, Api]) -> None:
    _, api = heavy
    rng = np.random.default_rng(3)
    for model in ("dup-a", "dup-b"):
        for layer in ("l1", "l2", "l3"):
            api.ingest_series(model, layer, rng.normal(size=(32, 4)).astype("f4"))
    once = api.post("/api/compare", {"model_ids": ["dup-a", "dup-b"]})
    many = api.post("/api/compare", {"model_ids": ["dup-a", "dup-b", "dup-a"] * 1000})
    assert many["model_ids"] == ["dup-a", "dup-b"]
    assert many["similarity_matrix"] == once["similarity_matrix"]
    assert len(many["layer_similarity"]) == 9


def test_every_input_dimension_is_capped(heavy: tuple[ServerProcess, Api]) -> None:
    _, api = heavy
    status, doc = api.call("POST", "/api/compare",
                           {"model_ids": [f"m{i}" for i in range(9)]})
    assert status == 400 and "--max-compare-models" in doc["error"]["message"]
    assert doc["error"]["details"] == {"field": "model_ids", "models": 9, "limit": 8,
                                       "constraint": "distinct <= 8"}

    frames = [{"model_id": "caps", "layer_id": f"l{i}", "values": [1.0]} for i in range(65)]
    status, doc = api.call("POST", "/api/activations", {"frames": frames})
    assert status == 400 and "--max-new-layers" in doc["error"]["message"]
    assert "caps" not in {m["model_id"] for m in api.get("/api/models")["models"]}

    api.ingest_series("heavy-big2", "units", np.zeros((4, 8), "f4"))
    status, doc = api.call("GET", "/api/correlation?model_ids=heavy-big,heavy-big2"
                                  "&granularity=unit")
    assert status == 400 and "--max-matrix-labels" in doc["error"]["message"]
    assert doc["error"]["details"] == {"labels": BIG_UNITS + 8, "limit": 2048,
                                       "constraint": "labels <= 2048"}


def test_the_caller_deadline_is_honoured(heavy: tuple[ServerProcess, Api]) -> None:
    _, api = heavy
    status, doc = api.call("GET", "/api/temporal", headers={"X-Request-Timeout-Ms": "0"})
    assert status == 504 and doc["error"]["code"] == "deadline_exceeded"
    status, doc = api.call("GET", "/api/temporal", headers={"X-Request-Timeout-Ms": "soon"})
    assert status == 400 and "X-Request-Timeout-Ms" in doc["error"]["message"]

    started = time.monotonic()
    status, doc = api.call("POST", "/api/compare", HEAVY_COMPARE,
                           headers={"X-Request-Timeout-Ms": "300"})
    assert status == 504 and doc["error"]["code"] == "deadline_exceeded", doc
    assert time.monotonic() - started < 5.0  # 300 ms, plus a generous margin
    # The abandoned compare stops at its next deadline check and frees its worker:
    # analytics answer again long before the compare would have finished.
    deadline = time.monotonic() + 20.0  # generous: the machine may be busy
    while True:
        status, doc = api.call("GET", "/api/temporal/stats?model_id=heavy-a",
                               headers={"X-Request-Timeout-Ms": "5000"})
        if status == 200 or time.monotonic() > deadline:
            break
    assert status == 200, doc


async def test_the_periodic_push_is_capped(heavy: tuple[ServerProcess, Api]) -> None:
    server, _ = heavy
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        await ws.send_str(json.dumps({"type": "subscribe_correlations"}))
        async with asyncio.timeout(10):
            while True:
                doc = json.loads((await ws.receive()).data)
                if doc["type"] == "correlation_update":
                    break
    data = doc["data"]
    assert len(data["labels"]) == 16
    assert data["metadata"]["truncated"]["labels_sent"] == 16
    assert data["metadata"]["truncated"]["labels_total"] >= 2 * LAYERS_PER_MODEL


def test_sigterm_stops_the_server_while_heavy_work_runs() -> None:
    args = list(OVERLOAD_ARGS)
    args[args.index("--max-request-seconds") + 1] = "120"  # the work would run for long
    server = ServerProcess(extra_args=args).start()
    try:
        api = Api(server)
        load_heavy_data(api)
        calls = [_call(api, "POST", "/api/compare", HEAVY_COMPARE) for _ in range(3)]
        threads = [threading.Thread(target=run_concurrently, args=(calls,), daemon=True)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server ignored SIGTERM for 10 s:\n{server.log()[-3000:]}")
        assert time.monotonic() - started < 10
    finally:
        server.cleanup()


def test_big_json_bodies_are_decoded_off_the_loop_and_documents_are_small(
        heavy: tuple[ServerProcess, Api]) -> None:
    server, api = heavy
    frames = [{"model_id": "bulk", "layer_id": "l", "step": i,
               "values": np.random.default_rng(i).normal(size=2048).tolist()}
              for i in range(1000)]  # ~40 MB of JSON
    body = json.dumps({"frames": frames}).encode()  # encoded before probing: the client's
    # own json.dumps would hold this process's GIL and stall the probe thread
    with HealthProbe(http_health(server.url), interval=0.05) as probe:
        status, _, answer = api.request("POST", "/api/activations", raw=body,
                                        headers={"Content-Type": "application/json"})
    assert status == 200 and json.loads(answer) == {"accepted": 1000}
    assert probe.failures == [], probe.failures
    assert probe.worst < 2.0, f"/health took {probe.worst:.2f} s during a big ingest"
    layout = {"visibility": {f"panel-{i}": True for i in range(100_000)}}  # ~2 MB
    status, doc = api.call("POST", "/api/layout", layout)
    assert status == 413 and doc["error"]["details"]["limit"] == 1 << 20


async def test_a_big_websocket_document_is_refused_and_the_connection_lives(
        heavy: tuple[ServerProcess, Api]) -> None:
    server, _ = heavy
    layout = {"visibility": {f"panel-{i}": True for i in range(100_000)}}
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        await ws.send_str(json.dumps({"type": "set_layout", "data": layout}))
        doc = json.loads((await ws.receive(timeout=10)).data)
        assert doc["type"] == "error" and doc["data"]["code"] == "payload_too_large"
        await ws.send_str(json.dumps({"type": "get_anomalies", "data": {"limit": 1}}))
        doc = json.loads((await ws.receive(timeout=10)).data)
        assert doc["type"] == "data" and doc["data"]["request"] == "get_anomalies"
        frames = [{"model_id": "ws-bulk", "layer_id": "l", "values": [float(i)] * 512}
                  for i in range(200)]  # ~0.5 MB: decoded and parsed in the decoder process
        await ws.send_str(json.dumps({"type": "ingest_activations", "data": {"frames": frames}}))
        doc = json.loads((await ws.receive(timeout=30)).data)
        assert doc == {"type": "data", "data": {"request": "ingest_activations", "accepted": 200}}
        frames[7]["values"] = [1.0]  # a bad frame in a large message: the same 400 as inline
        await ws.send_str(json.dumps({"type": "ingest_activations", "data": {"frames": frames}}))
        doc = json.loads((await ws.receive(timeout=30)).data)
        assert doc["type"] == "error" and doc["data"]["details"]["index"] == 7


def test_a_killed_decoder_process_is_replaced(heavy: tuple[ServerProcess, Api]) -> None:
    server, api = heavy
    frames = [{"model_id": "decoder", "layer_id": "l", "values": [float(i)] * 1024}
              for i in range(100)]  # ~0.5 MB: goes to the decoder process
    api.post("/api/activations", {"frames": frames})
    assert server.proc is not None
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text()
    assert children.split(), "the decoder process was not started"
    for pid in children.split():
        os.kill(int(pid), signal.SIGKILL)  # as the OOM killer would
    statuses = []
    for _ in range(3):  # the first may meet the dead process: 503, retryable
        status, doc = api.call("POST", "/api/activations", {"frames": frames})
        statuses.append(status)
        if status == 200:
            break
        assert status == 503 and doc["error"]["code"] == "unavailable", doc
    assert statuses[-1] == 200, statuses
