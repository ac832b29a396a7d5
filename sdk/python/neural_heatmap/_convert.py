"""Small conversions between generated messages and plain Python values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import timestamp_pb2
from neural_heatmap_contract.v1 import common_pb2, metadata_pb2, tensor_pb2

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
    ts = timestamp_pb2.Timestamp()
    set_ts(ts, value)
    return ts


def set_ts(ts: timestamp_pb2.Timestamp, value: float) -> None:
    """Write float seconds since the epoch into ``ts`` (in place: no message to copy)."""
    seconds = math.floor(value)
    nanos = round((value - seconds) * 1e9)
    if nanos >= 1_000_000_000:
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    ts.seconds = seconds
    ts.nanos = nanos


def metadata_value(value: metadata_pb2.MetadataValue) -> Any:
    """One MetadataValue as the plain Python value the server sent.

    ``int``, ``float``, ``str``, ``bool``, ``None`` (no kind set), and ``list``/``dict`` of
    these: an integer the server sent arrives as an ``int``, not as a float.
    """
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "list_value":
        return [metadata_value(v) for v in value.list_value.values]
    if kind == "map_value":
        return metadata_dict(value.map_value.fields)
    return getattr(value, kind)


def metadata_dict(fields: Mapping[str, metadata_pb2.MetadataValue]) -> dict[str, Any]:
    """A ``map<string, MetadataValue>`` field (or ``MetadataMap.fields``) as a plain dict."""
    return {key: metadata_value(value) for key, value in fields.items()}


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


def set_tensor(tensor: tensor_pb2.Tensor, values: npt.ArrayLike, *, dtype: str = "<f4") -> int:
    """Pack an array into ``tensor`` (in place) as raw little-endian bytes.

    Filling a field of the message being built costs a fraction of building a
    ``Tensor`` and copying it in: ingestion does this once per frame.

    Returns:
        The number of bytes packed.
    """
    arr = np.ascontiguousarray(values, dtype=np.dtype(dtype))
    tensor.dtype = (tensor_pb2.DATA_TYPE_FLOAT64 if arr.dtype.itemsize == 8
                    else tensor_pb2.DATA_TYPE_FLOAT32)
    tensor.shape.extend(arr.shape)
    tensor.data = arr.tobytes()
    return arr.nbytes
