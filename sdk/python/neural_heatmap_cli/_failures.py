"""Exit codes, and the one place where a failure becomes one line for the user.

Every command runs under :func:`explain`, so the same mistake gets the same
wording and the same exit code whichever command made it, and no traceback
ever reaches the terminal.
"""

from __future__ import annotations

import enum

from neural_heatmap import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
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

__all__ = ["CliFailure", "ExitCode", "explain"]


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


def explain(exc: BaseException, *, target: str, command: str) -> CliFailure:
    """Word ``exc`` as one line (what failed, what to do) with its exit code.

    Args:
        exc: What the command raised.
        target: The bridge address the command used, named in connection errors.
        command: The command's name, for the ``--help`` hint.
    """
    if isinstance(exc, CliFailure):
        return exc
    if isinstance(exc, InvalidTargetError):
        return CliFailure(f"bad --target {target!r}: {exc.message}", ExitCode.USAGE)
    if isinstance(exc, UnavailableError):
        return CliFailure(f"{exc.message.rstrip('.')}; {_START_HINT}", ExitCode.CONNECTION)
    if isinstance(exc, DeadlineExceededError):
        return CliFailure(
            f"the bridge at {target} did not answer in time ({exc.message}); "
            "retry with a larger --timeout, or check the server's load",
            ExitCode.CONNECTION,
        )
    if isinstance(exc, UnauthenticatedError | PermissionDeniedError):
        return CliFailure(
            f"the bridge at {target} refused the request ({exc}); pass the bridge's token "
            "with --token or NEURAL_HEATMAP_TOKEN",
            ExitCode.AUTH,
        )
    if isinstance(exc, NotFoundError):
        return CliFailure(
            f"not found: {exc.message}; `neural-heatmap models` lists what exists",
            ExitCode.SERVER,
        )
    if isinstance(exc, InvalidArgumentError | OutOfRangeError | FailedPreconditionError):
        return CliFailure(
            f"the server rejected `{command}`: {exc}; check the arguments "
            f"(`neural-heatmap {command} --help`)",
            ExitCode.SERVER,
        )
    if isinstance(exc, UnimplementedError):
        return CliFailure(
            f"the bridge at {target} does not offer `{command}` ({exc}); it is older than "
            "this command: upgrade and restart it",
            ExitCode.SERVER,
        )
    if isinstance(exc, ResourceExhaustedError):
        return CliFailure(f"the server is busy or a limit was hit: {exc}; retry later, or "
                          "ask for less", ExitCode.SERVER)
    if isinstance(exc, NeuralHeatmapError):
        return CliFailure(
            f"the server failed `{command}`: {exc}; see the bridge's and server's logs",
            ExitCode.SERVER,
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return CliFailure(
            f"cannot use{where}: {exc.strerror or exc}; check the path and its permissions",
            ExitCode.LOCAL,
        )
    if isinstance(exc, ValueError):
        return CliFailure(
            f"{exc}; see `neural-heatmap {command} --help`", ExitCode.USAGE
        )
    return CliFailure(
        f"`{command}` failed unexpectedly: {type(exc).__name__}: {exc}", ExitCode.LOCAL
    )
