"""Client live updates: the seed's subscriptions and the resumable gRPC streams."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from neural_heatmap_contract.v1 import common_pb2, updates_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._client_anomalies import AnomaliesMixin
from neural_heatmap._client_base import DEFAULT, Metadata
from neural_heatmap._convert import as_str_list
from neural_heatmap._enums import Severity, UpdateType
from neural_heatmap._errors import NeuralHeatmapError, ViewFilterWarning
from neural_heatmap._streaming import OnError, ReconnectPolicy, StreamControl, resumable_stream
from neural_heatmap._update_types import (
    AnomalyUpdate,
    CorrelationUpdate,
    HeatmapUpdate,
    TemporalUpdate,
    Update,
    update_from_proto,
)

__all__ = ["StreamsMixin"]

R = TypeVar("R")
Snapshot = TypeVar("Snapshot", HeatmapUpdate, CorrelationUpdate, TemporalUpdate)

_SNAPSHOT_POLICY = ReconnectPolicy()
"""Reopening of snapshot streams: each update replaces the last, so nothing is replayed."""


def _is_update_heartbeat(msg: pb.StreamUpdatesResponse) -> bool:
    return msg.WhichOneof("update") == "anomaly_heartbeat"


def _is_anomaly_heartbeat(msg: pb.SubscribeAnomaliesResponse) -> bool:
    return msg.HasField("heartbeat")


def _severity_floor(min_severity: Severity | str | None) -> common_pb2.Severity.ValueType:
    """``min_severity`` as the request's enum (unspecified: every severity)."""
    return common_pb2.Severity.ValueType(
        Severity.parse(min_severity).to_proto() if min_severity is not None else 0
    )


class StreamsMixin(AnomaliesMixin):
    """The seed's ``subscribe_*`` calls and every server-streaming update RPC."""

    @property
    def subscriptions(self) -> frozenset[UpdateType]:
        """Kinds :meth:`stream_updates` streams when called without ``message_types``."""
        return frozenset(self._subscriptions)

    async def subscribe_heatmap(
        self, *, model_ids: Sequence[str] | None = None, layer_ids: Sequence[str] | None = None
    ) -> None:
        """Include heatmap updates in :meth:`stream_updates`.

        Args:
            model_ids: Only these models.
            layer_ids: Only these layers.
        """
        self._subscriptions.add(UpdateType.HEATMAP)
        self._heatmap_models = as_str_list(model_ids)
        self._heatmap_layers = as_str_list(layer_ids)

    async def subscribe_correlations(self) -> None:
        """Include correlation matrix updates in :meth:`stream_updates`."""
        self._subscriptions.add(UpdateType.CORRELATION)

    async def subscribe_temporal(self) -> None:
        """Include temporal pattern updates in :meth:`stream_updates`."""
        self._subscriptions.add(UpdateType.TEMPORAL)

    async def subscribe_anomalies(self) -> None:
        """Include anomaly updates in :meth:`stream_updates`."""
        self._subscriptions.add(UpdateType.ANOMALY)

    async def subscribe_view(self) -> None:
        """Include view updates (filter, theme, layout) in :meth:`stream_updates`.

        Never streamed unless asked for: a dashboard wants them, a training script not.
        """
        self._subscriptions.add(UpdateType.VIEW)

    async def unsubscribe(self, message_type: UpdateType | str) -> None:
        """Stop including one kind of update in :meth:`stream_updates`."""
        self._subscriptions.discard(UpdateType.parse(message_type))

    async def _snapshots(
        self,
        open_call: Callable[[int | None], grpc.aio.UnaryStreamCall[Any, R]],
        decode: Callable[[R], Snapshot],
        kind: type[Snapshot],
    ) -> AsyncIterator[Snapshot]:
        """Yield a snapshot stream's updates, reopening it after disconnects."""
        async for update in resumable_stream(
            open_call, decode, after_sequence=None, policy=_SNAPSHOT_POLICY
        ):
            assert isinstance(update, kind)
            yield update

    async def _anomaly_head(self, metadata: Metadata) -> int:
        page = await self.get_anomaly_page(limit=1, metadata=metadata)
        return page.last_sequence

    async def _warn_of_view_filter(self, metadata: Metadata) -> None:
        """Warn (:class:`ViewFilterWarning`) when the stored filter, which selects the
        heatmaps of a stream that names no models or layers, warns of itself (it hides
        every layer, or names ids that match nothing): such a stream would otherwise just
        stay silent. Best effort: a bridge that cannot say is not an error here."""
        try:
            resp = await self._unary(self._open().GetFilter, pb.GetFilterRequest(),
                                     timeout=DEFAULT, metadata=metadata, retry=DEFAULT)
        except NeuralHeatmapError:
            return
        for text in resp.warnings:
            warnings.warn(ViewFilterWarning(f"heatmap updates follow the stored view filter: "
                                            f"{text}"), stacklevel=3)

    async def resumable_updates(
        self,
        message_types: Sequence[UpdateType | str] | None,
        *,
        after_sequence: int | None,
        min_severity: Severity | str | None,
        model_ids: Sequence[str] | None,
        policy: ReconnectPolicy,
        metadata: Metadata = None,
        control: StreamControl | None = None,
        on_error: OnError | None = None,
    ) -> AsyncIterator[Update]:
        """The ``StreamUpdates`` stream under :meth:`stream_updates` and the seed's
        :class:`NeuralHeatmapWebSocketClient`, reopened after disconnects by ``policy``.

        Args:
            message_types: Kinds to stream; ``None``: the subscribed ones (or all).
            after_sequence: Anomalies after this sequence; ``None``: from the log's head.
            min_severity: Only anomalies of this severity or worse.
            model_ids: Only heatmap and anomaly updates of these models.
            policy: When and how often to reopen.
            metadata: Extra gRPC metadata.
            control: Lets the caller stop the stream or reopen it with new kinds.
            on_error: Called with each error that leads to a reopening.
        """

        def kinds() -> set[UpdateType]:
            if message_types:
                return {UpdateType.parse(t) for t in message_types}
            return set(self._subscriptions) or {
                UpdateType.HEATMAP,
                UpdateType.CORRELATION,
                UpdateType.TEMPORAL,
                UpdateType.ANOMALY,
            }

        start = after_sequence
        if start is None and UpdateType.ANOMALY in kinds():
            start = await self._anomaly_head(metadata)
        if UpdateType.HEATMAP in kinds() and not (model_ids or self._heatmap_models
                                                  or self._heatmap_layers):
            await self._warn_of_view_filter(metadata)
        models = as_str_list(model_ids) or self._heatmap_models
        md = self._metadata(metadata)
        severity = _severity_floor(min_severity)

        def open_call(
            last: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.StreamUpdatesRequest, pb.StreamUpdatesResponse]:
            stub = self._open()
            wanted = kinds()
            request = pb.StreamUpdatesRequest(
                types=[updates_pb2.UpdateType.ValueType(k.to_proto()) for k in sorted(wanted)],
                min_severity=severity,
                model_ids=models,
            )
            if last is not None and UpdateType.ANOMALY in wanted:
                request.after_sequence = last
            return stub.StreamUpdates(request, metadata=md)

        layers = set(self._heatmap_layers)

        def decode(msg: pb.StreamUpdatesResponse) -> Update | None:
            update = update_from_proto(msg)
            if layers and isinstance(update, HeatmapUpdate) and update.layer not in layers:
                return None
            return update

        async for update in resumable_stream(
            open_call,
            decode,
            after_sequence=start,
            policy=policy,
            control=control,
            on_error=on_error,
            is_heartbeat=_is_update_heartbeat,
        ):
            yield update

    async def stream_updates(
        self,
        message_types: Sequence[UpdateType | str] | None = None,
        *,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        model_ids: Sequence[str] | None = None,
        reconnect: bool = True,
        reconnect_delay: float = ReconnectPolicy.delay,
        max_retries: int = ReconnectPolicy.max_retries,
        idle_timeout: float | None = ReconnectPolicy.idle_timeout,
        metadata: Metadata = None,
    ) -> AsyncIterator[Update]:
        """Stream live updates of the subscribed kinds (or of ``message_types``).

        With no subscription and no ``message_types``, every kind but
        :attr:`UpdateType.VIEW` is streamed; view updates (the stored filter, theme and
        layout, at once and after every change by any client) only when named. The
        stream reopens itself after a disconnect (see ``reconnect*``); anomalies then
        resume after the last one delivered, so each anomaly is yielded exactly once.
        Without ``after_sequence``, anomalies logged from the moment of the call on are
        delivered.

        Args:
            message_types: Kinds to stream: :class:`UpdateType` members or the
                seed's names (``"heatmap_update"``, ``"anomaly_update"``,
                ``"view_update"``, ...; ``"heatmap"``, ``"anomalies"`` also work).
            after_sequence: Replay logged anomalies after this sequence first.
            min_severity: Only anomalies of this severity or worse.
            model_ids: Only heatmap and anomaly updates of these models.
            reconnect: Reopen after a disconnect.
            reconnect_delay: Base wait before reopening (doubles up to the shared
                policy's cap, equal jitter; docs/clients.md).
            max_retries: Consecutive failed reopenings before raising.
            idle_timeout: Reopen a stream that brought no update and no heartbeat
                for this many seconds (once the bridge has sent one heartbeat);
                ``None``: no bound. See :class:`ReconnectPolicy`.
            metadata: Extra gRPC metadata.

        Yields:
            :class:`HeatmapUpdate`, :class:`CorrelationUpdate`,
            :class:`TemporalUpdate`, :class:`AnomalyUpdate` or :class:`ViewUpdate`
            objects.
        """
        policy = ReconnectPolicy(
            reconnect=reconnect,
            delay=reconnect_delay,
            max_retries=max_retries,
            idle_timeout=idle_timeout,
        )
        async for update in self.resumable_updates(
            message_types,
            after_sequence=after_sequence,
            min_severity=min_severity,
            model_ids=model_ids,
            policy=policy,
            metadata=metadata,
        ):
            yield update

    async def stream_heatmap(
        self,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        *,
        metadata: Metadata = None,
    ) -> AsyncIterator[HeatmapUpdate]:
        """Stream heatmap frames (``SubscribeHeatmap``); reopens after disconnects."""
        md = self._metadata(metadata)
        request = pb.SubscribeHeatmapRequest(
            model_ids=as_str_list(model_ids), layer_ids=as_str_list(layer_ids)
        )

        def open_call(
            _: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.SubscribeHeatmapRequest, pb.SubscribeHeatmapResponse]:
            return self._open().SubscribeHeatmap(request, metadata=md)

        async for update in self._snapshots(
            open_call, lambda r: HeatmapUpdate.from_proto(r.update), HeatmapUpdate
        ):
            yield update

    async def stream_correlations(
        self, *, metadata: Metadata = None
    ) -> AsyncIterator[CorrelationUpdate]:
        """Stream correlation matrices (``SubscribeCorrelations``)."""
        md = self._metadata(metadata)

        def open_call(
            _: int | None,
        ) -> grpc.aio.UnaryStreamCall[
            pb.SubscribeCorrelationsRequest, pb.SubscribeCorrelationsResponse
        ]:
            return self._open().SubscribeCorrelations(
                pb.SubscribeCorrelationsRequest(), metadata=md
            )

        async for update in self._snapshots(
            open_call, lambda r: CorrelationUpdate.from_proto(r.update), CorrelationUpdate
        ):
            yield update

    async def stream_temporal(self, *, metadata: Metadata = None) -> AsyncIterator[TemporalUpdate]:
        """Stream temporal patterns (``SubscribeTemporal``)."""
        md = self._metadata(metadata)

        def open_call(
            _: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.SubscribeTemporalRequest, pb.SubscribeTemporalResponse]:
            return self._open().SubscribeTemporal(pb.SubscribeTemporalRequest(), metadata=md)

        async for update in self._snapshots(
            open_call, lambda r: TemporalUpdate.from_proto(r.update), TemporalUpdate
        ):
            yield update

    async def stream_anomalies(
        self,
        after_sequence: int | None = None,
        min_severity: Severity | str | None = None,
        model_ids: Sequence[str] | None = None,
        *,
        reconnect: bool = True,
        reconnect_delay: float = ReconnectPolicy.delay,
        max_retries: int = ReconnectPolicy.max_retries,
        idle_timeout: float | None = ReconnectPolicy.idle_timeout,
        metadata: Metadata = None,
        on_error: OnError | None = None,
    ) -> AsyncIterator[AnomalyUpdate]:
        """Stream anomalies (``SubscribeAnomalies``), exactly once across disconnects.

        Heartbeats are swallowed; a stream the bridge ends as stuck (UNAVAILABLE) or
        that stays silent past ``idle_timeout`` is reopened after the last sequence.

        Args:
            after_sequence: Replay logged anomalies after this sequence first;
                ``None``: anomalies logged from now on.
            min_severity: Only this severity or worse.
            model_ids: Only these models.
            reconnect: Reopen after a disconnect.
            reconnect_delay: Base wait before reopening (doubles up to the shared
                policy's cap, equal jitter; docs/clients.md).
            max_retries: Consecutive failed reopenings before raising.
            idle_timeout: Reopen a stream that brought no update and no heartbeat
                for this many seconds (once the bridge has sent one heartbeat);
                ``None``: no bound.
            metadata: Extra gRPC metadata.
            on_error: Called with each error that leads to a reopening and the count of
                consecutive failures (sync or async), e.g. to show that the bridge is
                unreachable while the stream keeps retrying.
        """
        start = after_sequence if after_sequence is not None else await self._anomaly_head(metadata)
        md = self._metadata(metadata)
        severity = _severity_floor(min_severity)
        models = as_str_list(model_ids)

        def open_call(
            last: int | None,
        ) -> grpc.aio.UnaryStreamCall[pb.SubscribeAnomaliesRequest, pb.SubscribeAnomaliesResponse]:
            request = pb.SubscribeAnomaliesRequest(min_severity=severity, model_ids=models)
            if last is not None:
                request.after_sequence = last
            return self._open().SubscribeAnomalies(request, metadata=md)

        async for update in resumable_stream(
            open_call,
            lambda r: AnomalyUpdate.from_proto(r.update),
            after_sequence=start,
            policy=ReconnectPolicy(
                reconnect=reconnect,
                delay=reconnect_delay,
                max_retries=max_retries,
                idle_timeout=idle_timeout,
            ),
            is_heartbeat=_is_anomaly_heartbeat,
            on_error=on_error,
        ):
            assert isinstance(update, AnomalyUpdate)
            yield update
