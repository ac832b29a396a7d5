"""Case 6: what ``neural_heatmap.torch.watch`` adds to a training step.

Two copies of one model (same initial weights, own SGD optimizers) train on
the same pre-built batches: one plain (``off``), one with ``watch`` attached
(``watch``: every leaf layer, every step, frames streamed to the bridge). In
each repetition both run ``torch_steps`` timed steps back to back, in
alternating order, after warm-up steps; the value per repetition is the wall
time per step, and the paired ratio watch/off is the overhead. Models: a
4-layer MLP at batch 64 (the issue's target: at most 5 % slower) and a small
CNN. torch runs on one intra-op thread, so the sender thread's share of the
second core, and the server and bridge receiving the frames, are what the
ratio carries besides the hooks themselves. The training thread's CPU time per
step (``time.thread_time``) is reported too: it holds what the hooks cost that
thread without the time it waits for a core or the GIL, so it stays readable
when other work shares the machine.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import numpy as np

from bench._procs import CpuMeter, Environment
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, paired

OFF, WATCH = "off", "watch"
OVERHEAD_TARGET = 1.05


def _models() -> dict[str, tuple[Any, tuple[int, ...], int]]:
    """``{name: (model, input shape, classes)}`` of the two measured models."""
    from torch import nn

    mlp = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                        nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
    return {"4-layer MLP 256 wide, batch 64": (mlp, (64, 256), 10),
            "small CNN (2 conv + linear) 3x32x32, batch 32": (cnn, (32, 3, 32, 32), 10)}


def _measure(res: CaseResult, env: Environment, s: Settings, group: str, base: Any,
             shape: tuple[int, ...], classes: int) -> None:
    """Time one model plain and watched, alternating, and add its rows and notes."""
    import torch
    from neural_heatmap.torch import watch

    models = {OFF: base, WATCH: copy.deepcopy(base)}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01) for k, m in models.items()}
    batches = [(torch.randn(*shape), torch.randint(0, classes, (shape[0],))) for _ in range(8)]
    loss_fn = torch.nn.CrossEntropyLoss()

    def steps(name: str, n: int, offset: int) -> tuple[float, float]:
        """Wall and training-thread CPU seconds per step."""
        model, opt = models[name], opts[name]
        t, c = time.perf_counter(), time.thread_time()
        for i in range(n):
            x, y = batches[(offset + i) % len(batches)]
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        return (time.perf_counter() - t) / n, (time.thread_time() - c) / n

    watcher = watch(models[WATCH], env.grpc_target,
                    model_id="bench-torch-" + group.split()[0].lower())
    per_step: dict[str, list[float]] = {OFF: [], WATCH: []}
    thread_cpu: dict[str, list[float]] = {OFF: [], WATCH: []}
    cpu: list[dict[str, float | None]] = []
    for name in (OFF, WATCH):
        steps(name, s.torch_warmup, 0)
    watcher.flush(30.0)
    for rep in range(s.torch_reps):
        for name in alternate([OFF, WATCH], rep):
            meter = CpuMeter(env)
            meter.start()
            wall, cpu_s = steps(name, s.torch_steps, rep)
            per_step[name].append(wall * 1e3)
            thread_cpu[name].append(cpu_s * 1e3)
            if name == WATCH:
                cpu.append(meter.stop())
    flushed = watcher.flush(30.0)
    stats = watcher.close()
    ratio = paired(per_step[WATCH], per_step[OFF])
    g = f"{group}, {s.torch_steps} steps x {s.torch_reps} reps"
    res.metric(g, OFF, "ms per training step", "ms", per_step[OFF])
    res.metric(g, WATCH, "ms per training step", "ms", per_step[WATCH],
               ratio=ratio, ratio_label="x off")
    res.metric(g, WATCH, "overhead", "%", [100 * (r - 1) for r in ratio])
    # CPU time of the training thread: what the hooks cost it, less sensitive than wall time
    # to other work on the machine (waiting for the GIL or a core is not counted)
    cpu_ratio = paired(thread_cpu[WATCH], thread_cpu[OFF])
    res.metric(g, OFF, "training-thread CPU per step", "ms", thread_cpu[OFF])
    res.metric(g, WATCH, "training-thread CPU per step", "ms", thread_cpu[WATCH],
               ratio=cpu_ratio, ratio_label="x off")
    res.notes.append(
        f"{group}: watcher captured {stats.frames_captured} frames of "
        f"{len(watcher.layer_ids)} layers, sent {stats.frames_sent}, dropped "
        f"{stats.frames_dropped}, rejected {stats.frames_rejected}"
        + ("" if flushed else " (not all sent within 30 s)")
        + "; CPU share of one core during a watched run: "
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu[-1].items() if v is not None))
    res.extra.setdefault("watch_stats", {})[group] = dataclasses.asdict(stats)
    if group.startswith("4-layer MLP"):
        med = float(np.median(ratio))
        res.target("torch_watch_mlp", "watch overhead, 4-layer MLP at batch 64",
                   "<= 5 %", round(100 * (med - 1), 2), "%",
                   med <= OVERHEAD_TARGET and stats.frames_dropped == 0,
                   "" if stats.frames_dropped == 0 else "frames were dropped")


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    import torch

    res = CaseResult("torch", "training-step time with neural_heatmap.torch.watch on vs off")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        for group, (base, shape, classes) in _models().items():
            _measure(res, env, s, group, base, shape, classes)
    finally:
        torch.set_num_threads(threads)
    res.notes.append(f"torch {torch.__version__}, 1 intra-op thread (machine default "
                     f"{threads}); every leaf layer watched on every step, reduce='mean'")
    return res
