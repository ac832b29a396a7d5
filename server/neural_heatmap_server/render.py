"""Drawing the heatmap canvas and the correlation matrix as PNG images, in a theme.

The one implementation of the original API's themes (shared/seed): every client
(the gRPC ``RenderHeatmap``, the SDKs, the CLI, the notebooks) gets its images
from ``GET /api/render``, which draws here.

What each theme looks like is data, not code: ``neural_heatmap_contract.themes``
(generated from ``protos/policy/themes.json``, which the browser dashboard reads too)
gives its colour stops, background, text and frame colours, scanlines and isoline count,
and every drawing step below reads those values; no step asks which theme it is.

* ``thermal``: blue to red (matplotlib's ``coolwarm``).
* ``plasma``: purple to yellow (matplotlib's ``plasma``).
* ``holographic``: dark to cyan on black, with dark scanlines every few rows.
* ``contour``: isolines (matplotlib ``contour``) on white; a grid too small for
  isolines (under 2 x 2 shown values) is filled instead.
* ``custom``: a linear colour map through the ``custom_colors`` (a theme without
  colour stops).

Drawing uses matplotlib's object API (``Figure`` with the Agg canvas, never
``pyplot``'s global state); Pillow encodes the PNG. The functions here are pure:
the caller snapshots the data on the event loop and runs them in the worker pool.

matplotlib is not documented as thread-safe: figures share module-level caches
(fonts, text metrics, tick formatting, rcParams), and matplotlib itself only
locks ``Figure.draw``, not the building of a figure. So one lock
(``_MATPLOTLIB``) covers building and rasterising a figure; the scanlines and
the PNG encoding run outside it. It costs no throughput: the drawing is Python
under the GIL, and two or eight threads drawing at once rendered no more images
per second than one (docs/server.md).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, LinearSegmentedColormap
from matplotlib.figure import Figure
from neural_heatmap_contract.enums import RENDER_KINDS
from neural_heatmap_contract.limits import (
    MAX_RENDER_PIXELS,
    MAX_RENDER_SIDE,
    MAX_RENDER_TICK_LABELS,
)
from neural_heatmap_contract.themes import MISSING_COLOR, THEMES, Theme
from PIL import Image

from .errors import invalid
from .params import opt_choice, opt_int, opt_list
from .view_state import validate_theme
from .workers import check_deadline

DEFAULT_WIDTH, DEFAULT_HEIGHT = 800, 600
DPI = 100
CONTOUR_MAX_CELLS = 128  # per side: isolines of finer grids merge at any image size
_MATPLOTLIB = threading.Lock()  # one figure built and rasterised at a time (module docstring)


@dataclass(frozen=True)
class RenderOptions:
    """What to draw and how (validated).

    Attributes:
        kind: ``heatmap`` or ``correlation``.
        theme: One of ``view_state.THEMES``.
        custom_colors: ``#rrggbb`` colours for ``custom``.
        width: Image width in pixels.
        height: Image height in pixels.
    """

    kind: str
    theme: str
    custom_colors: tuple[str, ...]
    width: int
    height: int

    @property
    def look(self) -> Theme:
        """The theme's data (colours, scanlines, isolines)."""
        return THEMES[self.theme]


@dataclass(frozen=True)
class Panel:
    """One layer on the heatmap canvas.

    Attributes:
        title: ``model/layer``.
        grid: ``(rows, columns)`` of the canvas (``layout_canvas``); NaN where no
            value is shown (hidden by the filter, or past the last unit).
    """

    title: str
    grid: npt.NDArray[np.float64]


def render_options(params: Mapping[str, Any], stored_theme: Mapping[str, Any]) -> RenderOptions:
    """Validate ``/api/render``'s kind, theme, colours and size.

    Args:
        params: The query (``kind``, ``theme``, ``custom_colors``, ``width``, ``height``).
        stored_theme: The stored theme document: its theme when ``theme`` is absent, its
            colours when ``custom_colors`` is.

    Raises:
        ApiError: 400 naming the field or the limit (``MAX_RENDER_SIDE``,
            ``MAX_RENDER_PIXELS``) that the request breaks.
    """
    kind = opt_choice(params, "kind", RENDER_KINDS) or "heatmap"
    width = _side(params, "width") or DEFAULT_WIDTH
    height = _side(params, "height") or DEFAULT_HEIGHT
    if width * height > MAX_RENDER_PIXELS:
        raise invalid(f"an image of {width} x {height} = {width * height} pixels exceeds the "
                      f"limit of {MAX_RENDER_PIXELS} pixels (MAX_RENDER_PIXELS)",
                      pixels=width * height, limit=MAX_RENDER_PIXELS,
                      constraint=f"width * height <= {MAX_RENDER_PIXELS}")
    theme = validate_theme({
        "theme": params.get("theme") or stored_theme["theme"],
        "custom_colors": opt_list(params, "custom_colors") or stored_theme.get("custom_colors")})
    return RenderOptions(kind, theme["theme"], tuple(theme["custom_colors"]), width, height)


def _side(params: Mapping[str, Any], key: str) -> int:
    """``width`` or ``height``: 0 or absent means the default."""
    value = opt_int(params, key, low=0) or 0
    if value > MAX_RENDER_SIDE:
        raise invalid(f"{key} {value} exceeds the limit of {MAX_RENDER_SIDE} pixels "
                      "(MAX_RENDER_SIDE)", field=key, value=value, limit=MAX_RENDER_SIDE,
                      constraint=f"{key} <= {MAX_RENDER_SIDE}")
    return value


def colormap(theme: Theme, custom_colors: Sequence[str] = ()) -> Colormap:
    """The theme's colour map: linear through its stops (or the custom colours), grey
    where a cell has no value."""
    stops = list(theme.colors or custom_colors)
    return LinearSegmentedColormap.from_list(theme.name, stops).with_extremes(bad=MISSING_COLOR)


def _figure(options: RenderOptions) -> Figure:
    fig = Figure(figsize=(options.width / DPI, options.height / DPI), dpi=DPI,
                 facecolor=options.look.background, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes, options: RenderOptions) -> None:
    look = options.look
    ax.set_facecolor(look.background)
    ax.tick_params(colors=look.text)
    ax.title.set_color(look.text)
    for spine in ax.spines.values():
        spine.set_color(look.frame)


def _draw(ax: Axes, grid: npt.NDArray[np.float64], options: RenderOptions,
          low: float, high: float) -> Any:
    """Draw one grid in the theme; returns the mappable for a colour bar.

    A grid with more cells than the image has pixels (a 2048-label matrix at
    800 x 600), or than isolines can show apart, is first averaged down to that
    many cells (``pool``): the picture is the same at that size, and drawing
    costs what the image size allows instead of growing with the data (a
    2048 x 2048 contour took over a minute).
    """
    cmap = colormap(options.look, options.custom_colors)
    rows, cols = grid.shape
    isolines = options.look.isolines
    if isolines and min(grid.shape) >= 2 and np.isfinite(grid).sum() >= 4 and high > low:
        pooled, row_at, col_at = pool(grid, CONTOUR_MAX_CELLS, CONTOUR_MAX_CELLS)
        ax.invert_yaxis()  # row 0 at the top, as imshow draws it
        return ax.contour(col_at, row_at, np.ma.masked_invalid(pooled),
                          levels=np.linspace(low, high, isolines + 2)[1:-1],
                          cmap=cmap, linewidths=1.2)
    pooled, _, _ = pool(grid, options.height, options.width)
    return ax.imshow(np.ma.masked_invalid(pooled), cmap=cmap, vmin=low, vmax=high,
                     interpolation="nearest", aspect="auto",
                     extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))


def pool(grid: npt.NDArray[np.float64], max_rows: int, max_cols: int
         ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Average ``grid`` down to at most ``max_rows x max_cols`` cells (NaN-aware).

    Returns:
        The pooled grid (NaN where a block has no finite value; ``grid`` itself
        when it already fits) and the centre of each pooled row and column in
        the original cell coordinates, so ticks and labels stay where they were.
    """
    starts = [np.arange(n) if n <= most else np.linspace(0, n, most + 1)[:-1].astype(np.int64)
              for n, most in zip(grid.shape, (max_rows, max_cols), strict=True)]
    centres = [(s + np.append(s[1:], n) - 1) / 2.0 for s, n in zip(starts, grid.shape,
                                                                    strict=True)]
    if all(s.size == n for s, n in zip(starts, grid.shape, strict=True)):
        return grid, centres[0], centres[1]
    finite = np.isfinite(grid)
    sums = np.add.reduceat(np.add.reduceat(np.where(finite, grid, 0.0), starts[0], axis=0),
                           starts[1], axis=1)
    counts = np.add.reduceat(np.add.reduceat(finite.astype(np.int64), starts[0], axis=0),
                             starts[1], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan), centres[0], centres[1]


def _render(build: Callable[[], Figure], options: RenderOptions) -> bytes:
    """Build the figure and rasterise it with Agg under ``_MATPLOTLIB``; then add the
    theme's scanlines and encode with Pillow outside it."""
    with _MATPLOTLIB:
        check_deadline()  # the deadline may have passed while waiting for the lock
        fig = build()
        check_deadline()
        raw = io.BytesIO()
        fig.savefig(raw, format="raw", dpi=DPI)
    pixels = np.frombuffer(raw.getbuffer(), dtype=np.uint8).reshape(
        options.height, options.width, 4).copy()
    period, shade = options.look.scanline_period, options.look.scanline_shade
    if period:
        rgb = pixels[::period, :, :3].astype(np.float32) * shade
        pixels[::period, :, :3] = rgb.astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGBA").convert("RGB").save(out, format="PNG")
    return out.getvalue()


def render_heatmap(panels: Sequence[Panel], options: RenderOptions) -> bytes:
    """The heatmap canvas: one panel per layer, on one colour scale.

    The scale spans the shown values of all panels, so layers compare at a
    glance; a layer with nothing to show is drawn in grey.
    """
    return _render(lambda: _heatmap_figure(panels, options), options)


def _heatmap_figure(panels: Sequence[Panel], options: RenderOptions) -> Figure:
    fig = _figure(options)
    finite = [p.grid[np.isfinite(p.grid)] for p in panels]
    values = np.concatenate(finite) if finite else np.empty(0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    if not panels:
        fig.text(0.5, 0.5, "no layers to show", ha="center", va="center",
                 color=options.look.text)
        return fig
    columns = int(np.ceil(np.sqrt(len(panels))))
    rows = -(-len(panels) // columns)
    axes = fig.subplots(rows, columns, squeeze=False)
    mappable = None
    for ax, panel in zip(axes.flat, panels, strict=False):
        check_deadline()
        drawn = _draw(ax, panel.grid, options, low, high)
        mappable = mappable or drawn
        ax.set_title(panel.title, fontsize=8, parse_math=False)  # ids are text, never mathtext
        ax.set_xticks([])
        ax.set_yticks([])
        _style(ax, options)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=axes.ravel().tolist(), shrink=0.8)
        bar.ax.tick_params(colors=options.look.text)
    return fig


def render_correlation(matrix: npt.NDArray[np.float64], labels: Sequence[str],
                       options: RenderOptions) -> bytes:
    """The correlation matrix on a fixed [-1, 1] scale, with its labels.

    At most ``MAX_RENDER_TICK_LABELS`` labels are written per axis, evenly spaced.
    """
    return _render(lambda: _correlation_figure(matrix, labels, options), options)


def _correlation_figure(matrix: npt.NDArray[np.float64], labels: Sequence[str],
                        options: RenderOptions) -> Figure:
    fig = _figure(options)
    ax = fig.add_subplot()
    if len(labels) == 0:
        ax.set_axis_off()
        fig.text(0.5, 0.5, "no layers to correlate", ha="center", va="center",
                 color=options.look.text)
        return fig
    mappable = _draw(ax, np.asarray(matrix, dtype=np.float64), options, -1.0, 1.0)
    step = max(1, -(-len(labels) // MAX_RENDER_TICK_LABELS))
    ticks = list(range(0, len(labels), step))
    size = max(4.0, min(9.0, 400.0 / max(len(ticks), 1)))
    # Labels are ids, which may hold "$": as mathtext, "m$^$" raised a ParseSyntaxException
    # and the render (or a TensorBoard export drawing the matrix) answered 500.
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=size,
                  parse_math=False)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=size, parse_math=False)
    ax.set_title("correlation", fontsize=9)
    _style(ax, options)
    bar = fig.colorbar(mappable, ax=ax, shrink=0.8)
    bar.ax.tick_params(colors=options.look.text)
    return fig

