"""The built-in activation source: two small MLPs really training in numpy.

Both models (``mlp-a`` and ``mlp-b``, layers ``fc1`` ReLU, ``fc2`` tanh,
``out`` logits; different widths and seeds) learn the same synthetic 4-class
Gaussian-blob task with softmax cross-entropy, backpropagation and SGD on the
same batches, so comparing them means something. Every step each layer's
activations averaged over the batch become one frame, ingested through the
same path as HTTP so every analytic runs on them.

A periodic component is built in: the input amplitude follows a sine of
``INPUT_PERIOD_STEPS`` steps and the learning rate is cyclic (triangular).
``SCHEDULE`` injects forward-pass faults (no update is applied while one is
active, so training resumes afterwards) so that every anomaly type and every
severity appears in the first ~10 seconds at the default rate, and again
every ``CYCLE_STEPS`` steps.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .store import FrameBatch

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]

CLASSES = 4
FEATURES = 16
BATCH = 32
INPUT_PERIOD_STEPS = 30
LR_PERIOD_STEPS = 60
CYCLE_STEPS = 600
LAYER_NAMES = ("fc1", "fc2", "out")


@dataclass(frozen=True)
class Incident:
    """A fault injected in ``model`` for steps ``[start, end)`` of every cycle.

    Attributes:
        kind: ``dead`` (share ``level`` of fc1 units forced below 0),
            ``saturate`` (share ``level`` of fc2 units driven to tanh = 1),
            ``explode`` (logits scaled so the largest is ``level``),
            ``nan`` (a NaN in the input batch), ``spike`` (inputs scaled by ``level``).
    """

    model: str
    kind: str
    start: int
    end: int
    level: float


def _phases(model: str, kind: str, start: int, length: int,
            levels: tuple[float, ...]) -> list[Incident]:
    return [Incident(model, kind, start + i * length, start + (i + 1) * length, level)
            for i, level in enumerate(levels)]


# Levels are chosen against anomalies.SEVERITY_TABLE: one per severity, rising.
SCHEDULE: tuple[Incident, ...] = (
    *_phases("mlp-a", "dead", 20, 10, (0.3, 0.55, 0.8, 1.0)),
    *_phases("mlp-b", "saturate", 60, 6, (0.25, 0.45, 0.7, 0.97)),
    *_phases("mlp-a", "explode", 90, 2, (80.0, 400.0, 3000.0, 30000.0)),
    Incident("mlp-b", "nan", 100, 101, 1.0),
    Incident("mlp-b", "spike", 110, 111, 8.0),
)


class Mlp:
    """A 3-layer perceptron (ReLU, tanh, linear) trained with plain SGD."""

    def __init__(self, model_id: str, hidden: tuple[int, int], seed: int) -> None:
        self.model_id = model_id
        rng = np.random.default_rng(seed)
        sizes = (FEATURES, *hidden, CLASSES)
        self.weights = [rng.normal(0, math.sqrt(2.0 / a), (a, b))
                        for a, b in itertools.pairwise(sizes)]
        self.biases = [np.zeros(b) for b in sizes[1:]]

    def forward(self, x: Array, incidents: list[Incident]) -> list[Array]:
        """Activations of every layer for batch ``x`` with the active faults applied."""
        z1 = x @ self.weights[0] + self.biases[0]
        z2_shift = np.zeros(self.biases[1].shape)
        for inc in incidents:
            if inc.kind == "dead":
                z1[:, : round(inc.level * z1.shape[1])] -= 1e3
            elif inc.kind == "saturate":
                z2_shift[: round(inc.level * z2_shift.size)] = 25.0
        h1 = np.maximum(z1, 0.0)
        h2 = np.tanh(h1 @ self.weights[1] + self.biases[1] + z2_shift)
        logits = h2 @ self.weights[2] + self.biases[2]
        for inc in incidents:
            if inc.kind == "explode":
                peak = float(np.abs(logits.mean(axis=0)).max()) or 1.0
                logits = logits * (inc.level / peak)
        return [h1, h2, logits]

    def train(self, x: Array, labels: npt.NDArray[np.int64], acts: list[Array],
              lr: float) -> float:
        """One SGD step of softmax cross-entropy; returns the loss."""
        h1, h2, logits = acts
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = float(-np.log(probs[np.arange(n), labels] + 1e-12).mean())
        grad = probs
        grad[np.arange(n), labels] -= 1.0
        grad /= n
        inputs = [x, h1, h2]
        for i in (2, 1, 0):
            gw = inputs[i].T @ grad
            gb = grad.sum(axis=0)
            if i > 0:
                back = grad @ self.weights[i].T
                grad = back * (1 - h2 ** 2) if i == 2 else back * (h1 > 0)
            self.weights[i] -= lr * gw
            self.biases[i] -= lr * gb
        return loss


class BuiltinSource:
    """Generates batches, trains both models and ingests their activations."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = self.rng.normal(0, 1.5, (CLASSES, FEATURES))
        self.models = [Mlp("mlp-a", (64, 32), seed + 1), Mlp("mlp-b", (48, 24), seed + 2)]
        self.step = 0

    def _batch(self, phase: int) -> tuple[Array, npt.NDArray[np.int64]]:
        labels = self.rng.integers(0, CLASSES, BATCH)
        x = self.centres[labels] + self.rng.normal(0, 1.0, (BATCH, FEATURES))
        x *= 1.0 + 0.3 * math.sin(2 * math.pi * phase / INPUT_PERIOD_STEPS)
        return x, labels

    def _learning_rate(self) -> float:
        position = (self.step % LR_PERIOD_STEPS) / LR_PERIOD_STEPS
        return 0.01 + 0.09 * (1 - abs(2 * position - 1))

    def advance(self, ingest: Callable[[list[FrameBatch]], int]) -> None:
        """Run one training step of both models and hand their frames to ``ingest``."""
        phase = self.step % CYCLE_STEPS
        x, labels = self._batch(self.step)
        now = time.time()
        batches = []
        for model in self.models:
            active = [i for i in SCHEDULE if i.model == model.model_id and i.start <= phase < i.end]
            xm = x.copy()
            for inc in active:
                if inc.kind == "nan":
                    xm[0, 0] = np.nan
                elif inc.kind == "spike":
                    xm *= inc.level
            acts = model.forward(xm, active)
            if not active:
                model.train(xm, labels, acts, self._learning_rate())
            for name, act in zip(LAYER_NAMES, acts, strict=True):
                batches.append(FrameBatch(
                    model.model_id, name, np.array([now]), np.array([self.step], dtype=np.int64),
                    act.mean(axis=0, dtype=np.float64).astype(np.float32)[None, :]))
        ingest(batches)
        self.step += 1


async def run_source(ingest: Callable[[list[FrameBatch]], int], rate: float) -> None:
    """Drive ``BuiltinSource`` at ``rate`` (``--source-rate``) steps per second until
    cancelled, handing every step's frames to ``ingest``."""
    source = BuiltinSource()
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    deadline = loop.time()
    log.info("built-in activation source running at %.1f steps/s", rate)
    while True:
        try:
            source.advance(ingest)
        except Exception:
            log.exception("built-in source step %d failed", source.step)
        deadline = max(deadline + interval, loop.time() - interval)
        await asyncio.sleep(max(0.0, deadline - loop.time()))
