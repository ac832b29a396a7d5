"""The pre-serialized correlation answer parses to exactly the message built field by field."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from neural_heatmap_bridge._matrix_wire import correlation_response_wire, serialize_message_or_wire
from neural_heatmap_bridge._tensors import correlation_from_binary
from neural_heatmap_contract.media import PayloadError
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb


def _body(n: int, labels: list[str] | None = None) -> bytes:
    header = json.dumps(
        {
            "labels": labels if labels is not None else [f"m/l/{i}" for i in range(n)],
            "timestamp": 1.7e9 + 0.25,
            "metadata": {"granularity": "unit", "samples": 32, "constant_labels": []},
            "shape": [n, n],
            "dtype": "float32",
        }
    ).encode()
    floats = np.random.default_rng(n).uniform(-1, 1, (n, n)).astype("<f4").tobytes()
    return struct.pack("<I", len(header)) + header + floats


@pytest.mark.parametrize("n", [0, 1, 3, 64, 300])
def test_wire_equals_the_built_message(n: int) -> None:
    body = _body(n)
    expected = pb.GetCorrelationMatrixResponse()
    correlation_from_binary(body, expected.matrix)
    wire = correlation_response_wire(body, pb.GetCorrelationMatrixResponse())
    parsed = pb.GetCorrelationMatrixResponse.FromString(wire)
    assert parsed == expected
    assert parsed.matrix.matrix.data == body[-n * n * 4 :] if n else not parsed.matrix.matrix.data
    assert serialize_message_or_wire(wire) is wire
    assert serialize_message_or_wire(expected) == expected.SerializeToString()


def test_bad_binary_answers() -> None:
    body = _body(4)
    with pytest.raises(PayloadError):
        correlation_response_wire(body[:-1], pb.GetCorrelationMatrixResponse())
    with pytest.raises(PayloadError):
        correlation_response_wire(b"\x01", pb.GetCorrelationMatrixResponse())
