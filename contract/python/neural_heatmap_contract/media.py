"""The two binary media types of the HTTP API: their names and layouts, encoded and decoded once.

The server writes the binary matrix answer and reads binary frame records; the bridge reads
the matrix answer and writes frame records. Both sides use these functions, so the layouts
(docs/http-api.md, "Binary ingest" and "Correlation matrix") cannot drift apart.

* ``application/vnd.neural-heatmap.matrix`` (answer of ``GET /api/correlation`` with that
  ``Accept``): ``uint32 LE header_length`` + JSON header (``labels``, ``timestamp``,
  ``metadata``, ``shape`` ``[n, m]``, ``dtype`` ``"float32"``) + ``n*m`` float32 LE values.
* ``application/vnd.neural-heatmap.frames`` (body of ``POST /api/ingest``): records of
  ``float64 LE timestamp`` + ``int64 LE step`` + ``units`` float32 LE values.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MATRIX_MEDIA_TYPE = "application/vnd.neural-heatmap.matrix"
FRAMES_MEDIA_TYPE = "application/vnd.neural-heatmap.frames"

_HEADER_LENGTH = struct.Struct("<I")
FRAME_HEADER = struct.Struct("<dq")
"""The fixed head of a frame record: timestamp (float64 seconds, NaN = arrival time), step."""


class PayloadError(ValueError):
    """A body does not have the layout (or the JSON shape) the contract promises."""


def _strict_dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


# ---------------------------------------------------------------- matrix
@dataclass(frozen=True)
class BinaryMatrix:
    """A checked binary matrix body: its JSON header and where its float32 values start.

    Attributes:
        header: The JSON header (``labels``, ``timestamp``, ``metadata``, ``shape``, ``dtype``).
        shape: ``[rows, columns]``.
        offset: Index of the first float byte in ``body``.
        body: The whole body (not copied).
    """

    header: dict[str, Any]
    shape: list[int]
    offset: int
    body: bytes | bytearray | memoryview

    @property
    def size(self) -> int:
        """Bytes of float32 values."""
        return len(self.body) - self.offset

    def values(self) -> npt.NDArray[np.float32]:
        """The values as a read-only ``rows x columns`` float32 view of the body (no copy)."""
        flat = np.frombuffer(self.body, dtype="<f4", offset=self.offset)
        return flat.reshape(self.shape)


def encode_matrix(
    matrix: npt.ArrayLike,
    labels: Sequence[str],
    timestamp: float,
    metadata: Mapping[str, Any],
    dumps: Callable[[Any], str] = _strict_dumps,
) -> bytearray:
    """A 2-D matrix -> the binary matrix body, its values converted to float32 once.

    Args:
        matrix: Values, any float dtype, shape ``(n, m)``.
        labels: Row labels.
        timestamp: Seconds since the epoch when the matrix was computed.
        metadata: JSON object kept with the matrix.
        dumps: JSON encoder for the header (the server's turns non-finite numbers into null).
    """
    values = np.asarray(matrix)
    if values.ndim != 2:
        raise PayloadError(f"matrix must be 2-D, got shape {values.shape}")
    rows, cols = values.shape
    header = dumps({"labels": list(labels), "timestamp": timestamp, "metadata": metadata,
                    "shape": [rows, cols], "dtype": "float32"}).encode()
    start = _HEADER_LENGTH.size + len(header)
    body = bytearray(start + rows * cols * 4)
    _HEADER_LENGTH.pack_into(body, 0, len(header))
    body[_HEADER_LENGTH.size:start] = header
    # The float64 -> float32 conversion is written straight into the body.
    out = np.frombuffer(body, dtype="<f4", offset=start).reshape(rows, cols)
    np.copyto(out, values, casting="same_kind")
    return body


def decode_matrix(body: bytes | bytearray | memoryview) -> BinaryMatrix:
    """Check a binary matrix body and say where its parts are (the values are not copied).

    Raises:
        PayloadError: The body is short, its header is not a JSON object with a 2-D float32
            shape, or the value bytes do not match the shape.
    """
    if len(body) < _HEADER_LENGTH.size:
        raise PayloadError("binary matrix shorter than its header length")
    (length,) = _HEADER_LENGTH.unpack_from(body, 0)
    start = _HEADER_LENGTH.size + length
    try:
        header = json.loads(bytes(body[_HEADER_LENGTH.size:start]))
    except ValueError as exc:
        raise PayloadError(f"binary matrix header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise PayloadError(f"binary matrix header is not an object: {header!r}")
    try:
        shape = [int(n) for n in header.get("shape", [])]
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"unexpected matrix header {header!r}") from exc
    if header.get("dtype", "float32") != "float32" or len(shape) != 2 or min(shape) < 0:
        raise PayloadError(f"unexpected matrix header {header!r}")
    expected = shape[0] * shape[1] * 4
    if len(body) - start != expected:
        got = len(body) - start
        raise PayloadError(f"matrix body has {got} bytes, shape {shape} needs {expected}")
    return BinaryMatrix(header, shape, start, body)


# ---------------------------------------------------------------- frames
def frame_record_dtype(units: int) -> np.dtype[Any]:
    """The numpy layout of one frame record with ``units`` values (``FRAME_HEADER`` + floats)."""
    return np.dtype([("timestamp", "<f8"), ("step", "<i8"), ("values", "<f4", (units,))])


def encode_frame_header(timestamp: float, step: int) -> bytes:
    """The head of one frame record; its ``units`` float32 LE values follow it as they are.

    Args:
        timestamp: Seconds since the epoch (NaN: the server's arrival time).
        step: Training step (-1: none).
    """
    return FRAME_HEADER.pack(timestamp, step)


def decode_frames(body: bytes | bytearray | memoryview, units: int) -> npt.NDArray[Any]:
    """A frames body -> a structured array (``timestamp``, ``step``, ``values``), not copied.

    Raises:
        PayloadError: The body length is not a whole number of records.
    """
    dtype = frame_record_dtype(units)
    if len(body) % dtype.itemsize:
        raise PayloadError(f"body length {len(body)} is not a multiple of the record size "
                           f"{dtype.itemsize}")
    return np.frombuffer(body, dtype=dtype)
