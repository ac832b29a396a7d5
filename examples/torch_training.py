"""Train a small CNN on synthetic data with ``neural_heatmap.torch.watch`` attached.

Halfway through, an exploding-gradient incident is injected (the gradients of
one step are scaled by 1e20, as a bad learning-rate warm-up or a missing
clip would do): the weights blow up, the next activations overflow to inf and
then NaN, and the server reports ``non_finite`` anomalies for the layers.

Run a server and a bridge first (``make run``), then::

    python examples/torch_training.py                  # bridge at localhost:50051
    neural-heatmap anomalies -m torch-example          # or `-f` to follow them live

The script prints the watcher's counters and the anomalies the server logged
for the model.
"""

from __future__ import annotations

import argparse
import asyncio

import torch
from neural_heatmap import connect
from neural_heatmap.torch import watch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head for 1 x 16 x 16 inputs, 4 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Linear(16 * 4 * 4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))


def synthetic_batch(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose class is the quadrant holding a bright blob, plus noise."""
    labels = torch.randint(0, 4, (batch,))
    images = 0.1 * torch.randn(batch, 1, 16, 16)
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label, 2)
        images[i, 0, row * 8 + 2 : row * 8 + 6, col * 8 + 2 : col * 8 + 6] += 1.0
    return images, labels


def train(target: str, model_id: str, steps: int, incident_step: int) -> None:
    torch.manual_seed(0)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    with watch(model, target, model_id=model_id) as watcher:
        for step in range(steps):
            images, labels = synthetic_batch(64)
            opt.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            if step == incident_step:  # the incident: exploding gradients for one step
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.mul_(1e20)
            opt.step()
            if step % 10 == 0 or step == incident_step + 1:
                print(f"step {step:4d}  loss {loss.item():.4g}")
    print(f"watcher: {watcher.stats()}")


async def report(target: str, model_id: str) -> None:
    async with await connect(target) as client:
        for a in await client.get_anomalies(model_id=model_id):
            print(f"anomaly {a.anomaly_type} ({a.severity}) layer {a.layer} "
                  f"step {a.metadata.get('step')}: {a.description}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="localhost:50051", help="the bridge's host:port")
    ap.add_argument("--model-id", default="torch-example")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--incident-step", type=int, default=100)
    a = ap.parse_args()
    train(a.target, a.model_id, a.steps, a.incident_step)
    asyncio.run(report(a.target, a.model_id))


if __name__ == "__main__":
    main()
