"""Anomaly sequences survive SIGKILL mid-burst: never reused, never delivered out of order.

A writer keeps ingesting frames that each raise an anomaly; two subscribers
follow the log over /ws (one resumes after the last sequence it saw, one
replays everything from 0 on every reconnect); the server is SIGKILLed at
random moments mid-burst and restarted on the same port and data directory.
Checked: every sequence a subscriber sees is above the one before it on that
subscription (never backwards), a sequence seen more than once always has
the same contents, and every sequence seen is in the final log with those
contents (it was durable before anyone could see it).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp
import pytest

from tests.support.server_process import ServerProcess

ARGS = ["--anomaly-cooldown", "0"]


def _canonical(anomaly: dict[str, Any]) -> str:
    return json.dumps(anomaly, sort_keys=True)


class Subscriber:
    """Follows the anomaly log over /ws across restarts.

    Args:
        url: The server's /ws URL.
        replay_all: Resume from 0 on every reconnect instead of the last sequence seen.
    """

    def __init__(self, url: str, replay_all: bool) -> None:
        self.url = url
        self.replay_all = replay_all
        self.seen: dict[int, str] = {}
        self.last = 0
        self.connections = 0

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with session.ws_connect(self.url) as ws:
                    self.connections += 1
                    start = 0 if self.replay_all else self.last
                    await ws.send_str(json.dumps({"type": "subscribe_anomalies",
                                                  "data": {"after_sequence": start}}))
                    previous = start
                    async for msg in ws:
                        doc = json.loads(msg.data)
                        if doc["type"] != "anomaly_update":
                            continue
                        for anomaly in doc["data"]["anomalies"]:
                            seq = anomaly["sequence"]
                            assert seq > previous, f"sequence went back: {seq} after {previous}"
                            previous = seq
                            text = _canonical(anomaly)
                            assert self.seen.setdefault(seq, text) == text, \
                                f"sequence {seq} delivered with other contents"
                            self.last = max(self.last, seq)
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                pass
            await asyncio.sleep(0.05)


async def _writer(server: ServerProcess, session: aiohttp.ClientSession,
                  stop: asyncio.Event) -> None:
    step = 0
    while not stop.is_set():
        frames = [{"model_id": "durable", "layer_id": f"l{i % 3}", "step": step + i,
                   "values": [1.0, float("nan"), float(i)]} for i in range(5)]
        step += 5
        try:
            async with session.post(f"{server.url}/api/activations",
                                    data=json.dumps({"frames": frames}),
                                    headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
        except (aiohttp.ClientError, ConnectionError):
            await asyncio.sleep(0.05)


async def _full_log(server: ServerProcess, session: aiohttp.ClientSession) -> dict[int, str]:
    log: dict[int, str] = {}
    after = 0
    while True:
        async with session.get(f"{server.url}/api/anomalies",
                               params={"after_sequence": str(after), "limit": "10000"}) as resp:
            doc = await resp.json()
        if not doc["anomalies"]:
            return log
        for anomaly in doc["anomalies"]:
            log[anomaly["sequence"]] = _canonical(anomaly)
        after = doc["anomalies"][-1]["sequence"]


async def kill_mid_burst(kills: int, seed: int) -> None:
    """The scenario of the module docstring with ``kills`` SIGKILLs."""
    rng = random.Random(seed)
    server = ServerProcess(extra_args=ARGS).start()
    loop = asyncio.get_running_loop()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            stop = asyncio.Event()
            subscribers = [Subscriber(server.ws_url, replay_all=False),
                           Subscriber(server.ws_url, replay_all=True)]
            tasks = [asyncio.create_task(s.run(session, stop)) for s in subscribers]
            tasks.append(asyncio.create_task(_writer(server, session, stop)))
            for _ in range(kills):
                await asyncio.sleep(rng.uniform(0.2, 0.8))
                await loop.run_in_executor(None, server.kill)
                await loop.run_in_executor(None, server.start)
            await asyncio.sleep(0.5)
            stop.set()
            log = await _full_log(server, session)
            head = max(log)
            async with asyncio.timeout(20):  # the subscribers catch up with the log
                while any(s.last < head for s in subscribers):
                    for task in tasks:
                        if task.done():
                            task.result()  # a subscriber's failed assertion surfaces here
                    await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.cleanup()
    for sub in subscribers:
        assert sub.connections >= kills + 1
        missing = [seq for seq in sub.seen if seq not in log]
        assert not missing, f"delivered but not durable: {missing[:10]}"
        changed = [seq for seq, text in sub.seen.items() if log[seq] != text]
        assert not changed, f"sequences reused with other contents: {changed[:10]}"
    assert len(log) > 10 * kills  # the bursts really ran between the kills


async def test_sequences_survive_sigkill_mid_burst() -> None:
    await kill_mid_burst(kills=4, seed=1)


@pytest.mark.long
async def test_sequences_survive_many_sigkills_mid_burst() -> None:
    await kill_mid_burst(kills=60, seed=2)
