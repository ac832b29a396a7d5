"""Client ingestion: activations streamed to the server as raw float32 bytes."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, Timeout
from neural_heatmap._convert import set_tensor, set_ts
from neural_heatmap._ingest_types import ActivationFrame, IngestSummary

__all__ = ["IngestMixin"]

_INGEST_MESSAGE_BYTES = 1 << 20  # ~1 MiB of activations per IngestActivations message


class IngestMixin(ClientBase):
    """``log_activations`` and ``log_batch`` (``IngestActivations``)."""

    async def log_activations(
        self,
        model_id: str,
        layer_id: str,
        values: npt.ArrayLike,
        *,
        timestamp: float | None = None,
        step: int | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
    ) -> IngestSummary:
        """Send one frame (the activation of every unit of one layer at one step).

        Args:
            model_id: The model; created by its first frame.
            layer_id: The layer; its unit count is fixed by its first frame.
            values: 1-D activations, sent as float32 (NaN/inf are data).
            timestamp: Seconds since the epoch (default: the server's arrival time).
            step: Training step.
        """
        frame = ActivationFrame(model_id, layer_id, values, timestamp, step)
        return await self.log_batch([frame], timeout=timeout, metadata=metadata)

    @overload
    async def log_batch(
        self,
        frames: Iterable[ActivationFrame],
        *,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
    ) -> IngestSummary: ...

    @overload
    async def log_batch(
        self,
        frames: str,
        layer_id: str,
        values: npt.ArrayLike,
        timestamps: Sequence[float] | npt.NDArray[Any] | None = ...,
        steps: Sequence[int] | npt.NDArray[Any] | None = ...,
        *,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
    ) -> IngestSummary: ...

    async def log_batch(
        self,
        frames: Iterable[ActivationFrame] | str,
        layer_id: str | None = None,
        values: npt.ArrayLike | None = None,
        timestamps: Sequence[float] | npt.NDArray[Any] | None = None,
        steps: Sequence[int] | npt.NDArray[Any] | None = None,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
    ) -> IngestSummary:
        """Stream many frames through ``IngestActivations`` (never retried).

        Two forms:

        * ``log_batch(frames)`` with an iterable of :class:`ActivationFrame`;
        * ``log_batch(model_id, layer_id, values, timestamps=None, steps=None)``
          with a 2-D array ``[steps, units]``, one row per frame.

        Frames travel as raw float32 bytes, about 1 MiB of them per message.

        Returns:
            How many frames the server stored and why others were rejected.
        """
        if isinstance(frames, str):
            if layer_id is None or values is None:
                raise TypeError("log_batch(model_id, layer_id, values, ...) needs all three")
            arr = np.asarray(values, dtype=np.float32)
            if arr.ndim != 2:
                raise ValueError(f"values must be 2-D [frames, units], got shape {arr.shape}")
            ts = None if timestamps is None else np.asarray(timestamps, dtype=np.float64)
            st = None if steps is None else np.asarray(steps, dtype=np.int64)
            for name, extra in (("timestamps", ts), ("steps", st)):
                if extra is not None and extra.shape != (arr.shape[0],):
                    raise ValueError(f"{name} must have one entry per row of values")
            model_id = frames
            lid = layer_id
            frame_list: Iterable[ActivationFrame] = (
                ActivationFrame(
                    model_id,
                    lid,
                    arr[i],
                    None if ts is None else float(ts[i]),
                    None if st is None else int(st[i]),
                )
                for i in range(arr.shape[0])
            )
        else:
            frame_list = frames
        counts = {"frames": 0, "messages": 0}

        async def requests() -> AsyncIterator[pb.IngestActivationsRequest]:
            # frames are filled in place in the message sent (no per-frame message to copy)
            request = pb.IngestActivationsRequest()
            size = 0
            for frame in frame_list:
                msg = request.frames.add(model_id=frame.model_id, layer_id=frame.layer_id)
                size += set_tensor(msg.values, np.ravel(np.asarray(frame.values))) + 64
                if frame.timestamp is not None and math.isfinite(frame.timestamp):
                    set_ts(msg.timestamp, frame.timestamp)
                if frame.step is not None:
                    msg.step = frame.step
                counts["frames"] += 1
                if size >= _INGEST_MESSAGE_BYTES:
                    counts["messages"] += 1
                    yield request
                    request, size = pb.IngestActivationsRequest(), 0
            if request.frames:
                counts["messages"] += 1
                yield request

        stub = self._open()
        md = self._metadata(metadata)

        async def attempt(per_try: float | None) -> pb.IngestActivationsResponse:
            return await stub.IngestActivations(requests(), timeout=per_try, metadata=md)

        # never retried (IDEMPOTENCY_UNKNOWN: a retry could store frames twice, and the
        # request iterator cannot be replayed)
        resp = await self._call(attempt, rpc="IngestActivations", timeout=timeout, retry=None)
        return IngestSummary.from_proto(
            resp, frames_sent=counts["frames"], messages_sent=counts["messages"]
        )
