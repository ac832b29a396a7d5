"""HTTP routes, middleware (request ids, auth, errors) and the application factory."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from aiohttp import web
from neural_heatmap_contract.errors import WORD_BY_HTTP_STATUS
from neural_heatmap_contract.media import FRAMES_MEDIA_TYPE, MATRIX_MEDIA_TYPE
from neural_heatmap_contract.protocol import DEADLINE_HEADER
from neural_heatmap_contract.routes import http, http_routes
from neural_heatmap_contract.tracing import enable_tracing

from .accepted import Accepted, accepted_by_operation, accepted_for
from .answer_pieces import models_pieces
from .config import ServerConfig
from .connections import ClientGone, close_after, handler_args, read_body
from .errors import ApiError, error_body, invalid
from .ingest import check_binary_query, parse_binary_frames
from .openapi import openapi_document
from .params import opt_bool, opt_int
from .queries import MAX_SEQUENCE
from .service import STATE, ServerState
from .source import run_source
from .wire import dumps
from .workers import Deadline
from .ws import websocket_handler

log = logging.getLogger("neural_heatmap_server.access")

PUBLIC_PATHS = tuple(route.path for route in http_routes().values() if route.public)
# Probes and scrapes: logged at DEBUG when they work.
QUIET_PATHS = (*PUBLIC_PATHS, http("Metrics").path)
SHUTDOWN_GRACE_SECONDS = 5.0  # in-flight requests get this long after SIGTERM
BINARY_PIECE_BYTES = 4 << 20  # a binary matrix answer is written 4 MiB at a time

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (METHOD, path template) -> what the route accepts, from this server's OpenAPI document.
ACCEPTED: web.AppKey[dict[tuple[str, str], Accepted]] = web.AppKey("accepted")

# Statuses aiohttp raises itself (no route, wrong method, body too big) -> our codes.


def json_response(body: Any, status: int = 200) -> web.Response:
    """A strict-JSON answer (non-finite floats become null)."""
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def json_text_response(text: str) -> web.Response:
    """A 200 answer whose JSON was already encoded (by a worker)."""
    return web.Response(text=text, content_type="application/json")


async def stream_pieces(request: web.Request, pieces: Sequence[bytes | memoryview],
                        content_type: str) -> web.StreamResponse:
    """A 200 answer written a piece at a time (encoded by a worker).

    One ``web.Response`` of a 330 MB body was encoded, copied and queued on the event
    loop in one go (seconds); here each write is one piece, and waits for the client
    to drain the previous one, so the loop never holds more than a piece at a time.
    """
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = sum(len(piece) for piece in pieces)
    await response.prepare(request)
    for piece in pieces:
        await response.write(piece)
    await response.write_eof()
    return response


async def read_json(request: web.Request) -> Any:
    """Decode a small JSON document (filter, theme, layout, compare, export): at most
    ``MAX_DOCUMENT_BYTES``, so validating it never holds the event loop for long; a
    top-level field the route does not declare is a 400 naming it."""
    doc = _state(request).decoding.read_document(await request.read())
    _accepted(request).check_body(doc)
    return doc


def _accepted(request: web.Request) -> Accepted:
    """What the request's route accepts (see ``accepted``)."""
    route = request.match_info.route
    template = route.resource.canonical if route.resource is not None else request.path
    table = request.app[ACCEPTED]
    return accepted_for(table, route.method, template)


def _state(request: web.Request) -> ServerState:
    return request.app[STATE]


def _deadline(request: web.Request) -> Deadline:
    deadline: Deadline = request["deadline"]
    return deadline


def _authorized(given: str, token: str) -> bool:
    """Constant-time bearer check; header bytes that are not UTF-8 simply do not match.

    aiohttp decodes header bytes as UTF-8 with ``surrogateescape``, so the text
    is turned back into its original bytes rather than encoded strictly (which
    raised and answered 500).
    """
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               f"Bearer {token}".encode())


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, bearer auth, error rendering and one log line per request."""
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    request["request_id"] = request_id
    started = time.perf_counter()
    try:
        state = _state(request)
        token = state.config.token
        if (token is not None and request.path not in PUBLIC_PATHS
                and not _authorized(request.headers.get("Authorization", ""), token)):
            raise ApiError("unauthenticated", "missing or wrong bearer token")
        if request.match_info.http_exception is None:  # a route matched (not a 404/405)
            _accepted(request).check_query(request.query)
        deadline = state.deadline(request.headers.get(DEADLINE_HEADER))
        request["deadline"] = deadline
        if request.path not in PUBLIC_PATHS:
            deadline.check()  # the caller has already given up: do not start
        if request.body_exists:
            await read_body(request, state.config.body_timeout)
        response = await handler(request)
    except ClientGone as exc:
        log.debug("client left during the body of %s %s (%s) request_id=%s", request.method,
                  request.path, exc, request_id)
        return web.Response(status=400)  # nobody reads it; aiohttp drops it quietly
    except ApiError as exc:
        response = json_response(exc.body(), exc.status)
        response.headers.update(exc.headers)
        if exc.code == "request_timeout":
            response = await close_after(request, response)
    except web.HTTPException as exc:
        fallback = "invalid_argument" if exc.status < 500 else "internal"
        code = WORD_BY_HTTP_STATUS.get(exc.status, fallback)
        response = json_response(error_body(code, exc.reason), exc.status)
        if "Allow" in exc.headers:  # 405 must say which methods the route has
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("unhandled error in %s %s request_id=%s", request.method, request.path,
                      request_id)
        response = json_response(error_body("internal", "internal server error"), 500)
    # Health probes arrive every second from the bridge; keep them out of the INFO log.
    quiet = request.path in QUIET_PATHS and response.status < 400
    elapsed = time.perf_counter() - started
    log.log(logging.DEBUG if quiet else logging.INFO, "%s %s %d %.1fms request_id=%s",
            request.method, request.path_qs, response.status, elapsed * 1000, request_id)
    if STATE in request.app:
        request.app[STATE].metrics.observe(request, response.status, elapsed)
    return response


async def _echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Request-Id"] = request.get("request_id") or uuid.uuid4().hex


async def health(request: web.Request) -> web.Response:
    """Liveness: 200 once the server is up."""
    state = _state(request)
    return json_response({"status": "ok", "uptime": time.time() - state.started,
                          "models": len(state.store.models), "source": state.config.source})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics (text format); behind the bearer token when one is set."""
    return _state(request).metrics.response()


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of these routes."""
    return json_response(openapi_document(_state(request).config))


async def models(request: web.Request) -> web.StreamResponse:
    """Discovery: models, layers, canvas sizes (and unit locations on request)."""
    state = _state(request)
    include_units = bool(opt_bool(request.query, "include_units"))
    job = state.analytics.plan_models(include_units)
    if not include_units:  # one entry per layer: cheap, answered on the loop
        return json_response(job())
    pieces = await state.queries.offload(_deadline(request), lambda: models_pieces(job()),
                                         name="models")
    return await stream_pieces(request, pieces, "application/json")


async def ingest(request: web.Request) -> web.Response:
    """JSON or binary activation ingestion."""
    state = _state(request)
    now = time.time()
    if request.content_type == FRAMES_MEDIA_TYPE:
        batch = parse_binary_frames(await request.read(), request.query.get("model_id"),
                                    request.query.get("layer_id"), request.query.get("units"),
                                    state.store, now)
        batches = [batch]
    else:
        q = request.query  # the binary form's parameters mean nothing here, but must be valid
        check_binary_query(q.get("model_id"), q.get("layer_id"), q.get("units"),
                           state.store.max_units)
        batches = await state.decoding.read_frames(await request.read(), now)
    return json_response({"accepted": await state.accept_frames(batches)})


async def correlation(request: web.Request) -> web.StreamResponse:
    """Correlation matrix, as JSON or (``Accept``) binary float32; computed and encoded
    by a worker."""
    state = _state(request)
    job = state.analytics.plan_correlation(request.query)
    if MATRIX_MEDIA_TYPE in request.headers.get("Accept", ""):
        body = memoryview(await state.queries.offload(_deadline(request),
                                                      lambda: job().to_binary(),
                                                      name="correlation"))
        return await stream_pieces(request, [body[i:i + BINARY_PIECE_BYTES] for i in range(
            0, len(body), BINARY_PIECE_BYTES)], MATRIX_MEDIA_TYPE)
    pieces = await state.queries.offload(_deadline(request), lambda: job().to_json_pieces(),
                                         name="correlation")
    return await stream_pieces(request, pieces, "application/json")


async def export_correlation(request: web.Request) -> web.Response:
    """Server-side export of the correlation matrix; a client that disconnects stops it."""
    return json_response(await _state(request).exports.export(await read_json(request),
                                                              _deadline(request),
                                                              lambda: _client_gone(request)))


def _client_gone(request: web.Request) -> bool:
    """True once the client closed its connection (aiohttp does not cancel handlers)."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def list_exports(request: web.Request) -> web.Response:
    """Files in the export directory."""
    return json_response(_state(request).exports.listing())


async def get_export(request: web.Request) -> web.FileResponse:
    """Stream one exported file."""
    return web.FileResponse(_state(request).exports.path_of(request.match_info["name"]))


async def temporal(request: web.Request) -> web.Response:
    """Temporal patterns."""
    state = _state(request)
    job = state.analytics.plan_temporal_patterns(request.query)
    return json_text_response(
        await state.queries.offload(_deadline(request), lambda: dumps({"patterns": job()}),
                                    name="temporal_patterns"))


async def temporal_stats(request: web.Request) -> web.Response:
    """Temporal statistics per layer."""
    state = _state(request)
    job = state.analytics.plan_temporal_stats(request.query)
    return json_text_response(await state.queries.offload(_deadline(request),
                                                         lambda: dumps(job()),
                                                         name="temporal_stats"))


async def layers_health(request: web.Request) -> web.Response:
    """Per-unit health of each layer: dead and saturated units, top spike scores."""
    state = _state(request)
    job = state.analytics.plan_layer_health(request.query)
    return json_text_response(await state.queries.offload(_deadline(request),
                                                         lambda: dumps(job()),
                                                         name="layer_health"))


async def anomalies(request: web.Request) -> web.Response:
    """The anomaly log (newest ``limit``, or after a sequence)."""
    return json_response(_state(request).anomalies.read(request.query))


async def get_filter(request: web.Request) -> web.Response:
    """The stored filter; its warnings (ids matching nothing known, a filter hiding every
    layer) in ``X-Filter-Warnings``, a JSON list, so the body stays the filter itself."""
    state = _state(request)
    response = json_response(state.view.get_filter())
    warnings = state.view.filter_warnings()
    if warnings:
        response.headers["X-Filter-Warnings"] = json.dumps(warnings)
    return response


async def set_filter(request: web.Request) -> web.Response:
    """Replace the filter (``{}`` clears)."""
    return json_response(_state(request).view.set_filter(await read_json(request)))


async def clear_filter(request: web.Request) -> web.Response:
    """Clear the filter."""
    return json_response(_state(request).view.set_filter({}))


async def get_theme(request: web.Request) -> web.Response:
    """The stored theme."""
    return json_response(_state(request).view.get_theme())


async def set_theme(request: web.Request) -> web.Response:
    """Set the theme."""
    return json_response(_state(request).view.set_theme(await read_json(request)))


async def get_layout(request: web.Request) -> web.Response:
    """The stored layout."""
    return json_response(_state(request).view.get_layout())


async def set_layout(request: web.Request) -> web.Response:
    """Replace the layout."""
    return json_response(_state(request).view.set_layout(await read_json(request)))


async def render(request: web.Request) -> web.Response:
    """A PNG of the heatmap canvas or the correlation matrix, drawn by a worker; the
    ``X-Render-*`` headers say what was drawn (the theme is the stored one unless asked);
    an image of nothing says so in ``X-Render-Empty`` and why in ``X-Render-Warning``
    (a JSON string, ASCII-safe in a header)."""
    state = _state(request)
    job, options, empty = state.analytics.plan_render(request.query, state.view.get_theme())
    png = await state.queries.offload(_deadline(request), job, name="render")
    headers = {
        "X-Render-Kind": options.kind, "X-Render-Theme": options.theme,
        "X-Render-Width": str(options.width), "X-Render-Height": str(options.height)}
    if empty is not None:
        headers |= {"X-Render-Empty": "true", "X-Render-Warning": json.dumps(empty)}
    return web.Response(body=png, content_type="image/png", headers=headers)


async def compare(request: web.Request) -> web.Response:
    """Compare models (linear CKA, mean activation, sparsity)."""
    state = _state(request)
    job = state.analytics.plan_compare(await read_json(request))
    return json_text_response(await state.queries.offload(_deadline(request),
                                                         lambda: dumps(job()),
                                                         name="compare"))


def _body_int(doc: Any, field: str, low: int, high: int) -> int:
    """A required integer of a JSON body (``5.0`` is one, ``"5"`` is not), within bounds."""
    raw = doc.get(field) if isinstance(doc, dict) else None
    if raw is None or isinstance(raw, str):
        raise invalid(f"body field {field!r} must be an integer", field=field)
    value = opt_int(doc, field, low, high)
    assert value is not None
    return value


def _body_str(doc: Any, field: str) -> str:
    """A required string of a JSON body."""
    raw = doc.get(field) if isinstance(doc, dict) else None
    if not isinstance(raw, str):
        raise invalid(f"body field {field!r} must be a string", field=field)
    return raw


async def get_consumer(request: web.Request) -> web.Response:
    """A durable consumer's acknowledged cursor (created at the log's head if new)."""
    shared = bool(opt_bool(request.query, "shared"))
    return json_response(_state(request).consumers.get(request.match_info["name"],
                                                       shared).to_json())


async def ack_consumer(request: web.Request) -> web.Response:
    """Acknowledge a consumer's anomalies up to (plain) or at (group) a sequence."""
    sequence = _body_int(await read_json(request), "sequence", 0, MAX_SEQUENCE)
    return json_response(_state(request).consumers.ack(request.match_info["name"],
                                                       sequence).to_json())


async def claim_consumer(request: web.Request) -> web.Response:
    """Hand a member of a consumer group anomalies to work on (see ``consumers``)."""
    doc = await read_json(request)
    member = _body_str(doc, "member")
    limit = _body_int(doc, "limit", 1, _state(request).config.max_anomaly_limit)
    state, anomalies = _state(request).consumers.claim(request.match_info["name"], member, limit)
    return json_response({**state.to_json(), "anomalies": anomalies})


# The handler of every route by its name in the contract's route table
# (``neural_heatmap_contract.routes``: method and path are written there, once).
HANDLERS: dict[str, Handler] = {
    "Health": health,
    "OpenApi": openapi,
    "Metrics": metrics,
    "WebSocket": websocket_handler,
    "DeleteFilter": clear_filter,
    "GetConsumer": get_consumer,
    "ClaimAnomalies": claim_consumer,
    "ListModels": models,
    "GetCorrelationMatrix": correlation,
    "GetTemporalPatterns": temporal,
    "GetTemporalStatistics": temporal_stats,
    "GetAnomalies": anomalies,
    "SetFilter": set_filter,
    "GetFilter": get_filter,
    "SetTheme": set_theme,
    "GetTheme": get_theme,
    "SetLayout": set_layout,
    "GetLayout": get_layout,
    "CompareModels": compare,
    "ExportCorrelationMatrix": export_correlation,
    "ListExports": list_exports,
    "DownloadExport": get_export,
    "IngestActivations": ingest,
    "RenderHeatmap": render,
    "AckAnomalies": ack_consumer,
    "GetLayerHealth": layers_health,
}


def _instrument_tracing() -> None:
    """Trace every request (W3C ``traceparent`` in, a server span per request) when the
    ``OTEL_*`` environment asks for it; see ``neural_heatmap_contract.tracing``."""
    if enable_tracing("neural-heatmap-server"):
        from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor

        AioHttpServerInstrumentor().instrument()  # adds its middleware to new applications


def create_app(config: ServerConfig) -> web.Application:
    """Build the application; the state (database, store) opens on start-up."""
    _instrument_tracing()
    app = web.Application(middlewares=[api_middleware], client_max_size=config.max_body_bytes,
                          handler_args=handler_args(config))
    app[ACCEPTED] = accepted_by_operation(openapi_document(config))
    for name, route in http_routes().items():
        app.router.add_route(route.method, route.router_path, HANDLERS[name])
    app.on_response_prepare.append(_echo_request_id)

    async def start(app: web.Application) -> None:
        state = ServerState(config)
        app[STATE] = state
        await state.start_background()
        if config.source:
            state.add_task(asyncio.create_task(run_source(state.ingest.accept,
                                                         config.source_rate)))

    async def begin_shutdown(app: web.Application) -> None:
        # Before aiohttp waits for in-flight requests: running jobs stop at their
        # next deadline check and WebSockets close, so SIGTERM is never held up.
        app[STATE].stop_work()
        await app[STATE].hub.close_all()

    async def stop(app: web.Application) -> None:
        await app[STATE].close()

    app.on_startup.append(start)
    app.on_shutdown.append(begin_shutdown)
    app.on_cleanup.append(stop)
    np.seterr(all="ignore")
    return app
