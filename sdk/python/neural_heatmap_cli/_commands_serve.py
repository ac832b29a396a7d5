"""``serve``: the server, its built-in activation source and the bridge (what ``make run`` starts).

The work is the existing ``neural-heatmap-serve`` launcher's; this command
replaces its own process with ``python -m neural_heatmap_bridge.serve`` so
that signals (Ctrl-C, SIGTERM) and the exit status are the launcher's own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Annotated

import typer
from neural_heatmap import DEFAULT_TARGET

from neural_heatmap_cli._connection import TARGET_ENV, TOKEN_ENV, fail
from neural_heatmap_cli._failures import CliFailure, ExitCode

__all__ = ["register"]

LAUNCHER_MODULE = "neural_heatmap_bridge.serve"
# The launcher's package and what only the `[server]` extra installs (docs/install.md).
SERVER_MODULES = ("neural_heatmap_bridge", "aiohttp")
LISTEN_FLAG_ENV = "NEURAL_HEATMAP_SERVE_LISTEN_FLAG"
"""Tells the launcher which flag set the bridge's address, for its busy-port message."""


def serve(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Option(envvar=TARGET_ENV, help="address the bridge listens on (its --listen)")
    ] = DEFAULT_TARGET,
    token: Annotated[
        str | None,
        typer.Option(envvar=TOKEN_ENV, show_default=False,
                     help="require this bearer token on every RPC (the bridge's --token)"),
    ] = None,
) -> None:
    """Start the server (with its built-in activation source) and the gRPC bridge.

    Every other flag goes to neural-heatmap-serve unchanged: --server-* flags to
    the server (--server-port 8080, --server-data-dir var/data, --no-server-source),
    the rest to the bridge (--tls-cert, --tls-key, --metrics-port, ...).
    """
    if any(importlib.util.find_spec(m) is None for m in SERVER_MODULES):
        fail(CliFailure("`serve` needs the server and the bridge, which are not installed "
                        "here: pip install \"neural-heatmap[server]\"", ExitCode.LOCAL))
    # A taken port is the launcher's one line; this names the flag as typed here.
    os.environ[LISTEN_FLAG_ENV] = "--target"
    argv = [sys.executable, "-m", LAUNCHER_MODULE, "--listen", target, *ctx.args]
    if token:
        argv += ["--token", token]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command(
        "serve",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(serve)
