"""IngestActivations: frames from a client stream to the upstream's binary bulk route.

Policy (also in docs/bridge.md):

* Frames are validated locally first (``_validate.check``: known dtype, sane
  shape, timestamp in range, step >= 0, ids not too long; then the contract's id
  rule (``neural_heatmap_contract.ids``: no ',', no '/', no blank at either end,
  1 to 256 characters), tensor length consistent with its shape and dtype); a bad
  frame is rejected with ``invalid_argument`` (the message names the field and
  the rule) and never sent.
* Valid frames are grouped per ``(model, layer, units)`` and sent as
  ``application/vnd.neural-heatmap.frames`` (one header + raw float32 bytes per
  frame, joined once per batch: no per-value Python work). A batch is sent
  when it reaches ``--ingest-batch-frames`` frames or ``--ingest-batch-bytes``, when it has
  waited ``--ingest-flush-ms``, and at the end of the stream.
* Every frame of a batch has the same model, layer and unit count, so an
  upstream 4xx for a batch applies to each of its frames: they are all
  rejected with the upstream's reason, no per-frame re-posting is needed.
* Back-pressure: at most ``--ingest-inflight`` upstream requests are in flight
  per call; while they are, the bridge stops reading the client stream, and
  gRPC flow control slows the client down. Batches of one layer are posted in
  order.
* Memory: every call's batches and requests in flight draw on one budget of the
  bridge (``--ingest-buffer-bytes``, ``IngestBudget``). A frame that does not fit
  first makes its call send its own batches and wait for them (its share comes
  back); if it still does not fit, the call ends RESOURCE_EXHAUSTED
  ``INGEST_BUFFER_FULL`` naming the budget (other calls hold the rest: retry later).
* A failure that is not about the frames (upstream unreachable, timeout, auth,
  route missing, server overloaded) ends the call with that status (and the
  server's retry hint); the message says how many frames had been accepted.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np
from neural_heatmap_contract.ids import id_problem
from neural_heatmap_contract.media import FRAME_HEADER, FRAMES_MEDIA_TYPE, encode_frame_header
from neural_heatmap_contract.routes import http
from neural_heatmap_contract.v1 import ingest_pb2, tensor_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from . import _errors, _validate
from ._config import BridgeConfig
from ._metrics import Metrics
from ._scalars import fill_metadata, seconds
from ._upstream import CallOptions, Upstream

MAX_REJECTIONS = 100
_INGEST = http("IngestActivations")  # one binary request per batch
# Upstream answers that reject the frames themselves; anything else ends the call.
_FRAME_FAULTS = {
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "ABORTED",
    "ALREADY_EXISTS",
    "RESOURCE_EXHAUSTED",
    "OUT_OF_RANGE",
}
# ... unless the server refused for its own reasons: the caller should retry the call.
_CALL_FAULTS = {"OVERLOADED", "DEADLINE_EXCEEDED"}

Key = tuple[str, str, int]


class IngestBudget:
    """Bytes of frame data all IngestActivations calls of one bridge may hold together.

    Args:
        limit: ``--ingest-buffer-bytes``.
        metrics: ``nh_bridge_ingest_buffer_bytes`` follows ``held``.
    """

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self.limit = limit
        self.held = 0
        self._gauge = metrics.ingest_buffer_bytes
        metrics.ingest_buffer_budget_bytes.set(limit)

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes if they fit."""
        if self.held + size > self.limit:
            return False
        self.held += size
        self._gauge.set(self.held)
        return True

    def give(self, size: int) -> None:
        """Return bytes reserved by ``take``."""
        self.held -= size
        self._gauge.set(self.held)


class _OverBudget(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass
class _Batch:
    parts: list[bytes] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    size: int = 0
    started: float = 0.0


class _Ingestor:
    """State of one IngestActivations call."""

    def __init__(
        self,
        up: Upstream,
        opts: Callable[[], CallOptions],
        config: BridgeConfig,
        metrics: Metrics,
        budget: IngestBudget,
    ) -> None:
        self._budget = budget
        self._up = up
        self._opts = opts
        self._config = config
        self._metrics = metrics
        self._batches: dict[Key, _Batch] = {}
        self._tails: dict[Key, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(config.ingest_inflight)
        self._fatal: _errors.UpstreamError | None = None
        self.accepted = 0
        self.rejected = 0
        self.requests = 0
        self.rejections: list[ingest_pb2.FrameRejection] = []

    def reject(self, index: int, model: str, layer: str, code: str, message: str) -> None:
        self.rejected += 1
        self._metrics.ingest_frames.labels("rejected").inc()
        if len(self.rejections) < MAX_REJECTIONS:
            self.rejections.append(
                ingest_pb2.FrameRejection(
                    index=index, model_id=model, layer_id=layer, code=code, message=message
                )
            )

    def add(self, index: int, frame: ingest_pb2.ActivationFrame) -> Key | None:
        """Validate one frame and append it to its batch; return the key if the batch is full.

        Raises:
            _OverBudget: The frame does not fit the bridge's ingest budget now.
        """
        model, layer, t = frame.model_id, frame.layer_id, frame.values
        try:
            _validate.check(frame, f"frames[{index}]")
        except _errors.UpstreamError as exc:
            self.reject(
                index,
                _errors.bounded(model, 256),
                _errors.bounded(layer, 256),
                "invalid_argument",
                exc.message,
            )
            return None
        problem = id_problem(model, f"frames[{index}].model_id") or id_problem(
            layer, f"frames[{index}].layer_id"
        )
        if problem is not None:  # the contract's id rule, as the server would answer it
            self.reject(index, model, layer, "invalid_argument", problem)
            return None
        data = t.data
        if t.dtype == tensor_pb2.DATA_TYPE_FLOAT64:
            if len(data) % 8:
                self.reject(
                    index,
                    model,
                    layer,
                    "invalid_argument",
                    "float64 data length not a multiple of 8",
                )
                return None
            data = np.frombuffer(data, "<f8").astype("<f4").tobytes()
        elif len(data) % 4:
            self.reject(
                index, model, layer, "invalid_argument", "float32 data length not a multiple of 4"
            )
            return None
        units = len(data) // 4
        if units == 0 or (t.shape and math.prod(t.shape) != units):
            self.reject(
                index,
                model,
                layer,
                "invalid_argument",
                f"values hold {units} elements but shape is {list(t.shape)}",
            )
            return None
        ts = seconds(frame.timestamp) if frame.HasField("timestamp") else math.nan
        step = frame.step if frame.HasField("step") else -1
        size = FRAME_HEADER.size + len(data)
        if not self._budget.take(size):
            raise _OverBudget(size)
        key = (model, layer, units)
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = _Batch(started=time.monotonic())
        batch.parts.append(encode_frame_header(ts, step))
        batch.parts.append(data)
        batch.indices.append(index)
        batch.size += size
        config = self._config
        full = (
            len(batch.indices) >= config.ingest_batch_frames
            or batch.size >= config.ingest_batch_bytes
        )
        return key if full else None

    def check(self) -> None:
        """Raise the first fatal upstream failure, if any."""
        if self._fatal is not None:
            raise self._fatal

    async def send(self, key: Key) -> None:
        """Post one batch, waiting for an in-flight slot (this is the back-pressure)."""
        batch = self._batches.pop(key, None)
        if batch is None:
            return
        try:
            await self._slots.acquire()
        except BaseException:
            self._budget.give(batch.size)
            raise
        previous = self._tails.get(key)
        task = asyncio.get_running_loop().create_task(self._post(key, batch, previous))
        # A done callback, not a finally: a task cancelled before it starts runs no code.
        task.add_done_callback(lambda _: self._budget.give(batch.size))
        self._tails[key] = task

    async def send_stale(self, older_than: float) -> None:
        """Post partial batches that have waited longer than ``older_than`` seconds."""
        now = time.monotonic()
        for key in [k for k, b in self._batches.items() if now - b.started >= older_than]:
            await self.send(key)

    async def finish(self) -> None:
        """Post what is left and wait for every request."""
        for key in list(self._batches):
            await self.send(key)
        await asyncio.gather(*self._tails.values(), return_exceptions=True)

    def abandon(self) -> None:
        """Cancel requests still in flight (the call ended early, e.g. the client cancelled).

        Nobody will read their outcome, so they should not keep upstream connections
        and in-flight slots busy until the upstream timeout.
        """
        for task in self._tails.values():
            task.cancel()
        for batch in self._batches.values():  # never sent: their bytes come back now
            self._budget.give(batch.size)
        self._batches.clear()

    async def add_within_budget(self, index: int, frame: ingest_pb2.ActivationFrame) -> Key | None:
        """``add``; when the frame does not fit the budget, send this call's own batches,
        wait for them, and try once more.

        Raises:
            UpstreamError: RESOURCE_EXHAUSTED ``INGEST_BUFFER_FULL`` naming the budget.
        """
        try:
            return self.add(index, frame)
        except _OverBudget:
            await self.finish()
            self.check()
        try:
            return self.add(index, frame)
        except _OverBudget as exc:
            budget = self._budget
            raise _errors.buffer_full(
                f"frames[{index}] needs {exc.size} bytes, but the bridge's ingest buffers hold "
                f"{budget.held} of their {budget.limit} bytes (--ingest-buffer-bytes); "
                "retry later or send smaller frames",
                frame_bytes=exc.size,
                held_bytes=budget.held,
                budget_bytes=budget.limit,
            ) from None

    async def _post(self, key: Key, batch: _Batch, previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)  # keep a layer's order
            if self._fatal is not None:
                return
            model, layer, units = key
            self.requests += 1
            try:
                resp = await self._up.call(
                    _INGEST.method,
                    _INGEST.path,
                    self._opts(),
                    params={"model_id": model, "layer_id": layer, "units": str(units)},
                    data=b"".join(batch.parts),
                    headers={"Content-Type": FRAMES_MEDIA_TYPE},
                )
            except _errors.UpstreamError as exc:
                frame_fault = exc.reason in _FRAME_FAULTS or exc.code.name in _FRAME_FAULTS
                if frame_fault and exc.reason not in _CALL_FAULTS:
                    for i in batch.indices:
                        self.reject(
                            i,
                            model,
                            layer,
                            exc.reason.lower(),
                            exc.metadata.get("upstream_message", exc.message),
                        )
                else:
                    self._fatal = exc
                return
            accepted = int(resp.json(_INGEST.operation).get("accepted", len(batch.indices)))
            self.accepted += accepted
            self._metrics.ingest_frames.labels("accepted").inc(accepted)
        finally:
            self._slots.release()


async def ingest(
    up: Upstream,
    requests: AsyncIterator[pb.IngestActivationsRequest],
    opts: Callable[[], CallOptions],
    config: BridgeConfig,
    metrics: Metrics,
    budget: IngestBudget,
) -> pb.IngestActivationsResponse:
    """Forward a client stream of frames upstream and summarise the outcome."""
    state = _Ingestor(up, opts, config, metrics, budget)
    flush_after = config.ingest_flush_ms / 1000.0
    index = 0
    try:
        async for request in requests:
            for frame in request.frames:
                full = await state.add_within_budget(index, frame)
                index += 1
                if full is not None:
                    await state.send(full)
            await state.send_stale(flush_after)
            state.check()
        await state.finish()
        state.check()
    except _errors.UpstreamError as exc:
        await state.finish()
        raise exc.annotated(  # keeps the RetryInfo of an overloaded server, too
            f"{exc.message} (after {state.accepted} of {index} frames were accepted)",
            frames_accepted=state.accepted,
        ) from exc
    finally:
        state.abandon()  # a no-op once finish() has awaited everything
    response = pb.IngestActivationsResponse(
        frames_accepted=state.accepted,
        frames_rejected=state.rejected,
        rejections=state.rejections,
    )
    fill_metadata(
        response.details, {"upstream_requests": state.requests, "encoding": FRAMES_MEDIA_TYPE}
    )
    return response
