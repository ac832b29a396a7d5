"""Live fixtures for the command's tests: one real server, a bridge, and a bridge with a token.

The data is known exactly: model ``m1`` has layers ``a`` (a 0.5 Hz sine) and ``b``
(``2 * a + 1``, correlation 1.0 with ``a``); model ``m2`` has layer ``a``. Each
layer has 8 units and 200 frames at 20 Hz. Two NaN frames in ``anom/x`` log two
critical ``non_finite`` anomalies.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from neural_heatmap import connect

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

TOKEN = "cli-token"
UNITS = 8
FRAMES = 200
RATE_HZ = 20.0


@dataclass
class Seeded:
    """What the session's data holds."""

    anomaly_sequences: list[int]


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as srv:
        yield srv


@pytest.fixture(scope="session")
def bridge(server: ServerProcess) -> Iterator[BridgeProcess]:
    with BridgeProcess(server.url) as br:
        yield br


@pytest.fixture(scope="session")
def auth_bridge(server: ServerProcess) -> Iterator[BridgeProcess]:
    with BridgeProcess(server.url, "--token", TOKEN) as br:
        yield br


def post_nan_frames(server_url: str, model: str, count: int) -> None:
    """Log ``count`` critical ``non_finite`` anomalies in ``model`` (layers l0..), straight
    to the server's HTTP API, so it works while a bridge is down."""
    frames = [{"model_id": model, "layer_id": f"l{i}", "values": [float("nan"), 1.0]}
              for i in range(count)]
    request = urllib.request.Request(
        f"{server_url}/api/activations", data=json.dumps({"frames": frames}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


@pytest.fixture(scope="session")
async def seeded(bridge: BridgeProcess) -> Seeded:
    t = time.time() - FRAMES / RATE_HZ - 1.0 + np.arange(FRAMES) / RATE_HZ
    sine = 0.4 * np.sin(2 * np.pi * 0.5 * (t - t[0]))[:, None] + 0.02 * np.arange(UNITS)
    async with await connect(bridge.target, connect_timeout=20.0) as client:
        for model, layer, values in (("m1", "a", sine), ("m1", "b", 2 * sine + 1),
                                     ("m2", "a", sine)):
            summary = await client.log_batch(model, layer, values.astype(np.float32),
                                             timestamps=t, steps=np.arange(FRAMES))
            assert summary.frames_accepted == FRAMES
        nan = np.full(UNITS, 0.5, dtype=np.float32)
        nan[3] = np.nan
        for step in (FRAMES, FRAMES + 1):
            await client.log_activations("anom", "x", nan, step=step)
        page = await client.get_anomaly_page(limit=10)
    assert [a.model_id for a in page.anomalies] == ["anom", "anom"], page
    return Seeded(anomaly_sequences=[a.sequence for a in page.anomalies])
