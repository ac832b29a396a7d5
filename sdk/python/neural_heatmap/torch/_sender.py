"""A background thread that streams captured frames through ``IngestActivations``.

The training thread only appends to a bounded queue (a lock held for an
append); everything that touches the network runs in the sender's thread, on
its own event loop and its own channel. So a slow or absent bridge never slows
a training step: the queue fills, the oldest frames are dropped and counted.

Delivery: a batch whose call fails with ``UNAVAILABLE`` (bridge or server
down) goes back to the front of the queue and is sent again once the channel
reconnects, after the backoff every client shares (``neural_heatmap_contract.backoff``,
with jitter, so many training processes that lost one bridge do not come back in
lockstep), so a batch cut off mid-call may be stored twice; any other failure
drops the batch (counted as failed). Batches the server refuses in part are
counted as rejected, with the first reason logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch
from neural_heatmap_contract.backoff import backoff_delay

from neural_heatmap._client import NeuralHeatmapClient
from neural_heatmap._errors import NeuralHeatmapError, UnavailableError
from neural_heatmap._ingest_types import ActivationFrame
from neural_heatmap.torch._reduce import Reduction, finish_reduction

__all__ = ["CapturedFrame", "FrameSender", "SenderCounts"]

logger = logging.getLogger("neural_heatmap.torch")


class CapturedFrame(NamedTuple):
    """One layer's reduced output at one step, still a tensor (maybe on a GPU).

    A named tuple: it is built on the training thread for every frame, and a
    tuple is the cheapest record to build.
    """

    layer_id: str
    values: torch.Tensor
    """The training thread's half of the reduction (:func:`partial_reduce`)."""
    elements: int
    """Elements reduced into each value, for :func:`finish_reduction`."""
    timestamp: float
    step: int
    ready: torch.cuda.Event | None = None
    """For a GPU tensor: recorded on the producing stream after the reduction, so the
    sender's copy waits for exactly that work, whichever stream the training used."""


@dataclass(frozen=True)
class SenderCounts:
    """What the sender has done with the frames handed to it."""

    queued: int
    sent: int
    rejected: int
    dropped: int
    failed: int
    send_errors: int
    connected: bool | None


def _host_values(frame: CapturedFrame, how: Reduction) -> npt.NDArray[np.float32]:
    """The frame's values in host memory (copied from the GPU once its reduction is done)."""
    if frame.ready is not None:
        frame.ready.synchronize()
        partial = frame.values.cpu().numpy()
    else:
        partial = frame.values.numpy()
    return finish_reduction(partial, frame.elements, how)


class FrameSender:
    """Bounded queue plus the thread that empties it into the bridge.

    Args:
        make_client: Builds the client the thread uses (called in the thread,
            so its channel belongs to the thread's event loop).
        model_id: Model the frames belong to.
        reduce: The reduction the hooks began, finished here off the training thread.
        max_queue: Frames held while the bridge is slow or away; when full,
            the oldest frame is dropped for each new one.
        batch_frames: Most frames per ``IngestActivations`` call.
        linger: Seconds to wait for more frames before sending a partial batch.
        send_timeout: Deadline of one ``IngestActivations`` call.
    """

    def __init__(
        self,
        make_client: Callable[[], NeuralHeatmapClient],
        model_id: str,
        reduce: Reduction,
        *,
        max_queue: int,
        batch_frames: int,
        linger: float,
        send_timeout: float,
    ) -> None:
        if max_queue < 1 or batch_frames < 1:
            raise ValueError("max_queue and batch_frames must be at least 1")
        self._make_client = make_client
        self._model_id = model_id
        self._reduce = reduce
        self._batch_frames = batch_frames
        self._linger = linger
        self._send_timeout = send_timeout
        self._queue: deque[CapturedFrame] = deque(maxlen=max_queue)
        self._cond = threading.Condition()
        self._in_flight = 0
        self._flushing = False
        self._closing = False
        self._abandon = threading.Event()
        self._sent = self._rejected = self._dropped = self._failed = self._send_errors = 0
        self._connected: bool | None = None
        self._warned: set[str] = set()
        self._thread = threading.Thread(
            target=self._run, name=f"neural-heatmap-sender[{model_id}]", daemon=True
        )
        self._thread.start()

    # ---------------------------------------------------------------- training thread

    def put(self, frame: CapturedFrame) -> None:
        """Queue one frame; never waits for the network."""
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self._dropped += 1  # the deque drops its oldest frame on append
                self._warn_once("dropped", "sender queue full (%d frames): dropping the oldest "
                                "frames; watcher.stats() counts them", self._queue.maxlen)
            self._queue.append(frame)
            if len(self._queue) in (1, self._batch_frames):  # a batch became due
                self._cond.notify()

    def counts(self) -> SenderCounts:
        """A consistent snapshot of the counters."""
        with self._cond:
            return SenderCounts(
                queued=len(self._queue) + self._in_flight,
                sent=self._sent,
                rejected=self._rejected,
                dropped=self._dropped,
                failed=self._failed,
                send_errors=self._send_errors,
                connected=self._connected,
            )

    def flush(self, timeout: float | None) -> bool:
        """Send everything queued now; ``True`` if the queue emptied within ``timeout``."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            try:
                return self._cond.wait_for(
                    lambda: not self._queue and not self._in_flight, timeout
                )
            finally:
                self._flushing = False

    def close(self, timeout: float | None) -> None:
        """Flush for up to ``timeout`` seconds, then stop; what is left counts as dropped."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                # the batch in flight too: a call that still ends well is not counted again
                self._abandon.set()
                self._dropped += len(self._queue) + self._in_flight
                self._queue.clear()
                self._in_flight = 0
                self._cond.notify_all()
            logger.warning("neural_heatmap.torch: closed with frames unsent (bridge unreachable "
                           "for %s s); they are counted as dropped", timeout)

    # ---------------------------------------------------------------- sender thread

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("neural_heatmap.torch: " + message, *args)

    def _next_batch(self) -> list[CapturedFrame] | None:
        """Up to ``batch_frames`` frames, once a batch is due; ``None`` when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue) or self._closing)
            if not self._queue:
                return None
            if len(self._queue) < self._batch_frames and not (self._closing or self._flushing):
                self._cond.wait(self._linger)
            batch = [self._queue.popleft() for _ in range(min(self._batch_frames,
                                                               len(self._queue)))]
            self._in_flight = len(batch)
            return batch

    def _settle(self, batch: list[CapturedFrame], *, retry: bool) -> None:
        """End a batch's flight; ``retry`` puts it back in front of newer frames."""
        with self._cond:
            if self._abandon.is_set():
                return  # ``close`` gave up and has counted this batch as dropped
            self._in_flight = 0
            if retry:
                room = (self._queue.maxlen or 0) - len(self._queue)
                keep = batch[len(batch) - room:] if room < len(batch) else batch
                self._dropped += len(batch) - len(keep)
                self._queue.extendleft(reversed(keep))
            self._cond.notify_all()

    def _count_failed(self, frames: int) -> None:
        """A call failed for good and lost its ``frames`` (unless ``close`` counted them)."""
        with self._cond:
            self._send_errors += 1
            if not self._abandon.is_set():
                self._failed += frames

    async def _send(self, client: NeuralHeatmapClient, batch: list[CapturedFrame]) -> bool:
        """One ``IngestActivations`` call; ``False`` when the bridge was unreachable."""
        frames = [
            ActivationFrame(self._model_id, f.layer_id, _host_values(f, self._reduce),
                            f.timestamp, f.step)
            for f in batch
        ]
        try:
            summary = await client.log_batch(frames, timeout=self._send_timeout)
        except UnavailableError as exc:
            with self._cond:
                self._send_errors += 1
                self._connected = False
            self._warn_once("unavailable", "bridge unreachable (%s); frames wait in the queue "
                            "and are sent after it reconnects", exc)
            return False
        except NeuralHeatmapError as exc:
            self._count_failed(len(batch))
            self._warn_once(f"error:{exc.code}", "IngestActivations failed, %d frames lost: %s",
                            len(batch), exc)
            return True
        with self._cond:
            if self._abandon.is_set():
                return True  # counted as dropped by ``close``
            self._connected = True
            self._sent += summary.frames_accepted
            self._rejected += summary.frames_rejected
        if summary.rejections:
            first = summary.rejections[0]
            self._warn_once(f"rejected:{first.layer_id}:{first.code}",
                            "the server rejected frames of layer %r: %s (%s)",
                            first.layer_id, first.message, first.code)
        return True

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        client = self._make_client()
        failures = 0  # undelivered batches in a row: the wait before the next send grows
        try:
            while not self._abandon.is_set():
                batch = self._next_batch()
                if batch is None:
                    break
                try:
                    delivered = loop.run_until_complete(self._send(client, batch))
                except Exception:  # never let the thread die silently with frames queued
                    logger.exception("neural_heatmap.torch: sending frames failed")
                    self._count_failed(len(batch))
                    delivered = True
                self._settle(batch, retry=not delivered)
                if delivered:
                    failures = 0
                else:
                    self._abandon.wait(backoff_delay(failures))
                    failures += 1
        finally:
            loop.run_until_complete(client.close())
            loop.close()

