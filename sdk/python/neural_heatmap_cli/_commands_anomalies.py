"""``anomalies``: the anomaly log as a table, or followed live (``--follow``).

Following prints the newest ``--limit`` anomalies, then every anomaly logged
after them as it arrives. It rides on the SDK's ``stream_anomalies``, which
reopens the stream after any disconnect (a bridge restart, a network drop) from
the last sequence delivered, so each anomaly is printed exactly once. While the
services are away it keeps retrying and says so on stderr from the first failed
attempt on. Ctrl-C ends following with exit status 0.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from neural_heatmap import (
    Anomaly,
    NeuralHeatmapClient,
    NeuralHeatmapError,
    NotFoundError,
    ReconnectPolicy,
    RequestCancelledError,
    Severity,
    UnavailableError,
)
from rich.text import Text

from neural_heatmap_cli._choices import choice
from neural_heatmap_cli._connection import Connection, connected_command
from neural_heatmap_cli._output import err, out, print_json
from neural_heatmap_cli._tables import anomaly_line, anomaly_table

__all__ = ["register"]

FOLLOW_RETRIES = sys.maxsize
"""``--follow`` never gives up on its own: it retries until the services are back or
Ctrl-C, saying so on each attempt."""


def _show(anomaly: Anomaly, as_json: bool) -> None:
    if as_json:
        print_json(anomaly)
    else:
        out.print(anomaly_line(anomaly), soft_wrap=True)


class _Status:
    """The status line printed (stderr) at each failed reopening while following: what
    is unreachable and that it keeps retrying, from the first failure on. Counts the
    consecutive failures across the SDK's reopenings and this command's own."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.failures = 0

    def failed(self, exc: NeuralHeatmapError, _sdk_count: int = 0) -> None:
        """Say that following failed and is retried (the SDK's ``on_error`` shape)."""
        self.failures += 1
        if self.conn.verbose:
            said = str(exc)
        elif isinstance(exc, UnavailableError) and "route" in exc.error_metadata:
            said = "its server does not answer"
        elif exc.reason is None:  # gRPC's transport words ("failed to connect to all ...")
            said = "no answer (stopped or unreachable)"
        else:  # the bridge's own words ("the bridge is shutting down")
            said = exc.message.rstrip(".")
        line = Text("reconnecting: ", style="bold yellow")
        line.append(f"the bridge at {self.conn.target}: {said}; attempt {self.failures}, "
                    "still retrying (Ctrl-C stops)")
        err.print(line, soft_wrap=True)


async def _follow(
    client: NeuralHeatmapClient,
    conn: Connection,
    *,
    after: int,
    severity: str | None,
    min_severity: str | None,
    model: str | None,
) -> None:
    """Print every anomaly logged after ``after`` until Ctrl-C, retrying without end
    while the services are away (a status line per attempt on stderr).

    The SDK reopens the stream after the failures the shared policy calls transient;
    a stream the stopping bridge cancels (CANCELLED) is reopened here, from the last
    sequence printed, so that too is only a status line.
    """
    exact = Severity.parse(severity) if severity else None
    status = _Status(conn)
    last = after
    try:
        while True:
            stream = client.stream_anomalies(last, min_severity or exact,
                                             [model] if model else None,
                                             max_retries=FOLLOW_RETRIES, on_error=status.failed)
            try:
                async for update in stream:
                    status.failures = 0
                    for anomaly in update.anomalies:
                        last = max(last, anomaly.sequence)
                        if exact is None or anomaly.severity == exact:
                            _show(anomaly, conn.json)
            except RequestCancelledError as exc:
                status.failed(exc)
                await asyncio.sleep(ReconnectPolicy().wait(status.failures))
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels this task once; ending here is the normal way out
        task = asyncio.current_task()
        if task is None or task.uncancel() > 0:
            raise


async def anomalies(
    conn: Connection,
    severity: Annotated[
        str | None, typer.Option(**choice(Severity, "SEVERITY", "only this severity"))
    ] = None,
    min_severity: Annotated[
        str | None,
        typer.Option(**choice(Severity, "SEVERITY", "only this severity or worse")),
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
        if model and not page.anomalies:
            await _known(client, model)
        newest = page.anomalies if limit else []
        if not follow:
            if conn.json:
                print_json({"first_sequence": page.first_sequence,
                            "last_sequence": page.last_sequence, "anomalies": newest})
            else:
                out.print(anomaly_table(newest, f"anomalies (log {page.first_sequence}.."
                                                f"{page.last_sequence})", width=out.width,
                                        wide=conn.wide))
            return
        for anomaly in newest:
            _show(anomaly, conn.json)
        await _follow(client, conn, after=page.last_sequence, severity=severity,
                      min_severity=min_severity, model=model)


async def _known(client: NeuralHeatmapClient, model: str) -> None:
    """Fail as every other command does (not found, exit 5) for a model the server does
    not know, rather than print an empty log; a model with no anomalies yet is fine."""
    if model not in {m.model_id for m in await client.list_models()}:
        raise NotFoundError(f"unknown model {model!r}")


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    connected_command(app, "anomalies")(anomalies)
