"""JSON scalars <-> protobuf well-known types: timestamps, structs, locations.

Every other conversion module builds on these, so their edge cases (a time beyond the
Timestamp range, a null number) are handled in one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from neural_heatmap_contract.v1 import common_pb2

JSONDict = dict[str, Any]

# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
TIMESTAMP_MIN_S = -62_135_596_800
TIMESTAMP_MAX_S = 253_402_300_799


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


def to_struct(doc: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A JSON object -> Struct (numbers become doubles, as JSON has it)."""
    out = struct_pb2.Struct()
    if doc:
        out.update(dict(doc))
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
