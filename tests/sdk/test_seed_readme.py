"""Every code block of the seed's README, with only the address changed, against live services.

The blocks are copied verbatim from ``seed/neural_heatmap_python_api.md``;
:func:`_address` swaps ``http://localhost:8080`` for the bridge's address and
nothing else. Blocks written with top-level ``await`` run as the body of a
coroutine; blocks that call ``asyncio.run`` run as scripts on their own thread
(or, for the endless monitor, in their own process).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
from neural_heatmap import NeuralHeatmapClient

from tests.sdk.conftest import SINE_HZ, Seed, nan_frame
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SEED_ADDRESS = "http://localhost:8080"

QUICK_START = '''
from neural_heatmap import NeuralHeatmapClient, connect

# Connect to server
client = await connect("http://localhost:8080")

# Get correlation matrix
matrix = await client.get_correlation_matrix()
print(f"Correlation matrix: {len(matrix.matrix)}x{len(matrix.matrix[0])}")

# Apply filter
await client.set_filter(layer_ids=["layer1", "layer2"])

# Get temporal patterns
patterns = await client.get_temporal_patterns()

# Export data
await client.export_correlation_matrix("correlation.csv")

# Disconnect
await client.disconnect()
'''

REAL_TIME = '''
from neural_heatmap import NeuralHeatmapClient

async with NeuralHeatmapClient("http://localhost:8080") as client:
    # Subscribe to heatmap updates
    await client.subscribe_heatmap()

    # Stream updates
    async for update in client.stream_updates():
        print(f"Update: {update}")
'''

CORRELATION_ANALYSIS = '''
import asyncio
from neural_heatmap import connect

async def analyze_correlations():
    async with await connect("http://localhost:8080") as client:
        # Get correlation as DataFrame
        df = await client.get_correlation_matrix(as_dataframe=True)

        # Find strong correlations
        strong_corr = df[df > 0.7].stack().reset_index()
        print(strong_corr)

asyncio.run(analyze_correlations())
'''

TEMPORAL_PATTERNS = '''
async def detect_patterns():
    async with await connect("http://localhost:8080") as client:
        # Get temporal patterns
        patterns = await client.get_temporal_patterns()

        # Analyze periodic patterns
        periodic = [p for p in patterns if p.pattern_type == 'periodic']
        for p in periodic:
            print(f"Frequency: {p.frequency} Hz, Confidence: {p.confidence}")

asyncio.run(detect_patterns())
'''

MONITORING = '''
async def monitor_anomalies():
    async with await connect("http://localhost:8080") as client:
        # Subscribe to anomaly updates
        await client.subscribe_anomalies()

        # Monitor for critical anomalies
        async for update in client.stream_updates():
            if update.severity == 'critical':
                print(f"CRITICAL: {update.description}")

asyncio.run(monitor_anomalies())
'''

THEME = '''
from neural_heatmap import VisualizationTheme

await client.set_theme(VisualizationTheme.PLASMA)
'''

ERROR_HANDLING = '''
async def safe_api_call():
    try:
        async with await connect("http://localhost:8080") as client:
            matrix = await client.get_correlation_matrix()
            return matrix
    except Exception as e:
        print(f"Error: {e}")
        return None

asyncio.run(safe_api_call())
'''

# What the earlier blocks of the README imported: later blocks rely on it.
PRELUDE = "import asyncio\nfrom neural_heatmap import connect\n"


def _address(code: str, target: str) -> str:
    assert SEED_ADDRESS in code
    return code.replace(SEED_ADDRESS, target)


async def _run_async_block(code: str, namespace: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Run a top-level-await block as a coroutine body; return its output and locals."""
    src = "async def __block__():\n" + textwrap.indent(code, "    ") + "\n    return locals()\n"
    exec(compile(src, "<seed-readme>", "exec"), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        local_vars = await namespace["__block__"]()
    return out.getvalue(), local_vars


async def _run_script_block(code: str) -> tuple[str, dict[str, Any]]:
    """Run a block that calls ``asyncio.run`` on its own thread, as a script would."""
    namespace: dict[str, Any] = {"__name__": "__seed__"}
    out = io.StringIO()

    def run() -> None:
        exec(compile(PRELUDE + code, "<seed-readme>", "exec"), namespace)

    with contextlib.redirect_stdout(out):
        await asyncio.to_thread(run)
    return out.getvalue(), namespace


async def test_quick_start(
    client: NeuralHeatmapClient, seeded: Seed, bridge: BridgeProcess, server: ServerProcess
) -> None:
    n = len((await client.get_correlation_matrix()).labels)
    try:
        out, local_vars = await _run_async_block(_address(QUICK_START, bridge.target), {})
    finally:
        await client.clear_filter()
    assert f"Correlation matrix: {n}x{n}" in out and n >= 4
    assert local_vars["matrix"].labels[:4] == ["m1/a", "m1/b", "m1/c", "m1/d"]
    assert any(p.pattern_type == "periodic" for p in local_vars["patterns"])
    assert (server.export_dir / "correlation.csv").is_file()
    assert not local_vars["client"].is_connected


async def test_real_time_updates(
    client: NeuralHeatmapClient, seeded: Seed, bridge: BridgeProcess
) -> None:
    code = _address(REAL_TIME, bridge.target)
    src = "async def __block__():\n" + textwrap.indent(code, "    ") + "\n"
    namespace: dict[str, Any] = {}
    exec(compile(src, "<seed-readme>", "exec"), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        task = asyncio.create_task(namespace["__block__"]())
        deadline = time.monotonic() + 15
        step = 0
        while out.getvalue().count("Update: ") < 3 and time.monotonic() < deadline:
            await client.log_activations("readme-live", "fc", np.linspace(0, 1, 16) * (step % 5),
                                         step=step)
            step += 1
            await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    lines = [line for line in out.getvalue().splitlines() if line.startswith("Update: ")]
    assert len(lines) >= 3, out.getvalue()
    assert all("HeatmapUpdate(" in line for line in lines)
    assert any("model_id='readme-live'" in line for line in lines)


async def test_correlation_analysis(seeded: Seed, bridge: BridgeProcess) -> None:
    out, _ = await _run_script_block(_address(CORRELATION_ANALYSIS, bridge.target))
    rows = [line.split() for line in out.splitlines()[1:] if not line.startswith("[")]
    pairs = {(r[1], r[2]) for r in rows if len(r) == 4}
    assert ("m1/a", "m1/b") in pairs  # pandas may elide the middle of a long table
    # pandas 3 keeps NaN cells in stack(); every number printed is a strong correlation
    assert all(r[3] in ("NaN", "...") or float(r[3]) > 0.7 for r in rows if len(r) == 4), out


async def test_temporal_pattern_detection(seeded: Seed, bridge: BridgeProcess) -> None:
    out, _ = await _run_script_block(_address(TEMPORAL_PATTERNS, bridge.target))
    lines = [line for line in out.splitlines() if line.startswith("Frequency: ")]
    assert len(lines) >= 2, out
    freqs = [float(line.split()[1]) for line in lines]
    assert any(abs(f - SINE_HZ) < 0.01 for f in freqs)
    assert all("Confidence: " in line for line in lines)


async def test_real_time_monitoring(
    client: NeuralHeatmapClient, seeded: Seed, bridge: BridgeProcess
) -> None:
    script = PRELUDE + _address(MONITORING, bridge.target)
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=ROOT, text=True,
    )
    assert proc.stdout is not None
    try:
        loop = asyncio.get_running_loop()
        first = loop.run_in_executor(None, proc.stdout.readline)
        deadline = time.monotonic() + 30
        while not first.done() and time.monotonic() < deadline:
            await client.log_activations("readme-monitor", "fc", nan_frame())
            await asyncio.sleep(0.3)
        line = await asyncio.wait_for(first, 5)
    finally:
        proc.kill()
        proc.wait()
    assert line.startswith("CRITICAL: Critical non finite in readme-monitor/fc"), (
        line, proc.stderr.read() if proc.stderr else "")


async def test_theme_system(client: NeuralHeatmapClient) -> None:
    await _run_async_block(THEME, {"client": client})
    assert (await client.get_theme()).theme == "plasma"
    await client.set_theme("thermal")


async def test_error_handling(seeded: Seed, bridge: BridgeProcess) -> None:
    out, namespace = await _run_script_block(_address(ERROR_HANDLING, bridge.target))
    assert out == ""  # no error against the live bridge
    matrix = await asyncio.to_thread(asyncio.run, namespace["safe_api_call"]())
    assert matrix is not None and "m1/a" in matrix.labels
    # the block unchanged, pointed at the HTTP server's address, explains the mistake
    out, _ = await _run_script_block(ERROR_HANDLING)
    assert out.startswith("Error: ") and "gRPC" in out and "bridge" in out
    assert "localhost:50051" in out
