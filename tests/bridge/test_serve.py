"""``neural-heatmap-serve`` (what ``make run`` calls): server + source + bridge, stopped cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from neural_heatmap.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

from tests.support.server_process import free_port


async def test_serve_runs_server_source_and_bridge(tmp_path: Path) -> None:
    http_port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "neural_heatmap_bridge.serve", "--server-port", str(http_port),
         "--server-data-dir", str(tmp_path), "--server-source-rate", "30",
         "--listen", f"127.0.0.1:{grpc_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            deadline = time.monotonic() + 30
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
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert "gRPC bridge on" in out
