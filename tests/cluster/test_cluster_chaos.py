"""N bridges on a JetStream anomaly log survive the loss of any part, and nothing is lost.

NATS JetStream, one server and three bridges on loopback ports; the bridges end
connections after ``--max-connection-age`` so streams move between them.
Consumers: three plain resuming streams (Python raw stubs over one gRPC channel
balanced with ``round_robin`` over the three addresses, the Go SDK's
anomaly-consumer example on the second bridge and the TypeScript SDK's
``client.anomalies()`` on the first, both of which are killed), one durable named
consumer and one
group of three members (raw stubs, ``tests/support/durable_consumers``). A writer
ingests 20 anomalies/s while, in turn, one bridge is SIGKILLed (and restarted),
then another, then the server, then the NATS server (restarted on the same
store). At the end every plain consumer and the named consumer hold every
sequence of the stream exactly once, in order, and the group's members together
hold every sequence exactly once; counts are printed. The short run is in
``make test``; the minute-long one in ``make test-long``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import nats
import pytest
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.anomaly_consumers import ResumingConsumer
from tests.support.cluster import STREAM, Cluster
from tests.support.durable_consumers import DurableConsumer
from tests.support.sdk_builds import TS_DIR, go_build, npm_build, tool
from tests.support.server_process import REPO_ROOT

RATE = 20  # anomalies per second
LAYERS_PER_POST = 2


async def _writer(url: str, stop: asyncio.Event) -> int:
    """Ingest ``RATE`` anomalies/s until ``stop``; failed posts (server down) are skipped."""
    posted = 0
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=3)) as http:
        while not stop.is_set():
            frames = [{"model_id": "chaos", "layer_id": f"l{i}", "values": [float("nan"), 1.0]}
                      for i in range(LAYERS_PER_POST)]
            try:
                async with http.post("/api/activations", json={"frames": frames}) as resp:
                    posted += LAYERS_PER_POST if resp.status == 200 else 0
            except (aiohttp.ClientError, TimeoutError, ConnectionError):
                pass
            await asyncio.sleep(LAYERS_PER_POST / RATE)
    return posted


async def _stream_sequences(url: str) -> list[int]:
    """Every sequence the stream holds (the truth the consumers are checked against)."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(STREAM)
        return list(range(info.state.first_seq, info.state.last_seq + 1))
    finally:
        await nc.close()


def _build_sdk_consumers(tmp: Path) -> Path:
    """The Go example's binary, and the TypeScript SDK's dist (both from this checkout)."""
    binary = go_build("./examples/anomaly-consumer", tmp / "anomaly-consumer")
    npm_build()
    return binary


def _lines(path: Path, prefix: str = "") -> list[int]:
    if not path.exists():
        return []
    return [int(x[len(prefix):]) for x in path.read_text().splitlines() if x.startswith(prefix)]


async def _run(duration: float, tmp: Path) -> None:
    step = duration / 5
    binary = _build_sdk_consumers(tmp)
    with Cluster(bridges=3, max_connection_age=step) as cluster:
        channel = cluster.channel()
        stub = pb_grpc.NeuralHeatmapServiceStub(channel)
        consumers = [ResumingConsumer(stub, after=0) for _ in range(3)]
        named: list[int] = []
        group: list[int] = []
        durable = [DurableConsumer(stub, "chaos-named", False, named),
                   *(DurableConsumer(stub, "chaos-group", True, group) for _ in range(3))]
        tasks = [asyncio.create_task(c.run()) for c in [*consumers, *durable]]
        go_out, ts_out = tmp / "go.out", tmp / "ts.out"
        with (tmp / "go.err").open("wb") as go_err, ts_out.open("wb") as ts_stdout:
            go_proc = await asyncio.create_subprocess_exec(
                str(binary), "-target", cluster.bridges[1].target, "-state", str(tmp / "go.state"),
                "-out", str(go_out), stderr=go_err)
            ts_proc = await asyncio.create_subprocess_exec(
                tool("node"), str(REPO_ROOT / "tests" / "sdk" / "ts_anomaly_tail.mjs"),
                str(TS_DIR / "dist" / "index.js"), "--target", cluster.bridges[0].target,
                "--after", "0", "--model", "chaos", "--count", "1000000", "--idle-ms", "15000",
                stdout=ts_stdout, stderr=subprocess.DEVNULL)
        await asyncio.sleep(2.0)  # every consumer subscribed: the durable ones start at 0
        stop = asyncio.Event()
        writer = asyncio.create_task(_writer(cluster.server.url, stop))

        def restart(kill: Callable[[], None], start: Callable[[], object]) -> None:
            kill()
            time.sleep(0.5)
            start()

        events = [
            ("bridge 1", lambda: restart(cluster.bridges[0].kill, cluster.bridges[0].start)),
            ("bridge 2", lambda: restart(cluster.bridges[1].kill, cluster.bridges[1].start)),
            ("server", lambda: restart(cluster.server.kill, cluster.server.start)),
            ("nats", lambda: restart(cluster.nats.kill, cluster.nats.start)),
        ]
        for name, event in events:
            await asyncio.sleep(step)
            print(f"SIGKILL {name}")
            await asyncio.to_thread(event)
        await asyncio.sleep(step)
        stop.set()
        posted = await writer
        expected = await _stream_sequences(cluster.nats.url)
        def done() -> bool:
            last = expected[-1]
            return (all((c.seen[-1:] or [0])[0] >= last for c in consumers)
                    and (named[-1:] or [0])[0] >= last and len(set(group)) >= len(expected)
                    and (_lines(go_out)[-1:] or [0])[0] >= last
                    and (_lines(ts_out, "SEQ ")[-1:] or [0])[0] >= last)

        deadline = time.monotonic() + 90  # a group lease held by a killed stream expires first
        while time.monotonic() < deadline and not done():
            await asyncio.sleep(0.5)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for proc in (go_proc, ts_proc):
            proc.terminate()
            await proc.wait()
        await channel.close()
        counts: dict[str, object] = {
            f"python-{i}": {"received": len(c.seen), "reopened": dict(c.reopened)}
            for i, c in enumerate(consumers)}
        counts["go"] = len(_lines(go_out))
        counts["typescript"] = len(_lines(ts_out, "SEQ "))
        counts["named"] = {"processed": len(named), "reopened": dict(durable[0].reopened)}
        counts["group"] = {"processed": len(group),
                           "members": [dict(m.reopened) for m in durable[1:]]}
        print(json.dumps({"posted": posted, "logged": len(expected), "consumers": counts}))
        assert len(expected) >= posted > RATE * duration / 2
        for c in consumers:
            assert c.seen == expected  # every sequence exactly once, in order
            assert sum(c.reopened.values()) >= 2  # they did move between bridges
        assert _lines(go_out) == expected
        assert _lines(ts_out, "SEQ ") == expected
        assert named == expected  # the durable consumer, with no client-side cursor
        assert sorted(group) == expected  # each anomaly processed by exactly one member


async def test_cluster_survives_bridge_server_and_nats_kills_short(tmp_path: Path) -> None:
    await _run(duration=20, tmp=tmp_path)


@pytest.mark.long
async def test_cluster_survives_bridge_server_and_nats_kills_long(tmp_path: Path) -> None:
    await _run(duration=60, tmp=tmp_path)
