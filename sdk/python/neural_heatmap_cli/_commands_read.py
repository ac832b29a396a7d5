"""Commands that read the live analytics: ``status``, ``models``, ``matrix``, ``patterns``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from neural_heatmap import Granularity, PatternType

from neural_heatmap_cli._choices import choice
from neural_heatmap_cli._commands_files import save_png
from neural_heatmap_cli._connection import Connection, connected_command
from neural_heatmap_cli._failures import CliFailure, ExitCode, output_folder
from neural_heatmap_cli._output import err, out, print_json, spinner
from neural_heatmap_cli._tables import (
    MAX_MATRIX_LABELS_SHOWN,
    anomaly_table,
    matrix_columns,
    matrix_table,
    models_table,
    patterns_table,
)

__all__ = ["register"]

MATRIX_FILE_SUFFIXES = (".csv", ".json", ".parquet", ".png")
"""What ``matrix --out`` can write: the SDK's local download formats, and a PNG the
server renders (``render_correlation``, in the stored theme)."""

Models = Annotated[
    list[str] | None, typer.Option("--model", "-m", help="only this model (repeatable)")
]
Layers = Annotated[
    list[str] | None, typer.Option("--layer", "-l", help="only this layer (repeatable)")
]


async def status(
    conn: Connection,
    head: Annotated[int, typer.Option(min=0, help="newest anomalies to show")] = 5,
) -> None:
    """Health of both hops (bridge, and the server behind it), the models, the anomaly log."""
    async with conn.client() as client:
        server_up = await client.check_health()
        report: dict[str, object] = {
            "target": conn.target, "bridge": "up", "server": "up" if server_up else "down",
        }
        if not server_up:
            if conn.json:
                print_json(report)
            raise CliFailure(
                f"the bridge at {conn.target} is up, but the server behind it does not answer; "
                "start the server (or everything with `neural-heatmap serve`)",
                ExitCode.CONNECTION,
            )
        models, page = await asyncio.gather(
            client.list_models(), client.get_anomaly_page(limit=head or 1)
        )
    newest = page.anomalies[-head:] if head else []
    report |= {
        "models": models,
        "anomalies": {
            "first_sequence": page.first_sequence,
            "last_sequence": page.last_sequence,
            "newest": newest,
        },
    }
    if conn.json:
        print_json(report)
        return
    out.print(f"bridge  {conn.target}  [green]up[/]")
    out.print("server  (behind the bridge)  [green]up[/]")
    out.print(models_table(models) if models else "models  none yet")
    if page.last_sequence:
        title = (f"anomaly log: sequences {page.first_sequence}..{page.last_sequence}, "
                 f"newest {len(newest)}")
        out.print(anomaly_table(newest, title, width=out.width, wide=conn.wide)
                  if newest else title)
    else:
        out.print("anomaly log  empty")


async def models(conn: Connection) -> None:
    """The models the server is watching, with their layers."""
    async with conn.client() as client:
        found = await client.list_models()
    if conn.json:
        print_json(found)
    else:
        out.print(models_table(found) if found else "no models yet")


async def matrix(
    conn: Connection,
    model: Models = None,
    layer: Layers = None,
    granularity: Annotated[
        str, typer.Option(**choice(Granularity, "GRANULARITY", "one row per layer or per unit"))
    ] = "layer",
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False,
                     help="write the matrix to this file instead: .csv, .json, .parquet, or "
                          ".png (rendered with its labels in the stored theme)"),
    ] = None,
) -> None:
    """The live correlation matrix, as a table or written to a file."""
    suffix = out_path.suffix.lower() if out_path is not None else None
    if out_path is not None and suffix not in MATRIX_FILE_SUFFIXES:
        raise typer.BadParameter(
            f"cannot tell the format of {str(out_path)!r}; use "
            + ", ".join(MATRIX_FILE_SUFFIXES), param_hint="'--out'",
        )
    if suffix == ".png" and (len(model or []) > 1 or granularity != "layer"):
        raise typer.BadParameter("a .png shows one model (or all) at layer granularity; "
                                 "pass at most one --model", param_hint="'--out'")
    if out_path is not None:
        output_folder(out_path)
    async with conn.client() as client:
        if out_path is not None and suffix == ".png":
            with spinner(f"rendering {out_path}"):
                image = await client.render_correlation(model[0] if model else None, layer)
            save_png(image, out_path, conn.json)
            return
        if out_path is not None:
            with spinner(f"writing {out_path}"):
                written = await client.download_correlation_matrix(out_path, model, layer)
            if conn.json:
                print_json({"path": written})
            else:
                out.print(f"wrote {written}")
            return
        with spinner("computing the correlation matrix"):
            result = await client.get_correlation_matrix(model, layer, granularity=granularity)
    if conn.json:
        print_json(result.to_dict())
        return
    shown = matrix_columns(result.labels, out.width, conn.wide)
    out.print(matrix_table(result, width=out.width, wide=conn.wide))
    if len(result.labels) > shown:
        more = "" if shown == MAX_MATRIX_LABELS_SHOWN or conn.wide else \
            f" (--wide: {min(len(result.labels), MAX_MATRIX_LABELS_SHOWN)})"
        err.print(f"showing {shown} of {len(result.labels)} labels{more}; "
                  "--out or --json for all of them")


async def patterns(
    conn: Connection,
    model: Annotated[str | None, typer.Option("--model", "-m", help="only this model")] = None,
    layer: Annotated[str | None, typer.Option("--layer", "-l", help="only this layer")] = None,
    pattern_type: Annotated[
        list[str] | None,
        typer.Option("--type", **choice(PatternType, "TYPE", "only this kind (repeatable)")),
    ] = None,
    window: Annotated[
        float | None,
        typer.Option(min=1, help="look back this many milliseconds from the newest frame"),
    ] = None,
) -> None:
    """Temporal patterns (periodic, trend, state change) found in each layer's activity."""
    async with conn.client() as client:
        with spinner("finding temporal patterns"):
            found = await client.get_temporal_patterns(model, window, pattern_type,
                                                       layer_id=layer)
    if conn.json:
        print_json(found)
    else:
        out.print(patterns_table(found) if found else "no patterns found")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    connected_command(app, "status")(status)
    connected_command(app, "models")(models)
    connected_command(app, "matrix")(matrix)
    connected_command(app, "patterns")(patterns)
