"""A Connect stream whose client stops reading ends SLOW_READER, as on the gRPC port.

The bridge runs with ``--slow-stream-timeout 1`` and its web port. A backlog of 12,000
anomalies is logged; a raw HTTP/1.1 client with a 4 KiB receive buffer opens
``SubscribeAnomalies`` from sequence 0 over Connect JSON and reads nothing, so the bridge's
write waits. After the timeout the bridge gives that write up and ends the stream:
reading again, the client gets every update written before, in order, then the end of
stream with ``resource_exhausted`` and ErrorInfo reason ``SLOW_READER``; resuming after
its last sequence gives the rest of the log exactly once.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import aiohttp
import pytest
from connectrpc.compat import google_protobuf_binary_codec
from google.rpc import error_details_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1.neural_heatmap_service_connect import (
    NeuralHeatmapServiceClient,
)

from tests.support.anomaly_consumers import logged_sequences, post_nan_frames
from tests.support.bridge_process import BridgeProcess
from tests.support.metrics import metric
from tests.support.server_process import ServerProcess

MODEL = "slow-connect"
# 12,000 anomalies, about 9 MB of Connect JSON: more than the socket buffers on both ends
# hold, so the bridge's writes stop long before the client has them all.
LAYERS, REQUESTS = 100, 120
WAIT = 60.0  # generous bound for the bridge to notice, on a loaded machine
PATH = "/neural_heatmap.v1.NeuralHeatmapService/SubscribeAnomalies"


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    with (
        ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server,
        BridgeProcess(server.url, "--slow-stream-timeout", "1", metrics=True, web=True) as bridge,
    ):
        yield server, bridge


def _dechunk(data: bytes) -> bytes:
    out, rest = bytearray(), data
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += rest[:size]
        rest = rest[size + 2:]


def _envelopes(body: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(body):
        flags, size = body[i], int.from_bytes(body[i + 1:i + 5], "big")
        out.append((flags, body[i + 5:i + 5 + size]))
        i += 5 + size
    return out


async def test_a_stopped_connect_reader_gets_its_updates_then_slow_reader(
    stack: tuple[ServerProcess, BridgeProcess],
) -> None:
    server, bridge = stack
    async with aiohttp.ClientSession(base_url=server.url) as http:
        for _ in range(REQUESTS):
            await post_nan_frames(http, MODEL, LAYERS)
        logged = await logged_sequences(http, 0, MODEL)
    assert len(logged) == LAYERS * REQUESTS

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", bridge.web_port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
    writer.transport.pause_reading()  # reads nothing from now on
    msg = json.dumps({"afterSequence": "0", "modelIds": [MODEL]}).encode()
    body = b"\0" + len(msg).to_bytes(4, "big") + msg
    writer.write(
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\n"
        f"Connect-Protocol-Version: 1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    assert bridge.metrics_url is not None
    async with asyncio.timeout(WAIT):
        while await metric(bridge.metrics_url, "nh_bridge_slow_streams_total") < 1:
            await asyncio.sleep(0.2)

    writer.transport.resume_reading()
    async with asyncio.timeout(WAIT):
        raw = b""
        while not raw.endswith(b"\r\n0\r\n\r\n"):
            chunk = await reader.read(1 << 20)
            assert chunk, "the connection closed before the end of the stream"
            raw += chunk
    writer.close()
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    *updates, (flags, end) = _envelopes(_dechunk(chunked))
    assert flags == 2 and all(f == 0 for f, _ in updates)
    received = [int(a["sequence"]) for _, m in updates
                for a in json.loads(m)["update"]["anomalies"]]
    assert 0 < len(received) < len(logged)
    assert received == logged[:len(received)]  # in order, none missing, none twice
    error = json.loads(end)["error"]
    assert error["code"] == "resource_exhausted", error
    assert "--slow-stream-timeout" in error["message"]
    detail = error["details"][0]
    info = error_details_pb2.ErrorInfo.FromString(_b64(detail["value"]))
    assert (detail["type"], info.reason) == ("google.rpc.ErrorInfo", "SLOW_READER")
    assert int(info.metadata["sequence"]) >= received[-1]

    # Resume after the last sequence received: the rest of the log, exactly once.
    rest: list[int] = []
    async with NeuralHeatmapServiceClient(
        bridge.web_url, codec=google_protobuf_binary_codec()
    ) as client:
        stream = client.subscribe_anomalies(
            pb.SubscribeAnomaliesRequest(after_sequence=received[-1], model_ids=[MODEL]),
            timeout_ms=60000,
        )
        async for resp in stream:
            rest.extend(a.sequence for a in resp.update.anomalies)
            if len(received) + len(rest) >= len(logged):
                break
        await stream.aclose()  # type: ignore[attr-defined]
    assert received + rest == logged


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text + "=" * (-len(text) % 4))
