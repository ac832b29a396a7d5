"""The options every command shares (address, token, TLS, ``--json``) and how a
command is run with them.

:func:`connected_command` registers an ``async def body(conn: Connection, ...)``
as a Typer command whose options are the body's own followed by the shared
ones declared once in :func:`_shared_options`; it runs the body under
``asyncio.run`` and turns any failure into one line on stderr and an exit code
(:mod:`neural_heatmap_cli._failures`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from neural_heatmap import DEFAULT_TARGET, NeuralHeatmapClient
from rich.text import Text

from neural_heatmap_cli._failures import CliFailure, ExitCode, explain
from neural_heatmap_cli._output import err, spinner

__all__ = [
    "TARGET_ENV",
    "TOKEN_ENV",
    "Connection",
    "connected_command",
    "fail",
    "report",
]

TARGET_ENV = "NEURAL_HEATMAP_TARGET"
TOKEN_ENV = "NEURAL_HEATMAP_TOKEN"
"""The token variable the Go example and the conformance runner already read."""

_PANEL = "Connection"


@dataclass(frozen=True)
class Connection:
    """Where and how to reach the bridge, and how to print, as the options said."""

    target: str
    token: str | None
    tls: bool | None
    ca_cert: Path | None
    client_cert: Path | None
    client_key: Path | None
    server_name: str | None
    timeout: float
    connect_timeout: float
    json: bool
    verbose: bool = False
    wide: bool = False

    @asynccontextmanager
    async def client(self) -> AsyncIterator[NeuralHeatmapClient]:
        """A connected SDK client, closed afterwards."""
        client = NeuralHeatmapClient(
            self.target,
            token=self.token,
            tls=self.tls,
            root_certificates=str(self.ca_cert) if self.ca_cert else None,
            certificate_chain=str(self.client_cert) if self.client_cert else None,
            private_key=str(self.client_key) if self.client_key else None,
            ssl_target_name_override=self.server_name,
            default_timeout=self.timeout,
            connect_timeout=self.connect_timeout,
        )
        try:
            with spinner(f"connecting to {self.target}"):
                await client.connect()
            yield client
        finally:
            await client.disconnect()


def _shared_options(
    target: Annotated[
        str,
        typer.Option(envvar=TARGET_ENV, rich_help_panel=_PANEL, metavar="HOST:PORT",
                     help="the gRPC bridge: host:port, grpc://host:port or grpcs://host:port"),
    ] = DEFAULT_TARGET,
    token: Annotated[
        str | None,
        typer.Option(envvar=TOKEN_ENV, show_default=False, rich_help_panel=_PANEL,
                     metavar="TOKEN", help="bearer token the bridge requires (its --token)"),
    ] = None,
    tls: Annotated[
        bool | None,
        typer.Option("--tls/--no-tls", show_default=False, rich_help_panel=_PANEL,
                     help="force TLS on or off (default: on for grpcs:// or with --ca-cert "
                          "or --client-cert)"),
    ] = None,
    ca_cert: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, rich_help_panel=_PANEL, metavar="FILE",
                     help="PEM file of the CA that signed the bridge's certificate"),
    ] = None,
    client_cert: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, rich_help_panel=_PANEL, metavar="FILE",
                     help="PEM client certificate chain, for mutual TLS (with --client-key)"),
    ] = None,
    client_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, rich_help_panel=_PANEL, metavar="FILE",
                     help="PEM private key of --client-cert"),
    ] = None,
    server_name: Annotated[
        str | None,
        typer.Option(rich_help_panel=_PANEL, metavar="NAME",
                     help="name expected in the bridge's certificate, when it differs "
                          "from the host dialled"),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, rich_help_panel=_PANEL, metavar="SECONDS",
                     help="seconds each call may take, retries included"),
    ] = 30.0,
    connect_timeout: Annotated[
        float,
        typer.Option(min=0.1, rich_help_panel=_PANEL, metavar="SECONDS",
                     help="seconds to wait for the bridge to answer at all"),
    ] = 5.0,
    json_output: Annotated[
        bool,
        typer.Option("--json", rich_help_panel="Output",
                     help="print machine-readable JSON (one document, or one line per "
                          "anomaly with --follow) instead of tables"),
    ] = False,
    wide: Annotated[
        bool,
        typer.Option("--wide", rich_help_panel="Output",
                     help="tables with all of each text: whole descriptions and labels, "
                          "wrapped (the default fits the terminal)"),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", rich_help_panel="Output",
                     help="errors with their internals: status code, reason, upstream route"),
    ] = False,
) -> Connection:
    """The declaration of the shared options, and the :class:`Connection` they make."""
    if (client_cert is None) != (client_key is None):
        raise typer.BadParameter("--client-cert and --client-key go together")
    return Connection(
        target=target,
        token=token or None,
        tls=tls,
        ca_cert=ca_cert,
        client_cert=client_cert,
        client_key=client_key,
        server_name=server_name,
        timeout=timeout,
        connect_timeout=connect_timeout,
        json=json_output,
        verbose=verbose,
        wide=wide,
    )


_SHARED = inspect.signature(_shared_options, eval_str=True).parameters


def report(failure: CliFailure) -> int:
    """Print ``failure`` as one line on stderr; returns its exit code."""
    line = Text("error: ", style="bold red")
    line.append(failure.message)
    err.print(line, soft_wrap=True)
    return int(failure.code)


def fail(failure: CliFailure) -> NoReturn:
    """:func:`report` ``failure`` and end the command with its exit code."""
    raise typer.Exit(report(failure))


CommandBody = Callable[..., Coroutine[Any, Any, None]]


def connected_command(app: typer.Typer, name: str) -> Callable[[CommandBody], CommandBody]:
    """Register ``async def body(conn, **options)`` as the command ``name`` of ``app``.

    The command's options are the body's own (after ``conn``) and then the shared
    ones; Typer reads them from the signature built here.

    Args:
        app: The Typer application.
        name: The command's name (its help is the body's docstring).
    """

    def register(body: CommandBody) -> CommandBody:
        own = list(inspect.signature(body, eval_str=True).parameters.values())[1:]
        params = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in [*own, *_SHARED.values()]
        ]

        @functools.wraps(body)
        def command(**kwargs: Any) -> None:
            shared = {key: kwargs.pop(key) for key in _SHARED}
            conn = _shared_options(**shared)
            try:
                asyncio.run(body(conn, **kwargs))
            except KeyboardInterrupt:
                fail(CliFailure("interrupted", ExitCode.INTERRUPTED))
            except (typer.Exit, typer.BadParameter):
                raise
            except Exception as exc:
                fail(explain(exc, target=conn.target, command=name, verbose=conn.verbose))

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        app.command(name)(command)
        return body

    return register
