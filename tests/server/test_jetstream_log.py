"""The anomaly log on NATS JetStream: stream sequences, pruning, exactly-once publishing.

The server runs with ``--anomaly-log nats://...`` against a real ``nats-server
-js`` on a loopback port with a temporary store. The stream is read back with
nats-py, so what is checked is what bridges and other readers of the stream see.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import nats
import pytest

from tests.support.nats_process import NatsProcess
from tests.support.server_process import ServerProcess

STREAM = "NH_TEST"


@pytest.fixture
def nats_server() -> Iterator[NatsProcess]:
    with NatsProcess() as proc:
        yield proc


def _post_nan_frames(server: ServerProcess, count: int) -> None:
    """Ingest ``count`` frames of distinct layers, each raising one non_finite anomaly."""
    frames = [{"model_id": "js", "layer_id": f"l{i}", "step": i, "values": [1.0, float("nan")]}
              for i in range(count)]
    req = urllib.request.Request(f"{server.url}/api/activations",
                                 data=json.dumps({"frames": frames}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def _get(server: ServerProcess, query: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{server.url}/api/anomalies?{query}", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def _stream_messages(url: str) -> list[tuple[int, dict[str, Any]]]:
    """Every message of the stream as ``(stream sequence, anomaly)``."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            out.append((seq, json.loads(msg.data or b"{}")))
        return out
    finally:
        await nc.close()


def _server(nats_server: NatsProcess, *extra: str) -> ServerProcess:
    return ServerProcess(extra_args=["--anomaly-cooldown", "0", "--anomaly-log", nats_server.url,
                                     "--anomaly-stream", STREAM, *extra])


def test_sequences_are_stream_sequences_and_a_pruned_cursor_is_410(
        nats_server: NatsProcess) -> None:
    with _server(nats_server, "--anomaly-retention", "5") as server:
        _post_nan_frames(server, 8)
        status, doc = _get(server, "limit=100")
        assert status == 200
        assert [a["sequence"] for a in doc["anomalies"]] == [4, 5, 6, 7, 8]
        assert (doc["first_sequence"], doc["last_sequence"]) == (4, 8)
        stream = asyncio.run(_stream_messages(nats_server.url))
        assert [seq for seq, _ in stream] == [4, 5, 6, 7, 8]
        assert [a["layer"] for _, a in stream] == ["l3", "l4", "l5", "l6", "l7"]
        assert _get(server, "after_sequence=3")[0] == 200
        status, doc = _get(server, "after_sequence=2")
        assert status == 410
        assert doc["error"]["code"] == "sequence_expired"


def test_a_server_killed_between_publish_and_commit_neither_loses_nor_doubles(
        nats_server: NatsProcess) -> None:
    server = _server(nats_server, "--crash-after-publish", "2")
    server.module = "tests.support.crashing_server"  # test-only entry module around the server
    try:
        server.start()
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _post_nan_frames(server, 3)  # the 2nd publish is acknowledged, then SIGKILL
        assert server.proc is not None
        server.proc.wait(10)
        server.proc = None
        server.extra_args = server.extra_args[:-2]  # the same data dir, no crash this time
        server.module = "neural_heatmap_server"
        server.start()  # flushes the outbox: the 2nd again (a duplicate), then the 3rd
        _post_nan_frames(server, 1)
        status, doc = _get(server, "after_sequence=0&limit=100")
        assert status == 200
        assert [(a["sequence"], a["layer"]) for a in doc["anomalies"]] == [
            (1, "l0"), (2, "l1"), (3, "l2"), (4, "l0")]
        stream = asyncio.run(_stream_messages(nats_server.url))
        assert [(seq, a["layer"]) for seq, a in stream] == [
            (1, "l0"), (2, "l1"), (3, "l2"), (4, "l0")]
    finally:
        server.cleanup()
