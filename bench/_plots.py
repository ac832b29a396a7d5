"""Scaling curves drawn from a results document (PNG, matplotlib), shown in docs/benchmarks.md.

- ``bench-fanout-latency.png``: delivery latency p50/p99 vs subscribers (fan-out case).
- ``bench-matrix-time.png``: wall time to an ndarray vs labels, for the seed JSON route,
  the SDK via the bridge and the raw binary floor (matrix case).
- ``bench-throughput-concurrency.png``: GetAnomalies(limit=10) requests/s vs concurrency,
  direct HTTP and the bridge with its read cache on and off (reads case).

A curve whose case did not run (or failed) is simply not drawn; the others still are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

MATRIX_VARIANTS = ("seed JSON route (HTTP)", "SDK via bridge", "raw binary HTTP (floor)")


def _case(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    for case in doc.get("cases", []):
        if case.get("name") == name and not case.get("error"):
            return dict(case)
    return None


def _save(fig: Any, out: Path, name: str, doc: dict[str, Any]) -> Path:
    machine = doc.get("machine", {})
    stamp = f"python -m bench, {machine.get('date', '')}, commit {machine.get('commit', '?')}"
    fig.text(0.99, 0.01, stamp, ha="right", va="bottom", fontsize=7, color="grey")
    fig.tight_layout()
    path = out / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fanout_latency(doc: dict[str, Any], out: Path) -> Path | None:
    case = _case(doc, "fanout")
    runs = (case or {}).get("extra", {}).get("runs") or {}
    if not runs:
        return None
    runs = {int(n): rr for n, rr in runs.items() if rr}  # JSON keys are strings
    sizes = sorted(runs)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        ax.plot(sizes, [float(np.median([r[key] for r in runs[n]])) for n in sizes],
                marker="o", label=label)
    ax.axhline(250, color="red", linestyle="--", linewidth=1, label="target p99 < 250 ms")
    ax.set(xscale="log", xlabel="subscribers (SubscribeAnomalies streams)",
           ylabel="delivery latency (ms)", title="Fan-out at 20 anomalies/s")
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.legend()
    return _save(fig, out, "bench-fanout-latency.png", doc)


def matrix_time(doc: dict[str, Any], out: Path) -> Path | None:
    case = _case(doc, "matrix")
    if case is None:
        return None
    series: dict[str, dict[int, float]] = {v: {} for v in MATRIX_VARIANTS}
    for row in case.get("rows", []):
        found = re.match(r"(\d+) labels", row.get("group", ""))
        if found and row.get("variant") in series and row.get("metric") == "wall time to ndarray":
            series[row["variant"]][int(found.group(1))] = row["median"]
    if not any(series.values()):
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, points in series.items():
        if points:
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker="o", label=variant)
    ax.set(xscale="log", yscale="log", xlabel="labels (matrix is labels x labels float32)",
           ylabel="wall time to ndarray (ms)", title="Correlation matrix time vs size")
    sizes = sorted({x for points in series.values() for x in points})
    ax.set_xticks(sizes, [str(x) for x in sizes])
    ax.minorticks_off()
    ax.legend()
    return _save(fig, out, "bench-matrix-time.png", doc)


def throughput_concurrency(doc: dict[str, Any], out: Path) -> Path | None:
    case = _case(doc, "reads")
    sweep = (case or {}).get("extra", {}).get("concurrency_sweep")
    if not sweep:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, raw in sweep["requests_per_s"].items():
        points = {int(c): v for c, v in raw.items()}  # JSON keys are strings
        xs = sorted(points)
        ax.plot(xs, [points[c] for c in xs], marker="o", label=variant)
    ax.set(xscale="log", xlabel="concurrent requests", ylabel="requests/s",
           title="GetAnomalies(limit=10): throughput vs concurrency")
    ax.set_xticks(sweep["levels"], [str(c) for c in sweep["levels"]])
    ax.minorticks_off()
    ax.set_ylim(bottom=0)
    ax.legend()
    return _save(fig, out, "bench-throughput-concurrency.png", doc)


def draw(doc: dict[str, Any], out: Path) -> list[Path]:
    """Draw every curve the document has data for into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    drawn = [fanout_latency(doc, out), matrix_time(doc, out), throughput_concurrency(doc, out)]
    return [p for p in drawn if p is not None]
