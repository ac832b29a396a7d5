"""Memory freed by ended streams goes back to the system (``_malloc``, issue 23 finding 5)."""

from __future__ import annotations

import asyncio

import pytest
from neural_heatmap_bridge import _malloc


@pytest.mark.skipif(_malloc._MALLOC_TRIM is None, reason="no glibc malloc_trim here")
async def test_streams_ending_together_share_one_trim() -> None:
    trimmer = _malloc.Trimmer(delay=0.05)
    for _ in range(100):  # a hundred streams end at once
        trimmer.stream_ended()
    async with asyncio.timeout(10):
        while trimmer.trims == 0:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert trimmer.trims == 1
    trimmer.stream_ended()  # a later end asks for a trim of its own
    async with asyncio.timeout(10):
        while trimmer.trims == 1:
            await asyncio.sleep(0.01)
    assert trimmer.trims == 2


@pytest.mark.skipif(_malloc._MALLOC_TRIM is None, reason="no glibc malloc_trim here")
async def test_streams_that_keep_ending_still_get_a_trim() -> None:
    trimmer = _malloc.Trimmer(delay=0.2, max_wait=0.5)
    async with asyncio.timeout(10):
        while trimmer.trims == 0:  # an end every 50 ms: never 0.2 s without one
            trimmer.stream_ended()
            await asyncio.sleep(0.05)
