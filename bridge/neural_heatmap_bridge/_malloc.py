"""Give memory that ended streams freed back to the system (glibc's ``malloc_trim``).

A stream's native memory (its grpc call, protobuf messages, the buffers of
the threads grpc runs) is freed when the stream ends, but glibc keeps freed
pages in its heaps for reuse: after 500 streams ended, about 8 MiB of the
bridge's RSS was free memory glibc still held (``malloc_stats``), in the main
heap and in the per-thread arenas of grpc's threads (docs/reliability.md,
"Bridge memory"). ``malloc_trim(0)`` returns those pages.

So when streams end, one trim runs once no stream has ended for ``TRIM_DELAY``
seconds (the streams that end together, e.g. a client's 500, share it and are
all cleaned up by then), or at the latest ``TRIM_MAX_WAIT`` seconds after the
first of them (streams that keep ending still get trims). It runs in a worker
thread (it walks every arena; the event loop goes on). Nothing happens where glibc is absent
(musl, macOS): there the call is simply not found.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

# Seconds without a stream ending before the trim runs (streams ending together share it).
TRIM_DELAY = 2.0
# Seconds after the first untrimmed end at which the trim runs anyway.
TRIM_MAX_WAIT = 30.0


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


_MALLOC_TRIM = _find_malloc_trim()


class Trimmer:
    """Schedules ``malloc_trim(0)`` after streams end, at most one pending at a time."""

    def __init__(self, delay: float = TRIM_DELAY, max_wait: float = TRIM_MAX_WAIT) -> None:
        self._delay = delay
        self._max_wait = max_wait
        self._pending: asyncio.Task[None] | None = None
        self._last_end = 0.0
        self.trims = 0  # trims done (tests, metrics)

    def stream_ended(self) -> None:
        """A stream ended: trim once streams stop ending (see the module docstring)."""
        if _MALLOC_TRIM is None:
            return
        loop = asyncio.get_running_loop()
        self._last_end = loop.time()
        if self._pending is None or self._pending.done():
            self._pending = loop.create_task(self._trim_later())

    async def _trim_later(self) -> None:
        loop = asyncio.get_running_loop()
        latest = loop.time() + self._max_wait
        while (due := min(self._last_end + self._delay, latest)) > loop.time():
            await asyncio.sleep(due - loop.time())
        assert _MALLOC_TRIM is not None
        await asyncio.to_thread(_MALLOC_TRIM, 0)
        self.trims += 1
