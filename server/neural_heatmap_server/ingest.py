"""Turning ingest requests (JSON frames or binary records) into validated batches.

Everything is checked before anything is stored: a request with one bad frame
stores none, and the error's ``details.index`` names the first bad frame.
Frames are grouped into one ``FrameBatch`` per model/layer (arrival order kept
within each) so the store and the detectors work on whole arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from neural_heatmap_contract.limits import MAX_ID_CHARS
from neural_heatmap_contract.media import PayloadError, decode_frames, frame_record_dtype

from .errors import ApiError, invalid
from .store import NO_STEP, ActivationStore, FrameBatch
from .wire import loads

MAX_NAME_LENGTH = MAX_ID_CHARS  # characters of a model or layer id (contract)
NAME_PATTERN = "^[^/]+$"  # the OpenAPI form of check_name's rule
MAX_STEP = 2**63 - 1  # steps are stored as int64
_NON_FINITE_WORDS = {"nan": math.nan, "infinity": math.inf, "+infinity": math.inf,
                     "-infinity": -math.inf, "inf": math.inf, "-inf": -math.inf}


def check_name(value: Any, field: str, **details: Any) -> str:
    """A model or layer id: 1 to ``MAX_NAME_LENGTH`` characters, no '/' (400 otherwise).

    '/' separates model and layer in labels (``model/layer``), so it cannot be
    part of either.
    """
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_LENGTH or "/" in value:
        raise invalid(f"{field} must be a string of 1 to {MAX_NAME_LENGTH} characters "
                      "without '/'", field=field, **details)
    return value


def check_binary_query(model_id: str | None, layer_id: str | None, units_text: str | None,
                       max_units: int) -> int | None:
    """Check the binary form's query parameters wherever they appear (None: no units)."""
    if model_id is not None:
        check_name(model_id, "model_id")
    if layer_id is not None:
        check_name(layer_id, "layer_id")
    if units_text is None:
        return None
    text = units_text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 12
            and 1 <= int(text) <= max_units):
        raise invalid(f"units must be an integer from 1 to {max_units}", field="units",
                      value=units_text[:100])
    return int(text)


def _values(raw: Any, index: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("values must be a non-empty list of numbers", index=index)
    kinds = {type(v) for v in raw}
    if not kinds <= {float, int}:
        converted = []
        for v in raw:
            if type(v) in (float, int):
                converted.append(float(v))
            elif isinstance(v, str) and v.strip().lower() in _NON_FINITE_WORDS:
                converted.append(_NON_FINITE_WORDS[v.strip().lower()])
            else:
                raise invalid(f"values must be numbers or 'NaN'/'Infinity'/'-Infinity', "
                              f"got {v!r}", index=index)
        raw = converted
    with np.errstate(over="ignore"):
        return np.asarray(raw, dtype=np.float32)


def _frame(raw: Any, index: int, now: float) -> tuple[str, str, float, int, Any]:
    if not isinstance(raw, dict):
        raise invalid("a frame must be a JSON object", index=index)
    model_id, layer_id = raw.get("model_id"), raw.get("layer_id")
    check_name(model_id, "model_id", index=index)
    check_name(layer_id, "layer_id", index=index)
    timestamp = raw.get("timestamp")
    if timestamp is None:
        timestamp = now
    elif (isinstance(timestamp, bool) or not isinstance(timestamp, int | float)
          or not math.isfinite(timestamp)):
        raise invalid("timestamp must be a finite number of seconds", index=index)
    step = raw.get("step")
    if isinstance(step, float) and step.is_integer():
        step = int(step)  # JSON does not tell 1 from 1.0
    if step is None:
        step = NO_STEP
    elif isinstance(step, bool) or not isinstance(step, int) or not NO_STEP <= step <= MAX_STEP:
        raise invalid(f"step must be an integer from 0 to {MAX_STEP} (or -1/null for none)",
                      index=index, field="step")
    return str(model_id), str(layer_id), float(timestamp), step, _values(raw.get("values"), index)


def parse_json_frames(body: Any, units_of: Callable[[tuple[str, str]], int | None],
                      max_units: int, max_frames: int, now: float) -> list[FrameBatch]:
    """Validate one frame or ``{"frames": [...]}`` and group it into batches.

    Args:
        body: The decoded JSON.
        units_of: The unit count of a known ``(model, layer)``, None for a new one.
        max_units: ``--max-units``.
        max_frames: ``--max-frames``.
        now: The arrival time (for frames without a timestamp).
    """
    if isinstance(body, dict) and "frames" in body:
        frames = body["frames"]
        if not isinstance(frames, list):
            raise invalid("frames must be a list")
    elif isinstance(body, dict):
        frames = [body]
    else:
        raise invalid("the body must be a frame or {\"frames\": [...]}")
    if len(frames) > max_frames:
        raise ApiError("payload_too_large", f"{len(frames)} frames exceed the limit of "
                       f"{max_frames} per request", frames=len(frames), limit=max_frames)
    groups: dict[tuple[str, str], list[tuple[float, int, Any]]] = {}
    units: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(frames):
        model_id, layer_id, ts, step, values = _frame(raw, index, now)
        key = (model_id, layer_id)
        if key not in units:
            known = units_of(key)
            units[key] = known if known is not None else values.size
        if values.size != units[key] or values.size > max_units:
            raise invalid(
                f"layer {model_id}/{layer_id} has {units[key]} units, the frame has "
                f"{values.size} (limit {max_units})", index=index,
                expected_units=units[key], units=int(values.size),
                constraint="units == the layer's units")
        groups.setdefault(key, []).append((ts, step, values))
    return [FrameBatch(model_id, layer_id,
                       np.array([f[0] for f in items], dtype=np.float64),
                       np.array([f[1] for f in items], dtype=np.int64),
                       np.stack([f[2] for f in items]))
            for (model_id, layer_id), items in groups.items()]


def decode_large(raw: bytes | str, known: dict[tuple[str, str], int], max_units: int,
                 max_frames: int, now: float, message: bool,
                 max_document: int) -> tuple[Any, list[FrameBatch] | None]:
    """Decode a large JSON body or WebSocket message in the decoder process.

    ``json.loads`` holds the GIL for its whole run (over a second for 40 MB), so
    a large body is decoded in another process, which also parses its frames:
    only compact numpy batches come back.

    Args:
        raw: The body or message text.
        known: ``(model, layer) -> units`` of the layers the store holds.
        max_units: ``--max-units``.
        max_frames: ``--max-frames``.
        now: The arrival time.
        message: A WebSocket message (``{"type", "data"}``) rather than an ingest body.
        max_document: Largest message of another type whose contents are sent back.

    Returns:
        ``(None, batches)`` for an ingest body; for a message
        ``({"type": "ingest_activations"}, batches)``, or ``(message, None)`` with
        only its type when it is larger than ``max_document``.
    """
    doc = loads(raw)
    if not message:
        return None, parse_json_frames(doc, known.get, max_units, max_frames, now)
    if (isinstance(doc, dict) and doc.get("type") == "ingest_activations"
            and isinstance(doc.get("data"), dict)):
        return ({"type": "ingest_activations"},
                parse_json_frames(doc["data"], known.get, max_units, max_frames, now))
    if len(raw) > max_document:
        return ({"type": doc["type"]} if isinstance(doc, dict) else doc.__class__()), None
    return doc, None


def parse_binary_frames(body: bytes, model_id: str | None, layer_id: str | None,
                        units_text: str | None, store: ActivationStore,
                        now: float) -> FrameBatch:
    """Decode the binary bulk body (see docs/http-api.md) into one batch."""
    units = check_binary_query(model_id, layer_id, units_text, store.max_units)
    if model_id is None or layer_id is None or units is None:
        raise invalid("binary ingest needs the model_id, layer_id and units query parameters")
    known = store.layer_or_none(model_id, layer_id)
    if known is not None and known.units != units:
        raise invalid(f"layer {model_id}/{layer_id} has {known.units} units, not {units}",
                      index=0, expected_units=known.units, units=units,
                      constraint="units == the layer's units")
    try:
        records = decode_frames(body, units)
    except PayloadError as exc:
        raise invalid(str(exc), record_size=frame_record_dtype(units).itemsize) from exc
    timestamps = records["timestamp"].astype(np.float64)
    timestamps[np.isnan(timestamps)] = now
    bad = np.flatnonzero(~np.isfinite(timestamps))
    if bad.size:
        raise invalid("timestamps must be finite (NaN means arrival time)", index=int(bad[0]))
    steps = records["step"].astype(np.int64)
    bad = np.flatnonzero(steps < NO_STEP)
    if bad.size:
        raise invalid("step must be >= -1", index=int(bad[0]))
    return FrameBatch(model_id, layer_id, timestamps, steps, records["values"])
