"""The ring buffer against a plain list of frames (in-process: pure data structure)."""

from __future__ import annotations

import numpy as np
from neural_heatmap_server.store import FrameBatch, LayerWindow


def test_ring_buffer_matches_tail_and_running_stats() -> None:
    rng = np.random.default_rng(7)
    window = LayerWindow("m", "l", units=3, capacity=50)
    frames, steps = [], []
    for size in [1, 7, 30, 12, 49, 50, 51, 3, 120, 5]:
        values = rng.normal(size=(size, 3)).astype(np.float32)
        if size == 7:
            values[2, 1] = np.nan
        start = len(frames)
        batch = FrameBatch("m", "l", np.arange(start, start + size, dtype=np.float64),
                           np.arange(start, start + size), values)
        window.append(batch)
        frames.extend(values)
        steps.extend(range(start, start + size))
        _, got_steps, activity = window.series()
        tail = np.array(frames[-50:])
        np.testing.assert_array_equal(got_steps, steps[-50:])
        np.testing.assert_array_equal(window.frames()[2], tail)
        expected = np.nanmean(tail.astype(np.float64), axis=1)
        np.testing.assert_allclose(activity, expected, rtol=1e-12)
        mean, std = window.activity_stats()
        assert abs(mean - expected.mean()) < 1e-9 and abs(std - expected.std()) < 1e-9
    assert window.total_frames == len(frames) and window.count == 50
