"""Validation at the edge: every request is decoded and checked here, once.

The bridge registers its methods without request deserializers, so the raw
bytes reach ``_handlers.at_the_edge`` only after the interceptors (auth) have
run; there ``decode`` turns them into the request message and ``check`` walks
it. A handler therefore only ever sees a request that the server can store.
What is checked, driven by the message descriptors plus the tables below:

=====================================  =====================================  ==================
what                                   rule                                   status
=====================================  =====================================  ==================
request bytes                          decode as the method's request type    INVALID_ARGUMENT
every enum field (also repeated)       a known number; repeated: not 0        INVALID_ARGUMENT
``REQUIRED`` enum/string fields        set                                    INVALID_ARGUMENT
every uint64 field                     <= int64 max (the server's integers)   INVALID_ARGUMENT
every double/float field               finite                                 INVALID_ARGUMENT
every Timestamp                        0001-01-01 .. 9999-12-31, nanos valid  INVALID_ARGUMENT
Tensor                                 dtype FLOAT32/FLOAT64, rank <= 8,      INVALID_ARGUMENT
                                       each dimension 0 .. 2^31-1
``RANGES`` (e.g. frame ``step``)       inside the range                       INVALID_ARGUMENT
``NAMES`` (export names)               1-2 plain segments, no ``..``,         INVALID_ARGUMENT
                                       no leading dot, no control character
model / layer ids in a lookup          <= ``MAX_ID_BYTES``                    NOT_FOUND
model / layer ids that get stored      <= ``MAX_ID_BYTES``                    INVALID_ARGUMENT
model ids in a live stream's filter    known to the upstream (``require_...``) NOT_FOUND
=====================================  =====================================  ==================

An id longer than ``MAX_ID_BYTES`` cannot name anything the bridge created
(its ingestion refuses such ids), so a lookup with one is answered NOT_FOUND
without asking the upstream: a 1 MiB id never becomes a 1 MiB URL.
Frames of ``IngestActivations`` are checked one by one (``check`` on each
``ActivationFrame``) so that a bad frame is rejected and the others go on, as
the ingestion policy says; the request around them is checked here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from google.protobuf import descriptor, message
from google.protobuf.descriptor import FieldDescriptor

from . import _errors
from ._convert import TIMESTAMP_MAX_S, TIMESTAMP_MIN_S
from ._upstream import CallOptions, Upstream

INT64_MAX = 2**63 - 1
MAX_ID_BYTES = 1024
MAX_DIMENSION = 2**31 - 1
MAX_RANK = 8

_PKG = "neural_heatmap.v1."
# Fields that must be set (UNSPECIFIED / empty is not a value), by message.
REQUIRED: dict[str, tuple[str, ...]] = {
    _PKG + "SetThemeRequest": ("theme",),
    _PKG + "ExportCorrelationMatrixRequest": ("format", "filename"),
    _PKG + "DownloadExportRequest": ("name",),
}
# Integer fields with a narrower range than their type, by (message, field).
RANGES: dict[tuple[str, str], tuple[int, int]] = {
    (_PKG + "ActivationFrame", "step"): (0, INT64_MAX),
}
# String fields that name a file: plain names, never paths (``segments`` = most parts).
NAMES: dict[tuple[str, str], int] = {
    (_PKG + "DownloadExportRequest", "name"): 2,  # "dir/file" inside a TensorBoard export
    (_PKG + "ExportCorrelationMatrixRequest", "filename"): 1,
}
# String fields holding model or layer ids.
ID_FIELDS = frozenset({"model_id", "model_ids", "layer_id", "layer_ids"})
# Messages whose ids are stored, not looked up: a too-long id there is INVALID_ARGUMENT.
STORED_IDS = frozenset({_PKG + "ActivationFrame", _PKG + "Filter"})
# Fields checked elsewhere (frames one by one, in _ingest).
SKIP: dict[str, frozenset[str]] = {_PKG + "IngestActivationsRequest": frozenset({"frames"})}

_TENSOR = _PKG + "Tensor"
_TIMESTAMP = "google.protobuf.Timestamp"
_DTYPES = frozenset({1, 2})  # DATA_TYPE_FLOAT32, DATA_TYPE_FLOAT64
_SEGMENT = re.compile(r"[^\x00-\x1f\x7f\\/]{1,255}")
_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


def decode(deserialize: Callable[[bytes], Any], raw: bytes, type_name: str) -> Any:
    """Parse request bytes; undecodable bytes are the caller's error (INVALID_ARGUMENT).

    Why here and not in grpc's deserializer: grpc turns a deserializer failure
    into UNKNOWN (INTERNAL on a client stream), and it runs before auth.
    """
    try:
        return deserialize(raw)
    except Exception as exc:  # DecodeError, or upb's recursion/UTF-8 refusals
        raise _errors.invalid(
            f"the request bytes are not a valid {type_name} ({type(exc).__name__})"
        ) from exc


def check(msg: message.Message, path: str = "") -> None:
    """Raise the first rule ``msg`` breaks (see the table above), or return.

    Args:
        msg: A request message (or part of one).
        path: The field path of ``msg`` inside the request, for messages.
    """
    desc = msg.DESCRIPTOR
    name = desc.full_name
    if name == _TIMESTAMP:
        _check_timestamp(msg, path)
        return
    if name == _TENSOR:
        _check_tensor(msg, path)
    for field_name in REQUIRED.get(name, ()):
        if not getattr(msg, field_name):
            where = _join(path, field_name)
            raise _errors.invalid(f"{where} must be set", field=where)
    skip = SKIP.get(name, frozenset())
    for field, value in msg.ListFields():
        if field.name in skip:
            continue
        where = _join(path, field.name)
        if field.message_type is not None:
            _check_messages(field, value, where)
            continue
        values = value if _is_repeated(field) else (value,)
        _check_scalars(cast(descriptor.Descriptor, desc), field, values, where)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _check_messages(field: FieldDescriptor, value: Any, where: str) -> None:
    entry = cast(descriptor.Descriptor, field.message_type)
    if entry.GetOptions().map_entry:
        value_field = entry.fields_by_name["value"]
        for key, item in value.items():
            if value_field.message_type is not None:
                check(item, f"{where}[{key!r}]")
            else:
                _check_scalars(entry, value_field, (item,), f"{where}[{key!r}]")
    elif _is_repeated(field):
        for i, item in enumerate(value):
            check(item, f"{where}[{i}]")
    else:
        check(value, where)


def _check_scalars(
    owner: descriptor.Descriptor, field: FieldDescriptor, values: Iterable[Any], where: str
) -> None:
    repeated = _is_repeated(field)
    if field.enum_type is not None:
        known = field.enum_type.values_by_number
        for v in values:
            if v not in known or (repeated and v == 0):
                names = [x.name for x in field.enum_type.values if x.number]
                raise _errors.invalid(
                    f"{where} must be one of {names}, got {v}", field=where, value=v
                )
    elif field.type == FieldDescriptor.TYPE_UINT64:
        for v in values:
            if v > INT64_MAX:
                raise _errors.invalid(
                    f"{where} must be at most {INT64_MAX}, got {v}", field=where, value=v
                )
    elif field.type in _FLOATS:
        for v in values:
            if not math.isfinite(v):
                raise _errors.invalid(f"{where} must be finite, got {v}", field=where)
    elif field.type == FieldDescriptor.TYPE_STRING:
        _check_strings(owner.full_name, field.name, values, where)
    low_high = RANGES.get((owner.full_name, field.name))
    if low_high is not None:
        low, high = low_high
        for v in values:
            if not low <= v <= high:
                raise _errors.invalid(
                    f"{where} must be between {low} and {high}, got {v}", field=where, value=v
                )


def _check_strings(owner: str, name: str, values: Iterable[str], where: str) -> None:
    segments = NAMES.get((owner, name))
    for v in values:
        if segments is not None:
            check_name(v, where, segments)
        elif name in ID_FIELDS and len(v.encode()) > MAX_ID_BYTES:
            why = f"{where} is longer than {MAX_ID_BYTES} bytes"
            if owner in STORED_IDS:
                raise _errors.invalid(f"{why}; ids are at most that long", field=where)
            raise _errors.not_found(f"no such id: {why}, and no id that long exists", field=where)


def check_name(value: str, where: str, segments: int = 1) -> None:
    """A file name: 1..``segments`` plain parts joined by ``/``; never ``.``/``..`` or hidden.

    Why: the name becomes part of an upstream URL; a path could reach another route.
    """
    parts = value.split("/")
    ok = 0 < len(parts) <= segments and all(
        _SEGMENT.fullmatch(p) and not p.startswith(".") and ".." not in p for p in parts
    )
    if not ok:
        shape = "a plain name" if segments == 1 else f"1 to {segments} plain names joined by '/'"
        raise _errors.invalid(
            f"{where} must be {shape} (no '..', no leading '.', no '\\', no control "
            f"characters, at most 255 bytes each), got {value!r}",
            field=where,
        )


def _check_timestamp(ts: Any, path: str) -> None:
    if not TIMESTAMP_MIN_S <= ts.seconds <= TIMESTAMP_MAX_S or not (
        0 <= ts.nanos <= 999_999_999
    ):
        raise _errors.invalid(
            f"{path} must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z "
            f"with 0 <= nanos < 1e9, got seconds={ts.seconds} nanos={ts.nanos}",
            field=path,
        )


def _check_tensor(t: Any, path: str) -> None:
    where = _join(path, "dtype")
    if t.dtype not in _DTYPES:
        raise _errors.invalid(
            f"{where} must be DATA_TYPE_FLOAT32 or DATA_TYPE_FLOAT64, got {t.dtype}", field=where
        )
    where = _join(path, "shape")
    if len(t.shape) > MAX_RANK or any(not 0 <= d <= MAX_DIMENSION for d in t.shape):
        raise _errors.invalid(
            f"{where} must have at most {MAX_RANK} dimensions, each 0..{MAX_DIMENSION}, "
            f"got {list(t.shape)[: MAX_RANK + 1]}",
            field=where,
        )


async def require_models(up: Upstream, opts: CallOptions, request: message.Message) -> None:
    """NOT_FOUND unless every model a stream's ``model_ids`` names is known to the upstream.

    Why: a live stream filtered on a model that does not exist stays open and
    silent forever; the caller most likely mistyped the id. A model comes into
    being with its first frame, so a live stream can name it only after that.

    A resumable anomaly stream (``after_sequence`` set) is exempt: it asks for a
    position in the durable log, and a consumer that records its position is
    rightly started before the producer whose model it follows (the Go
    ``anomaly-consumer`` example is); it receives the model's anomalies once
    they exist.
    """
    wanted = set(getattr(request, "model_ids", ()))
    resumable = "after_sequence" in request.DESCRIPTOR.fields_by_name and request.HasField(
        "after_sequence"
    )
    if not wanted or resumable:
        return
    doc = await up.get_json("/api/models", opts)
    known = {str(m.get("model_id")) for m in doc.get("models") or [] if isinstance(m, dict)}
    missing = sorted(wanted - known)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise _errors.not_found(
            f"unknown model(s) {shown}: a live stream can name only models that have sent "
            "frames (or resume from an after_sequence)",
            model_ids=",".join(missing[:5]),
        )
