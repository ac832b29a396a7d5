"""What the unary cases (``case_unary``, ``case_reads``) share.

Both compare a direct HTTP route with the RPC that calls it, through the bridge with
its read cache on and off: the same direct client, the same warm-up, the same
latency loop at concurrency 1 (variants alternating between repetitions), the same
Python load generator when ``ghz``/``hey`` are missing, and the same differential
target for the read cache. Kept in one place so the two cases measure alike.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench import _differential
from bench._results import CaseResult
from bench._settings import Settings
from bench._stats import alternate, percentile

Call = Callable[[], Awaitable[None]]

WARM_UP_CALLS = 20  # per variant, before anything is timed: connections and code paths


async def python_load(fn: Call, concurrency: int, seconds: float) -> dict[str, Any]:
    """Fallback when a Go tool is missing: ``concurrency`` tasks calling ``fn`` for ``seconds``."""
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                await fn()
                lat.append(time.perf_counter() - t0)
            except Exception:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {"rps": len(lat) / wall, "count": len(lat) + errors, "ok": len(lat),
            "errors": errors, "p50_ms": percentile(lat, 50) * 1e3,
            "p99_ms": percentile(lat, 99) * 1e3}


def direct_get(http: aiohttp.ClientSession, url: str) -> Call:
    """The direct HTTP variant: ``GET url`` and decode the JSON, as a client would use it."""
    async def direct() -> None:
        async with http.get(url) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"direct {r.status}")
            json.loads(body)

    return direct


async def warm_up(calls: dict[str, Call]) -> None:
    """:data:`WARM_UP_CALLS` calls of every variant."""
    for fn in calls.values():
        for _ in range(WARM_UP_CALLS):
            await fn()


async def latency(calls: dict[str, Call],
                  s: Settings) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """p50 and p99 in ms of ``s.unary_requests`` sequential calls, per variant and repetition.

    The variants alternate in a different order each repetition (``_stats.alternate``), so
    a drift of the machine does not favour one of them.
    """
    p50: dict[str, list[float]] = {k: [] for k in calls}
    p99: dict[str, list[float]] = {k: [] for k in calls}
    for rep in range(s.reps):
        for name in alternate(list(calls), rep):
            fn = calls[name]
            samples = []
            for _ in range(s.unary_requests):
                t0 = time.perf_counter()
                await fn()
                samples.append(time.perf_counter() - t0)
            p50[name].append(percentile(samples, 50) * 1e3)
            p99[name].append(percentile(samples, 99) * 1e3)
    return p50, p99


async def cache_differential(res: CaseResult, s: Settings, http: aiohttp.ClientSession,
                             base: str, model: str, on: Any, off: Any,
                             reads: dict[str, _differential.Read], target_id: str,
                             what: str) -> None:
    """Run ``_differential.check`` and record it as the case's ``target_id`` target.

    Args:
        on: Stub of the bridge with its read cache.
        off: Stub of the bridge started with ``--no-read-cache``.
        reads: The reads compared, by name.
        what: The reads, for the target's description (``"GetTheme, ListModels"``).
    """
    same = await _differential.check(http, base, model, on, off, reads,
                                     rounds=3 if s.quick else 10, per_round=5 if s.quick else 20)
    res.extra["differential"] = same
    res.target(target_id, f"{what}: cached answers equal uncached ones after changes",
               "0 mismatches", float(same["mismatches"]), "answers",
               same["mismatches"] == 0 and same["not_propagated"] == 0,
               f"{same['compared']} compared; {same['propagation_reads']} reads before a push "
               "arrived")
