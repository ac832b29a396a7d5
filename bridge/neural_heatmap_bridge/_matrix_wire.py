"""The matrix answer written as protobuf wire bytes by hand, its floats copied once.

``GetCorrelationMatrix`` answers can be 64 MiB; building the message and serializing it copies
the floats twice more. Here everything but the floats goes through protobuf, and the floats
are appended as a second occurrence of the matrix field, which parsers merge (see
``correlation_response_wire``). ``tests/bridge/test_matrix_wire.py`` checks that the bytes
parse to the same message the ordinary path builds.
"""

from __future__ import annotations

from typing import Any

from neural_heatmap_contract.media import decode_matrix
from neural_heatmap_contract.v1 import analytics_pb2, tensor_pb2

from ._tensors import fill_correlation, fill_tensor


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _len_field(number: int, length: int) -> bytes:
    """Tag (wire type 2, length-delimited) and length of a field, without its payload."""
    return _varint(number << 3 | 2) + _varint(length)


_RESPONSE_MATRIX = 1  # GetCorrelationMatrixResponse.matrix
_MATRIX_TENSOR = analytics_pb2.CorrelationMatrix.DESCRIPTOR.fields_by_name["matrix"].number
_TENSOR_DATA = tensor_pb2.Tensor.DESCRIPTOR.fields_by_name["data"].number


def correlation_response_wire(body: bytes, head: Any) -> bytes:
    """A binary matrix answer -> the serialized ``GetCorrelationMatrixResponse``.

    ``head`` is an empty ``GetCorrelationMatrixResponse`` (passed in to keep this
    module free of the service protos). Everything but the float bytes is filled
    into it and serialized; the bytes follow as a second occurrence of
    ``matrix.matrix`` holding only ``data``, which protobuf parsers merge into the
    first (singular message fields merge). So the floats are copied once, from
    the upstream's answer into the wire bytes, instead of into a message and
    again by its serializer (~15 ms for 2048 x 2048).
    """
    found = decode_matrix(body)
    header, start, size = found.header, found.offset, found.size
    fill_tensor(head.matrix.matrix, found.shape, tensor_pb2.DATA_TYPE_FLOAT32, b"")
    fill_correlation(
        head.matrix, header.get("labels"), header.get("timestamp"), header.get("metadata")
    )
    if not size:
        return bytes(head.SerializeToString())
    tensor = _len_field(_TENSOR_DATA, size)
    matrix = _len_field(_MATRIX_TENSOR, len(tensor) + size)
    response = _len_field(_RESPONSE_MATRIX, len(matrix) + len(tensor) + size)
    return b"".join(
        (head.SerializeToString(), response, matrix, tensor, memoryview(body)[start:])
    )


def serialize_message_or_wire(message: Any) -> bytes:
    """A response serializer that passes already-serialized answers through."""
    if isinstance(message, bytes):
        return message
    return bytes(message.SerializeToString())
