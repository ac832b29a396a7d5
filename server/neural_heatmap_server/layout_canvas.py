"""Where each unit of a layer sits on the heatmap canvas.

A layer of ``units`` units is laid out row-major on a grid of
``width = ceil(sqrt(units))`` columns and ``height = ceil(units / width)`` rows,
unit ``i`` at ``(i % width, i // width)``. The grid depends only on the unit
count, which is fixed by a layer's first frame, so a location never moves.
"""

from __future__ import annotations

import math


def canvas_shape(units: int) -> tuple[int, int]:
    """Return ``(width, height)`` of the canvas grid for ``units`` units."""
    if units <= 0:
        return (0, 0)
    width = math.isqrt(units - 1) + 1  # ceil(sqrt(units)) without float error
    return (width, -(-units // width))


def unit_location(index: int, units: int) -> dict[str, int]:
    """Return the canvas location ``{"x", "y"}`` of unit ``index``."""
    width, _ = canvas_shape(units)
    return {"x": index % width, "y": index // width}
