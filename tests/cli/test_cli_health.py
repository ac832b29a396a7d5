"""``neural-heatmap health MODEL`` against a real server and bridge (issue 22, item 3)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from neural_heatmap import connect

from tests.cli.runner import cli_env, invoke, invoke_json
from tests.support._process import REPO_ROOT
from tests.support.bridge_process import BridgeProcess

UNITS, FRAMES = 64, 120


@pytest.fixture(scope="module")
async def sick_model(bridge: BridgeProcess) -> str:
    """``sick/relu``: unit 37 dead since step 100; ``sick/tanh``: units 5 and 9 pinned at 1."""
    rng = np.random.default_rng(3)
    relu = np.abs(rng.normal(0.0, 1.0, (FRAMES, UNITS))) + 0.05
    relu[100:, 37] = 0.0
    tanh = np.clip(rng.normal(0.0, 0.3, (FRAMES, UNITS)), -0.9, 0.9)
    tanh[:, [5, 9]] = 1.0
    async with await connect(bridge.target, connect_timeout=20.0) as client:
        for layer, values in (("relu", relu), ("tanh", tanh)):
            summary = await client.log_batch("sick", layer, values.astype(np.float32),
                                             steps=np.arange(FRAMES))
            assert summary.frames_accepted == FRAMES
    return "sick"


def test_health_json_names_the_dead_and_saturated_units(
    bridge: BridgeProcess, sick_model: str
) -> None:
    doc = invoke_json("health", sick_model, "--top-k", "2", "--target", bridge.target)
    by_layer = {h["layer_id"]: h for h in doc["layers"]}
    [dead] = by_layer["relu"]["dead_units"]
    assert (dead["unit"], dead["location"], dead["since_step"]) == (
        37, {"x": 5.0, "y": 4.0}, 100)
    assert [u["unit"] for u in by_layer["tanh"]["saturated_units"]] == [5, 9]
    assert len(by_layer["relu"]["top_spikes"]) == 2


def test_health_table_fits_80_columns(bridge: BridgeProcess, sick_model: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "neural_heatmap_cli", "health", sick_model,
         "--target", bridge.target],
        capture_output=True, text=True, env=cli_env() | {"COLUMNS": "80"},
        cwd=str(REPO_ROOT), timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, done.stdout
    assert any("37 (5,4) @100" in line for line in lines), done.stdout
    assert any("5 (5,0) @<=0" in line for line in lines), done.stdout
    assert any("sick/relu" in line for line in lines), done.stdout


def test_health_of_an_unknown_model_is_one_line_error(bridge: BridgeProcess) -> None:
    done = invoke("health", "absent-model", "--target", bridge.target)
    assert done.returncode == 5 and "absent-model" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
