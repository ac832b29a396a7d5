"""One frame per layer: a module's output reduced to one value per unit.

A layer's *units* are its output features (``Linear``: the last dimension) or
its channels (convolutions, batch/instance/group norms and poolings, and any
output of four or more dimensions: ``[batch, channels, *spatial]``). Every
other dimension (the batch, time steps, the spatial ones) is reduced, so a
frame has as many values as the layer has units whatever the batch size.
"""

from __future__ import annotations

from typing import Literal, get_args

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

__all__ = ["Reduction", "check_reduction", "reduce_output", "unit_dim"]

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


def unit_dim(module: nn.Module, ndim: int) -> int | None:
    """The dimension of a ``module``'s ``ndim``-dimensional output that holds its units.

    ``None`` when the output has no unit dimension (a scalar, or one value per
    sample): the frame is then a single unit.
    """
    if ndim < 2:
        return None
    if ndim >= 4 or isinstance(module, _CHANNELS_FIRST):
        return 1
    return ndim - 1


def reduce_output(output: torch.Tensor, dim: int | None, how: Reduction) -> torch.Tensor:
    """One float32 value per unit along ``dim``, every other dimension reduced.

    Runs on the output's device and never enters the autograd graph, so the
    training step pays for one small reduction and no copy.
    """
    x = output.detach()
    dims = [d for d in range(x.ndim) if d != dim]
    if not dims:
        return x.float().reshape(-1)
    if how == "mean":
        reduced = torch.mean(x, dim=dims, dtype=torch.float32)
    elif how == "abs_mean":
        reduced = torch.mean(torch.abs(x), dim=dims, dtype=torch.float32)
    elif how == "rms":
        reduced = torch.sqrt(torch.mean(torch.square(x.float()), dim=dims))
    else:
        reduced = torch.amax(x, dim=dims).float()
    return reduced.reshape(-1)
