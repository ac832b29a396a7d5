"""Prometheus metrics of the server (GET /metrics) and the bridge, and the Grafana dashboard.

Traffic goes SDK -> bridge -> server; the server's counters must then show
exactly what was sent (frames, anomalies by severity, the log's head, latency
by route), and every metric the dashboard in docs/ queries must exist in the
live output of one of the two processes.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from neural_heatmap import connect
from prometheus_client.parser import text_string_to_metric_families

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import REPO_ROOT, ServerProcess

DASHBOARD = REPO_ROOT / "docs" / "grafana-dashboard.json"
# The suffixes a family's samples carry (a histogram ``x`` is queried as ``x_bucket``).
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def _scrape(url: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return text, samples


def _names(text: str) -> set[str]:
    """Every metric name the exposition declares or reports, with its sample suffixes."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES)
        names.update(s.name for s in family.samples)
    return names


@pytest.fixture(scope="module")
def processes() -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    with (ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server,
          BridgeProcess(server.url, metrics=True) as bridge):
        yield server, bridge


async def test_server_metrics_count_what_was_sent(
        processes: tuple[ServerProcess, BridgeProcess]) -> None:
    server, bridge = processes
    values = np.ones((5, 4), dtype=np.float32)
    values[3, 2] = np.nan  # one non_finite anomaly, severity critical
    async with await connect(bridge.target) as client:
        summary = await client.log_batch("metered", "l", values, steps=list(range(5)))
        assert summary.frames_accepted == 5
        await client.get_correlation_matrix(model_ids=["metered"])
        anomalies = await client.get_anomalies(model_id="metered", limit=10)
    assert [(a.anomaly_type.name, a.severity.name) for a in anomalies] == [
        ("NON_FINITE", "CRITICAL")]
    _, samples = _scrape(f"{server.url}/metrics")
    assert samples[("nh_server_ingest_frames_total", ())] == 5
    assert samples[("nh_server_anomalies_total", (("severity", "critical"),))] == 1
    assert samples[("nh_server_anomaly_log_head", ())] == anomalies[-1].sequence
    count = samples[("nh_server_http_request_duration_seconds_count",
                     (("method", "GET"), ("route", "/api/correlation")))]
    assert count == 1
    assert samples[("nh_server_http_requests_total",
                    (("method", "POST"), ("route", "/api/activations"), ("status", "200")))] == 1
    assert samples[("nh_server_websocket_connections", ())] == 1  # the bridge's version push
    assert samples[("process_resident_memory_bytes", ())] > 0


def test_server_metrics_need_the_token_when_one_is_set() -> None:
    with ServerProcess(token="s3cret") as server:
        req = urllib.request.Request(f"{server.url}/metrics")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
        req.add_header("Authorization", "Bearer s3cret")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert b"nh_server_anomaly_log_head" in resp.read()


def test_dashboard_queries_only_metrics_that_exist(
        processes: tuple[ServerProcess, BridgeProcess]) -> None:
    server, bridge = processes
    assert bridge.metrics_url is not None
    live = _names(_scrape(f"{server.url}/metrics")[0]) | _names(_scrape(bridge.metrics_url)[0])
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    queried = set()
    for expr in exprs:
        without_labels = re.sub(r"\{[^}]*\}|\[[^]]*\]", "", expr)
        queried |= {name for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels)
                    if name.startswith(("nh_", "process_"))}
    assert {n for n in queried if n.startswith("nh_server_")}, "no server panel"
    assert {n for n in queried if n.startswith("nh_bridge_")}, "no bridge panel"
    assert sorted(queried - live) == []
