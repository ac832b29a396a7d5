"""The ``neural-heatmap`` application and its entry point.

``main`` runs Typer without click's standalone mode so that usage errors, too,
end as one line on stderr (exit 2) rather than a help panel, and so that no
traceback ever reaches the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

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


def _plain_metavars(command: Any) -> Any:
    """Every parameter's metavar as a word (``MODEL``, ``PATH``; nothing for a flag)
    instead of Typer's type labels (``<list[str]>``, ``<float range>``, ``<bool>``),
    which say little and, being long, fold mid-word in an 80-column help.

    ``command`` is Typer's (vendored) click group; only click's documented attributes
    (``commands``, ``params``, ``get_help_option``, ``context_class``, ``metavar``,
    ``is_flag``, ``name``) are used.
    """
    for sub in [command, *getattr(command, "commands", {}).values()]:
        help_option = sub.get_help_option(sub.context_class(sub))  # made once, then cached
        for param in [*sub.params, *([help_option] if help_option is not None else [])]:
            if param.metavar is None:
                flag = getattr(param, "is_flag", False)
                param.metavar = "" if flag else (param.name or "value").upper()
    return command


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (``argv`` defaults to ``sys.argv[1:]``) and exit with its status."""
    try:
        status = _plain_metavars(typer.main.get_command(app)).main(
            args=list(argv) if argv is not None else None, prog_name="neural-heatmap",
            standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors: bad or missing arguments
        status = report(CliFailure(_usage_line(exc), ExitCode.USAGE))
    except typer.Abort:  # Ctrl-C while arguments were read
        status = report(CliFailure("interrupted", ExitCode.INTERRUPTED))
    sys.exit(status if isinstance(status, int) else 0)
