"""The binary media layouts: what one side encodes, the other decodes to the same values."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from neural_heatmap_contract import media


@pytest.mark.parametrize(
    ("rows", "cols", "dtype"),
    [(0, 0, "<f8"), (1, 1, "<f8"), (3, 3, "<f4"), (2, 5, "<f8"), (64, 64, "<f8")],
)
def test_matrix_round_trip(rows: int, cols: int, dtype: str) -> None:
    values = np.random.default_rng(rows * 100 + cols).uniform(-1, 1, (rows, cols)).astype(dtype)
    labels = [f"m/l{i}" for i in range(rows)]
    body = media.encode_matrix(values, labels, 1.7e9 + 0.5, {"granularity": "layer"})
    found = media.decode_matrix(bytes(body))
    assert found.shape == [rows, cols]
    assert found.header["labels"] == labels
    assert found.header["timestamp"] == 1.7e9 + 0.5
    assert found.header["metadata"] == {"granularity": "layer"}
    assert found.header["dtype"] == "float32"
    assert found.size == rows * cols * 4
    np.testing.assert_array_equal(found.values(), values.astype("<f4"))


def test_matrix_layout_is_length_header_floats() -> None:
    """Pinned byte by byte, so an encoder change that both sides would accept still fails."""
    body = bytes(media.encode_matrix(np.array([[1.0, -2.0]]), ["a"], 5.0, {}))
    (length,) = struct.unpack_from("<I", body)
    header = json.loads(body[4 : 4 + length])
    assert header == {"labels": ["a"], "timestamp": 5.0, "metadata": {}, "shape": [1, 2],
                      "dtype": "float32"}
    assert body[4 + length :] == struct.pack("<2f", 1.0, -2.0)


def test_encoder_takes_the_callers_json() -> None:
    def null_nan(value: object) -> str:
        return json.dumps(value).replace("NaN", "null")

    body = media.encode_matrix(np.zeros((1, 1)), ["a"], math.nan, {}, dumps=null_nan)
    assert media.decode_matrix(body).header["timestamp"] is None


def _matrix(header: object, floats: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<I", len(raw)) + raw + floats


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x01\x00", "shorter than its header length"),
        (struct.pack("<I", 3) + b"{x}", "not JSON"),
        (_matrix([1, 2], b""), "not an object"),
        (_matrix({"shape": [2], "dtype": "float32"}, b""), "unexpected matrix header"),
        (_matrix({"shape": [1, 1], "dtype": "float64"}, b"\0" * 8), "unexpected matrix header"),
        (_matrix({"shape": ["a", 1]}, b""), "unexpected matrix header"),
        (_matrix({"shape": [2, 2]}, b"\0" * 15), "has 15 bytes, shape [2, 2] needs 16"),
        (_matrix({"shape": [1, 1]}, b"\0" * 8), "has 8 bytes, shape [1, 1] needs 4"),
    ],
)
def test_bad_matrix_bodies(body: bytes, message: str) -> None:
    with pytest.raises(media.PayloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        media.decode_matrix(body)


def test_encode_refuses_a_non_matrix() -> None:
    with pytest.raises(media.PayloadError, match="2-D"):
        media.encode_matrix(np.zeros(3), ["a"], 0.0, {})


@pytest.mark.parametrize("units", [1, 3, 17])
def test_frames_round_trip(units: int) -> None:
    frames = [(1.7e9 + i, i - 1, np.arange(units, dtype="<f4") * (i + 1)) for i in range(4)]
    frames.append((math.nan, 9, np.full(units, np.inf, dtype="<f4")))
    body = b"".join(
        media.encode_frame_header(ts, step) + values.tobytes() for ts, step, values in frames
    )
    assert len(body) == len(frames) * media.frame_record_dtype(units).itemsize
    records = media.decode_frames(body, units)
    assert len(records) == len(frames)
    for record, (ts, step, values) in zip(records, frames, strict=True):
        assert record["timestamp"] == ts or (math.isnan(ts) and math.isnan(record["timestamp"]))
        assert record["step"] == step
        np.testing.assert_array_equal(record["values"], values)


def test_frame_header_is_the_records_head() -> None:
    dtype = media.frame_record_dtype(2)
    assert media.FRAME_HEADER.size == dtype.fields["values"][1] == 16
    assert media.encode_frame_header(1.5, -1) == struct.pack("<dq", 1.5, -1)


@pytest.mark.parametrize("extra", [1, 7, 15])
def test_frames_body_of_partial_records(extra: int) -> None:
    with pytest.raises(media.PayloadError, match="record size 20"):
        media.decode_frames(b"\0" * (20 + extra), units=1)


def test_media_type_names() -> None:
    assert media.MATRIX_MEDIA_TYPE == "application/vnd.neural-heatmap.matrix"
    assert media.FRAMES_MEDIA_TYPE == "application/vnd.neural-heatmap.frames"
