"""The TypeScript SDK's ``client.consume(name, handler)`` resumes from the service's cursor."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import aiohttp
import pytest

from tests.support.anomaly_consumers import post_nan_frames
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import REPO_ROOT, ServerProcess

TS_DIR = REPO_ROOT / "sdk" / "typescript"


async def _consume(node: str, target: str, server: ServerProcess, count: int) -> list[int]:
    """Run ts_consume.mjs under one name, log ``count`` anomalies, return what it handled."""
    proc = await asyncio.create_subprocess_exec(
        node, str(REPO_ROOT / "tests" / "sdk" / "ts_consume.mjs"),
        str(TS_DIR / "dist" / "index.js"),
        "--target", target, "--consumer", "ts-billing", "--count", str(count),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    await asyncio.sleep(1.5)  # subscribed: a new consumer starts at the log's head
    async with aiohttp.ClientSession(server.url) as http:
        await post_nan_frames(http, "ts-consume", count)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return [int(line.split()[1]) for line in out.decode().splitlines() if line.startswith("SEQ ")]


async def test_ts_consume_resumes_after_the_last_acknowledged_anomaly() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node/npm are not on PATH; run `make setup`")
    build = subprocess.run([npm, "run", "build"], cwd=TS_DIR, capture_output=True, text=True,
                           timeout=300)
    assert build.returncode == 0, build.stdout[-2000:]
    with (ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server,
          BridgeProcess(server.url) as bridge):
        first = await _consume(node, bridge.target, server, 3)
        second = await _consume(node, bridge.target, server, 2)
    assert first == [first[0], first[0] + 1, first[0] + 2]
    assert second == [first[-1] + 1, first[-1] + 2]  # nothing handled twice, no client state
