"""Activation frames generated from a scenario's ``generate`` block (README.md).

Generation happens here only, so every language ingests byte-identical frames; the tensors
read back are what differs between languages if a client mangles them.
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from neural_heatmap_contract.v1 import ingest_pb2, neural_heatmap_service_pb2, tensor_pb2

from tests.conformance.checks import CheckFailed


def generate_requests(gen: dict[str, Any]) -> list[Message]:
    """The ``IngestActivationsRequest`` messages of a ``generate`` block, ``batch`` frames each."""
    steps, dt_ms, batch = int(gen["steps"]), int(gen["dt_ms"]), int(gen.get("batch", 100))
    start = gen.get("start_s", 0)
    if start == "now":
        start = int(time.time()) - (steps * dt_ms + 999) // 1000
    start = int(start)
    frames = []
    for k in range(steps):
        ms = k * dt_ms
        t = ms / 1000.0
        for layer in gen["layers"]:
            units = int(layer["units"])
            values = [layer_value(layer, k, u, t) for u in range(units)]
            if k in layer.get("nan_steps", []):
                values[0] = math.nan
            frames.append(
                ingest_pb2.ActivationFrame(
                    model_id=gen["model_id"],
                    layer_id=layer["layer_id"],
                    values=tensor_pb2.Tensor(
                        shape=[units],
                        dtype=tensor_pb2.DATA_TYPE_FLOAT32,
                        data=struct.pack(f"<{units}f", *values),
                    ),
                    timestamp=timestamp_pb2.Timestamp(
                        seconds=start + ms // 1000, nanos=(ms % 1000) * 1_000_000
                    ),
                    step=k,
                )
            )
    return [
        neural_heatmap_service_pb2.IngestActivationsRequest(frames=frames[i : i + batch])
        for i in range(0, len(frames), batch)
    ]


def generated_digest(gen: dict[str, Any]) -> str:
    """sha256 of every generated frame's tensor bytes in order (pins the generator)."""
    h = hashlib.sha256()
    for req in generate_requests(gen):
        for frame in req.frames:  # type: ignore[attr-defined]
            h.update(frame.values.data)
    return h.hexdigest()


def layer_value(layer: dict[str, Any], k: int, u: int, t: float) -> float:
    """One unit's activation in float64; packing as '<f' rounds it to float32."""
    sig = layer["signal"]
    kind = sig["kind"]
    amp = float(sig.get("amp", 1.0))
    offset = float(sig.get("offset", 0.0))
    freq = float(sig.get("freq", 0.0))
    if kind == "sine":
        w = 2.0 * math.pi * freq
        s = amp * math.sin(w * t) + offset
    elif kind == "ramp":
        s = float(sig.get("slope", 0.0)) * k + offset
    elif kind == "multisine":
        w = 2.0 * math.pi * freq * (u + 1)
        s = amp * math.sin(w * t + 0.5 * u) + offset
    else:
        raise CheckFailed(f"unknown signal kind {kind!r}")
    gain = float(layer.get("gain", 1.0))
    spread = float(layer.get("spread", 0.0))
    bias = float(layer.get("bias", 0.0))
    return gain * s * (1.0 + spread * u) + bias
