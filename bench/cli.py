"""``python -m bench``: start the server and the bridge, run the cases, write the results."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import _machine, _plots, _procs, _report
from bench._results import CaseResult
from bench._settings import Settings
from bench._tools import build_protoset, find_tool

CASES = ["unary", "reads", "matrix", "fanout", "ingest", "analytics", "torch", "cluster",
         "connect", "browser"]
TITLES = {
    "unary": "small anomaly queries, bridge vs direct HTTP",
    "reads": "hot reads with the read cache on and off; throughput vs concurrency",
    "matrix": "large correlation matrix to numpy",
    "fanout": "anomaly stream fan-out",
    "ingest": "activation ingestion",
    "analytics": "correlation query vs numpy.corrcoef",
    "torch": "training-step overhead of neural_heatmap.torch.watch",
    "cluster": "anomaly fan-out: 3 bridges on JetStream vs 1 bridge on SQLite",
    "connect": "Connect and gRPC-Web on the web port vs gRPC, unary and streaming",
    "browser": "the dashboard in headless Chromium: ingest-to-pixel latency, draw time, bytes",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and short durations (what CI runs); writes latest-quick.*")
    ap.add_argument("--tiny", action="store_true",
                    help="even smaller than --quick (the smoke test); implies --quick")
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma list of cases to run, from {','.join(CASES)}")
    ap.add_argument("--out", type=Path, default=Path("bench/results"),
                    help="directory for <name>.json and <name>.md")
    ap.add_argument("--name", default=None,
                    help="file stem of the results (default: latest, or latest-quick with "
                         "--quick, so a quick run never overwrites the full results)")
    ap.add_argument("--reps", type=int, default=None, help="override repetitions per comparison")
    ap.add_argument("--plots", type=Path, default=None,
                    help="directory for the scaling curves (PNG); default: docs/images for a "
                         "full run, none for --quick")
    ap.add_argument("--no-launchers", action="store_true",
                    help="spawn server and bridge directly instead of tests.support launchers")
    a = ap.parse_args(argv)
    unknown = [c for c in a.cases.split(",") if c and c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {CASES}")
    return a


async def _run_case(name: str, s: Settings, ctx: dict[str, Any], launchers: bool) -> CaseResult:
    mod = importlib.import_module(f"bench.case_{name}")
    t0 = time.perf_counter()
    env = None
    try:
        env = await asyncio.to_thread(_procs.start, 90.0, use_launchers=launchers)
        ctx["launcher"] = env.launcher
        res: CaseResult = await mod.run(env, s, ctx)
    except Exception as exc:
        res = CaseResult(name, TITLES[name], error=f"{type(exc).__name__}: {exc}")
        res.extra["traceback"] = traceback.format_exc()
        if env is not None:
            res.extra["process_logs"] = env.logs()
        print(f"[bench] case {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        if env is not None:
            await asyncio.to_thread(env.close)
    res.seconds = time.perf_counter() - t0
    return res


async def _main(a: argparse.Namespace) -> int:
    if a.tiny:
        a.quick = True
    s = (Settings.tiny_settings() if a.tiny else
         Settings.quick_settings() if a.quick else Settings())
    if a.reps:
        s.reps = s.matrix_reps = s.ingest_reps = s.analytics_reps = s.torch_reps = a.reps
    s.out = a.out
    cases = [c for c in a.cases.split(",") if c]
    tools = {"ghz": find_tool("ghz"), "hey": find_tool("hey")}
    machine = _machine.describe(tools)
    t0 = time.perf_counter()
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="nh-bench-protoset-") as td:
        ctx: dict[str, Any] = {"tools": tools}
        try:
            ctx["protoset"] = build_protoset(Path(td) / "neural_heatmap.protoset")
        except Exception as exc:
            print(f"[bench] no protoset for ghz ({exc}); Python load generators used",
                  file=sys.stderr)
        for name in cases:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            res = await _run_case(name, s, ctx, not a.no_launchers)
            print(f"[bench] {name} done in {res.seconds:.1f} s", file=sys.stderr, flush=True)
            results.append(res)
    machine["load_average_end"] = _machine.load_average()
    targets = [t for r in results for t in r.targets]
    for r in results:  # a failed case still lists its targets, as not measured
        if r.error:
            targets.append({"id": f"{r.name}_failed", "case": r.name,
                            "description": f"{r.name} case", "requirement": "runs",
                            "measured": None, "unit": "", "passed": False,
                            "note": r.error.splitlines()[0][:200]})
    doc = {
        "schema": 1,
        "machine": machine,
        "settings": s.to_json(),
        "launcher": ctx.get("launcher"),
        "seconds": round(time.perf_counter() - t0, 1),
        "cases": [r.to_json() for r in results],
        "targets": targets,
    }
    stem = a.name or ("latest-quick" if a.quick else "latest")
    jp, mp = _report.write(doc, a.out, stem)
    plots = a.plots or (None if a.quick else _machine.REPO / "docs" / "images")
    if plots is not None:
        for path in _plots.draw(doc, plots):
            print(f"[bench] drew {path}", file=sys.stderr)
    print(mp.read_text())
    print(f"[bench] wrote {jp} and {mp} in {doc['seconds']:.0f} s", file=sys.stderr)
    return 1 if any(r.error for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_main(parse_args(argv)))
