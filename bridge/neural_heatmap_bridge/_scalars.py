"""JSON scalars <-> protobuf: timestamps, typed metadata values, locations.

Every other conversion module builds on these, so their edge cases (a time beyond the
Timestamp range, a null number, an integer beyond int64) are handled in one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from google.protobuf import timestamp_pb2
from neural_heatmap_contract.v1 import common_pb2, metadata_pb2

JSONDict = dict[str, Any]

# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
TIMESTAMP_MIN_S = -62_135_596_800
TIMESTAMP_MAX_S = 253_402_300_799

# MetadataValue.int_value's range; a JSON integer beyond it travels as a double.
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def timestamp(seconds: float | None) -> timestamp_pb2.Timestamp:
    """Float seconds since the epoch -> Timestamp (unset for None or non-finite).

    Values beyond the Timestamp range are clamped to its ends: the upstream may
    hold such times (its JSON numbers have no range), and an answer that cannot
    be converted would turn every later read into an INTERNAL error.
    """
    ts = timestamp_pb2.Timestamp()
    if seconds is not None and math.isfinite(seconds):
        if seconds < TIMESTAMP_MIN_S:
            ts.seconds = TIMESTAMP_MIN_S
        elif seconds >= TIMESTAMP_MAX_S + 1:
            ts.seconds, ts.nanos = TIMESTAMP_MAX_S, 999_999_999
        else:
            ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def seconds(ts: timestamp_pb2.Timestamp) -> float:
    """Timestamp -> float seconds since the epoch."""
    return ts.seconds + ts.nanos / 1e9


def fill_metadata_value(out: metadata_pb2.MetadataValue, value: Any) -> None:
    """Set an empty ``out`` to one JSON value, its kind kept (None leaves it unset: null).

    ``bool`` is tested before ``int`` (a Python bool is an int), so ``true`` stays a bool;
    an integer beyond int64 becomes a double rather than failing the whole answer.

    Raises:
        TypeError: For a value JSON cannot hold (the upstream's JSON never has one).
    """
    if value is None:
        return
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            out.int_value = value
        else:
            out.double_value = float(value)
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, Mapping):
        out.map_value.SetInParent()
        fill_metadata(out.map_value.fields, value)
    elif isinstance(value, list | tuple):
        out.list_value.SetInParent()
        for item in value:
            fill_metadata_value(out.list_value.values.add(), item)
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def fill_metadata(
    out: MutableMapping[str, metadata_pb2.MetadataValue], doc: Mapping[str, Any] | None
) -> None:
    """Add a JSON object's members to a ``map<string, MetadataValue>`` field, in place."""
    for key, value in (doc or {}).items():
        fill_metadata_value(out[str(key)], value)


def metadata_map(doc: Mapping[str, Any] | None) -> metadata_pb2.MetadataMap:
    """A JSON object -> MetadataMap (for repeated maps such as TemporalUpdate.trends)."""
    out = metadata_pb2.MetadataMap()
    fill_metadata(out.fields, doc)
    return out


def float_or(value: Any, default: float = 0.0) -> float:
    """A JSON number -> float (``default`` for null or absent)."""
    return default if value is None else float(value)


def opt_float(value: Any) -> float | None:
    """A JSON number -> float, null staying None."""
    return None if value is None else float(value)


def location(doc: Any) -> common_pb2.Location | None:
    """``{"x", "y"}`` -> Location (None when absent)."""
    if not isinstance(doc, Mapping):
        return None
    return common_pb2.Location(x=float_or(doc.get("x")), y=float_or(doc.get("y")))
