"""Live update streams that survive disconnects (the engine under every SDK stream).

A live stream is a gRPC server stream from the bridge. When it breaks (the
bridge restarts, the network drops, the bridge's upstream goes away) the SDK
opens it again after a jittered exponential wait. Anomalies are exactly-once
across those reopenings: the stream always asks the bridge for anomalies
*after the last sequence it delivered*, and drops any anomaly at or below that
sequence should one arrive twice. Heatmap, correlation and temporal updates are
snapshots: after a reconnect the next one simply arrives.

When a stream starts without an explicit ``after_sequence``, the SDK first
asks for the log's newest sequence and starts after it, so that "only new
anomalies" still means "every new anomaly" even if the first disconnect comes
before the first anomaly does.

Liveness: the bridge sends an ``AnomalyHeartbeat`` on an anomaly stream whenever
it has been idle for a few seconds, and ends a stream that is stuck behind the
log head with UNAVAILABLE. Heartbeats never reach the caller.
Once a stream has shown one heartbeat (so the bridge is known to send them), a
stream that brings neither an update nor a heartbeat for
``ReconnectPolicy.idle_timeout`` seconds is taken as stuck and reopened from the
last sequence, like any other disconnect.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import grpc
import grpc.aio
from neural_heatmap_contract import policy
from neural_heatmap_contract.backoff import backoff_delay

from neural_heatmap._errors import NeuralHeatmapError, from_grpc_error
from neural_heatmap._update_types import AnomalyUpdate, Update

__all__ = ["OnError", "ReconnectPolicy", "StreamControl", "resumable_stream"]

R = TypeVar("R")

# Stream failures worth reopening for (the policy every client shares,
# protos/policy/retry.json): the bridge or its upstream went away, the stream was
# aborted (e.g. a slow-consumer close upstream), or the bridge ended it with an
# unclassified or internal error. Everything else (bad arguments, auth, a pruned
# sequence, unimplemented) is raised at once.
RECONNECT_CODES: frozenset[grpc.StatusCode] = frozenset(
    grpc.StatusCode[name] for name in policy.STREAM_RECONNECT_CODES
)


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a live stream reopens after a disconnect.

    Attributes:
        reconnect: Reopen at all; when ``False`` a disconnect raises.
        delay: Base wait in seconds (the seed's ``reconnect_delay``).
        max_delay: Cap of the exponentially growing wait. ``delay``, ``max_delay``,
            the growth and the jitter, ``max_retries`` and ``idle_timeout`` default to
            the policy every client shares (protos/policy/retry.json, client.json).
        max_retries: Consecutive failed reopenings before giving up; the count
            resets whenever an update or heartbeat arrives.
        idle_timeout: Seconds a stream that has sent heartbeats may bring nothing at
            all (no update, no heartbeat) before it is reopened; ``None``: no bound.
            Keep it well above the bridge's ``--heartbeat-interval`` (default 2 s).
    """

    reconnect: bool = True
    delay: float = policy.BACKOFF_INITIAL_SECONDS
    max_delay: float = policy.BACKOFF_MAX_SECONDS
    max_retries: int = policy.STREAM_RECONNECT_LIMIT
    idle_timeout: float | None = policy.STREAM_IDLE_TIMEOUT_SECONDS

    def wait(self, failures: int) -> float:
        """Jittered wait before reopening after ``failures`` consecutive failures."""
        return backoff_delay(failures - 1, initial=self.delay, maximum=self.max_delay)


class StreamControl:
    """Lets another task restart (re-subscribe) or stop a running stream."""

    def __init__(self) -> None:
        self.call: grpc.aio.Call | None = None
        self.restart_requested = False
        self.stopped = False

    def restart(self) -> None:
        """Reopen the stream with fresh parameters (e.g. new subscriptions)."""
        if self.call is not None:
            self.restart_requested = True
            self.call.cancel()

    def stop(self) -> None:
        """End the stream; the iterator finishes without error."""
        self.stopped = True
        if self.call is not None:
            self.call.cancel()


OnError = Callable[[NeuralHeatmapError, int], Any]


def _idle_error(seconds: float) -> NeuralHeatmapError:
    return NeuralHeatmapError(
        f"no update and no heartbeat for {seconds:g} s: the stream is stuck; reopening",
        code=grpc.StatusCode.UNAVAILABLE,
    )


async def resumable_stream(
    open_call: Callable[[int | None], grpc.aio.UnaryStreamCall[Any, R]],
    decode: Callable[[R], Update | None],
    *,
    after_sequence: int | None,
    policy: ReconnectPolicy,
    control: StreamControl | None = None,
    on_error: OnError | None = None,
    is_heartbeat: Callable[[R], bool] | None = None,
) -> AsyncIterator[Update]:
    """Yield updates from a server stream, reopening it per ``policy``.

    Args:
        open_call: Opens the stream, given the sequence to resume after.
        decode: Turns one response into an update (``None`` to skip it).
        is_heartbeat: Tells heartbeats apart; they are swallowed and arm
            ``policy.idle_timeout`` (streams without heartbeats have no idle bound).
        after_sequence: Deliver anomalies after this sequence (``None``: the
            caller does not track anomalies).
        policy: The reconnection policy.
        control: Optional handle to restart or stop the stream from elsewhere.
        on_error: Called with each error that leads to a reconnect and the
            consecutive failure count.

    Raises:
        NeuralHeatmapError: A non-transient failure, or the last transient one
            once ``policy.max_retries`` is exhausted.
    """
    ctl = control or StreamControl()
    last_seq = after_sequence
    failures = 0
    armed = False  # a heartbeat was seen: silence now means "stuck"
    while not ctl.stopped:
        call = open_call(last_seq)
        ctl.call = call
        ctl.restart_requested = False
        error: NeuralHeatmapError | None = None
        try:
            while True:
                idle = policy.idle_timeout if armed else None
                try:
                    async with asyncio.timeout(idle):  # no extra task per message
                        read = await call.read()
                except TimeoutError:
                    if ctl.stopped or ctl.restart_requested:
                        break
                    error = _idle_error(idle or 0.0)
                    break
                if read is grpc.aio.EOF:
                    break
                response = cast(R, read)
                if is_heartbeat is not None and is_heartbeat(response):
                    armed = True
                    failures = 0
                    continue
                update = decode(response)
                if update is None:
                    continue
                if isinstance(update, AnomalyUpdate) and update.anomalies:
                    if last_seq is not None:
                        kept = update.only_after(last_seq)
                        if kept is None:
                            continue
                        update = kept
                    newest = max(a.sequence for a in update.anomalies)
                    last_seq = newest if last_seq is None else max(last_seq, newest)
                failures = 0
                yield update
        except grpc.aio.AioRpcError as exc:
            if ctl.stopped or (ctl.restart_requested and exc.code() == grpc.StatusCode.CANCELLED):
                continue
            error = from_grpc_error(exc)
            if not policy.reconnect or exc.code() not in RECONNECT_CODES:
                raise error from exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if (ctl.stopped or ctl.restart_requested) and (task is None or task.cancelling() == 0):
                continue
            raise
        finally:
            call.cancel()
            ctl.call = None
        if ctl.stopped or ctl.restart_requested:
            continue
        if error is not None and not policy.reconnect:
            raise error
        if error is None:
            # The bridge ended the stream cleanly: it is going away. Reopen.
            if not policy.reconnect:
                return
            error = NeuralHeatmapError("the bridge ended the stream", code=grpc.StatusCode.OK)
        failures += 1
        if failures > policy.max_retries:
            raise error
        if on_error is not None:
            result = on_error(error, failures)
            if inspect.isawaitable(result):
                await result
        await asyncio.sleep(policy.wait(failures))
