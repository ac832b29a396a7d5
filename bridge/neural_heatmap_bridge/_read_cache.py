"""The push-invalidated read cache: hot reads answered from memory while provably current.

The server pushes version counters on the WebSocket the bridge already holds
(``subscribe_versions``, docs/http-api.md): its ``epoch`` (one per server
process) and one counter per family of state (``anomalies``: the log head,
``view``: filter/theme/layout, ``frames``: the activation store). An answer is
kept as the serialized response together with the *stamp* it was read under:
the epoch, the push connection it was read on, and for each family it depends
on the pushed version and the count of this bridge's own writes to it. A read
is answered from memory only when

- the push channel is connected and has acknowledged (a first ``versions``
  message arrived on this connection), and
- the entry's stamp equals the stamp now.

An answer fetched after version V arrived reflects at least V (the server
pushes only after a change is visible to every route), so a current stamp
means the server would answer the same; a change made elsewhere is seen once
its push arrives. Read-your-writes through one bridge: a write RPC bumps its
families' local counts when it returns, so no entry read before it (nor an
upstream call in flight since before it) can match afterwards. A dropped push
channel bumps the connection count (nothing read before can match again) and
a new epoch (a restarted server) clears everything.

Concurrent identical misses under the same stamp share one upstream call
(single-flight); it runs as its own task so a caller that gives up does not
fail the others. ``--no-read-cache`` turns all of this off; the metrics count
hits, misses and invalidations (docs/bridge.md, "Read cache").
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar, cast

from google.protobuf.message import Message

from ._handlers import Ctx
from ._metrics import Metrics

log = logging.getLogger("neural_heatmap_bridge.read_cache")

ANOMALIES, VIEW, FRAMES = "anomalies", "view", "frames"
FAMILIES = (ANOMALIES, VIEW, FRAMES)
# An answer bigger than this share of --read-cache-bytes is never kept (it would evict
# everything else for one entry).
_LARGEST_SHARE = 4

Key = tuple[str, bytes]
Stamp = tuple[Any, ...]


def _pushed(data: dict[str, Any]) -> tuple[str, dict[str, int]]:
    """The epoch and counters of a ``versions`` message.

    Raises:
        ValueError: When a field is missing or of the wrong type (then the push is
            not trusted at all).
    """
    epoch = data.get("epoch")
    if not isinstance(epoch, str) or not epoch:
        raise ValueError("versions without an epoch")
    counters = {f: data.get(f) for f in FAMILIES}
    for family, value in counters.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"versions.{family} must be an integer, got {value!r}")
    return epoch, cast(dict[str, int], counters)


class ReadCache:
    """Serialized answers by request, valid while their stamp is current (see module doc).

    Args:
        enabled: False for ``--no-read-cache``: every read goes upstream.
        max_bytes: Most bytes of answers kept (``--read-cache-bytes``), least recently
            used first out.
        metrics: Where hits, misses and invalidations are counted.
    """

    def __init__(self, enabled: bool, max_bytes: int, metrics: Metrics) -> None:
        self.enabled = enabled and max_bytes > 0
        self._max_bytes = max_bytes
        self._metrics = metrics
        self._epoch: str | None = None
        self._pushed: dict[str, int] | None = None  # None: not connected and acknowledged
        self._link = 0  # counts push connections that ended
        self._writes: dict[str, int] = dict.fromkeys(FAMILIES, 0)
        self._entries: OrderedDict[Key, tuple[Stamp, bytes]] = OrderedDict()
        self._bytes = 0
        self._flights: dict[tuple[Key, Stamp], asyncio.Task[bytes]] = {}

    @property
    def ready(self) -> bool:
        """Whether answers may come from memory now (push channel up and acknowledged)."""
        return self.enabled and self._pushed is not None

    # ------------------------------------------------------------ the push side
    def on_versions(self, data: dict[str, Any]) -> None:
        """A ``versions`` push arrived: note what moved (and trust the channel)."""
        if not self.enabled:
            return
        try:
            epoch, counters = _pushed(data)
        except ValueError as exc:
            log.warning("ignoring a malformed versions push (%s); reads go upstream", exc)
            self._distrust("malformed")
            return
        if self._epoch is not None and epoch != self._epoch:
            log.info("upstream epoch changed (restarted): dropping every cached answer")
            self._clear("epoch")
        elif self._pushed is not None:
            for family in FAMILIES:
                if counters[family] != self._pushed[family]:
                    self._metrics.read_cache_invalidations.labels(family).inc()
        self._epoch = epoch
        self._pushed = counters
        self._metrics.read_cache_ready.set(1)

    def on_close(self) -> None:
        """The push channel ended: nothing read so far may be served again."""
        if self.enabled:
            self._distrust("disconnect")

    def wrote(self, families: Iterable[str]) -> None:
        """A write RPC through this bridge returned: answers read before it are stale."""
        for family in families:
            self._writes[family] += 1
            self._metrics.read_cache_invalidations.labels("write").inc()

    def _distrust(self, cause: str) -> None:
        self._pushed = None
        self._link += 1
        self._metrics.read_cache_ready.set(0)
        self._clear(cause)

    def _clear(self, cause: str) -> None:
        self._metrics.read_cache_invalidations.labels(cause).inc()
        self._entries.clear()
        self._bytes = 0
        self._metrics.read_cache_bytes.set(0)

    # ------------------------------------------------------------ the read side
    def _stamp(self, families: tuple[str, ...]) -> Stamp | None:
        if self._pushed is None:
            return None
        pushed, writes = self._pushed, self._writes
        return (self._epoch, self._link, *((pushed[f], writes[f]) for f in families))

    async def read(
        self,
        method: str,
        request: Message,
        families: tuple[str, ...],
        fetch: Callable[[], Awaitable[Any]],
    ) -> Any:
        """The answer to ``request``: from memory when current, else from ``fetch``.

        Returns:
            The serialized response (``bytes``) when the cache took part, else what
            ``fetch`` returned (a message, or bytes for pre-serialized methods); the
            method's serializer passes bytes through.
        """
        if not self.enabled:
            return await fetch()
        stamp = self._stamp(families)
        if stamp is None:
            self._metrics.read_cache_misses.labels(method, "unready").inc()
            return await fetch()
        key = (method, request.SerializeToString(deterministic=True))
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp:
            self._entries.move_to_end(key)
            self._metrics.read_cache_hits.labels(method).inc()
            return entry[1]
        flight = self._flights.get((key, stamp))
        if flight is not None:
            self._metrics.read_cache_misses.labels(method, "joined").inc()
            return await asyncio.shield(flight)
        self._metrics.read_cache_misses.labels(method, "absent").inc()
        task = asyncio.get_running_loop().create_task(self._fill(key, stamp, families, fetch))
        self._flights[(key, stamp)] = task
        task.add_done_callback(functools.partial(self._landed, (key, stamp)))
        return await asyncio.shield(task)

    def _landed(self, flight: tuple[Key, Stamp], task: asyncio.Task[bytes]) -> None:
        self._flights.pop(flight, None)
        if not task.cancelled():
            task.exception()  # retrieved: callers that gave up do not leave it unread

    async def _fill(
        self, key: Key, stamp: Stamp, families: tuple[str, ...],
        fetch: Callable[[], Awaitable[Any]],
    ) -> bytes:
        answer = await fetch()
        data = answer if isinstance(answer, bytes) else bytes(answer.SerializeToString())
        # Kept only while still current: a push, write or drop during the call means the
        # answer may predate it (it is still a fine answer to the calls that asked).
        if self._stamp(families) == stamp and len(data) <= self._max_bytes // _LARGEST_SHARE:
            self._put(key, stamp, data)
        return data

    def _put(self, key: Key, stamp: Stamp, data: bytes) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])
        self._entries[key] = (stamp, data)
        self._bytes += len(data)
        while self._bytes > self._max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= len(dropped)
        self._metrics.read_cache_bytes.set(self._bytes)


class HasReadCache(Protocol):
    """A servicer whose reads and writes go through a ``ReadCache``."""

    read_cache: ReadCache


S = TypeVar("S", bound=HasReadCache)
Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp")


def cached(
    *families: str,
) -> Callable[[Callable[[S, Req, Ctx], Awaitable[Resp]]], Callable[[S, Req, Ctx], Awaitable[Resp]]]:
    """Answer a read RPC through the servicer's read cache.

    Args:
        *families: The state its answer depends on (``ANOMALIES``, ``VIEW``, ``FRAMES``).
    """

    def wrap(
        fn: Callable[[S, Req, Ctx], Awaitable[Resp]],
    ) -> Callable[[S, Req, Ctx], Awaitable[Resp]]:
        @functools.wraps(fn)
        async def handler(self: S, request: Req, context: Ctx) -> Resp:
            answer = await self.read_cache.read(
                fn.__name__, request, families, lambda: fn(self, request, context)
            )
            return cast(Resp, answer)  # bytes pass the method's serializer (_server)

        return handler

    return wrap


W = TypeVar("W")


def writes(
    *families: str,
) -> Callable[[Callable[[S, W, Ctx], Awaitable[Resp]]], Callable[[S, W, Ctx], Awaitable[Resp]]]:
    """Mark a write RPC: when it returns (or fails half-way), ``families`` are stale.

    Args:
        *families: The state it may change.
    """

    def wrap(
        fn: Callable[[S, W, Ctx], Awaitable[Resp]],
    ) -> Callable[[S, W, Ctx], Awaitable[Resp]]:
        @functools.wraps(fn)
        async def handler(self: S, request: W, context: Ctx) -> Resp:
            try:
                return await fn(self, request, context)
            finally:
                self.read_cache.wrote(families)

        return handler

    return wrap
