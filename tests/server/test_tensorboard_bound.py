"""The TensorBoard writer's bound and the pooled matrix render (in-process: pure functions).

A run of many long series is thinned to ``MAX_TENSORBOARD_POINTS`` and says so; a
matrix larger than the image is averaged down before drawing. Read back with
TensorBoard's own ``EventAccumulator``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from neural_heatmap_contract.limits import (
    MAX_TENSORBOARD_POINTS,
    MAX_TENSORBOARD_POINTS_PER_LAYER,
)
from neural_heatmap_server.correlation import CorrelationResult
from neural_heatmap_server.render import RenderOptions, pool, render_correlation
from neural_heatmap_server.tensorboard_export import (
    LayerSeries,
    TensorBoardRun,
    points_per_layer,
    sample_frames,
    write_tensorboard,
)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

T0 = 1.7e9


def test_points_per_layer_share_the_bound() -> None:
    assert points_per_layer(1) == MAX_TENSORBOARD_POINTS_PER_LAYER
    assert points_per_layer(64) == MAX_TENSORBOARD_POINTS_PER_LAYER  # 64 x 1024 fit exactly
    assert points_per_layer(100) == MAX_TENSORBOARD_POINTS // 100
    assert points_per_layer(10**6) == 2  # the first and the newest frame, always


def test_sample_frames_keeps_first_newest_and_even_spacing() -> None:
    np.testing.assert_array_equal(sample_frames(5, 10), np.arange(5))
    np.testing.assert_array_equal(sample_frames(1001, 11), np.arange(0, 1001, 100))
    picked = sample_frames(1000, 11)
    assert picked[0] == 0 and picked[-1] == 999 and picked.size == 11
    assert set(np.diff(picked).tolist()) <= {99, 100}


def _layer(i: int, frames: int) -> LayerSeries:
    steps = np.arange(frames, dtype=np.int64)
    # each layer logs at its own moment of a step: no two layers share an event
    return LayerSeries(f"m{i // 10}", f"l{i % 10}", T0 + steps / 15.0 + i * 1e-4, steps,
                       np.sin(steps / 7.0) + i, np.linspace(-1, 1, 16).astype(np.float32))


def test_a_run_of_many_long_series_is_thinned_and_says_so(tmp_path: Path) -> None:
    layers = [_layer(i, 1100) for i in range(80)]  # 88,000 frames > MAX_TENSORBOARD_POINTS
    labels = [f"{s.model_id}/{s.layer_id}" for s in layers]
    matrix = CorrelationResult(np.eye(len(layers)), labels, T0)
    run = TensorBoardRun(matrix, layers, [], RenderOptions("correlation", "plasma", (), 320, 240))
    sampling = write_tensorboard(tmp_path, run)
    share = MAX_TENSORBOARD_POINTS // 80
    assert sampling == {"points_per_layer": share, "points": 80 * share, "thinned": labels}
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    means = acc.Scalars("activations/m7/l9/mean")
    assert len(means) == share
    assert (means[0].step, means[-1].step) == (0, 1099)
    assert means[-1].wall_time == T0 + 1099 / 15.0 + 79 * 1e-4
    assert means[-1].value == np.float32(np.sin(1099 / 7.0) + 79)
    note = acc.Tensors("export/sampling")[0].tensor_proto.string_val[0].decode()
    assert f"at most {share} per layer" in note and "m7/l9" in note
    assert acc.Tags()["images"] == ["correlation/matrix"]


def test_pool_averages_blocks_and_keeps_coordinates() -> None:
    grid = np.arange(36, dtype=np.float64).reshape(6, 6)
    grid[0, 0] = np.nan
    pooled, rows, cols = pool(grid, 3, 2)
    assert pooled.shape == (3, 2)
    assert pooled[0, 0] == np.mean([1, 2, 6, 7, 8])  # NaN left out
    assert pooled[2, 1] == np.mean([27, 28, 29, 33, 34, 35])
    np.testing.assert_array_equal(rows, [0.5, 2.5, 4.5])
    np.testing.assert_array_equal(cols, [1.0, 4.0])
    same, _, _ = pool(grid, 6, 6)
    assert same is grid


def test_a_matrix_larger_than_the_image_renders_in_every_theme() -> None:
    n = 1500  # more rows than the image has pixels, and far more than isolines can show
    matrix = np.random.default_rng(0).uniform(-1, 1, (n, n))
    labels = [f"m/l{i}" for i in range(n)]
    for theme in ("thermal", "contour"):
        png = render_correlation(matrix, labels, RenderOptions("correlation", theme, (), 400, 300))
        assert png.startswith(b"\x89PNG") and len(png) > 1000
