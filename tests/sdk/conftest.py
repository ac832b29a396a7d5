"""Live fixtures: one real server and one real bridge per session, seeded over the SDK.

The seed data is known exactly, so tests can check values:

* model ``m1``: layers ``a`` (a 0.5 Hz sine), ``b`` (``2 * a + 1``: correlation
  1.0 with ``a``), ``c`` (a linear trend) and ``d`` (seeded noise); 16 units,
  256 frames at 20 Hz, steps 0..255.
* model ``m2``: layers ``a`` (same as ``m1/a``) and ``c`` (same as ``m1/c``).

Anomalies are produced on demand with NaN frames in models named ``anom-*``,
so that each test sees only its own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from neural_heatmap import NeuralHeatmapClient, connect

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

UNITS = 16
FRAMES = 256
RATE_HZ = 20.0
SINE_HZ = 0.5


@dataclass
class Seed:
    """What the session's data looks like."""

    t0: float
    timestamps: npt.NDArray[np.float64]
    layers: dict[str, npt.NDArray[np.float32]]


def seed_layers(t: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float32]]:
    """Frames ``[FRAMES, UNITS]`` per layer; unit values are distinct (no saturation)."""
    offsets = 0.02 * np.arange(UNITS)[None, :]
    sine = 0.4 * np.sin(2 * np.pi * SINE_HZ * (t - t[0]))[:, None] + offsets
    trend = np.linspace(0.0, 0.5, len(t))[:, None] + offsets
    noise = np.random.default_rng(7).normal(0.0, 0.1, (len(t), UNITS)) + offsets
    return {
        "a": sine.astype(np.float32),
        "b": (2 * sine + 1).astype(np.float32),
        "c": trend.astype(np.float32),
        "d": noise.astype(np.float32),
    }


def nan_frame() -> npt.NDArray[np.float32]:
    """A frame with one NaN unit: exactly one critical ``non_finite`` anomaly."""
    values = (0.01 * np.arange(UNITS)).astype(np.float32)
    values[5] = np.nan
    return values


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(
        extra_args=[
            "--anomaly-cooldown", "0",
            "--correlation-interval", "0.5",
            "--temporal-interval", "0.5",
            "--heatmap-hz", "50",
        ]
    ) as srv:
        yield srv


@pytest.fixture(scope="session")
def bridge(server: ServerProcess) -> Iterator[BridgeProcess]:
    with BridgeProcess(server.url, "--metrics-port", "0") as br:
        yield br


@pytest.fixture(scope="session")
async def client(bridge: BridgeProcess) -> AsyncIterator[NeuralHeatmapClient]:
    c = await connect(bridge.target, connect_timeout=20.0)
    yield c
    await c.disconnect()


@pytest.fixture(scope="session")
async def seeded(client: NeuralHeatmapClient) -> Seed:
    t0 = time.time() - FRAMES / RATE_HZ - 1.0
    t = t0 + np.arange(FRAMES) / RATE_HZ
    layers = seed_layers(t)
    steps = np.arange(FRAMES)
    for layer_id, values in layers.items():
        summary = await client.log_batch("m1", layer_id, values, timestamps=t, steps=steps)
        assert summary.frames_accepted == FRAMES, summary
    for layer_id in ("a", "c"):
        summary = await client.log_batch("m2", layer_id, layers[layer_id], timestamps=t,
                                         steps=steps)
        assert summary.frames_accepted == FRAMES, summary
    return Seed(t0=t0, timestamps=t, layers=layers)


@pytest.fixture(autouse=True)
async def _clean_view(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Tests that use the shared client leave no filter behind."""
    yield
    if "client" in request.fixturenames:
        c: NeuralHeatmapClient = request.getfixturevalue("client")
        await c.clear_filter()
