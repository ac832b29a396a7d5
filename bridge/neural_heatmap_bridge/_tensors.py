"""numpy arrays and matrix answers -> ``Tensor`` messages (little-endian raw bytes).

Matrices are the bridge's big payloads, so these functions copy the float bytes once and
fill the caller's message in place (see the note on ``fill_tensor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from neural_heatmap_contract.media import PayloadError, decode_matrix
from neural_heatmap_contract.v1 import analytics_pb2, tensor_pb2

from ._scalars import fill_metadata, opt_float, timestamp


def tensor(array: np.ndarray[Any, Any]) -> tensor_pb2.Tensor:
    """A float32/float64 numpy array -> Tensor of little-endian raw bytes."""
    if array.dtype == np.float64:
        dtype, arr = tensor_pb2.DATA_TYPE_FLOAT64, np.ascontiguousarray(array, "<f8")
    else:
        dtype, arr = tensor_pb2.DATA_TYPE_FLOAT32, np.ascontiguousarray(array, "<f4")
    return tensor_pb2.Tensor(shape=list(arr.shape), dtype=dtype, data=arr.tobytes())


def _rows(rows: Any, dtype: str) -> np.ndarray[Any, Any]:
    """A JSON list of rows (possibly empty or null) -> 2-D array; anything else is a
    ``PayloadError``."""
    arr = np.asarray(rows if rows else [], dtype=dtype)
    if arr.size == 0:
        arr = arr.reshape(0, 0)
    if arr.ndim != 2:
        raise PayloadError(f"matrix must be 2-D, got shape {arr.shape}")
    return arr


def matrix_json(rows: Any, dtype: str) -> tensor_pb2.Tensor:
    """A JSON list of rows (possibly empty) -> square Tensor."""
    return tensor(_rows(rows, dtype))


# upb copies a message passed to a constructor or to CopyFrom by encoding and
# decoding it: ~13 ms for a 2048 x 2048 float32 matrix, each time. The matrix
# functions below therefore fill the caller's message in place (``out``), so the
# float bytes are copied once, from the upstream's answer into the message.
def fill_tensor(out: tensor_pb2.Tensor, shape: list[int], dtype: Any, data: bytes) -> None:
    """Set an empty ``out`` to ``shape``, ``dtype`` and the raw ``data`` (no copy by upb)."""
    out.shape.extend(shape)
    out.dtype = dtype
    out.data = data


def fill_correlation(
    out: analytics_pb2.CorrelationMatrix, labels: Any, when: Any, metadata: Any
) -> None:
    """Set everything of an empty ``out`` but its tensor, from the answer's JSON parts.

    The timestamp is marked present even when empty, on the JSON path and the wire path
    (``_matrix_wire``) alike.
    """
    out.labels.extend(str(x) for x in labels or [])
    stamp = timestamp(opt_float(when))
    if stamp.seconds or stamp.nanos:
        out.timestamp.seconds, out.timestamp.nanos = stamp.seconds, stamp.nanos
    else:
        out.timestamp.SetInParent()
    fill_metadata(out.metadata, metadata)


def correlation_from_json(
    doc: Mapping[str, Any], out: analytics_pb2.CorrelationMatrix | None = None
) -> analytics_pb2.CorrelationMatrix:
    """The seed's ``{matrix, labels, timestamp, metadata}`` -> CorrelationMatrix (float32).

    Fills ``out`` in place when given (see above), else a new message.
    """
    if "matrix" not in doc:
        raise PayloadError("no 'matrix' in correlation answer")
    out = analytics_pb2.CorrelationMatrix() if out is None else out
    arr = _rows(doc["matrix"], "<f4")
    fill_tensor(out.matrix, list(arr.shape), tensor_pb2.DATA_TYPE_FLOAT32, arr.tobytes())
    fill_correlation(out, doc.get("labels"), doc.get("timestamp"), doc.get("metadata"))
    return out


def correlation_from_binary(
    body: bytes, out: analytics_pb2.CorrelationMatrix | None = None
) -> analytics_pb2.CorrelationMatrix:
    """The binary matrix answer -> CorrelationMatrix, the float bytes copied as they are.

    Layout: ``neural_heatmap_contract.media``. Fills ``out`` in place when given (see
    above), else a new message.
    """
    found = decode_matrix(body)
    header = found.header
    out = analytics_pb2.CorrelationMatrix() if out is None else out
    fill_tensor(out.matrix, found.shape, tensor_pb2.DATA_TYPE_FLOAT32, body[found.offset :])
    fill_correlation(out, header.get("labels"), header.get("timestamp"), header.get("metadata"))
    return out
