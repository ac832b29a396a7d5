"""The ``/ws`` endpoint: decode client messages, run them, answer ``data``/``error``.

Every client message is ``{"type": str, "data": {...}}``. A malformed frame
or a failing request is answered with an ``error`` message and the
connection stays open. Subscriptions and fan-out policy live in ``hub``.

Liveness: ``subscribe_anomalies`` may ask for ``heartbeat_interval`` seconds;
the connection then gets ``{"type": "anomaly_heartbeat", "data":
{"last_sequence", "timestamp"}}`` whenever no anomaly was sent for that long,
so a client (the bridge) can tell a quiet log from a server that stopped
answering, and knows the head it must reach.

Caches: ``subscribe_versions`` is answered with a ``versions`` message and
another follows every change of the anomaly log, the view state or the frame
store (see ``versions``), so a client may serve answers from memory while
the versions it holds are the newest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from neural_heatmap_contract.protocol import HEARTBEAT_MAX_SECONDS, HEARTBEAT_MIN_SECONDS
from neural_heatmap_contract.routes import websocket

from .anomalies import SEVERITY_RANK
from .errors import ApiError, error_body, invalid
from .hub import AnomalySubscription, Connection, HeatmapSubscription, anomaly_update
from .params import opt_float, opt_list
from .queries import anomaly_query
from .service import STATE, ServerState
from .services.decoding import MAX_DOCUMENT_BYTES
from .wire import dumps

log = logging.getLogger(__name__)

_SUBSCRIBE_ANOMALIES = websocket("SubscribeAnomalies").subscribe[0]
MAX_TYPE_ECHO = 64  # characters of an unknown message type repeated in its error

Handler = Callable[[ServerState, Connection, dict[str, Any]], Awaitable[dict[str, Any]]]


def _set(data: dict[str, Any], key: str) -> set[str] | None:
    items = opt_list(data, key)
    return set(items) if items else None


async def _subscribe_heatmap(state: ServerState, conn: Connection,
                             data: dict[str, Any]) -> dict[str, Any]:
    conn.heatmap = HeatmapSubscription(_set(data, "model_ids"), _set(data, "layer_ids"))
    return {"status": "ok"}


async def _unsubscribe_heatmap(state: ServerState, conn: Connection,
                               data: dict[str, Any]) -> dict[str, Any]:
    conn.heatmap = None
    return {"status": "ok"}


def _flag(attr: str, value: bool) -> Handler:
    async def handler(state: ServerState, conn: Connection,
                      data: dict[str, Any]) -> dict[str, Any]:
        setattr(conn, attr, value)
        return {"status": "ok"}
    return handler


# Bounds of ``heartbeat_interval``: faster is noise, slower is no liveness signal.
# How often a connection without heartbeats looks again whether it got a subscription.
_HEARTBEAT_POLL = 1.0


def _heartbeat_interval(data: dict[str, Any]) -> float | None:
    value = opt_float(data, "heartbeat_interval")
    if value is not None and not HEARTBEAT_MIN_SECONDS <= value <= HEARTBEAT_MAX_SECONDS:
        raise invalid(f"heartbeat_interval must be between {HEARTBEAT_MIN_SECONDS} and "
                      f"{HEARTBEAT_MAX_SECONDS} seconds", field="heartbeat_interval", value=value)
    return value


async def _subscribe_anomalies(state: ServerState, conn: Connection,
                               data: dict[str, Any]) -> dict[str, Any]:
    heartbeat = _heartbeat_interval(data)
    query = anomaly_query(data, state.config.max_anomaly_limit)
    state.anomalies.check_after_sequence(query.after_sequence)
    chunks = state.anomalies.replay(query)
    min_rank = SEVERITY_RANK[query.min_severity] if query.min_severity else 0
    # The acknowledgement goes first, then the replay, then live updates; nothing
    # awaits in between, so no live anomaly can slip between replay and live.
    conn.send({"type": "data", "data": {"request": _SUBSCRIBE_ANOMALIES, "status": "ok",
                                        "replayed": sum(len(c) for c in chunks)}})
    for chunk in chunks:
        conn.offer_anomalies(dumps(anomaly_update(chunk, SEVERITY_RANK)))
    conn.anomalies = AnomalySubscription(
        min_rank, set(query.model_ids) if query.model_ids else None, heartbeat)
    return {}


async def _send_heartbeats(state: ServerState, conn: Connection) -> None:
    """Send ``anomaly_heartbeat`` on an idle anomaly subscription that asked for it.

    The head is the newest sequence published to the hub (the log's head before the
    first publication), read when the heartbeat is queued, so every anomaly up to it
    is already queued ahead of it.
    """
    while not conn.closed:
        sub = conn.anomalies
        if sub is None or sub.heartbeat is None:
            await asyncio.sleep(_HEARTBEAT_POLL)
            continue
        wait = conn.last_anomaly_at + sub.heartbeat - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
            continue
        last = state.hub.last_published
        if last is None:
            _, last = state.anomalies.check_after_sequence(None)
        if not conn.offer_heartbeat(dumps({"type": "anomaly_heartbeat", "data": {
                "last_sequence": last, "timestamp": time.time()}})):
            await asyncio.sleep(sub.heartbeat)  # busy sending: not idle


async def _unsubscribe_anomalies(state: ServerState, conn: Connection,
                                 data: dict[str, Any]) -> dict[str, Any]:
    conn.anomalies = None
    return {"status": "ok"}


async def _subscribe_versions(state: ServerState, conn: Connection,
                              data: dict[str, Any]) -> dict[str, Any]:
    # The current versions are the acknowledgement; later ones follow every change.
    state.hub.version_listeners.add(conn)
    conn.offer_versions(dumps(state.versions.message()))
    return {}


async def _unsubscribe_versions(state: ServerState, conn: Connection,
                                data: dict[str, Any]) -> dict[str, Any]:
    state.hub.version_listeners.discard(conn)
    return {"status": "ok"}


async def _get_correlation(state: ServerState, conn: Connection,
                           data: dict[str, Any]) -> dict[str, Any]:
    # A big matrix is encoded by the worker too (see workers.py), as UTF-8 bytes in one
    # join (a 4,096-label matrix is 330 MB: decoding, slicing and re-encoding it as text
    # held the GIL, and the loop, for seconds); the envelope is the one _dispatch writes.
    job = state.analytics.plan_correlation(data)
    head = b'{"type":"data","data":{"request":"get_correlation_matrix",'

    def encode() -> bytes:
        pieces = job().to_json_pieces()
        return b"".join([head, pieces[0][1:], *pieces[1:], b"}"])
    conn.send_text(await state.queries.offload(state.deadline(), encode))
    return {}


async def _get_temporal(state: ServerState, conn: Connection,
                        data: dict[str, Any]) -> dict[str, Any]:
    job = state.analytics.plan_temporal_patterns(data)
    return {"patterns": await state.queries.offload(state.deadline(), job)}


async def _get_anomalies(state: ServerState, conn: Connection,
                         data: dict[str, Any]) -> dict[str, Any]:
    return state.anomalies.read(data)


async def _set_filter(state: ServerState, conn: Connection,
                      data: dict[str, Any]) -> dict[str, Any]:
    return state.view.set_filter(data)


async def _set_theme(state: ServerState, conn: Connection,
                     data: dict[str, Any]) -> dict[str, Any]:
    return state.view.set_theme(data)


async def _set_layout(state: ServerState, conn: Connection,
                      data: dict[str, Any]) -> dict[str, Any]:
    return state.view.set_layout(data)


async def _export(state: ServerState, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    return await state.exports.export(data, state.deadline())


async def _ingest(state: ServerState, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    batches = state.decoding.parse_frames(data, time.time())
    return {"accepted": await state.accept_frames(batches)}


def _subscription(rpc: str, subscribe: Handler, unsubscribe: Handler) -> dict[str, Handler]:
    """The handlers of the message pair an RPC's stream subscribes with (its names are in
    the contract's route table, which the bridge sends from)."""
    route = websocket(rpc)
    (on,), (off,) = route.subscribe, route.unsubscribe
    return {on: subscribe, off: unsubscribe}


HANDLERS: dict[str, Handler] = {
    **_subscription("SubscribeHeatmap", _subscribe_heatmap, _unsubscribe_heatmap),
    **_subscription("SubscribeCorrelations", _flag("correlations", True),
                    _flag("correlations", False)),
    **_subscription("SubscribeTemporal", _flag("temporal", True), _flag("temporal", False)),
    **_subscription("SubscribeAnomalies", _subscribe_anomalies, _unsubscribe_anomalies),
    "subscribe_versions": _subscribe_versions,
    "unsubscribe_versions": _unsubscribe_versions,
    "get_correlation_matrix": _get_correlation,
    "get_temporal_patterns": _get_temporal,
    "get_anomalies": _get_anomalies,
    "set_filter": _set_filter,
    "set_theme": _set_theme,
    "set_layout": _set_layout,
    "export_data": _export,
    "ingest_activations": _ingest,
}


async def _dispatch(state: ServerState, conn: Connection, text: str) -> None:
    kind: str | None = None
    try:
        message, batches = await state.decoding.read_message(text, time.time())
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise invalid('a message must be {"type": str, "data": {...}}')
        kind = message["type"][:MAX_TYPE_ECHO]  # echoed in errors: a long one is no type
        if kind != "ingest_activations" and len(text) > MAX_DOCUMENT_BYTES:
            raise ApiError("payload_too_large", f"a {kind} message of {len(text)} bytes "
                           f"exceeds the limit of {MAX_DOCUMENT_BYTES}", request=kind,
                           bytes=len(text), limit=MAX_DOCUMENT_BYTES)
        data = message.get("data")
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise invalid("data must be a JSON object", request=kind)
        handler = HANDLERS.get(kind)
        if handler is None:
            raise invalid(f"unknown message type {kind!r}", request=kind,
                          allowed=sorted(HANDLERS))
        if batches is not None:  # a large ingest_activations, parsed off the loop
            result = {"accepted": await state.accept_frames(batches)}
        else:
            result = await handler(state, conn, data)
        if result:
            conn.send({"type": "data", "data": {"request": kind, **result}})
    except ApiError as exc:
        _send_error(conn, exc.code, exc.message, exc.details, kind)
    except Exception:
        log.exception("websocket request %s failed", kind)
        _send_error(conn, "internal", "internal server error", {}, kind)


def _send_error(conn: Connection, code: str, message: str, details: dict[str, Any],
                kind: str | None) -> None:
    body = error_body(code, message, details)["error"]
    if kind is not None:
        body["request"] = kind
    conn.send({"type": "error", "data": body})


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    """Serve one WebSocket connection until it closes."""
    state = request.app[STATE]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=state.config.max_body_bytes,
                                compress=False)  # CPU matters more than bytes on loopback
    await ws.prepare(request)
    conn = state.hub.open(ws)
    sender = asyncio.get_running_loop().create_task(conn.run_sender())
    beats = asyncio.get_running_loop().create_task(_send_heartbeats(state, conn))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _dispatch(state, conn, msg.data)
            elif msg.type == WSMsgType.BINARY:
                conn.send({"type": "error", "data": error_body(
                    "invalid_argument", "binary frames are not accepted on /ws")["error"]})
            elif msg.type == WSMsgType.ERROR:
                log.info("websocket error: %s", ws.exception())
    finally:
        state.hub.discard(conn)
        sender.cancel()
        beats.cancel()
    return ws
