"""One frame per layer: a module's output reduced to one value per unit.

A layer's *units* are its output features (``Linear``: the last dimension) or
its channels (convolutions, batch/instance/group norms and poolings, and any
output of four or more dimensions: ``[batch, channels, *spatial]``). Every
other dimension (the batch, time steps, the spatial ones) is reduced, so a
frame has as many values as the layer has units whatever the batch size.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)

__all__ = [
    "Reduction",
    "check_reduction",
    "finish_reduction",
    "is_channels_first",
    "partial_reduce",
    "unit_dim",
]

Reduction = Literal["mean", "abs_mean", "rms", "max"]
"""How the non-unit dimensions are reduced: the plain mean keeps the sign (and a NaN or inf
anywhere in the output reaches the frame); ``abs_mean`` and ``rms`` measure magnitude;
``max`` the largest value."""

_CHANNELS_FIRST: tuple[type[nn.Module], ...] = (
    _ConvNd,
    _BatchNorm,
    _InstanceNorm,
    nn.GroupNorm,
    _MaxPoolNd,
    _AvgPoolNd,
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
)


def check_reduction(reduce: str) -> Reduction:
    """``reduce`` if it names a :data:`Reduction`, else ``ValueError`` listing them."""
    names: tuple[Reduction, ...] = get_args(Reduction)
    for name in names:
        if reduce == name:
            return name
    raise ValueError(f"reduce must be one of {', '.join(names)}; got {reduce!r}")


def is_channels_first(module: nn.Module) -> bool:
    """Whether ``module``'s output is ``[batch, channels, ...]`` whatever its rank."""
    return isinstance(module, _CHANNELS_FIRST)


def unit_dim(channels_first: bool, ndim: int) -> int | None:
    """The dimension of an ``ndim``-dimensional output that holds the units.

    ``None`` when the output has no unit dimension (a scalar, or one value per
    sample): the frame is then a single unit.
    """
    if ndim < 2:
        return None
    if ndim >= 4 or channels_first:
        return 1
    return ndim - 1


def partial_reduce(
    output: torch.Tensor, dim: int | None, how: Reduction
) -> tuple[torch.Tensor, int]:
    """The training thread's half of a reduction: one float32 value per unit, and a count.

    Runs on the output's device and never enters the autograd graph. A mean is
    sent here as a sum (one kernel where ``Tensor.mean`` launches two, and what
    ``mean`` computes first on the CPU anyway); :func:`finish_reduction`, run by
    the sender, divides by the count, so the hook pays for one small reduction
    (two for ``abs_mean`` and ``rms``) and no copy.

    Returns:
        The per-unit sums (of values, absolute values or squares) or maxima,
        and how many elements each unit's value reduced.
    """
    x = output.detach()
    if x.dtype != torch.float32:
        x = x.float()  # also what makes integer and half outputs reducible
    if how == "abs_mean":
        x = x.abs()
    elif how == "rms":
        x = x.square()
    dims = tuple(d for d in range(x.ndim) if d != dim)
    if not dims:
        return x.reshape(-1).clone(), 1  # a copy: a later in-place op must not change it
    reduced = x.amax(dims) if how == "max" else x.sum(dims)
    count = x.numel() // max(reduced.numel(), 1)
    return (reduced if reduced.ndim == 1 else reduced.reshape(1)), count


def finish_reduction(
    partial: npt.NDArray[np.float32], count: int, how: Reduction
) -> npt.NDArray[np.float32]:
    """The sender's half: the frame's values from :func:`partial_reduce`'s result."""
    if how == "max":
        return partial
    mean = partial / np.float32(count)
    return np.sqrt(mean) if how == "rms" else mean
