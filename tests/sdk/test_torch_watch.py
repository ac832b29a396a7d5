"""``neural_heatmap.torch.watch`` against a real server and bridge, with real torch models.

torch is a dev dependency (``make setup`` installs it); ``importorskip`` only
keeps a client-only checkout from failing at collection.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from neural_heatmap import AnomalyType, NeuralHeatmapClient, Severity

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

torch = pytest.importorskip("torch")
from neural_heatmap.torch import watch  # noqa: E402
from torch import nn  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_training.py"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a busy machine OpenMP's
    spinning threads make each step many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class SmallCNN(nn.Module):
    """Two conv layers (4 and 8 channels), a pooling and a 3-way linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(8 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.head(self.pool(x).flatten(1))


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def train(model: nn.Module, steps: int, shape: tuple[int, ...]) -> None:
    """``steps`` SGD steps on random data: one forward pass each."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(*shape)).square().mean().backward()
        opt.step()


async def _layers(client: NeuralHeatmapClient, model_id: str) -> dict[str, tuple[int, int]]:
    """``{layer_id: (units, frames)}`` of a model as the server lists it."""
    for m in await client.list_models():
        if m.model_id == model_id:
            return {layer.layer_id: (layer.units, layer.frames) for layer in m.layers}
    return {}


async def test_frames_arrive_per_layer_with_units_and_steps(client: NeuralHeatmapClient) -> None:
    model = SmallCNN()
    # given a client, the sender copies its settings onto a channel of its own thread's loop
    with watch(model, client, model_id="torch-cnn", every_n_steps=2) as watcher:
        assert watcher.layer_ids == ["conv1", "conv2", "head"]  # leaf modules with parameters
        train(model, 10, (16, 1, 6, 6))
        assert watcher.flush(timeout=20)
        stats = watcher.stats()
    assert stats.step == 9
    assert (stats.frames_captured, stats.frames_sent) == (15, 15)  # steps 0, 2, 4, 6, 8
    assert stats.frames_dropped == stats.frames_rejected == stats.frames_queued == 0
    # channels for conv layers (batch and spatial dims reduced), features for the head
    assert await _layers(client, "torch-cnn") == {"conv1": (4, 5), "conv2": (8, 5),
                                                  "head": (3, 5)}
    matrix = await client.get_correlation_matrix(["torch-cnn"], granularity="layer")
    assert matrix.metadata["alignment"] == "step"  # every frame carried its step
    assert matrix.metadata["samples"] == 5


async def test_planted_nan_is_a_critical_non_finite_anomaly_at_its_unit_and_step(
    client: NeuralHeatmapClient, bridge: BridgeProcess
) -> None:
    torch.manual_seed(15)
    model = mlp()
    with torch.no_grad(), watch(model, bridge.target, model_id="torch-nan", layers=["0"]) as w:
        for step in range(6):
            w.step(step)
            if step == 3:
                model[0].bias[5] = math.nan  # unit 5 of layer "0" is NaN at step 3 only
            model(torch.randn(32, 8))
            if step == 3:
                model[0].bias[5] = 0.0
        assert w.flush(timeout=20)
    assert await _layers(client, "torch-nan") == {"0": (16, 6)}
    found = [a for a in await client.get_anomalies(model_id="torch-nan")
             if a.anomaly_type == AnomalyType.NON_FINITE]
    assert [(a.severity, a.layer) for a in found] == [(Severity.CRITICAL, "0")]
    assert (found[0].metadata["unit"], found[0].metadata["step"]) == (5, 3)


async def test_stopped_bridge_does_not_stall_training_and_drops_are_counted(
    server: ServerProcess,
) -> None:
    model = SmallCNN()
    with BridgeProcess(server.url) as own:
        watcher = watch(model, own.target, model_id="torch-stall", max_queue=30, linger=0.05)
        train(model, 2, (8, 1, 6, 6))
        assert watcher.flush(timeout=20)
        own.stop()
        started = time.monotonic()
        train(model, 200, (8, 1, 6, 6))  # 600 frames into a queue of 30
        assert time.monotonic() - started < 60  # ~1 s of compute; the network never waits
        final = watcher.close(timeout=1.0)
    assert final.step == 201 and final.frames_captured == 606
    assert final.frames_sent == 6
    assert final.frames_dropped >= 600 - 30
    assert final.send_errors >= 1 and final.connected is False
    assert final.frames_queued == 0
    assert final.frames_captured == (final.frames_sent + final.frames_dropped
                                     + final.frames_failed + final.frames_rejected)


async def test_sending_resumes_after_the_bridge_restarts(
    server: ServerProcess, client: NeuralHeatmapClient
) -> None:
    model = mlp()
    with (
        BridgeProcess(server.url) as own,
        watch(model, own.target, model_id="torch-resume", linger=0.05) as watcher,
    ):
        train(model, 3, (4, 8))
        assert watcher.flush(timeout=20)
        own.stop()
        train(model, 20, (4, 8))  # captured while the bridge is away: queued
        time.sleep(0.5)
        assert watcher.stats().connected is False
        own.start()
        train(model, 3, (4, 8))
        assert watcher.flush(timeout=30)
        stats = watcher.stats()
    assert stats.frames_captured == stats.frames_sent == 2 * 26
    assert stats.frames_dropped == 0 and stats.connected is True
    assert await _layers(client, "torch-resume") == {"0": (16, 26), "2": (4, 26)}


async def test_training_example_reports_its_exploding_gradient_incident(
    client: NeuralHeatmapClient, bridge: BridgeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    # in-process: importing torch again in a subprocess would cost more than the run
    spec = importlib.util.spec_from_file_location("torch_training", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.train(bridge.target, "torch-example", steps=40, incident_step=25)
    await example.report(bridge.target, "torch-example")
    found = [a for a in await client.get_anomalies(model_id="torch-example")
             if a.anomaly_type == AnomalyType.NON_FINITE]
    assert found and found[0].severity == Severity.CRITICAL
    assert found[0].metadata["step"] in (26, 27)  # the first pass after the incident overflows
    printed = capsys.readouterr().out
    assert "frames_dropped=0" in printed and "anomaly non_finite (critical)" in printed
