"""The Go anomaly-consumer example's ``-consumer`` mode: no state file, nothing lost or doubled.

The example runs as a real process under a durable consumer name against a real
server and bridge; it is SIGKILLed mid-run and started again. The service kept
the cursor, so its sink holds every sequence logged since the consumer was
created, exactly once, in order.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.anomaly_consumers import log_head, post_nan_frames
from tests.support.bridge_process import BridgeProcess
from tests.support.sdk_builds import go_build
from tests.support.server_process import ServerProcess


@pytest.fixture
def stack() -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    with (ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server,
          BridgeProcess(server.url) as bridge):
        yield server, bridge


async def _lines(path: Path, count: int) -> list[int]:
    for _ in range(150):
        if path.exists() and len(path.read_text().split()) >= count:
            break
        await asyncio.sleep(0.2)
    return [int(x) for x in path.read_text().split()]


async def test_go_consumer_mode_resumes_from_the_services_cursor(
        stack: tuple[ServerProcess, BridgeProcess], tmp_path: Path) -> None:
    server, bridge = stack
    binary = go_build("./examples/anomaly-consumer", tmp_path / "anomaly-consumer")
    out = tmp_path / "out.log"
    args = [str(binary), "-target", bridge.target, "-consumer", "go-billing", "-out", str(out)]
    async with aiohttp.ClientSession(base_url=server.url) as http:
        head = await log_head(http)
        proc = await asyncio.create_subprocess_exec(*args, stderr=subprocess.DEVNULL, cwd=tmp_path)
        await asyncio.sleep(1.0)  # subscribed: the consumer starts at the log's head
        await post_nan_frames(http, "go-consume", 4)
        assert await _lines(out, 4) == [head + 1, head + 2, head + 3, head + 4]
        proc.kill()
        await proc.wait()
        await post_nan_frames(http, "go-consume", 3)
        proc = await asyncio.create_subprocess_exec(*args, stderr=subprocess.DEVNULL, cwd=tmp_path)
        try:
            got = await _lines(out, 7)
        finally:
            proc.terminate()
            await proc.wait()
    assert got == list(range(head + 1, head + 8))  # exactly once, in order, no state file
    assert not (tmp_path / "anomaly-consumer.state").exists()
