"""Frame batches as JetStream messages, and back.

A batch of one layer becomes one or more messages on ``frame_subject(model, layer)``:
the payload is the binary frames layout of the HTTP API (``media``: per frame a float64
timestamp, an int64 step and ``units`` float32, little-endian) and the ``Nh-Units``
header says how many units. NATS refuses a message above the server's ``max_payload``
(1 MiB by default), so a batch is cut into chunks of whole frames that fit; a single
frame that cannot fit is a 413 naming both sizes. Chunking does not change what the
owner computes: detection scores each frame against the frames before it, however they
were batched (``anomalies``).

Each message carries ``Nats-Msg-Id`` = a hash of its subject and payload: a publish whose
acknowledgement was lost (NATS failing over) is answered 503 to the producer, which sends
the frames again, and JetStream drops the copy within the stream's duplicate window
(2 minutes) instead of storing the frames twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from neural_heatmap_contract.media import decode_frames, frame_record_dtype
from neural_heatmap_contract.partition import frame_subject, token_id

from ..errors import ApiError
from ..store import FrameBatch

UNITS_HEADER = "Nh-Units"
HEADER_ROOM = 4096  # bytes of max_payload left for the subject and headers


@dataclass(frozen=True)
class FrameMessage:
    """One message to publish: its subject, headers and payload."""

    subject: str
    headers: dict[str, str]
    payload: bytes
    frames: int


def encode(batch: FrameBatch, max_payload: int) -> list[FrameMessage]:
    """``batch`` as messages of at most ``max_payload`` bytes, in frame order.

    Raises:
        ApiError: 413 ``payload_too_large`` when one frame alone exceeds the limit.
    """
    dtype = frame_record_dtype(batch.units)
    budget = max_payload - HEADER_ROOM
    per_message = budget // dtype.itemsize
    if per_message < 1:
        raise ApiError("payload_too_large",
                       f"a frame of {batch.model_id}/{batch.layer_id} takes {dtype.itemsize} "
                       f"bytes ({batch.units} units), more than the {budget} bytes one NATS "
                       f"message may carry here (max_payload {max_payload} less "
                       f"{HEADER_ROOM} for headers); raise the NATS server's max_payload",
                       units=batch.units, record_bytes=dtype.itemsize, limit=budget)
    records = np.empty(len(batch.timestamps), dtype=dtype)
    records["timestamp"] = batch.timestamps
    records["step"] = batch.steps
    records["values"] = batch.values
    subject = frame_subject(batch.model_id, batch.layer_id)
    messages = []
    for i in range(0, len(records), per_message):
        payload = records[i:i + per_message].tobytes()
        digest = hashlib.blake2b(subject.encode(), digest_size=16)
        digest.update(b"\0")
        digest.update(payload)
        headers = {UNITS_HEADER: str(batch.units), "Nats-Msg-Id": digest.hexdigest()}
        messages.append(FrameMessage(subject, headers, payload,
                                     len(records[i:i + per_message])))
    return messages


def decode(subject: str, headers: dict[str, str] | None, payload: bytes) -> FrameBatch:
    """The batch one message of ``encode`` carries."""
    tokens = subject.split(".")
    units = int((headers or {})[UNITS_HEADER])
    records = decode_frames(payload, units)
    return FrameBatch(token_id(tokens[4]), token_id(tokens[5]),
                      records["timestamp"].astype(np.float64),
                      records["step"].astype(np.int64),
                      np.ascontiguousarray(records["values"], dtype=np.float32))
