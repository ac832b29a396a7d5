"""Write the results as JSON and as a Markdown table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    if ax == 0:
        return "0"
    return f"{x:.3g}"


def _spread(lo: float | None, hi: float | None) -> str:
    return "-" if lo is None or hi is None else f"{fmt(lo)}-{fmt(hi)}"


def _ratio(row: dict[str, Any]) -> str:
    r = row.get("ratio")
    if not r or r.get("median") is None:
        return ""
    label = row.get("ratio_label", "")
    return f"**{fmt(r['median'])}** {label} ({_spread(r['min'], r['max'])})"


def _result(t: dict[str, Any]) -> str:
    if t["passed"] is None:
        return "not measured"
    return "PASS" if t["passed"] else "**MISS**"


def machine_line(m: dict[str, Any]) -> str:
    return (f"{m['cpu_model']}, {m['cores']} cores, {m.get('memory_gib')} GiB, {m['os']}; "
            f"Python {m['python']}, grpcio {m['grpcio']}, protobuf {m['protobuf']}, "
            f"numpy {m['numpy']}, aiohttp {m['aiohttp']}; ghz {m.get('ghz') or 'missing'}, "
            f"hey {m.get('hey') or 'missing'}")


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        f"# Neural Heatmap benchmarks ({'quick' if doc['settings']['quick'] else 'full'} run)",
        "",
        f"- Date: {m['date']}, commit {m.get('commit')}, run took {doc['seconds']:.0f} s",
        f"- Machine: {machine_line(m)}",
        f"- Load average (1/5/15 min) at start {m.get('load_average_start')}, "
        f"at end {m.get('load_average_end')} (shared machine: other work was running)",
        f"- Processes: {doc.get('launcher', '?')}; fresh server + bridge per case",
        "",
        "Values are the median over repetitions, with the inter-quartile range (p25-p75) and "
        "min-max of the per-repetition values. Ratios are paired per repetition (variants run "
        "back to back, order alternating). See docs/benchmarks.md.",
        "",
    ]
    if doc["settings"]["quick"]:
        lines += ["> Quick run: small sizes and short durations; targets are indicative only.",
                  ""]
    lines += ["## Targets", "", "| target | requirement | measured | result | note |",
              "|---|---|---|---|---|"]
    for t in doc["targets"]:
        lines.append(f"| {t['description']} | {t['requirement']} | {fmt(t['measured'])} "
                     f"{t['unit']} | {_result(t)} | {t.get('note', '')} |")
    for c in doc["cases"]:
        lines += ["", f"## {c['name']}: {c['title']}", ""]
        if c.get("error"):
            lines += [f"**Case failed:** `{c['error'].splitlines()[0][:300]}`", ""]
        if c["rows"]:
            lines += ["| group | variant | metric | median | p25-p75 | min-max | n | ratio |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in c["rows"]:
                note = f" ({r['note']})" if r.get("note") else ""
                lines.append(
                    f"| {r['group']} | {r['variant']} | {r['metric']}{note} | "
                    f"{fmt(r['median'])} {r['unit']} | {_spread(r['p25'], r['p75'])} | "
                    f"{_spread(r['min'], r['max'])} | {r['n']} | {_ratio(r)} |")
        if c.get("notes"):
            lines += [""] + [f"- {n}" for n in c["notes"]]
        lines.append(f"- case took {c['seconds']:.1f} s")
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], out: Path, stem: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    jp, mp = out / f"{stem}.json", out / f"{stem}.md"
    jp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    mp.write_text(markdown(doc))
    return jp, mp
