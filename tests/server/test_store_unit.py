"""The ring buffer against a plain list of frames (in-process: pure data structure)."""

from __future__ import annotations

import numpy as np
from neural_heatmap_server.store import FrameBatch, LayerWindow


def test_ring_buffer_matches_tail_and_is_batch_independent() -> None:
    rng = np.random.default_rng(7)
    window = LayerWindow("m", "l", units=3, capacity=50)
    single = LayerWindow("m", "l", units=3, capacity=50)  # the same frames one at a time
    frames, steps = [], []
    for size in [1, 7, 30, 12, 49, 50, 51, 3, 120, 5]:
        values = rng.normal(size=(size, 3)).astype(np.float32)
        if size == 7:
            values[2, 1] = np.nan
        start = len(frames)
        batch = FrameBatch("m", "l", np.arange(start, start + size, dtype=np.float64),
                           np.arange(start, start + size), values)
        window.append(batch)
        for i in range(size):
            single.append(FrameBatch("m", "l", batch.timestamps[i:i + 1],
                                     batch.steps[i:i + 1], values[i:i + 1]))
        frames.extend(values)
        steps.extend(range(start, start + size))
        _, got_steps, activity = window.series()
        tail = np.array(frames[-50:])
        np.testing.assert_array_equal(got_steps, steps[-50:])
        np.testing.assert_array_equal(window.frames()[2], tail)
        expected = np.nanmean(tail.astype(np.float64), axis=1)
        np.testing.assert_allclose(activity, expected, rtol=1e-12)
        np.testing.assert_array_equal(single.series()[2], activity)  # bit for bit
    assert window.total_frames == len(frames) and window.count == 50
