"""Measure the bridge's memory under streams that never read (issue 23, finding 5).

Starts a real server and a real bridge (``tests.support`` launchers), ingests
frames so the server raises ``--rate`` anomalies per second, opens
``--idle`` ``SubscribeAnomalies`` calls that are never read (and ``--readers``
that are), holds them ``--seconds``, then closes them and waits ``--after``
seconds, ``--waves`` times. Prints the bridge's RSS and its anonymous memory (``/proc/PID/smaps``:
the main heap and the other anonymous mappings, where glibc's per-thread arenas
live) every ``--every`` seconds, and how every idle stream ended.

Usage::

    PYTHONPATH=... python scripts/bridge_memory.py --idle 500 --seconds 240
    python scripts/bridge_memory.py --bridge-env MALLOC_ARENA_MAX=2 ...
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neural_heatmap_contract import routes
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support._process import rss_mib
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

TRACE_WRAPPER = """
import runpy, signal, sys, tracemalloc
tracemalloc.start(1)
out = sys.argv[1]
def dump(*_):
    stats = tracemalloc.take_snapshot().statistics("lineno")
    with open(out, "w") as f:
        f.write(f"traced {sum(s.size for s in stats) / 2**20:.1f} MiB\\n")
        f.writelines(f"{s}\\n" for s in stats[:25])
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["neural_heatmap_bridge", *sys.argv[2:]]
runpy.run_module("neural_heatmap_bridge", run_name="__main__")
"""


class TracedBridge(BridgeProcess):
    """The bridge under ``tracemalloc``: SIGUSR1 writes its top allocations to ``trace_path``."""

    @property
    def trace_path(self) -> Path:
        return self._tmp / "tracemalloc.txt"

    def _command(self) -> list[str]:
        cmd = super()._command()
        return [cmd[0], "-c", TRACE_WRAPPER, str(self.trace_path), *cmd[3:]]

    def trace(self) -> str:
        assert self.proc is not None
        self.trace_path.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.trace_path.exists():
            time.sleep(1)
        time.sleep(2)  # written in one go, but let it finish
        return self.trace_path.read_text() if self.trace_path.exists() else "(no trace)"


def anon_kib(pid: int) -> dict[str, int]:
    """Anonymous resident KiB of ``pid``: the ``[heap]`` and every other anonymous mapping."""
    out = {"heap": 0, "anon": 0}
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                name = parts[5] if len(parts) > 5 else ""
            elif parts[0] == "Rss:" and name in ("", "[heap]"):
                out["heap" if name == "[heap]" else "anon"] += int(parts[1])
    return out


async def ingest(url: str, rate: int, stop: asyncio.Event) -> None:
    """Ten batches a second, ``rate / 10`` frames with a NaN in each (one anomaly each)."""
    per_batch = max(1, rate // 10)
    step = 0
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            frames = []
            for i in range(per_batch):
                values: list[float | str] = [0.1 * ((step + j) % 7) for j in range(64)]
                values[i % 64] = "NaN"
                frames.append({"model_id": "mem", "layer_id": f"l{i % 4}", "step": step,
                               "values": values})
                step += 1
            async with http.post(url + routes.http("IngestActivations").path,
                                 data=json.dumps({"frames": frames}),
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
            await asyncio.sleep(0.1)


def sample(pid: int, t0: float, label: str) -> None:
    a = anon_kib(pid)
    print(f"{time.monotonic() - t0:7.1f}s {label:8s} rss {rss_mib(pid):7.1f} MiB  "
          f"heap {a['heap'] / 1024:7.1f}  other-anon {a['anon'] / 1024:7.1f}", flush=True)


async def _wave(
    a: argparse.Namespace, bridge: BridgeProcess, t0: float, received: list[int]
) -> None:
    """Open the idle calls and the readers, hold them, close them, watch the RSS settle."""
    channels = [bridge.aio_channel() for _ in range(a.channels)]
    stubs = [pb_grpc.NeuralHeatmapServiceStub(ch) for ch in channels]
    idle = [stubs[i % a.channels].SubscribeAnomalies(pb.SubscribeAnomaliesRequest())
            for i in range(a.idle)]

    async def read(i: int) -> None:
        async for msg in stubs[i % a.channels].SubscribeAnomalies(
                pb.SubscribeAnomaliesRequest()):
            received[i] += len(msg.update.anomalies)

    readers = [asyncio.create_task(read(i)) for i in range(a.readers)]
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        await asyncio.sleep(a.every)
        sample(bridge.pid, t0, "open")
    ended = collections.Counter([(await c.code()).name for c in idle if c.done()])
    print("idle streams ended by the bridge:", dict(ended) or "none", flush=True)
    for c in idle:
        c.cancel()
    for r in readers:
        r.cancel()
    for ch in channels:
        await ch.close()
    end = time.monotonic() + a.after
    while time.monotonic() < end:
        await asyncio.sleep(a.every)
        sample(bridge.pid, t0, "closed")


async def run(a: argparse.Namespace) -> None:
    env = dict(kv.split("=", 1) for kv in a.bridge_env)
    with ServerProcess(extra_args=["--anomaly-cooldown", "0", "--anomaly-retention",
                                   "1000000"]) as server, \
            (TracedBridge if a.tracemalloc else BridgeProcess)(
                server.url, *a.bridge_arg, env=env) as bridge:
        t0 = time.monotonic()
        stop = asyncio.Event()
        writer = asyncio.create_task(ingest(server.url, a.rate, stop))
        sample(bridge.pid, t0, "start")
        received = [0] * a.readers
        for wave in range(1, a.waves + 1):
            await _wave(a, bridge, t0, received)
            print(f"after wave {wave}: rss {rss_mib(bridge.pid):.1f} MiB", flush=True)
        if isinstance(bridge, TracedBridge):
            print(bridge.trace(), flush=True)
        if a.trim:
            print("glibc malloc_stats (in the bridge's log) and malloc_trim(0) via gdb", flush=True)
            subprocess.run(["gdb", "-p", str(bridge.pid), "-batch", "-ex",
                            "call (void)malloc_stats()", "-ex", "call (int)malloc_trim(0)"],
                           capture_output=True, check=False)
            sample(bridge.pid, t0, "trimmed")
            print(bridge.log()[-3000:], flush=True)
        stop.set()
        await writer
        print("anomalies read per reader:", received[:5], flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=int, default=500, help="streams never read")
    ap.add_argument("--readers", type=int, default=0, help="streams read")
    ap.add_argument("--channels", type=int, default=4, help="client channels (connections)")
    ap.add_argument("--rate", type=int, default=40, help="anomalies per second")
    ap.add_argument("--seconds", type=float, default=240.0, help="how long streams stay open")
    ap.add_argument("--waves", type=int, default=1, help="times the streams are opened")
    ap.add_argument("--after", type=float, default=30.0, help="seconds measured after closing")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="run the bridge under tracemalloc and print its top allocations")
    ap.add_argument("--trim", action="store_true",
                    help="at the end, call malloc_stats() and malloc_trim(0) in the bridge (gdb)")
    ap.add_argument("--bridge-arg", action="append", default=[], help="extra bridge flag")
    ap.add_argument("--bridge-env", action="append", default=[], help="NAME=VALUE for the bridge")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
