"""``anomalies``: the anomaly log as a table, or followed live (``--follow``).

Following prints the newest ``--limit`` anomalies, then every anomaly logged
after them as it arrives. It rides on the SDK's ``stream_anomalies``, which
reopens the stream after any disconnect (a bridge restart, a network drop) from
the last sequence delivered, so each anomaly is printed exactly once. Ctrl-C
ends following with exit status 0.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from neural_heatmap import Anomaly, NeuralHeatmapClient, Severity

from neural_heatmap_cli._choices import choice
from neural_heatmap_cli._connection import Connection, connected_command
from neural_heatmap_cli._output import out, print_json
from neural_heatmap_cli._tables import anomaly_line, anomaly_table

__all__ = ["register"]


def _show(anomaly: Anomaly, as_json: bool) -> None:
    if as_json:
        print_json(anomaly)
    else:
        out.print(anomaly_line(anomaly), soft_wrap=True)


async def _follow(
    client: NeuralHeatmapClient,
    conn: Connection,
    *,
    after: int,
    severity: str | None,
    min_severity: str | None,
    model: str | None,
) -> None:
    """Print every anomaly logged after ``after`` until Ctrl-C."""
    exact = Severity.parse(severity) if severity else None
    stream = client.stream_anomalies(after, min_severity or exact,
                                     [model] if model else None)
    try:
        async for update in stream:
            for anomaly in update.anomalies:
                if exact is None or anomaly.severity == exact:
                    _show(anomaly, conn.json)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels this task once; ending here is the normal way out
        task = asyncio.current_task()
        if task is None or task.uncancel() > 0:
            raise


async def anomalies(
    conn: Connection,
    severity: Annotated[
        str | None, typer.Option(**choice(Severity), help="only this severity")
    ] = None,
    min_severity: Annotated[
        str | None,
        typer.Option(**choice(Severity), help="only this severity or worse"),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="only this model")] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0,
                          help="newest anomalies to show (with --follow, 0: none, only new ones)")
    ] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f",
                           help="keep printing new anomalies as they are logged, one line "
                                "each, coloured by severity; Ctrl-C stops")
    ] = False,
) -> None:
    """The anomaly log, newest last; --follow tails it live, exactly once across reconnects."""
    async with conn.client() as client:
        page = await client.get_anomaly_page(severity, limit or 1, model,
                                             min_severity=min_severity)
        newest = page.anomalies if limit else []
        if not follow:
            if conn.json:
                print_json({"first_sequence": page.first_sequence,
                            "last_sequence": page.last_sequence, "anomalies": newest})
            else:
                out.print(anomaly_table(newest, f"anomalies (log {page.first_sequence}.."
                                                f"{page.last_sequence})"))
            return
        for anomaly in newest:
            _show(anomaly, conn.json)
        await _follow(client, conn, after=page.last_sequence, severity=severity,
                      min_severity=min_severity, model=model)


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    connected_command(app, "anomalies")(anomalies)
