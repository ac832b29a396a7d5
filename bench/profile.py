"""Profile the bridge or the server under one case's load with py-spy.

``python -m bench.profile unary`` starts a fresh server and bridge, puts the load of
that scenario on them, samples the chosen process with ``py-spy record`` and prints
the functions with the most samples (self and inclusive). The collapsed stacks are
kept (``--out``) for a flame graph (e.g. speedscope.app or inferno). py-spy comes with the
``dev`` extra, so ``make setup`` installs it.

Scenarios: ``unary`` (ghz GetAnomalies limit=10 at concurrency 32), ``unary-http``
(hey on the direct route, profile the server), ``matrix`` (SDK fetch of an N-label
matrix in a loop), ``fanout`` (N subscribers at 20 anomalies/s), ``ingest``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from neural_heatmap_contract import routes

from bench import _procs
from bench._data import ingest_binary, nan_frames
from bench._tools import build_protoset, find_tool


def summarise(raw: Path, top: int = 25) -> str:
    """Top functions by self and inclusive samples from py-spy's collapsed (raw) output."""
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        self_c[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    out = [f"{total} samples", "", "self:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in self_c.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    return "\n".join(out)


async def _load(scenario: str, env: _procs.Environment, seconds: float, arg: int) -> None:
    base = env.http_url
    rng = np.random.default_rng(0)
    async with aiohttp.ClientSession() as http:
        if scenario.startswith("unary"):
            for _ in range(30):
                await ingest_binary(http, base, "bench-unary", "fc1", nan_frames(1, 16, rng))
            with tempfile.TemporaryDirectory() as td:
                if scenario == "unary":
                    ps = build_protoset(Path(td) / "p.protoset")
                    cmd = [find_tool("ghz") or "ghz", "--insecure", "--protoset", str(ps),
                           "--call", "neural_heatmap.v1.NeuralHeatmapService.GetAnomalies",
                           "-d", '{"limit":10}', "-c", "32", "-z", f"{seconds}s", "--cpus", "1",
                           env.grpc_target]
                else:
                    cmd = [find_tool("hey") or "hey", "-z", f"{seconds}s", "-c", "32",
                           "-cpus", "1", f"{base}{routes.http('GetAnomalies').path}?limit=10"]
                p = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.DEVNULL)
                await p.wait()
        elif scenario == "matrix":
            from bench._data import correlated_series
            from bench.case_matrix import make_sdk_fetch

            x = correlated_series(64, arg, rng)
            await ingest_binary(http, base, "bench-matrix", f"u{arg}", x,
                                timestamps=time.time() - 64 + np.arange(64.0))
            _, fetch, close = await make_sdk_fetch(env.grpc_target)
            t_end = time.perf_counter() + seconds
            while time.perf_counter() < t_end:
                await fetch("bench-matrix", f"u{arg}")
            await close()
        elif scenario == "fanout":
            from bench._settings import Settings
            from bench.case_fanout import _one

            s = Settings(fanout_seconds=seconds)
            with tempfile.TemporaryDirectory() as td:
                r = await _one(env, s, http, arg, Path(td), rng)
            print({k: v for k, v in r.items() if k != "cpu_share"}, file=sys.stderr)
        elif scenario == "ingest":
            from bench._settings import Settings
            from bench.case_ingest import run

            s = Settings(ingest_frames=arg, ingest_reps=3)
            await run(env, s, {})
        else:
            raise SystemExit(f"unknown scenario {scenario}")


async def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=["unary", "unary-http", "matrix", "fanout", "ingest"])
    ap.add_argument("--process", choices=["bridge", "server"], default="bridge")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--arg", type=int, default=2048,
                    help="matrix labels / fan-out subscribers / ingest frames")
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--out", type=Path, default=None, help="keep collapsed stacks here")
    ap.add_argument("--native", action="store_true", help="py-spy --native (C frames)")
    a = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    env = await asyncio.to_thread(_procs.start, 60.0)
    try:
        pid = env.bridge_pid if a.process == "bridge" else env.server_pid
        out = a.out or Path(tempfile.mkdtemp()) / f"{a.scenario}-{a.process}.txt"
        cmd = [spy, "record", "--pid", str(pid), "--rate", str(a.rate), "--format", "raw",
               "--output", str(out)]
        # --native must pause the process to unwind C frames; without it, sample non-blocking.
        cmd.append("--native" if a.native else "--nonblocking")
        spy_proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await asyncio.sleep(0.5)
        meter = _procs.CpuMeter(env)
        meter.start()
        await _load(a.scenario, env, a.seconds, a.arg)
        cpu = meter.stop()
        if spy_proc.returncode is None:
            spy_proc.send_signal(2)
        _, err = await spy_proc.communicate()
        print(f"CPU share during load: {cpu}")
        if out.exists():
            print(summarise(out))
            print(f"collapsed stacks: {out}")
        else:
            print(f"py-spy wrote nothing: {err.decode()[-2000:]}")
    finally:
        await asyncio.to_thread(env.close)


if __name__ == "__main__":
    asyncio.run(main())
