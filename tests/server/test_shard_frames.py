"""Frame batches as JetStream messages (``shards.frames``): chunked under max_payload, exact.

The owner of a partition must rebuild exactly the batch an edge accepted, however many
messages NATS's ``max_payload`` cut it into; one frame that cannot fit is a 413 naming
the sizes (docs/deploy.md, "Limits of the sharded shape").
"""

from __future__ import annotations

import numpy as np
import pytest
from neural_heatmap_contract.partition import partition
from neural_heatmap_server.errors import ApiError
from neural_heatmap_server.shards import frames
from neural_heatmap_server.store import FrameBatch


def _batch(n: int, units: int) -> FrameBatch:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(n, units)).astype(np.float32)
    values[0, 0] = np.nan
    return FrameBatch("gpt.small *", "blocks.0", 1.7e9 + np.arange(n, dtype=np.float64),
                      np.arange(n, dtype=np.int64) - 1, values)


def test_a_batch_is_cut_into_messages_under_max_payload_and_rebuilt_exactly() -> None:
    batch = _batch(100, 1000)  # 4,016 bytes per frame
    messages = frames.encode(batch, max_payload=64 * 1024)
    assert len(messages) == 7  # 15 frames fit in 60 KiB
    assert all(len(m.payload) <= 64 * 1024 - frames.HEADER_ROOM for m in messages)
    assert sum(m.frames for m in messages) == 100
    assert messages[0].subject.split(".")[3] == str(partition("gpt.small *"))
    parts = [frames.decode(m.subject, m.headers, m.payload) for m in messages]
    assert {(p.model_id, p.layer_id) for p in parts} == {("gpt.small *", "blocks.0")}
    np.testing.assert_array_equal(np.concatenate([p.values for p in parts]), batch.values)
    np.testing.assert_array_equal(np.concatenate([p.timestamps for p in parts]),
                                  batch.timestamps)
    np.testing.assert_array_equal(np.concatenate([p.steps for p in parts]), batch.steps)


def test_a_frame_larger_than_a_message_is_413_naming_the_sizes() -> None:
    with pytest.raises(ApiError) as caught:
        frames.encode(_batch(1, 300_000), max_payload=1 << 20)
    assert caught.value.status == 413
    assert caught.value.details["record_bytes"] == 16 + 4 * 300_000
    assert caught.value.details["limit"] == (1 << 20) - frames.HEADER_ROOM
    assert "max_payload" in caught.value.message
