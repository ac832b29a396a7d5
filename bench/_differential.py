"""The read cache's differential check: cached answers equal uncached ones.

Each round changes the server directly over HTTP (a new anomaly, a new theme:
new frames and a new log head), reads the answer from the bridge without a
cache, waits until the cached bridge says the same (the version push has
arrived; the reads before that are counted, they are the propagation window),
and then compares every further cached read with it. Messages are compared as
messages: re-serialized bytes may order map entries (``Struct`` metadata)
differently for equal messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
from neural_heatmap_contract import routes

from bench._data import ingest_binary, nan_frames

PROPAGATION_LIMIT = 5.0  # seconds a push may take on a loaded machine

Read = Callable[[Any], Awaitable[Any]]


async def check(http: aiohttp.ClientSession, base: str, model: str, on: Any, off: Any,
                reads: dict[str, Read], rounds: int, per_round: int) -> dict[str, Any]:
    """Run the check; ``on``/``off`` are stubs of the bridges with and without the cache.

    Returns:
        ``{"compared", "mismatches", "propagation_reads", "not_propagated", "by_method",
        "sample"}`` (``sample``: the first differing pair, as text).
    """
    rng = np.random.default_rng(11)
    compared = mismatches = propagation = not_propagated = 0
    by_method: dict[str, int] = dict.fromkeys(reads, 0)
    sample: list[str] = []
    themes = ("plasma", "contour", "thermal")
    set_theme = base + routes.http("SetTheme").path
    for r in range(rounds):
        await ingest_binary(http, base, model, "fc1", nan_frames(1, 16, rng))
        async with http.post(set_theme, json={"theme": themes[r % len(themes)]}) as resp:
            resp.raise_for_status()
        for name, read in reads.items():
            want = await read(off)
            deadline = time.monotonic() + PROPAGATION_LIMIT
            while (got := await read(on)) != want:
                propagation += 1
                if time.monotonic() > deadline:
                    not_propagated += 1
                    sample = sample or [str(got)[:2000], str(want)[:2000]]
                    break
                await asyncio.sleep(0.005)
            for _ in range(per_round):
                compared += 1
                if (got := await read(on)) != want:
                    mismatches += 1
                    by_method[name] += 1
                    sample = sample or [str(got)[:2000], str(want)[:2000]]
    return {"compared": compared, "mismatches": mismatches, "propagation_reads": propagation,
            "not_propagated": not_propagated, "by_method": by_method, "sample": sample}
