"""The seed's real-time client (``NeuralHeatmapWebSocketClient``), carried over gRPC.

It sits above :class:`NeuralHeatmapClient` and uses only its public methods
(``resumable_updates`` for the stream), so the SDK's modules import in one
direction: this module -> ``_client`` -> ``_client_streams`` -> ``_streaming``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from neural_heatmap._channel import DEFAULT_TARGET
from neural_heatmap._client import NeuralHeatmapClient
from neural_heatmap._convert import as_str_list
from neural_heatmap._enums import Severity, UpdateType
from neural_heatmap._errors import NeuralHeatmapError
from neural_heatmap._streaming import ReconnectPolicy, StreamControl
from neural_heatmap._update_types import Update

if TYPE_CHECKING:
    from neural_heatmap._channel import PemSource

__all__ = ["Callback", "NeuralHeatmapWebSocketClient"]

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
        url: str = DEFAULT_TARGET,
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

    async def subscribe_view(self) -> None:
        """Subscribe to view updates: the stored filter, theme and layout, on every change."""
        await self._client.subscribe_view()
        self._changed()

    async def unsubscribe(self, message_type: UpdateType | str) -> None:
        """Stop receiving one kind of update."""
        await self._client.unsubscribe(message_type)
        self._changed()

    def on(self, message_type: UpdateType | str, callback: Callback) -> None:
        """Call ``callback(update)`` for each update of a kind during :meth:`listen`.

        Args:
            message_type: ``"heatmap_update"``, ``"correlation_update"``,
                ``"temporal_update"``, ``"anomaly_update"``, ``"view_update"`` (or short forms,
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
            async for update in self._client.resumable_updates(
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
