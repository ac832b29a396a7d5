"""Frames streamed through the bridge (IngestActivations, and the PyTorch hook on it) raise
the same anomalies as the same frames posted to the server in one request.

The bridge regroups a client stream into upstream batches of its own
(``--ingest-batch-frames``, here 7, and its flush timer), so this is the gRPC
side of tests/server/test_batch_invariance.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.bridge.conftest import frame
from tests.server.test_batch_invariance import (
    DT,
    T0,
    History,
    Http,
    anomalies,
    assert_same,
    backfill_history,
    send,
)
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module")
def small_batches(server: ServerProcess) -> Iterator[BridgeProcess]:
    """A bridge that posts upstream every 7 frames of a layer."""
    with BridgeProcess(server.url, "--ingest-batch-frames", "7") as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Http:
    return Http(server)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stream(bridge: BridgeProcess, model: str, history: History, sizes: list[int]) -> None:
    """Send the history through IngestActivations, ``sizes`` frames per message in turn."""
    frames = [frame(model, layer, history.layers[layer][i], T0 + i * DT, i)
              for layer, i in history.order()]
    messages, start, k = [], 0, 0
    while start < len(frames):
        size = sizes[k % len(sizes)]
        messages.append(pb.IngestActivationsRequest(frames=frames[start:start + size]))
        start, k = start + size, k + 1
    with bridge.channel() as channel:
        resp = pb_grpc.NeuralHeatmapServiceStub(channel).IngestActivations(iter(messages),
                                                                          timeout=120)
    assert (resp.frames_accepted, resp.frames_rejected) == (len(frames), 0)


def test_grpc_streaming_equals_one_request(small_batches: BridgeProcess, client: Http) -> None:
    history = backfill_history()
    posted, streamed = unique("posted"), unique("streamed")
    send(client, posted, history, [], ["binary"])
    stream(small_batches, streamed, history, [1, 50, 3, 333, 17])
    found = anomalies(client, posted)
    assert len(found) > 20 and {a["anomaly_type"] for a in found} == {
        "non_finite", "exploding", "dead_units", "saturation", "spike"}
    assert_same(found, anomalies(client, streamed), "grpc")


def test_pytorch_hook_equals_one_request(server: ServerProcess, small_batches: BridgeProcess,
                                         client: Http) -> None:
    torch = pytest.importorskip("torch")
    from neural_heatmap.torch import watch

    history = backfill_history()

    class Replay(torch.nn.Module):
        """A layer whose output at step i is the history's frame i (batch of one)."""

        def __init__(self, frames: np.ndarray) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(()))
            self.frames = torch.from_numpy(frames)
            self.step = 0

        def forward(self, x: Any) -> Any:
            out = self.frames[self.step][None, :]
            self.step += 1
            return out

    model = torch.nn.Sequential(*(Replay(f) for f in history.layers.values()))
    hooked, posted = unique("hooked"), unique("posted")
    renamed = History(dict(zip(("0", "1"), history.layers.values(), strict=True)))
    with torch.no_grad(), watch(model, small_batches.target, model_id=hooked,
                                linger=0.05) as watcher:
        for _ in range(history.steps):
            model(torch.zeros(1))
        assert watcher.flush(timeout=60)
    assert watcher.stats().frames_sent == 2 * history.steps
    send(client, posted, renamed, [], ["binary"])

    def untimed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # the hook stamps frames with the wall clock: compare all but the time
        return [{k: v for k, v in a.items() if k != "timestamp"} for a in found]

    found = untimed(anomalies(client, posted))
    assert len(found) > 20
    assert_same(found, untimed(anomalies(client, hooked)), "pytorch")
