"""Commands that write files: ``export`` (every format, client-side)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from neural_heatmap import ExportFormat

from neural_heatmap_cli._choices import choice
from neural_heatmap_cli._connection import Connection, connected_command
from neural_heatmap_cli._output import out, print_json, steps

__all__ = ["register"]

ALL_FORMATS = (ExportFormat.CSV, ExportFormat.JSON, ExportFormat.PARQUET, ExportFormat.TENSORBOARD)


async def export(
    conn: Connection,
    directory: Annotated[
        Path, typer.Argument(file_okay=False, help="directory to write into (created if missing)")
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", "-F", **choice(ExportFormat),
                     help="only this format (repeatable); default: all four"),
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


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    connected_command(app, "export")(export)
