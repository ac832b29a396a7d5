"""What ``neural_heatmap.torch`` captures, without a server: layer choice, steps, reductions."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from neural_heatmap.torch._reduce import (  # noqa: E402
    Reduction,
    finish_reduction,
    is_channels_first,
    partial_reduce,
    unit_dim,
)
from neural_heatmap.torch._select import select_layers  # noqa: E402
from torch import nn  # noqa: E402


def reduce_output(x: torch.Tensor, dim: int | None, how: Reduction) -> torch.Tensor:
    """Both halves of a reduction: the hook's on ``x``, then the sender's on its result."""
    partial, elements = partial_reduce(x, dim, how)
    return torch.from_numpy(finish_reduction(partial.numpy(), elements, how))


def test_conv_output_keeps_channels_and_reduces_batch_and_space() -> None:
    conv = nn.Conv2d(2, 3, 1)
    x = torch.randn(5, 3, 4, 4)
    dim = unit_dim(is_channels_first(conv), x.ndim)
    assert dim == 1
    torch.testing.assert_close(reduce_output(x, dim, "mean"), x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(reduce_output(x, dim, "max"), x.amax(dim=(0, 2, 3)))
    torch.testing.assert_close(reduce_output(x, dim, "abs_mean"), x.abs().mean(dim=(0, 2, 3)))
    torch.testing.assert_close(reduce_output(x, dim, "rms"),
                               x.square().mean(dim=(0, 2, 3)).sqrt())


def test_linear_on_sequences_keeps_features_and_scalars_are_one_unit() -> None:
    lin = nn.Linear(3, 6)
    x = torch.randn(2, 7, 6, dtype=torch.float64)
    out = reduce_output(x, unit_dim(is_channels_first(lin), x.ndim), "mean")
    assert out.dtype == torch.float32 and out.shape == (6,)
    torch.testing.assert_close(out, x.mean(dim=(0, 1)).float())
    assert unit_dim(is_channels_first(nn.Conv1d(2, 2, 1)), 3) == 1
    assert unit_dim(False, 1) is None
    assert reduce_output(torch.tensor([1.0, 3.0]), None, "mean").tolist() == [2.0]
    assert reduce_output(torch.tensor(-2.0), None, "abs_mean").tolist() == [2.0]
    assert reduce_output(torch.tensor(-2.0), None, "rms").tolist() == [2.0]


def test_nan_anywhere_in_a_unit_reaches_the_mean_frame() -> None:
    x = torch.zeros(4, 3)
    x[2, 1] = float("nan")
    out = reduce_output(x, 1, "mean")
    assert out.isnan().tolist() == [False, True, False]


def test_layer_selection_by_default_names_and_types() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    assert [n for n, _ in select_layers(model, None)] == ["0", "3"]
    assert [n for n, _ in select_layers(model, ["1", nn.Linear])] == ["1", "3"]
    assert [n for n, _ in select_layers(model, nn.ReLU)] == ["1"]
    assert [n for n, _ in select_layers(nn.Linear(2, 2), None)] == ["Linear"]
    with pytest.raises(ValueError, match="no module named 'fc9'"):
        select_layers(model, ["fc9"])
    with pytest.raises(ValueError, match="of type GRU"):
        select_layers(model, nn.GRU)


def test_bad_arguments_are_refused_before_any_hook() -> None:
    from neural_heatmap.torch import watch

    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="reduce must be one of mean, abs_mean, rms, max"):
        watch(model, "127.0.0.1:1", reduce="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="every_n_steps must be at least 1"):
        watch(model, "127.0.0.1:1", every_n_steps=0)
    with pytest.raises(ValueError, match="model_id contains ',': an id is 1 to 256 characters"):
        watch(model, "127.0.0.1:1", model_id="run,7")  # a comma list would split it
    with pytest.raises(ValueError, match="model_id begins or ends with a blank"):
        watch(model, "127.0.0.1:1", model_id="run ")
    assert not model._forward_hooks and not model._forward_pre_hooks


def test_steps_count_forward_passes_until_step_is_called() -> None:
    from neural_heatmap.torch import watch

    model = nn.Linear(2, 2)
    x = torch.zeros(1, 2)
    # nothing listens on port 1: frames stay queued, and close() counts them as dropped
    watcher = watch(model, "127.0.0.1:1", every_n_steps=2)
    for _ in range(5):
        model(x)  # steps 0..4, captured at 0, 2 and 4
    assert (watcher.stats().step, watcher.stats().frames_captured) == (4, 3)
    assert watcher.step(10) == 10
    model(x)
    model(x)  # a second pass in the same step (gradient accumulation) is captured too
    assert watcher.step() == 11
    assert not model._forward_hooks  # a skipped step runs without the layer hooks at all
    model(x)  # step 11 is not a multiple of 2
    assert watcher.step(12) == 12 and len(model._forward_hooks) == 1
    final = watcher.close(timeout=0.5)
    assert (final.step, final.frames_captured, final.frames_sent) == (12, 5, 0)
    assert (final.frames_dropped, final.frames_queued, final.frames_failed) == (5, 0, 0)
    assert not model._forward_hooks and not model._forward_pre_hooks  # close removed them
