"""Commands that write files: ``export`` (every format, client-side) and ``render`` (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from neural_heatmap import ExportFormat, RenderedImage, VisualizationTheme

from neural_heatmap_cli._choices import choice
from neural_heatmap_cli._connection import Connection, connected_command
from neural_heatmap_cli._failures import CliFailure, ExitCode, output_folder
from neural_heatmap_cli._output import out, print_json, spinner, steps

__all__ = ["register"]

ALL_FORMATS = (ExportFormat.CSV, ExportFormat.JSON, ExportFormat.PARQUET, ExportFormat.TENSORBOARD)


async def export(
    conn: Connection,
    directory: Annotated[
        Path, typer.Argument(file_okay=False, help="directory to write into (created if missing)")
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", "-F", **choice(ExportFormat, "FORMAT",
                                                "only this format (repeatable); default: all")),
    ] = None,
    use_view_filter: Annotated[
        bool, typer.Option("--view-filter", help="restrict to the stored view filter")
    ] = False,
) -> None:
    """Export the correlation matrix, temporal patterns and anomalies in every format.

    Writes correlation_matrix, temporal_patterns and anomalies as .csv, .json and
    .parquet, and a TensorBoard run in tensorboard/, one format at a time under a
    progress bar.
    """
    wanted = [ExportFormat.parse(f) for f in dict.fromkeys(formats or ALL_FORMATS)]
    written: dict[str, list[Path]] = {}
    async with conn.client() as client:
        with steps(len(wanted)) as start:
            for fmt in wanted:
                start(f"exporting {fmt}")
                done = await client.export_all(directory, [fmt], use_view_filter=use_view_filter)
                written[str(fmt)] = done[fmt]
    if conn.json:
        print_json(written)
        return
    for fmt_name, paths in written.items():
        for path in paths:
            out.print(f"{fmt_name:12} {path}")


RENDER_KINDS = ("heatmap", "correlation")


def _kind(text: str) -> str:
    """``--kind``, checked while the arguments are parsed."""
    if text.lower() not in RENDER_KINDS:
        raise typer.BadParameter(f"{text!r} is not one of {', '.join(RENDER_KINDS)}")
    return text.lower()


def save_png(image: RenderedImage, path: Path, as_json: bool) -> None:
    """Write a rendered image (creating its folder) and say what was written.

    An image of nothing (``image.empty``) is not written: the command fails with
    :attr:`ExitCode.EMPTY` and the server's reason (the view filter, usually), since
    a placeholder PNG with exit status 0 looks like success in a script.
    """
    if image.empty:
        why = "; ".join(image.warnings) or "the image would show no layer"
        raise CliFailure(f"nothing to render, {path} not written: {why}", ExitCode.EMPTY)
    output_folder(path)
    written = image.save_png(path)
    if as_json:
        print_json({"path": written, "kind": image.kind, "theme": image.theme,
                    "width": image.width, "height": image.height, "bytes": len(image)})
    else:
        out.print(f"wrote {written} ({image.kind}, {image.theme}, "
                  f"{image.width}x{image.height})")


async def render(
    conn: Connection,
    path: Annotated[Path, typer.Argument(dir_okay=False, help="the PNG file to write")],
    kind: Annotated[
        str,
        typer.Option(parser=_kind, metavar="[heatmap|correlation]",
                     help="the layer heatmap canvas, or the correlation matrix with labels"),
    ] = "heatmap",
    theme: Annotated[
        str | None,
        typer.Option(**choice(VisualizationTheme, "THEME", "default: the stored theme")),
    ] = None,
    color: Annotated[
        list[str] | None,
        typer.Option("--color", help="a #rrggbb colour of the custom theme (repeatable)"),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="only this model")] = None,
    layer: Annotated[
        list[str] | None,
        typer.Option("--layer", "-l", help="only this layer, or model/layer (repeatable)"),
    ] = None,
    width: Annotated[int, typer.Option(min=0, help="pixels; 0: the server's default")] = 0,
    height: Annotated[int, typer.Option(min=0, help="pixels; 0: the server's default")] = 0,
    time_range: Annotated[
        tuple[float, float] | None,
        typer.Option(metavar="START_MS END_MS",
                     help="only frames in this range (milliseconds since the epoch)"),
    ] = None,
) -> None:
    """Render the live heatmap (or --kind correlation) to a PNG in a theme."""
    output_folder(path)
    async with conn.client() as client:
        draw = client.render_correlation if kind == "correlation" else client.render_heatmap
        with spinner(f"rendering {path}"):
            image = await draw(model, layer, theme=theme, custom_colors=color, width=width,
                               height=height, time_range=time_range)
    save_png(image, path, conn.json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    connected_command(app, "export")(export)
    connected_command(app, "render")(render)
