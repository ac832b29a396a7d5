"""``health``: each layer's dead and saturated units and the units spiking most."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from neural_heatmap import LayerHealth, StuckUnit, UnitSpike
from rich.table import Table

from neural_heatmap_cli._connection import Connection, connected_command
from neural_heatmap_cli._output import out, print_json, spinner

__all__ = ["health_table", "register"]

MAX_UNITS_SHOWN = 8
"""Units listed per cell; the rest are counted (``--json`` has them all)."""


def _cell(lines: Sequence[str], total: int) -> str:
    """At most :data:`MAX_UNITS_SHOWN` lines, then how many more there are."""
    if not total:
        return "-"
    shown = list(lines[:MAX_UNITS_SHOWN])
    if total > len(shown):
        shown.append(f"+{total - len(shown)} more")
    return "\n".join(shown)


def _cellxy(unit: StuckUnit | UnitSpike) -> str:
    return f"{unit.unit} ({unit.location['x']:.0f},{unit.location['y']:.0f})"


def _stuck(unit: StuckUnit) -> str:
    """``37 (5,4) @120``: the unit, its canvas cell and the step it has been stuck since
    (``<=`` when the run reaches back to the window's oldest frame)."""
    since = "?" if unit.since_step is None else str(unit.since_step)
    return f"{_cellxy(unit)} @{'<=' if unit.since_window_start else ''}{since}"


def health_table(layers: Sequence[LayerHealth]) -> Table:
    """One row per layer; fits 80 columns (one unit per line in each cell)."""
    table = Table(title="layer health: unit (x,y) @since step; spikes: robust z",
                  caption="dead: exactly 0, saturated: at its bound, in each of the last "
                          f"{layers[0].criteria.get('recent_frames', '?') if layers else '?'}"
                          " frames")
    table.add_column("layer", overflow="fold")
    table.add_column("units", justify="right")
    for header in ("dead", "saturated", "top spikes"):
        table.add_column(header, no_wrap=True)
    for h in layers:
        table.add_row(
            f"{h.model_id}/{h.layer_id}", f"{h.units}",
            _cell([_stuck(u) for u in h.dead_units], len(h.dead_units)),
            _cell([_stuck(u) for u in h.saturated_units], len(h.saturated_units)),
            _cell([f"{_cellxy(s)} z={s.score:.1f}" for s in h.top_spikes],
                  len(h.top_spikes)),
        )
    return table


async def health(
    conn: Connection,
    model: Annotated[str, typer.Argument(help="the model to examine")],
    layer: Annotated[str | None, typer.Option("--layer", "-l", help="only this layer")] = None,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, max=1024,
                          help="units with the largest spike scores to show per layer")
    ] = 5,
) -> None:
    """Dead and saturated units of each layer (canvas cell, since which step) and the units
    spiking most; names every one, however few (the dead_units anomaly needs a quarter)."""
    async with conn.client() as client:
        with spinner(f"examining {model}"):
            layers = await client.get_layer_health(model, layer_id=layer, top_k=top_k)
    if conn.json:
        print_json({"layers": layers})
    else:
        out.print(health_table(layers) if layers else "no layers")


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    connected_command(app, "health")(health)
