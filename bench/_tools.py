"""The load generators: ``ghz`` (gRPC) and ``hey`` (HTTP), both Go binaries.

Both run with the same concurrency, the same duration and one OS thread each
(``--cpus 1`` / ``-cpus 1``) so that neither takes more of the two cores than
the other; their own latency numbers are free of Python client overhead.
Install them with ``make setup`` (see docs/benchmarks.md) or set ``GHZ`` / ``HEY``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._machine import REPO

SERVICE = "neural_heatmap.v1.NeuralHeatmapService"


def find_tool(name: str) -> str | None:
    """``$GHZ`` / ``$HEY``, then ``.tools/bin/<name>``, then ``PATH``."""
    env = os.environ.get(name.upper())
    if env and Path(env).is_file():
        return env
    local = REPO / ".tools" / "bin" / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def build_protoset(out: Path) -> Path:
    """Compile the protos (with their imports) into a descriptor set ghz can read."""
    import grpc_tools

    wkt = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(REPO / "protos"))
                    for p in (REPO / "protos").rglob("*.proto"))
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'protos'}", f"-I{wkt}",
           "--include_imports", f"--descriptor_set_out={out}", *protos]
    subprocess.run(cmd, check=True, cwd=REPO / "protos", capture_output=True, timeout=120)
    return out


def run_ghz(ghz: str, protoset: Path, target: str, method: str, data: dict[str, Any],
            concurrency: int, seconds: float) -> dict[str, Any]:
    """Run ghz for ``seconds`` at ``concurrency``; requests/s, latency percentiles, errors."""
    cmd = [ghz, "--insecure", "--protoset", str(protoset), "--call", f"{SERVICE}.{method}",
           "-d", json.dumps(data), "-c", str(concurrency), "-z", f"{seconds}s",
           "--cpus", "1", "--format", "json", "--timeout", "10s", target]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0 and not proc.stdout.strip():
        raise RuntimeError(f"ghz failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    rep = json.loads(proc.stdout)
    lat = {int(d["percentage"]): d["latency"] / 1e6
           for d in rep.get("latencyDistribution") or []}
    status = rep.get("statusCodeDistribution") or {}
    ok = int(status.get("OK", 0))
    count = int(rep.get("count", 0))
    return {
        "rps": float(rep.get("rps", 0.0)) * (ok / count if count else 0.0),
        "count": count,
        "ok": ok,
        "errors": count - ok,
        "p50_ms": lat.get(50),
        "p99_ms": lat.get(99),
        "status": status,
    }


_HEY_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_HEY_PCT = re.compile(r"^\s+(\d+)%+ in ([0-9.]+) secs", re.M)
_HEY_STATUS = re.compile(r"\[(\d+)\]\s+(\d+) responses")
_HEY_ERR = re.compile(r"^\s+\[(\d+)\]\s+(.+)$", re.M)


def run_hey(hey: str, url: str, concurrency: int, seconds: float, *,
            body: bytes | None = None, content_type: str = "",
            headers: Sequence[str] = ()) -> dict[str, Any]:
    """Run hey for ``seconds`` at ``concurrency``; requests/s (2xx only), latencies, errors.

    With ``body``, every request is a ``POST`` of it (a Connect or gRPC-Web call) with
    ``content_type`` and ``headers`` (``"name: value"``).
    """
    cmd = [hey, "-z", f"{seconds}s", "-c", str(concurrency), "-cpus", "1", "-t", "10"]
    with tempfile.NamedTemporaryFile(prefix="nh-hey-", suffix=".bin") as f:
        if body is not None:
            f.write(body)
            f.flush()
            cmd += ["-m", "POST", "-D", f.name, "-T", content_type]
        for header in headers:
            cmd += ["-H", header]
        proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60)
    out = proc.stdout
    m = _HEY_RPS.search(out)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"hey failed ({proc.returncode}): {(proc.stderr or out)[:500]}")
    pct = {int(p): float(s) * 1000 for p, s in _HEY_PCT.findall(out)}
    status = {int(c): int(n) for c, n in _HEY_STATUS.findall(out)}
    ok = sum(n for c, n in status.items() if 200 <= c < 300)
    total = sum(status.values())
    errs = 0
    if "Error distribution:" in out:
        errs = sum(int(n) for n, _ in _HEY_ERR.findall(out.split("Error distribution:", 1)[1]))
    rps = float(m.group(1))
    return {
        "rps": rps * (ok / (total + errs) if total + errs else 0.0),
        "count": total + errs,
        "ok": ok,
        "errors": total + errs - ok,
        "p50_ms": pct.get(50),
        "p99_ms": pct.get(99),
        "status": status,
    }
