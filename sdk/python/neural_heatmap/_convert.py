"""Small conversions between generated messages and plain Python values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from neural_heatmap_contract.v1 import common_pb2, tensor_pb2

_DTYPES: Mapping[int, np.dtype[Any]] = {
    tensor_pb2.DATA_TYPE_FLOAT32: np.dtype("<f4"),
    tensor_pb2.DATA_TYPE_FLOAT64: np.dtype("<f8"),
}


def ts_to_float(ts: timestamp_pb2.Timestamp) -> float:
    """Seconds since the epoch as a float (the seed's ``timestamp: float``)."""
    return ts.seconds + ts.nanos / 1e9


def opt_ts(msg: Any, name: str) -> float | None:
    """A Timestamp field as float seconds, or ``None`` when unset."""
    if not msg.HasField(name):
        return None
    return ts_to_float(getattr(msg, name))


def opt_float(msg: Any, name: str) -> float | None:
    """An optional scalar field as a float, or ``None`` when unset."""
    return float(getattr(msg, name)) if msg.HasField(name) else None


def location_to_dict(msg: common_pb2.Location) -> dict[str, float]:
    """A canvas Location as the seed's ``{"x": .., "y": ..}``."""
    return {"x": msg.x, "y": msg.y}


def as_str_list(values: str | Sequence[str] | None) -> list[str]:
    """Accept one string, a sequence of strings, or ``None``."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def float_to_ts(value: float) -> timestamp_pb2.Timestamp:
    """Float seconds since the epoch to a Timestamp."""
    seconds = math.floor(value)
    nanos = round((value - seconds) * 1e9)
    if nanos >= 1_000_000_000:
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a plain dict (numbers become floats, as in JSON)."""
    return json_format.MessageToDict(struct)


def dict_to_struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A JSON-like mapping as a Struct."""
    struct = struct_pb2.Struct()
    if value:
        struct.update(dict(value))
    return struct


def tensor_to_numpy(tensor: tensor_pb2.Tensor) -> npt.NDArray[Any]:
    """View a Tensor's raw bytes as a numpy array without copying them.

    The array is read-only: it is a view over the ``bytes`` object protobuf
    returns for the field (``np.frombuffer``), reshaped to the tensor's shape.
    Use ``.copy()`` to get a writable array.
    """
    dtype = _DTYPES.get(tensor.dtype, np.dtype("<f4"))
    shape = tuple(int(d) for d in tensor.shape)
    data = tensor.data
    if not data:
        return np.zeros(shape if shape else (0,), dtype=dtype)
    arr = np.frombuffer(data, dtype=dtype)
    return arr.reshape(shape) if shape else arr


def numpy_to_tensor(values: npt.ArrayLike, *, dtype: str = "<f4") -> tensor_pb2.Tensor:
    """Pack an array as a Tensor of raw little-endian bytes."""
    arr = np.ascontiguousarray(values, dtype=np.dtype(dtype))
    code = tensor_pb2.DATA_TYPE_FLOAT64 if arr.dtype.itemsize == 8 else tensor_pb2.DATA_TYPE_FLOAT32
    return tensor_pb2.Tensor(shape=list(arr.shape), dtype=code, data=arr.tobytes())
