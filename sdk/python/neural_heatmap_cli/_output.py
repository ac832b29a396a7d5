"""How results reach the terminal: rich tables for people, JSON lines for programs.

Results go to stdout; progress and errors go to stderr, so ``--json`` output
can be piped without anything else mixed in. Progress shows only on a terminal.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = [
    "SEVERITY_STYLES",
    "err",
    "format_time",
    "jsonable",
    "out",
    "print_json",
    "spinner",
    "steps",
]

out = Console(highlight=False)
"""Results (stdout)."""
err = Console(stderr=True, highlight=False)
"""Progress and errors (stderr)."""

SEVERITY_STYLES = {
    "low": "cyan",
    "medium": "yellow",
    "high": "bold red",
    "critical": "bold white on red",
}
"""Colour per anomaly severity, in tables and in ``anomalies --follow``."""


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dataclasses as dicts, enums as their value,
    numpy as lists, paths as strings, and NaN or infinities as ``null``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """Write ``value`` as one line of JSON to stdout and flush (for pipes and ``--follow``)."""
    sys.stdout.write(json.dumps(jsonable(value), allow_nan=False) + "\n")
    sys.stdout.flush()


def format_time(epoch: float | None, *, clock: bool = False) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM:SS`` UTC, or only ``HH:MM:SS`` with ``clock``
    (for narrow tables); ``-`` when unknown."""
    if epoch is None or not math.isfinite(epoch):
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S" if clock else "%Y-%m-%d %H:%M:%S")


@contextmanager
def spinner(description: str) -> Iterator[None]:
    """A transient spinner on stderr while one call that may take a while runs."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as progress:
        progress.add_task(description, total=None)
        yield


@contextmanager
def steps(total: int) -> Iterator[Callable[[str], None]]:
    """A transient progress bar on stderr over ``total`` steps.

    Yields ``start(description)``: call it as each step begins; the bar counts
    the steps finished before it.
    """
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("", total=total)
        started = 0

        def start(description: str) -> None:
            nonlocal started
            progress.update(task, description=description, completed=started)
            started += 1

        yield start
        progress.update(task, completed=total)
