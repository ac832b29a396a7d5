"""Every command read at 80 and at 200 columns (issue 27 item 3).

Reproduces what a new user saw in an 80-column terminal: matrix labels cut to
identical ``mlp-a/f…``, the Hz column cut to ``0.4…``, descriptions 17 characters
wide, help text folded mid-word with ``<list[str]>`` metavars. Every output line
must fit the width, no number may be cut, no two matrix labels may read alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from neural_heatmap_cli._output import out
from neural_heatmap_cli.app import app
from rich.cells import cell_len

from tests.cli.conftest import Seeded
from tests.cli.runner import invoke, invoke_json
from tests.support.bridge_process import BridgeProcess

WIDTHS = (80, 200)
CUT_NUMBER = re.compile(r"[0-9][.,]?…|…[0-9]")
# Labels that only a long, shared prefix tells apart, as in the report (mlp-a/f…).
LONG_MODELS = ("experiment-mlp-alpha", "experiment-mlp-beta")
TYPE_LABELS = ("<list[", "<bool>", "<int", "<float", "<str>]")


@pytest.fixture(params=WIDTHS, ids=[f"{w}cols" for w in WIDTHS])
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A terminal ``width`` columns wide: the results console's and the help's."""
    columns: int = request.param
    before = out.width
    monkeypatch.setenv("COLUMNS", str(columns))  # the help's console is made per call
    out.width = columns
    yield columns
    out.width = before


@pytest.fixture(scope="module")
async def long_labels(bridge: BridgeProcess, seeded: Seeded) -> None:
    import numpy as np
    from neural_heatmap import connect

    async with await connect(bridge.target, connect_timeout=20.0) as client:
        t = np.arange(64, dtype=np.float64) / 10 + 1.7e9
        for i, model in enumerate(LONG_MODELS):
            for layer in ("fc1", "fc2"):
                values = np.sin(t[:, None] * (i + 1) + np.arange(4)).astype(np.float32)
                await client.log_batch(model, layer, values, timestamps=t)


def _check_lines(text: str, width: int) -> None:
    for line in text.splitlines():
        assert cell_len(line) <= width, (width, line)
    assert not CUT_NUMBER.search(text), CUT_NUMBER.search(text)


def _columns(lines: list[str], rule: str) -> list[str]:
    """The cells of consecutive table lines joined column by column (folded text)."""
    cells = [[c.strip() for c in line.split(rule)[1:-1]] for line in lines]
    return ["".join(parts) for parts in zip(*cells, strict=True)]


def _matrix_labels(text: str) -> tuple[list[str], list[str]]:
    """(column labels, row labels) of a rendered matrix table."""
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    mid = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    header = _columns(lines[top + 1:mid], "┃")[1:]
    rows: list[list[str]] = []
    for line in lines[mid + 1:end]:
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if rows and not any(cells[1:]):  # a folded row label continues
            rows[-1][0] += cells[0]
        else:
            rows.append(cells)
    return header, [r[0] for r in rows]


@pytest.mark.usefixtures("long_labels")
@pytest.mark.parametrize("argv", [
    ["status"], ["models"], ["patterns"], ["anomalies", "-n", "5"], ["health", "m1"],
    ["theme"], ["layout"], ["filter"], ["matrix"], ["matrix", "-m", LONG_MODELS[0],
                                                    "-m", LONG_MODELS[1]],
    ["matrix", "--granularity", "unit", "-m", "m1"],
], ids=lambda argv: "-".join(argv)[:40])
def test_every_command_fits_and_cuts_no_number(
    bridge: BridgeProcess, width: int, argv: list[str]
) -> None:
    done = invoke(*argv, "--target", bridge.target)
    assert done.returncode == 0, done.stderr
    _check_lines(done.stdout, width)
    if argv[0] == "matrix":
        header, rows = _matrix_labels(done.stdout)
        assert header and len(set(header)) == len(header), header  # no two alike
        assert header == rows[:len(header)], (header, rows)
        assert all("…" not in label for label in header)
    if argv[0] == "anomalies":  # one line per anomaly (the report: ten at 80 columns)
        lines = done.stdout.splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith(("─", "┡"))) + 1
        body = [line for line in lines[first:] if not line.startswith("└")
                and "descriptions shortened" not in line]
        logged = invoke_json("anomalies", "-n", "5", "--target", bridge.target)["anomalies"]
        assert len(body) == len(logged) >= 2, body
        assert all(re.match(r"^[│ ]*\d+ ", line) for line in body), body


def test_long_shared_prefixes_are_elided_not_cut(bridge: BridgeProcess, width: int,
                                                 long_labels: None) -> None:
    done = invoke("matrix", "-m", LONG_MODELS[0], "-m", LONG_MODELS[1],
                  "--target", bridge.target)
    header, _ = _matrix_labels(done.stdout)
    assert header == ["alpha/fc1", "alpha/fc2", "beta/fc1", "beta/fc2"], done.stdout
    assert "common prefix 'experiment-mlp-'" in " ".join(done.stdout.split())


@pytest.mark.parametrize("command", ["", *sorted(c.name or "" for c in app.registered_commands)])
def test_help_fits_and_splits_no_word(width: int, command: str) -> None:
    done = invoke(*([command] if command else []), "--help")
    assert done.returncode == 0, done.stderr
    _check_lines(done.stdout, width)
    assert "…" not in done.stdout
    for label in TYPE_LABELS:
        assert label not in done.stdout, label
    words = set(re.findall(r"--[a-z][a-z-]*", done.stdout))
    cmd = typer.main.get_command(app)
    params = (cmd.commands[command].params if command else cmd.params)  # type: ignore[attr-defined]
    for param in params:
        for opt in [o for o in param.opts if o.startswith("--")]:
            assert opt in words, (opt, done.stdout)  # whole, not folded across lines
