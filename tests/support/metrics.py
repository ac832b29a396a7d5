"""Reading a bridge's Prometheus metrics in tests."""

from __future__ import annotations

import aiohttp


async def metric(url: str, name: str) -> float:
    """The sum of every sample whose line starts with ``name`` (a family, or one label set:
    ``'nh_bridge_read_cache_misses_total{method="GetTheme"'``) at ``url``."""
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        text = await resp.text()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )
