"""``watch(model, ...)``: forward hooks that turn a model's layer outputs into frames.

Steps: every forward pass of the watched model is one step (counted from 0),
unless ``watcher.step(n)`` says which step the next passes belong to; from the
first ``step(n)`` on, only ``step`` moves the step. Frames are captured on the
steps divisible by ``every_n_steps``, for every forward pass in that step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import torch
from neural_heatmap_contract.ids import id_problem
from torch import nn
from torch.utils.hooks import RemovableHandle

from neural_heatmap._channel import DEFAULT_TARGET
from neural_heatmap._client import NeuralHeatmapClient
from neural_heatmap.torch._reduce import (
    Reduction,
    check_reduction,
    is_channels_first,
    partial_reduce,
    unit_dim,
)
from neural_heatmap.torch._select import LayerSpec, select_layers
from neural_heatmap.torch._sender import CapturedFrame, FrameSender

__all__ = ["WatchStats", "Watcher", "watch"]

logger = logging.getLogger("neural_heatmap.torch")

# Reconnect quickly after the bridge comes back (gRPC's default backoff grows to 120 s).
_RECONNECT_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 200),
                      ("grpc.max_reconnect_backoff_ms", 2000))


@dataclass(frozen=True)
class WatchStats:
    """What a :class:`Watcher` has done so far.

    Attributes:
        step: The current step.
        frames_captured: Frames the hooks produced.
        frames_sent: Frames the server stored.
        frames_rejected: Frames the server refused (e.g. a layer's unit count changed).
        frames_dropped: Oldest frames dropped because the queue was full (bridge slow or
            away), or still unsent when ``close`` gave up.
        frames_failed: Frames lost to a failed call other than ``UNAVAILABLE``.
        frames_queued: Frames waiting to be sent (including the batch in flight).
        send_errors: Failed ``IngestActivations`` calls (each ``UNAVAILABLE`` retry counts).
        hook_errors: Forward passes whose frame could not be captured (logged once).
        connected: Whether the last call reached the server (``None`` before any call).
    """

    step: int
    frames_captured: int
    frames_sent: int
    frames_rejected: int
    frames_dropped: int
    frames_failed: int
    frames_queued: int
    send_errors: int
    hook_errors: int
    connected: bool | None


class Watcher:
    """Hooks on a model's layers feeding a background sender; made by :func:`watch`.

    Use as a context manager, or call :meth:`close`, so the last frames are
    sent and the hooks removed.
    """

    def __init__(
        self,
        model: nn.Module,
        make_client: Callable[[], NeuralHeatmapClient],
        *,
        model_id: str,
        layers: LayerSpec,
        every_n_steps: int,
        reduce: Reduction,
        max_queue: int,
        batch_frames: int,
        linger: float,
        send_timeout: float,
    ) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be at least 1, got {every_n_steps}")
        chosen = select_layers(model, layers)
        problem = id_problem(model_id, "model_id") or next(
            (p for name, _ in chosen if (p := id_problem(name, f"layer id {name!r}"))), None)
        if problem is not None:  # every frame would be rejected: refuse now, naming the rule
            raise ValueError(problem)
        self.model_id = model_id
        self.layer_ids = [name for name, _ in chosen]
        self._layers = [(name, m, is_channels_first(m)) for name, m in chosen]
        self._every = every_n_steps
        self._reduce = reduce
        self._step = 0
        self._explicit_step = False
        self._seen_pass = False  # automatic counting: the first pass is step 0
        self._captured = 0
        self._hook_errors = 0
        self._closed = False
        self._sender = FrameSender(make_client, model_id, reduce, max_queue=max_queue,
                                   batch_frames=batch_frames, linger=linger,
                                   send_timeout=send_timeout)
        self._pass_handle = model.register_forward_pre_hook(self._on_pass)
        self._layer_handles: list[RemovableHandle] = []
        self._capture(True)  # step 0 is captured

    # ---------------------------------------------------------------- steps

    def step(self, n: int | None = None) -> int:
        """Set the step of the following forward passes (``None``: the next one).

        After the first call, forward passes no longer advance the step; use it
        when one step runs several passes (gradient accumulation, evaluation).

        Returns:
            The step now in force.
        """
        self._explicit_step = True
        self._step = self._step + 1 if n is None else int(n)
        self._capture(self._step % self._every == 0)
        return self._step

    def _on_pass(self, module: nn.Module, args: Any) -> None:
        """Forward pre-hook of the model: a new pass is a new step when counting."""
        if not self._explicit_step:
            if self._seen_pass:
                self._step += 1
                self._capture(self._step % self._every == 0)
            self._seen_pass = True

    # ---------------------------------------------------------------- capture

    def _capture(self, on: bool) -> None:
        """Have the layer hooks registered on sampled steps only.

        A step ``every_n_steps`` skips costs nothing then: its layers run
        without hooks, on ``nn.Module``'s fast path.
        """
        if on and not self._layer_handles and not self._closed:
            self._layer_handles = [m.register_forward_hook(self._hook_for(name, channels_first))
                                   for name, m, channels_first in self._layers]
        elif not on and self._layer_handles:
            for handle in self._layer_handles:
                handle.remove()
            self._layer_handles = []

    def _hook_for(self, layer: str, channels_first: bool) -> Callable[[nn.Module, Any, Any], None]:
        how = self._reduce
        put = self._sender.put

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            try:
                tensor = output if isinstance(output, torch.Tensor) else _first_tensor(output)
                if tensor is None:
                    return
                values, count = partial_reduce(tensor, unit_dim(channels_first, tensor.ndim),
                                               how)
                ready = None
                if values.is_cuda:
                    ready = torch.cuda.Event()  # type: ignore[no-untyped-call]  # untyped in torch
                    ready.record(torch.cuda.current_stream(values.device))
                put(CapturedFrame(layer, values, count, time.time(), self._step, ready))
                self._captured += 1
            except Exception:
                self._hook_errors += 1
                if self._hook_errors == 1:
                    logger.exception("neural_heatmap.torch: capturing layer %r failed; "
                                     "training goes on, watcher.stats() counts these", layer)

        return hook

    # ---------------------------------------------------------------- results and shutdown

    def stats(self) -> WatchStats:
        """Counters of captured, sent, rejected, dropped and queued frames."""
        c = self._sender.counts()
        return WatchStats(
            step=self._step,
            frames_captured=self._captured,
            frames_sent=c.sent,
            frames_rejected=c.rejected,
            frames_dropped=c.dropped,
            frames_failed=c.failed,
            frames_queued=c.queued,
            send_errors=c.send_errors,
            hook_errors=self._hook_errors,
            connected=c.connected,
        )

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Block until every captured frame has been sent (or ``timeout`` passed).

        Returns:
            ``True`` if nothing is left to send.
        """
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = 10.0) -> WatchStats:
        """Remove the hooks, send what is queued (for up to ``timeout`` s) and stop the sender.

        Returns:
            The final counters.
        """
        if not self._closed:
            self._capture(False)
            self._closed = True
            self._pass_handle.remove()
            self._sender.close(timeout)
        return self.stats()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _first_tensor(output: Any) -> torch.Tensor | None:
    """The first tensor of a tuple/list output (``nn.LSTM``: the sequence output)."""
    if isinstance(output, tuple | list):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


def watch(
    model: nn.Module,
    client_or_target: NeuralHeatmapClient | str = DEFAULT_TARGET,
    *,
    model_id: str | None = None,
    layers: LayerSpec = None,
    every_n_steps: int = 1,
    reduce: Reduction = "mean",
    max_queue: int = 10_000,
    batch_frames: int = 512,
    linger: float = 0.2,
    send_timeout: float = 10.0,
) -> Watcher:
    """Stream a model's layer activations to the server while it trains.

    Registers forward hooks on the chosen modules; each captured output is
    reduced over the batch (and spatial or time dimensions) to one frame of one
    value per unit, queued, and sent by a background thread through
    ``IngestActivations``. The training step never waits on the network.

    Example:
        >>> with watch(model, "localhost:50051", model_id="mlp") as watcher:
        ...     for x, y in loader:
        ...         loss = loss_fn(model(x), y)
        ...         ...
        ...     print(watcher.stats())

    Args:
        model: The model; each forward pass of it is a step (see :meth:`Watcher.step`).
        client_or_target: A bridge address (``host:port``) or a client whose
            settings (token, TLS, ...) the sender copies onto its own channel.
        model_id: The model's id on the server (default: the model's class name).
        layers: ``None`` for every leaf module with parameters; or module
            names, module types, or a sequence of both.
        every_n_steps: Capture on steps divisible by this.
        reduce: ``"mean"`` (keeps NaN/inf, so the server flags them),
            ``"abs_mean"``, ``"rms"`` or ``"max"``.
        max_queue: Frames kept while the bridge is slow or away; then the
            oldest are dropped and counted.
        batch_frames: Most frames per ``IngestActivations`` call.
        linger: Seconds the sender waits for a fuller batch.
        send_timeout: Deadline of one ``IngestActivations`` call.

    Raises:
        ValueError: An unknown layer name, a selection matching nothing, a bad
            ``reduce`` / ``every_n_steps``, or a model or layer id breaking the id rule
            (``neural_heatmap_contract.ids``: no ',' or '/', no blank at either end).
    """
    how = check_reduction(reduce)
    if isinstance(client_or_target, NeuralHeatmapClient):
        template = client_or_target

        def make_client() -> NeuralHeatmapClient:
            return template._unopened_copy()
    else:
        target = client_or_target

        def make_client() -> NeuralHeatmapClient:
            return NeuralHeatmapClient(target, channel_options=_RECONNECT_OPTIONS)

    return Watcher(
        model,
        make_client,
        model_id=model_id or type(model).__name__,
        layers=layers,
        every_n_steps=every_n_steps,
        reduce=how,
        max_queue=max_queue,
        batch_frames=batch_frames,
        linger=linger,
        send_timeout=send_timeout,
    )
