"""Each SDK notices a stream that stalls inside the bridge and resumes it exactly (issue 18).

The bridge runs with ``--test-faults mute@1,freeze@2`` (test-only, see
``tests/support/faulty_bridge.py``): the first anomaly stream it opens never
receives an anomaly but keeps sending heartbeats, so the bridge's watchdog
ends it with UNAVAILABLE; the second stream (the client's reopening) goes
completely silent after its first heartbeat, which only the client's own
idle bound can notice. The third stream is healthy. Anomalies are logged in
bursts with idle gaps (so heartbeats are due) while the consumer works through
both faults; every SDK must then hold every sequence exactly once, in order,
and have delivered each burst within the documented bounds.

Python runs in-process; Go runs the example consumer
(``sdk/go/examples/anomaly-consumer``) and TypeScript a small script over the
built SDK (``ts_anomaly_tail.mjs``), each as its own process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from neural_heatmap import NeuralHeatmapClient

from tests.support.anomaly_consumers import log_head, logged_sequences, post_nan_frames
from tests.support.bridge_process import BridgeProcess
from tests.support.sdk_builds import go_build, npm_build, tool
from tests.support.server_process import ServerProcess

HEARTBEAT = 0.3
STALL = 1.5
IDLE = 2.0  # the clients' idle bound in these tests (default 15 s)
BURSTS = 8
PER_BURST = 3
GAP = 1.5  # idle time between bursts: longer than HEARTBEAT, so heartbeats are due; and the
# bursts last long enough (12 s) that on a loaded machine the frozen second stream still
# sees an idle gap after it caught up past the muted first one
# Longest time a burst may take to arrive: the watchdog's bound (two heartbeat intervals and
# the stall timeout) plus the client's idle bound, plus generous slack for a loaded machine.
DELIVERY_BOUND = 2 * HEARTBEAT + STALL + IDLE + 15


@pytest.fixture
def faulty_stack() -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    """A fresh server and a bridge whose first two anomaly streams fail inside it."""
    with (
        ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server,
        BridgeProcess(
            server.url,
            "--heartbeat-interval",
            str(HEARTBEAT),
            "--stall-timeout",
            str(STALL),
            faults="mute@1,freeze@2",
            metrics=True,
        ) as bridge,
    ):
        yield server, bridge


async def _bursts(url: str, model: str) -> list[float]:
    """Log ``BURSTS`` bursts of anomalies with idle gaps; return when each was logged."""
    logged_at = []
    async with aiohttp.ClientSession(base_url=url) as http:
        for _ in range(BURSTS):
            await post_nan_frames(http, model, PER_BURST)
            logged_at.append(time.monotonic())
            await asyncio.sleep(GAP)
    return logged_at


async def _faults_seen(bridge: BridgeProcess) -> tuple[float, float]:
    """(streams the bridge's watchdog ended, anomaly streams the client cancelled)."""
    assert bridge.metrics_url is not None
    async with aiohttp.ClientSession() as http, http.get(bridge.metrics_url) as resp:
        text = await resp.text()
    stalled = cancelled = 0.0
    for line in text.splitlines():
        if line.startswith("nh_bridge_stalled_streams_total"):
            stalled += float(line.split()[-1])
        elif (
            line.startswith("nh_bridge_rpc_calls_total")
            and 'code="CANCELLED"' in line
            and ("SubscribeAnomalies" in line)
        ):
            cancelled += float(line.split()[-1])
    return stalled, cancelled


async def _run(
    server: ServerProcess,
    bridge: BridgeProcess,
    model: str,
    consume: Callable[[int, int], AsyncIterator[int]],
) -> None:
    """Drive ``consume(after, count)`` (which yields sequences) through the bursts and check."""
    async with aiohttp.ClientSession(base_url=server.url) as http:
        start = await log_head(http)
    total = BURSTS * PER_BURST
    got: list[tuple[int, float]] = []

    async def collect() -> None:
        async for seq in consume(start, total):
            got.append((seq, time.monotonic()))

    collector = asyncio.create_task(collect())
    logged_at = await _bursts(server.url, model)
    await asyncio.wait_for(collector, DELIVERY_BOUND + 30)
    async with aiohttp.ClientSession(base_url=server.url) as http:
        expected = await logged_sequences(http, start, model)
    assert len(expected) == total
    assert [s for s, _ in got] == expected  # exactly once, in order
    for burst, at in enumerate(logged_at):
        last_of_burst = expected[(burst + 1) * PER_BURST - 1]
        arrived = next(t for s, t in got if s == last_of_burst)
        assert arrived - at < DELIVERY_BOUND, f"burst {burst} took {arrived - at:.1f} s"
    stalled, cancelled = await _faults_seen(bridge)
    assert stalled >= 1, "the muted stream was not ended by the bridge's watchdog"
    assert cancelled >= 1, "the frozen stream was not abandoned by the client"


async def test_python_sdk_resumes_a_muted_and_a_frozen_stream(
    faulty_stack: tuple[ServerProcess, BridgeProcess],
) -> None:
    server, bridge = faulty_stack
    model = "m-stall-py"
    client = NeuralHeatmapClient(bridge.target)

    async def consume(after: int, count: int) -> AsyncIterator[int]:
        seen = 0
        async for update in client.stream_anomalies(
            after_sequence=after, model_ids=[model], reconnect_delay=0.05, idle_timeout=IDLE
        ):
            for a in update.anomalies:
                yield a.sequence
                seen += 1
            if seen >= count:
                return

    try:
        await _run(server, bridge, model, consume)
    finally:
        await client.disconnect()


async def _lines(
    proc: asyncio.subprocess.Process, path: Path | None, count: int
) -> AsyncIterator[int]:
    """Sequences a consumer process reports, from its stdout or from its output file."""
    seen = 0
    while seen < count:
        if path is None:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError("consumer exited early")
            text = line.decode().strip()
            if text.startswith("SEQ "):
                seen += 1
                yield int(text[4:])
        else:
            lines = path.read_text().split() if path.exists() else []
            for text in lines[seen:]:
                seen += 1
                yield int(text)
            if proc.returncode is not None:
                raise AssertionError("consumer exited early")
            await asyncio.sleep(0.05)


async def test_go_sdk_resumes_a_muted_and_a_frozen_stream(
    faulty_stack: tuple[ServerProcess, BridgeProcess], tmp_path: Path
) -> None:
    server, bridge = faulty_stack
    model = "m-stall-go"
    binary = go_build("./examples/anomaly-consumer", tmp_path / "anomaly-consumer")
    out, state, err = tmp_path / "out.log", tmp_path / "state", tmp_path / "err.log"
    async with aiohttp.ClientSession(base_url=server.url) as http:
        state.write_text(str(await log_head(http)))
    with err.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            str(binary),
            "-target",
            bridge.target,
            "-state",
            str(state),
            "-out",
            str(out),
            "-models",
            model,
            "-idle-timeout",
            f"{IDLE}s",
            stderr=stderr,
        )
        try:
            await _run(server, bridge, model, lambda _after, count: _lines(proc, out, count))
        finally:
            proc.terminate()
            await proc.wait()
    log = err.read_text()
    assert "no anomaly and no heartbeat" in log, log  # the freeze was caught by the idle bound
    assert "no progress past sequence" in log, log  # the mute by the bridge's watchdog


async def test_typescript_sdk_resumes_a_muted_and_a_frozen_stream(
    faulty_stack: tuple[ServerProcess, BridgeProcess], tmp_path: Path
) -> None:
    server, bridge = faulty_stack
    model = "m-stall-ts"
    dist = npm_build()
    err = tmp_path / "err.log"
    with err.open("wb") as stderr:

        async def consume(after: int, count: int) -> AsyncIterator[int]:
            proc = await asyncio.create_subprocess_exec(
                tool("node"),
                str(Path(__file__).with_name("ts_anomaly_tail.mjs")),
                str(dist / "index.js"),
                "--target",
                bridge.target,
                "--after",
                str(after),
                "--model",
                model,
                "--count",
                str(count),
                "--idle-ms",
                str(int(IDLE * 1000)),
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
            try:
                async for seq in _lines(proc, None, count):
                    yield seq
            finally:
                if proc.returncode is None:
                    proc.terminate()
                await proc.wait()

        await _run(server, bridge, model, consume)
    log = err.read_text()
    assert "no anomaly and no heartbeat" in log, log
    assert "no progress past sequence" in log, log
