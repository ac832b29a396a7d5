"""Smoke test of the benchmark harness: ``python -m bench --tiny`` runs every case.

No assertion is about time: the machine is shared and noisy. The test checks
that the run completes, that the JSON and Markdown it writes list every case
and every target, and that every measured value is a sane non-negative number.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CASES = ["unary", "reads", "matrix", "fanout", "ingest", "analytics", "torch", "cluster",
         "connect", "browser"]
TARGETS = {"unary_p50", "unary_throughput", "unary_cache_differential",
           "reads_cache_differential", "matrix_sdk_floor", "matrix_sdk_json", "fanout_p99",
           "fanout_lossless", "fanout_cpu_per_delivery", "ingest_bridge", "ingest_direct",
           "torch_watch_mlp", "cluster_no_loss", "connect_lossless",
           "browser_latency_p99_12_layers", "browser_draw_4096"}
# Differences (bridge - direct), RSS growth (memory an earlier run freed is reused) and the
# watch overhead may be negative; everything else must not be.
SIGNED_METRICS = {"p50 added", "bridge RSS per subscriber", "overhead"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_tiny_run_writes_every_case(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--out", str(tmp_path), "--name", "smoke"],
        cwd=REPO, capture_output=True, text=True, timeout=580,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads((tmp_path / "smoke.json").read_text())
    md = (tmp_path / "smoke.md").read_text()

    assert [c["name"] for c in doc["cases"]] == CASES
    for key in ("cpu_model", "cores", "python", "grpcio", "date"):
        assert doc["machine"][key], key
    assert {t["id"] for t in doc["targets"]} == TARGETS
    for case in doc["cases"]:
        assert case["error"] is None, case["error"]
        assert case["rows"], f"{case['name']} measured nothing"
        assert f"## {case['name']}:" in md
        for row in case["rows"]:
            assert row["n"] >= 1, row
            for key in ("median", "p25", "p75", "min", "max"):
                value = row[key]
                assert value is not None and math.isfinite(value), (case["name"], row)
                if row["metric"] not in SIGNED_METRICS:
                    assert value >= 0, (case["name"], row)
            assert row["min"] <= row["median"] <= row["max"], row
            if row["ratio"] is not None:
                assert row["ratio"]["median"] is not None and row["ratio"]["median"] >= 0, row
    for target in doc["targets"]:
        assert target["passed"] in (True, False), target
        assert target["measured"] is not None and target["measured"] >= -1e9, target
        assert target["description"] in md
    # Lost and duplicated anomaly deliveries are counted, whatever their value.
    fanout = next(c for c in doc["cases"] if c["name"] == "fanout")
    assert {"lost", "duplicated"} <= {r["metric"] for r in fanout["rows"]}
    # The read cache's differential checks compared answers and found them equal.
    for name in ("unary", "reads"):
        case = next(c for c in doc["cases"] if c["name"] == name)
        assert case["extra"]["differential"]["compared"] > 0
        assert case["extra"]["differential"]["mismatches"] == 0
