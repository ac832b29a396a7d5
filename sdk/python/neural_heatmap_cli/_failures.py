"""Exit codes, and the one place where a failure becomes one line for the user.

Every command runs under :func:`explain`, so the same mistake gets the same
wording and the same exit code whichever command made it, and no traceback
ever reaches the terminal.
"""

from __future__ import annotations

import enum
from pathlib import Path

from neural_heatmap import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidParameterError,
    InvalidTargetError,
    NeuralHeatmapError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)

__all__ = ["CliFailure", "ExitCode", "explain", "output_folder"]


class ExitCode(enum.IntEnum):
    """What a non-zero exit status means (documented in docs/python-sdk.md)."""

    OK = 0
    LOCAL = 1
    """A local file could not be read or written (``--out``, certificates, layout
    files), or the command failed in a way it did not expect."""
    USAGE = 2
    """Bad arguments or address: click's own code for usage errors, kept for ours."""
    CONNECTION = 3
    """The bridge, or the server behind it, did not answer (or not in time)."""
    AUTH = 4
    """The bridge refused the token (missing or wrong)."""
    SERVER = 5
    """The bridge or server answered with an error (unknown model, bad value, failure)."""
    EMPTY = 6
    """The answer holds nothing to show (a render of no layer); the line says why,
    e.g. that the stored view filter hides every layer."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT, as shells report it)."""


class CliFailure(Exception):
    """A failure already worded for the user: one line and the exit code it ends with."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_START_HINT = (
    "start the services with `neural-heatmap serve`, or point --target "
    "(NEURAL_HEATMAP_TARGET) at the bridge"
)


def _said(exc: NeuralHeatmapError, verbose: bool) -> str:
    """What the server said: its own words by default; with ``--verbose`` the whole
    status (code, the bridge's upstream route, ``[reason=...]``)."""
    if verbose:
        return str(exc)
    return exc.error_metadata.get("upstream_message") or exc.message


def output_folder(path: Path) -> None:
    """Create the folder ``path`` is to be written in, or fail naming the real obstacle
    (a file where a folder must be) instead of what a writer would say later."""
    blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise CliFailure(f"cannot write {path}: {blocker} is a file, not a folder",
                         ExitCode.LOCAL)
    path.parent.mkdir(parents=True, exist_ok=True)


def explain(exc: BaseException, *, target: str, command: str,
            verbose: bool = False) -> CliFailure:
    """Word ``exc`` as one line (what failed, what to do) with its exit code.

    Args:
        exc: What the command raised.
        target: The bridge address the command used, named in connection errors.
        command: The command's name, for the ``--help`` hint.
        verbose: Name the internals too (status code, upstream route, reason).
    """
    if isinstance(exc, CliFailure):
        return exc
    if isinstance(exc, InvalidTargetError):
        return CliFailure(f"bad --target {target!r}: {exc.message}", ExitCode.USAGE)
    if isinstance(exc, InvalidParameterError):
        return CliFailure(f"{exc.message}; see `neural-heatmap {command} --help`",
                          ExitCode.USAGE)
    if isinstance(exc, UnavailableError):
        said = _said(exc, verbose)
        if not verbose and "route" in exc.error_metadata:  # the bridge's upstream hop
            said = f"the bridge at {target} is up, but its server does not answer"
        return CliFailure(f"{said.rstrip('.')}; {_START_HINT}", ExitCode.CONNECTION)
    if isinstance(exc, DeadlineExceededError):
        return CliFailure(
            f"the bridge at {target} did not answer in time ({_said(exc, verbose)}); "
            "retry with a larger --timeout, or check the server's load",
            ExitCode.CONNECTION,
        )
    if isinstance(exc, UnauthenticatedError | PermissionDeniedError):
        return CliFailure(
            f"the bridge at {target} refused the request ({_said(exc, verbose)}); pass the "
            "bridge's token with --token or NEURAL_HEATMAP_TOKEN",
            ExitCode.AUTH,
        )
    if isinstance(exc, NotFoundError):
        return CliFailure(
            f"not found: {_said(exc, verbose)}; `neural-heatmap models` lists what exists",
            ExitCode.SERVER,
        )
    if isinstance(exc, InvalidArgumentError | OutOfRangeError | FailedPreconditionError):
        return CliFailure(
            f"the server rejected `{command}`: {_said(exc, verbose)}; check the arguments "
            f"(`neural-heatmap {command} --help`)",
            ExitCode.SERVER,
        )
    if isinstance(exc, UnimplementedError):
        return CliFailure(
            f"the bridge at {target} does not offer `{command}` ({_said(exc, verbose)}); it "
            "is older than this command: upgrade and restart it",
            ExitCode.SERVER,
        )
    if isinstance(exc, ResourceExhaustedError):
        return CliFailure(f"the server is busy or a limit was hit: {_said(exc, verbose)}; "
                          "retry later, or ask for less", ExitCode.SERVER)
    if isinstance(exc, NeuralHeatmapError):
        return CliFailure(
            f"the server failed `{command}`: {_said(exc, verbose)}; see the bridge's and "
            "server's logs",
            ExitCode.SERVER,
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return CliFailure(f"cannot use{where}: {exc.strerror or exc}", ExitCode.LOCAL)
    if isinstance(exc, ValueError):
        return CliFailure(
            f"{exc}; see `neural-heatmap {command} --help`", ExitCode.USAGE
        )
    return CliFailure(
        f"`{command}` failed unexpectedly: {type(exc).__name__}: {exc}", ExitCode.LOCAL
    )
