"""The slow-reader watchdog: a live stream whose client stops reading is ended.

grpc completes a stream's write only once HTTP/2 flow control lets it out, so
when a client stops reading (a paused consumer, a hung process) the stream's
handler waits at its ``yield`` for as long as the client stays silent. What
it holds then does not grow (its mailbox is bounded, see ``_mailbox``), but it
is held: the call, the pending message, up to ``--queue-size`` anomalies the
mailbox pins after the shared caches let them go, and everything the client's
window already swallowed. A thousand stopped clients hold a thousand of those.

So a write still pending after ``--slow-stream-timeout`` seconds ends its
stream with RESOURCE_EXHAUSTED (reason ``SLOW_READER``), and the stream lets go
of its mailbox (it leaves the fan-out and drops what it buffered). The status
goes out behind the updates already written (HTTP/2 keeps a stream's frames in
order), so a client that reads again gets those updates, then the status, which
names the stream's cursor (the last anomaly sequence the bridge passed to it),
and resumes with ``after_sequence`` = the last sequence it received, as after
any other end of a stream: nothing is lost (the anomaly log keeps it). The
handler is not cancelled: that would reset the HTTP/2 stream, which discards
the queued updates and the status alike (the client would see CANCELLED, which
no client resumes). It ends by itself once its write completes (the client
reads) or fails (the client goes away).

One task per fan-out checks every watched stream a few times per timeout
(it runs only while some stream is open), so an open stream costs no task of
its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from . import _errors
from ._metrics import Metrics

log = logging.getLogger("neural_heatmap_bridge.fanout")


class Watch:
    """One stream under watch: when its pending write started (None: none pending).

    Args:
        context: The stream's call, ended with the status.
        cursor: The stream's cursor now (None: not an anomaly stream), for the status.
        release: Lets go of the stream's buffers once it has its status.
    """

    def __init__(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        cursor: Callable[[], int | None],
        release: Callable[[], None],
    ) -> None:
        self.context = context
        self.cursor = cursor
        self.release = release
        self.writing_since: float | None = None
        self.ended = False

    def writing(self) -> None:
        """A write starts (the stream yields an update)."""
        self.writing_since = time.monotonic()

    def written(self) -> None:
        """The write completed (grpc asked for the next update)."""
        self.writing_since = None


class SlowReaders:
    """Ends streams whose pending write outlasts ``timeout`` (see the module docstring).

    Args:
        timeout: ``--slow-stream-timeout`` seconds; 0 turns the watchdog off.
        metrics: Where ended streams are counted.
    """

    def __init__(self, timeout: float, metrics: Metrics) -> None:
        self._timeout = timeout
        self._metrics = metrics
        self._watched: set[Watch] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()  # strong references until done

    def watch(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        cursor: Callable[[], int | None],
        release: Callable[[], None],
    ) -> Watch:
        """Watch a stream (see ``Watch`` for the arguments); ``forget`` it when it ends."""
        w = Watch(context, cursor, release)
        if self._timeout > 0:
            self._watched.add(w)
            if self._sweeper is None or self._sweeper.done():
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return w

    def forget(self, w: Watch) -> None:
        """The stream ended."""
        self._watched.discard(w)

    async def _sweep(self) -> None:
        tick = min(1.0, self._timeout / 4)
        while self._watched:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for w in list(self._watched):
                if w.writing_since is not None and now - w.writing_since >= self._timeout:
                    self._watched.discard(w)
                    task = asyncio.get_running_loop().create_task(
                        self._end(w, now - w.writing_since)
                    )
                    self._ending.add(task)
                    task.add_done_callback(self._ending.discard)

    async def _end(self, w: Watch, waited: float) -> None:
        """End ``w``'s stream: the status behind what was written; its buffers go."""
        if w.ended:
            return
        w.ended = True
        self._metrics.slow_streams.inc()
        cursor = w.cursor()
        resume = (
            f"; every anomaly up to sequence {cursor} was sent before this status, resume with "
            "after_sequence = the last sequence you received"
            if cursor is not None
            else "; reopen the stream"
        )
        err = _errors.slow_reader(
            f"the client read nothing for {waited:.1f} s while the bridge had updates to "
            f"send (--slow-stream-timeout {self._timeout:g} s){resume}",
            sequence=cursor,
        )
        log.info("ending a stream whose client stopped reading (%.1f s)", waited)
        # AbortError is how abort ends its caller; UsageError: the call already has a status.
        w.release()
        # The status waits behind the written updates: this returns once the client reads
        # them (AbortError is how abort ends its caller) or fails once it is gone.
        try:
            await _errors.abort(w.context, err)
        except (grpc.aio.AbortError, grpc.aio.UsageError):
            pass
        except Exception as exc:  # the client went away before reading its status
            log.debug("slow stream's status not delivered: %s", exc)
