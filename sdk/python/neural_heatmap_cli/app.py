"""The ``neural-heatmap`` application and its entry point.

``main`` runs Typer without click's standalone mode so that usage errors, too,
end as one line on stderr (exit 2) rather than a help panel, and so that no
traceback ever reaches the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from neural_heatmap_cli import (
    _commands_anomalies,
    _commands_files,
    _commands_health,
    _commands_read,
    _commands_serve,
    _commands_view,
)
from neural_heatmap_cli._connection import report
from neural_heatmap_cli._failures import CliFailure, ExitCode

__all__ = ["app", "main"]

app = typer.Typer(
    name="neural-heatmap",
    help="Look at a running Neural Heatmap service: status, models, correlations, patterns, "
         "per-unit layer health, anomalies (live), exports, rendered heatmaps and the shared "
         "view state.",
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (_commands_serve, _commands_read, _commands_health, _commands_anomalies,
               _commands_view, _commands_files):
    module.register(app)


def _usage_line(exc: typer.TyperException) -> str:
    """A usage error as one line that says where the help is."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "neural-heatmap"
    return f"{exc.format_message()} (see `{path} --help`)"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (``argv`` defaults to ``sys.argv[1:]``) and exit with its status."""
    try:
        status = app(args=list(argv) if argv is not None else None,
                     prog_name="neural-heatmap", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors: bad or missing arguments
        status = report(CliFailure(_usage_line(exc), ExitCode.USAGE))
    except typer.Abort:  # Ctrl-C while arguments were read
        status = report(CliFailure("interrupted", ExitCode.INTERRUPTED))
    sys.exit(status if isinstance(status, int) else 0)
