"""Case: anomaly fan-out through 3 bridges on JetStream vs 1 bridge on SQLite (issue 16).

The same subscribers (``cluster_subscribers`` streams in ``bench._fanout_worker``
client processes, ``fanout_rate`` anomalies/s for ``fanout_seconds``) first on the
default setup (the server's SQLite log, one bridge fed by the server's WebSocket),
then on ``tests.support.cluster.Cluster``: NATS JetStream, the server publishing
through its outbox, three bridges each reading the stream with one ordered
consumer, the clients balancing over them with ``round_robin``. Reported per
setup: deliveries/s, end-to-end p50/p99, lost/duplicated; and the ratios
cluster / single. On one 2-core machine the three bridges and NATS share the
cores with everything else, so the ratio says what the extra hops cost here, not
what separate machines would gain (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench._procs import Environment
from bench._results import CaseResult
from bench._settings import Settings
from bench.case_fanout import _one


async def _cluster_run(s: Settings, n: int, tmp: Path,
                       rng: np.random.Generator) -> dict[str, Any]:
    from tests.support.cluster import Cluster  # the tests' launchers: NATS, server, bridges

    cluster = Cluster(bridges=3)
    await asyncio.to_thread(cluster.start)
    try:
        env = Environment(cluster.server.url, cluster.target, cluster.server.proc.pid
                          if cluster.server.proc else None,
                          cluster.bridges[0].pid, "tests.support.cluster", tmp / "cluster")
        async with aiohttp.ClientSession() as http:
            return await _one(env, s, http, n, tmp, rng)
    finally:
        await asyncio.to_thread(cluster.close)


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    res = CaseResult("cluster", "anomaly fan-out: 3 bridges on JetStream vs 1 bridge on SQLite")
    rng = np.random.default_rng(16)
    n = s.cluster_subscribers
    with tempfile.TemporaryDirectory(prefix="nh-bench-cluster-") as td:
        tmp = Path(td)
        async with aiohttp.ClientSession() as http:
            single = await _one(env, s, http, n, tmp, rng)
        cluster = await _cluster_run(s, n, tmp, rng)
    for name, r in (("1 bridge, SQLite log", single), ("3 bridges, JetStream log", cluster)):
        g = f"{n} subscribers"
        res.metric(g, name, "deliveries", "1/s", [r["deliveries_per_s"]],
                   note=f"expected {r['expected_per_s']:.0f}/s; lost {r['lost']}, "
                        f"duplicates {r['duplicates']}, out of order {r['out_of_order']}")
        res.metric(g, name, "latency p50", "ms", [r["p50_ms"]])
        res.metric(g, name, "latency p99", "ms", [r["p99_ms"]])
    ratio = cluster["deliveries_per_s"] / max(single["deliveries_per_s"], 1e-9)
    res.extra["ratio_deliveries_cluster_over_single"] = round(ratio, 3)
    res.extra["ratio_p99_cluster_over_single"] = round(
        cluster["p99_ms"] / max(single["p99_ms"], 1e-9), 3)
    res.extra["runs"] = {"single": single, "cluster": cluster}
    res.target("cluster_no_loss", "3 bridges on JetStream lose and duplicate nothing",
                "lost = duplicates = 0", cluster["lost"] + cluster["duplicates"], "",
                cluster["lost"] == 0 and cluster["duplicates"] == 0,
                note=f"deliveries ratio cluster/single {ratio:.2f}")
    return res
