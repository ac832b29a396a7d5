"""``neural-heatmap-serve`` (what ``make run`` calls): server + source + bridge, stopped cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
from neural_heatmap_contract.v1 import analytics_pb2, common_pb2
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

from tests.support.server_process import free_port

ALL_SEVERITIES = {v.number for v in common_pb2.Severity.DESCRIPTOR.values if v.number}
ALL_TYPES = {v.number for v in analytics_pb2.AnomalyType.DESCRIPTOR.values if v.number}
ACCEPTANCE_SECONDS = 60.0  # issue 4: live anomalies within 60 s of ``make run``


async def test_serve_runs_server_source_and_bridge(tmp_path: Path) -> None:
    """As ``make run`` (default source rate): models, heatmaps, then every kind of anomaly live.

    The built-in source's scheduled incidents cover all four severities and all
    five anomaly types; a gRPC subscriber resuming from sequence 0 must see all
    of them, in sequence order, within the acceptance window.
    """
    assert (len(ALL_SEVERITIES), len(ALL_TYPES)) == (4, 5)
    started = time.monotonic()
    http_port, grpc_port, web_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "neural_heatmap_bridge.serve", "--server-port", str(http_port),
         "--server-data-dir", str(tmp_path), "--listen", f"127.0.0.1:{grpc_port}",
         "--web-port", str(web_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            deadline = started + 30
            models: list[str] = []
            while time.monotonic() < deadline and not models:
                try:
                    resp = await stub.ListModels(pb.ListModelsRequest(), timeout=1)
                    models = [m.model_id for m in resp.models]
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.2)
            assert models, "the built-in source produced no model"
            call = stub.SubscribeHeatmap(pb.SubscribeHeatmapRequest())
            update = await asyncio.wait_for(call.read(), 10)
            call.cancel()
            assert update.update.model_id in models

            anomalies = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=0))
            sequences: list[int] = []
            severities: set[int] = set()
            types: set[int] = set()
            try:
                while severities != ALL_SEVERITIES or types != ALL_TYPES:
                    left = started + ACCEPTANCE_SECONDS - time.monotonic()
                    assert left > 0, (sorted(severities), sorted(types))
                    msg = await asyncio.wait_for(anomalies.read(), left)
                    for a in msg.update.anomalies:
                        sequences.append(a.sequence)
                        severities.add(a.severity)
                        types.add(a.anomaly_type)
            finally:
                anomalies.cancel()
            assert sequences == list(range(1, len(sequences) + 1))
        page = await asyncio.to_thread(_get, f"http://127.0.0.1:{web_port}/")
        assert page.startswith(b"<!doctype html>"), page[:80]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert "gRPC bridge on" in out
    assert f"dashboard on http://127.0.0.1:{web_port}/" in out, out[-2000:]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bytes(resp.read())


def test_serve_help_shows_its_flags_the_server_pass_through_and_examples() -> None:
    """``--help`` is serve's own: bridge flags, every server flag renamed, examples."""
    done = subprocess.run([sys.executable, "-m", "neural_heatmap_bridge.serve", "--help"],
                          capture_output=True, text=True, timeout=60, check=True)
    out = done.stdout
    assert out.startswith("usage: neural-heatmap-serve ")
    assert "--listen LISTEN" in out and "--token TOKEN" in out  # the bridge's flags
    server = out.split("server flags (passed through to neural-heatmap-server):", 1)[1]
    for flag in ("--server-port PORT", "--server-data-dir DATA_DIR", "--no-server-source",
                 "--server-source-rate", "--server-max-body-bytes"):
        assert flag in server, flag
    assert "  --port" not in server and "--help" not in server
    examples = out.split("\nexamples:\n", 1)[1]
    assert "neural-heatmap-serve --server-data-dir var/data" in examples
