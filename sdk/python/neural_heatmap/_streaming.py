"""Live update streams that survive disconnects, and the seed's WebSocket client.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc
import grpc.aio
from neural_heatmap_contract import policy
from neural_heatmap_contract.backoff import backoff_delay

from neural_heatmap._convert import as_str_list
from neural_heatmap._enums import Severity, UpdateType
from neural_heatmap._errors import NeuralHeatmapError, from_grpc_error
from neural_heatmap._update_types import AnomalyUpdate, Update

if TYPE_CHECKING:
    from neural_heatmap._channel import PemSource
    from neural_heatmap._client import NeuralHeatmapClient

__all__ = ["NeuralHeatmapWebSocketClient", "ReconnectPolicy"]

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
            the growth and the jitter default to the policy every client shares
            (protos/policy/retry.json).
        max_retries: Consecutive failed reopenings before giving up; the count
            resets whenever an update or heartbeat arrives.
        idle_timeout: Seconds a stream that has sent heartbeats may bring nothing at
            all (no update, no heartbeat) before it is reopened; ``None``: no bound.
            Keep it well above the bridge's ``--heartbeat-interval`` (default 2 s).
    """

    reconnect: bool = True
    delay: float = policy.BACKOFF_INITIAL_SECONDS
    max_delay: float = policy.BACKOFF_MAX_SECONDS
    max_retries: int = 10
    idle_timeout: float | None = 15.0

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


Callback = Callable[[Any], Any]


class NeuralHeatmapWebSocketClient:
    """The seed's real-time client, carried over gRPC instead of a WebSocket.

    Keeps the seed's constructor and methods. Instead of a WebSocket to the
    server, it holds one ``StreamUpdates`` call to the bridge carrying the
    subscribed kinds, and reopens it after any disconnect: the first wait is
    about ``reconnect_delay`` seconds, doubling on each consecutive failure
    (capped at 60 s, with jitter), for up to ``max_retries`` failures in a row.
    Anomalies resume after the last delivered sequence, so none is lost or
    repeated.

    Example:
        >>> ws = NeuralHeatmapWebSocketClient("localhost:50051", reconnect_delay=1.0)
        >>> await ws.connect()
        >>> await ws.subscribe_anomalies()
        >>> ws.on("anomaly_update", lambda u: print(u.severity, u.description))
        >>> async for update in ws.listen():
        ...     ...

    Args:
        url: The bridge's gRPC address (see :class:`NeuralHeatmapClient`).
        reconnect: Reopen the stream after a disconnect.
        reconnect_delay: Base wait in seconds before reopening.
        max_retries: Consecutive failed reopenings before :meth:`listen` raises.
        token: Bearer token sent as ``authorization`` metadata.
        tls: Force TLS on or off (default: on for ``grpcs://`` or when
            certificates are given).
        root_certificates: PEM bytes, PEM text or a file path.
        private_key: Client key for mutual TLS.
        certificate_chain: Client certificate for mutual TLS.
        max_message_bytes: gRPC send/receive limit.
    """

    def __init__(
        self,
        url: str = "localhost:50051",
        reconnect: bool = True,
        reconnect_delay: float = 5.0,
        max_retries: int = 10,
        *,
        token: str | None = None,
        tls: bool | None = None,
        root_certificates: PemSource | None = None,
        private_key: PemSource | None = None,
        certificate_chain: PemSource | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        from neural_heatmap._client import NeuralHeatmapClient

        self.url = url
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.max_retries = max_retries
        kwargs: dict[str, Any] = {}
        if max_message_bytes is not None:
            kwargs["max_message_bytes"] = max_message_bytes
        self._client: NeuralHeatmapClient = NeuralHeatmapClient(
            url,
            token=token,
            tls=tls,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            **kwargs,
        )
        self._callbacks: dict[str, list[Callback]] = {}
        self._control: StreamControl | None = None
        self._after_sequence: int | None = None
        self._min_severity: Severity | str | None = None
        self._model_ids: list[str] = []
        self.reconnects = 0
        """How many times the stream has been reopened after a failure."""

    @property
    def client(self) -> NeuralHeatmapClient:
        """The underlying :class:`NeuralHeatmapClient` (for queries on the same channel)."""
        return self._client

    @property
    def subscriptions(self) -> frozenset[UpdateType]:
        """Kinds subscribed to."""
        return self._client.subscriptions

    async def connect(self) -> None:
        """Open the channel to the bridge and wait until it is reachable."""
        await self._client.connect()

    async def disconnect(self) -> None:
        """Stop :meth:`listen` and close the channel."""
        if self._control is not None:
            self._control.stop()
        await self._client.disconnect()

    async def __aenter__(self) -> NeuralHeatmapWebSocketClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    def _changed(self) -> None:
        if self._control is not None:
            self._control.restart()

    async def subscribe_heatmap(
        self, *, model_ids: Sequence[str] | None = None, layer_ids: Sequence[str] | None = None
    ) -> None:
        """Subscribe to heatmap updates (optionally only some models/layers)."""
        await self._client.subscribe_heatmap(model_ids=model_ids, layer_ids=layer_ids)
        self._changed()

    async def subscribe_correlations(self) -> None:
        """Subscribe to correlation matrix updates."""
        await self._client.subscribe_correlations()
        self._changed()

    async def subscribe_temporal(self) -> None:
        """Subscribe to temporal pattern updates."""
        await self._client.subscribe_temporal()
        self._changed()

    async def subscribe_anomalies(
        self,
        *,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        model_ids: Sequence[str] | None = None,
    ) -> None:
        """Subscribe to anomaly updates.

        Args:
            after_sequence: Replay logged anomalies after this sequence first;
                ``None`` means only anomalies logged from now on.
            min_severity: Only this severity or worse.
            model_ids: Only these models.
        """
        await self._client.subscribe_anomalies()
        self._after_sequence = after_sequence
        self._min_severity = min_severity
        self._model_ids = as_str_list(model_ids)
        self._changed()

    async def unsubscribe(self, message_type: UpdateType | str) -> None:
        """Stop receiving one kind of update."""
        await self._client.unsubscribe(message_type)
        self._changed()

    def on(self, message_type: UpdateType | str, callback: Callback) -> None:
        """Call ``callback(update)`` for each update of a kind during :meth:`listen`.

        Args:
            message_type: ``"heatmap_update"``, ``"correlation_update"``,
                ``"temporal_update"``, ``"anomaly_update"`` (or short forms,
                or :class:`UpdateType`), ``"*"`` for every update, or
                ``"error"`` for errors that lead to a reconnect (called with
                the error).
            callback: A function or coroutine function.
        """
        self._callbacks.setdefault(self._key(message_type), []).append(callback)

    def off(self, message_type: UpdateType | str, callback: Callback | None = None) -> None:
        """Remove one callback, or every callback of a kind when ``callback`` is ``None``."""
        key = self._key(message_type)
        if callback is None:
            self._callbacks.pop(key, None)
            return
        callbacks = self._callbacks.get(key, [])
        if callback in callbacks:
            callbacks.remove(callback)

    @staticmethod
    def _key(message_type: UpdateType | str) -> str:
        if message_type in ("*", "error"):
            return str(message_type)
        return str(UpdateType.parse(message_type))

    async def _dispatch(self, key: str, payload: Any) -> None:
        for callback in [*self._callbacks.get(key, []), *self._callbacks.get("*", [])]:
            if key == "error" and callback in self._callbacks.get("*", []):
                continue
            result = callback(payload)
            if inspect.isawaitable(result):
                await result

    async def _on_error(self, error: NeuralHeatmapError, failures: int) -> None:
        self.reconnects += 1
        await self._dispatch("error", error)

    async def listen(self) -> AsyncIterator[Update]:
        """Yield every update of the subscribed kinds, calling registered callbacks.

        Subscribing to more kinds while listening re-opens the stream with the
        new set (anomalies still resume by sequence). :meth:`disconnect` ends
        the iteration.

        Raises:
            NeuralHeatmapError: A non-transient failure, or the last transient
                one after ``max_retries`` consecutive failed reopenings.
        """
        control = StreamControl()
        self._control = control
        policy = ReconnectPolicy(
            reconnect=self.reconnect,
            delay=self.reconnect_delay,
            max_delay=max(60.0, self.reconnect_delay),
            max_retries=self.max_retries,
        )
        try:
            async for update in self._client._stream(
                None,
                after_sequence=self._after_sequence,
                min_severity=self._min_severity,
                model_ids=self._model_ids,
                policy=policy,
                control=control,
                on_error=self._on_error,
            ):
                await self._dispatch(str(update.type), update)
                yield update
        finally:
            if self._control is control:
                self._control = None

    async def run(self, until: Callable[[], bool | Awaitable[bool]] | None = None) -> None:
        """Consume :meth:`listen` just for its callbacks, until ``until()`` is true."""
        async for _ in self.listen():
            if until is not None:
                done = until()
                if inspect.isawaitable(done):
                    done = await done
                if done:
                    return
