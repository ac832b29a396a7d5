"""PyTorch integration: ``watch(model)`` streams layer activations to the server.

Install with ``pip install 'neural-heatmap[torch]'``::

    from neural_heatmap.torch import watch

    with watch(model, "localhost:50051", model_id="mnist-cnn") as watcher:
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
    print(watcher.stats())

See ``docs/python-sdk.md`` ("PyTorch") for what is captured and how.
"""

try:
    import torch as _torch  # noqa: F401  (fail here, with the fix, not deep in a submodule)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "neural_heatmap.torch needs PyTorch: pip install 'neural-heatmap[torch]'"
    ) from exc

from neural_heatmap.torch._reduce import Reduction
from neural_heatmap.torch._select import LayerSpec
from neural_heatmap.torch._watcher import Watcher, WatchStats, watch

__all__ = ["LayerSpec", "Reduction", "WatchStats", "Watcher", "watch"]
