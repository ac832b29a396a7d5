"""The built-in activation source and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.server.conftest import Api
from tests.support.server_process import REPO_ROOT, ServerProcess

SEVERITIES = {"low", "medium", "high", "critical"}
TYPES = {"non_finite", "exploding", "dead_units", "saturation", "spike"}


def test_source_shows_every_type_and_severity() -> None:
    with ServerProcess(extra_args=["--source", "--source-rate", "30",
                                   "--anomaly-cooldown", "1"]) as server:
        api = Api(server)
        started = time.monotonic()
        seen_types: set[str] = set()
        seen_severities: set[str] = set()
        while time.monotonic() - started < 60:
            found = api.get("/api/anomalies?limit=10000")["anomalies"]
            seen_types = {a["anomaly_type"] for a in found}
            seen_severities = {a["severity"] for a in found}
            if seen_types >= TYPES and seen_severities >= SEVERITIES:
                break
            time.sleep(0.5)
        assert seen_types >= TYPES and seen_severities >= SEVERITIES
        models = {m["model_id"]: m for m in api.get("/api/models")["models"]}
        assert set(models) == {"mlp-a", "mlp-b"}
        assert [layer["layer_id"] for layer in models["mlp-a"]["layers"]] == ["fc1", "fc2", "out"]
        compared = api.post("/api/compare", {"model_ids": ["mlp-a", "mlp-b"]})
        assert compared["steps"] > 50
        periodic = api.get("/api/temporal?pattern_types=periodic")["patterns"]
        assert periodic, "the cyclic input should show as a periodic pattern"


def test_help_lists_flags_and_env() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        str(REPO_ROOT / d) for d in ServerProcess.source_dirs)}
    out = subprocess.run([sys.executable, "-m", "neural_heatmap_server", "--help"],
                         capture_output=True, text=True, env=env, check=True).stdout
    for flag in ("--window", "--anomaly-cooldown", "--anomaly-retention", "--max-body-bytes",
                 "--token", "--no-source", "--ws-queue", "--heatmap-hz", "--export-dir"):
        assert flag in out
    assert "NH_SERVER_" in out
