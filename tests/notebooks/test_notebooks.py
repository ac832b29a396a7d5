"""The five tutorial notebooks run clean against a live server and bridge.

One real server with its built-in activation source (so the demo models
``mlp-a`` and ``mlp-b`` exist and stage their incidents) and one real bridge
serve all five; each notebook is executed top to bottom by nbclient in a fresh
kernel with ``NEURAL_HEATMAP_TARGET`` pointing at the bridge, and any cell that
raises fails its test with the cell and the traceback. The notebooks are
committed without outputs, which a test checks too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import REPO_ROOT, ServerProcess

EXAMPLES = REPO_ROOT / "sdk" / "python" / "jupyter_examples"
# The five tutorials the seed's Python API names (docs/seed-python-api.md).
NOTEBOOKS = [
    "01_getting_started",
    "02_correlation_analysis",
    "03_temporal_patterns",
    "04_anomaly_detection",
    "05_custom_workflows",
]
CELL_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    """A bridge in front of a server whose built-in source trains at twice the default rate.

    The faster source stages every anomaly severity within about four seconds;
    the faster pushes give the live temporal cell its updates sooner.
    """
    with ServerProcess(
        extra_args=["--source", "--source-rate", "30", "--temporal-interval", "1",
                    "--correlation-interval", "1"]
    ) as server, BridgeProcess(server.url) as bridge:
        yield bridge.target


def test_the_five_notebooks_are_committed_without_outputs() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.ipynb")) == NOTEBOOKS
    for name in NOTEBOOKS:
        nb = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, name
        assert all(not c.outputs and c.execution_count is None for c in code), (
            f"{name} has outputs; clear them before committing")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_clean(
    name: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cell of the notebook runs without an error against the live services."""
    monkeypatch.setenv("NEURAL_HEATMAP_TARGET", target)
    # This checkout's SDK first, as tests/support does for the server and bridge.
    paths = [str(REPO_ROOT / d) for d in ("contract/python", "sdk/python")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs
    nb = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert any(o.get("data", {}).get("image/png") for c in nb.cells if c.cell_type == "code"
               for o in c.outputs), f"{name} drew no figure"
