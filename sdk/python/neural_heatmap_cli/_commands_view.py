"""The shared view state: ``theme``, ``layout`` and ``filter``, each shown or set.

Without setting options each command prints what is in force; with them it
replaces it and prints the result. The view state is shared by every client
of the server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from neural_heatmap import Filter, LayoutConfig, VisualizationTheme
from rich.text import Text

from neural_heatmap_cli._choices import choice
from neural_heatmap_cli._connection import Connection, connected_command
from neural_heatmap_cli._output import err, format_time, out, print_json

__all__ = ["register"]


async def theme(
    conn: Connection,
    name: Annotated[
        str | None,
        typer.Argument(**choice(VisualizationTheme, "THEME",
                                "set this theme; omit to show the one in force"),
                       show_default=False),
    ] = None,
    color: Annotated[
        list[str] | None,
        typer.Option("--color", help="a #rrggbb colour of the custom theme (repeatable)"),
    ] = None,
) -> None:
    """Show or set the heatmap theme (thermal, plasma, holographic, contour, custom)."""
    if color and name is None:
        raise typer.BadParameter("needs a theme to set (e.g. `theme custom --color ...`)",
                                 param_hint="'--color'")
    async with conn.client() as client:
        settings = (await client.set_theme(name, custom_colors=color) if name
                    else await client.get_theme())
    if conn.json:
        print_json(settings)
        return
    colors = f" ({', '.join(settings.custom_colors)})" if settings.custom_colors else ""
    out.print(f"theme  {settings.theme}{colors}")


def _read_layout(path: Path) -> LayoutConfig:
    """The layout in a JSON file (``-``: stdin); a malformed one is a usage error."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    try:
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return LayoutConfig.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise typer.BadParameter(f"{path} is not a layout: {exc!s}", param_hint="'--set'") from exc


def _print_layout(layout: LayoutConfig, as_json: bool) -> None:
    if as_json:
        print_json(layout.to_dict())
        return
    if layout == LayoutConfig():
        out.print("layout  none set")
        return
    out.print(f"z order  {' < '.join(layout.z_order) or '-'}")
    for panel in sorted({*layout.panel_positions, *layout.panel_sizes, *layout.visibility}):
        pos = layout.panel_positions.get(panel, {})
        size = layout.panel_sizes.get(panel, {})
        shown = "visible" if layout.visibility.get(panel, True) else "hidden"
        out.print(f"{panel:16} at ({pos.get('x', 0):g}, {pos.get('y', 0):g})  "
                  f"{size.get('width', 0):g}x{size.get('height', 0):g}  {shown}")


async def layout(
    conn: Connection,
    set_from: Annotated[
        Path | None,
        typer.Option("--set", dir_okay=False, allow_dash=True,
                     help="replace the layout with this JSON file ('-': stdin) of "
                          "panel_positions, panel_sizes, visibility, z_order"),
    ] = None,
) -> None:
    """Show or set the dashboard layout (panel positions, sizes, visibility, order)."""
    new = _read_layout(set_from) if set_from is not None else None
    async with conn.client() as client:
        result = await client.set_layout(new) if new is not None else await client.get_layout()
    _print_layout(result, conn.json)


def _print_filter(flt: Filter, as_json: bool) -> None:
    for warning in flt.warnings:  # stderr: --json output stays one document
        err.print(Text("warning: ", style="bold yellow").append(warning), soft_wrap=True)
    if as_json:
        print_json(flt)
        return
    if flt.is_empty:
        out.print("filter  none (everything is shown)")
        return
    if flt.model_ids:
        out.print(f"models     {', '.join(flt.model_ids)}")
    if flt.layer_ids:
        out.print(f"layers     {', '.join(flt.layer_ids)}")
    if flt.intensity_range:
        out.print(f"intensity  {flt.intensity_range[0]:g} .. {flt.intensity_range[1]:g}")
    if flt.spatial_bounds:
        b = flt.spatial_bounds
        out.print(f"bounds     x {b['min_x']:g}..{b['max_x']:g}, y {b['min_y']:g}..{b['max_y']:g}")
    if flt.time_range:
        start, end = (format_time(t / 1000.0) for t in flt.time_range)
        out.print(f"time       {start} .. {end} UTC")


async def filter_(
    conn: Connection,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="only this model (repeatable)")
    ] = None,
    layer: Annotated[
        list[str] | None, typer.Option("--layer", "-l", help="only this layer (repeatable)")
    ] = None,
    intensity: Annotated[
        tuple[float, float] | None,
        typer.Option(metavar="MIN MAX", help="only activations in this range"),
    ] = None,
    bounds: Annotated[
        tuple[float, float, float, float] | None,
        typer.Option(metavar="MIN_X MIN_Y MAX_X MAX_Y", help="only this part of the canvas"),
    ] = None,
    time_range: Annotated[
        tuple[float, float] | None,
        typer.Option(metavar="START_MS END_MS",
                     help="only frames in this range (milliseconds since the epoch)"),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="remove the filter")] = False,
) -> None:
    """Show, set (replacing the whole filter) or --clear the view filter."""
    setting = any(v for v in (model, layer, intensity, bounds, time_range))
    if clear and setting:
        raise typer.BadParameter("--clear takes no other filter options", param_hint="'--clear'")
    async with conn.client() as client:
        if clear:
            await client.clear_filter()
            result = await client.get_filter()
        elif setting:
            result = await client.set_filter(model, layer, intensity, bounds, time_range)
        else:
            result = await client.get_filter()
    _print_filter(result, conn.json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    connected_command(app, "theme")(theme)
    connected_command(app, "layout")(layout)
    connected_command(app, "filter")(filter_)
