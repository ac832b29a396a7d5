"""Upstream subscriptions that follow the streams' demand.

Heatmap, correlation and temporal updates are subscribed upstream while at
least one stream wants them; the upstream heatmap subscription names the union
of the streams' models (and layers) when every heatmap stream names some, and
is resent as that changes. Anomalies stay subscribed once any stream asked for
them, so the bridge's ring of recent anomalies (``_anomaly_ring``) stays
current for resuming clients. The upstream is asked for its own
``anomaly_heartbeat`` (the ring's log-head check). The view state follows the
upstream's ``versions`` pushes (``_view``), which also stay subscribed once asked
for (the read cache may use them too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neural_heatmap_contract.protocol import HEARTBEAT_MAX_SECONDS, HEARTBEAT_MIN_SECONDS
from neural_heatmap_contract.routes import websocket

from ._anomaly_ring import AnomalyRing
from ._mailbox import Kind, Mailbox
from ._pump import Pump

if TYPE_CHECKING:  # nats-py is the optional ``cluster`` extra
    from ._jetstream import JetStreamFeed

# Each kind's upstream messages: those of its Subscribe RPC in the contract's route table.
_ROUTE = {
    Kind.HEATMAP: websocket("SubscribeHeatmap"),
    Kind.CORRELATION: websocket("SubscribeCorrelations"),
    Kind.TEMPORAL: websocket("SubscribeTemporal"),
    Kind.ANOMALY: websocket("SubscribeAnomalies"),
}
_SUBSCRIBE = {kind: route.subscribe[0] for kind, route in _ROUTE.items()}
_UNSUBSCRIBE = {kind: route.unsubscribe[0] for kind, route in _ROUTE.items()}
# The view kind follows the server's change counters: ``subscribe_versions``, a WebSocket
# message of the server's own that no RPC owns (the read cache asks for it too).
_SUBSCRIBE[Kind.VIEW] = "subscribe_versions"
_UNSUBSCRIBE[Kind.VIEW] = "unsubscribe_versions"
# Kinds whose upstream subscription stays once asked for (see the module docstring).
_KEPT = (Kind.ANOMALY, Kind.VIEW)


class Demand:
    """How many streams want each kind, and the upstream subscriptions that follow.

    Args:
        pump: The upstream WebSocket.
        ring: The anomaly ring (its head is the anomaly subscription's resume point).
        mailboxes: Every open stream (their heatmap models and layers are unioned).
        heartbeat_interval: The bridge's ``--heartbeat-interval``, asked of the upstream.
        feed: When the log is a JetStream stream, what feeds the ring instead of the
            upstream's anomaly subscription.
    """

    def __init__(
        self,
        pump: Pump,
        ring: AnomalyRing,
        mailboxes: set[Mailbox],
        heartbeat_interval: float,
        feed: JetStreamFeed | None = None,
    ) -> None:
        self._feed = feed
        self._pump = pump
        self._ring = ring
        self._mailboxes = mailboxes
        self._heartbeat_interval = heartbeat_interval
        self._wanted: dict[Kind, int] = dict.fromkeys(Kind, 0)
        self._anomalies_on = False
        self._heatmap_sent: dict[str, Any] | None = None  # None: not subscribed upstream

    def subscribe_data(self, kind: Kind) -> dict[str, Any]:
        """The ``data`` of the upstream ``subscribe_<kind>`` message."""
        if kind is Kind.ANOMALY:
            data: dict[str, Any] = {
                "heartbeat_interval": min(
                    HEARTBEAT_MAX_SECONDS, max(HEARTBEAT_MIN_SECONDS, self._heartbeat_interval)
                )
            }
            resume = self._ring.resume_point()
            if resume is not None:
                data["after_sequence"] = resume
            return data
        if kind is Kind.HEATMAP:
            return self._heatmap_data()
        return {}

    def _heatmap_data(self) -> dict[str, Any]:
        """The narrowest upstream heatmap subscription that covers every heatmap stream."""
        subs = [mb.sub for mb in self._mailboxes if Kind.HEATMAP in mb.sub.kinds]
        data: dict[str, Any] = {}
        if subs and all(s.model_ids for s in subs):
            data["model_ids"] = sorted(set().union(*(s.model_ids for s in subs)))
        if subs and all(s.layer_ids for s in subs):
            data["layer_ids"] = sorted(set().union(*(s.layer_ids for s in subs)))
        return data

    async def _update_heatmap(self) -> None:
        """Resend the upstream heatmap subscription when the streams' union changed."""
        data = self._heatmap_data() if self._wanted[Kind.HEATMAP] else None
        if data == self._heatmap_sent:
            return
        self._heatmap_sent = data
        if data is None:
            await self._pump.send(_UNSUBSCRIBE[Kind.HEATMAP], {})
        else:
            self._pump.start()
            await self._pump.send(_SUBSCRIBE[Kind.HEATMAP], data)

    async def subscribe(self, kind: Kind) -> None:
        """Send the upstream subscription of ``kind`` (as it stands now)."""
        if kind is Kind.ANOMALY and self._feed is not None:
            return  # the stream feeds the ring; the server's WebSocket is not asked
        await self._pump.send(_SUBSCRIBE[kind], self.subscribe_data(kind))

    async def resubscribe_all(self) -> None:
        """A new upstream connection: subscribe to everything wanted again."""
        if self._anomalies_on:
            await self._ring.ensure_head()
        if self._wanted[Kind.HEATMAP]:
            self._heatmap_sent = self._heatmap_data()
        for kind in Kind:
            if self._wanted[kind] or (kind is Kind.ANOMALY and self._anomalies_on):
                await self.subscribe(kind)

    async def want(self, kind: Kind) -> None:
        """One more stream wants ``kind`` (counted before the first await)."""
        self._wanted[kind] += 1
        if kind is Kind.HEATMAP:
            await self._update_heatmap()
            return
        if kind is Kind.ANOMALY:
            if self._anomalies_on:
                return
            await self._ring.ensure_head()
            self._anomalies_on = True
            if self._feed is not None:
                self._feed.start()
                return
        elif self._wanted[kind] > 1:
            return
        self._pump.start()
        await self.subscribe(kind)

    async def unwant(self, kind: Kind, closing: bool) -> None:
        """One stream less wants ``kind``; nothing is sent while the bridge closes."""
        self._wanted[kind] -= 1
        if closing:
            return
        if kind is Kind.HEATMAP:
            await self._update_heatmap()
        elif self._wanted[kind] == 0 and kind not in _KEPT:
            await self._pump.send(_UNSUBSCRIBE[kind], {})
