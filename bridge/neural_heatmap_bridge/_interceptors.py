"""Server interceptors: the version header, bearer-token auth and Prometheus accounting.

Every response, health, reflection and refusals included, starts with the
``x-neural-heatmap-version`` header (``neural_heatmap_contract.version``) so any client,
even grpcurl, can tell which contract the bridge speaks before relying on it.

Auth compares ``authorization: Bearer <token>`` in constant time
(``hmac.compare_digest``) and refuses with UNAUTHENTICATED. Health and
reflection stay open so load balancers and ``grpcurl list`` work without a
secret; they reveal nothing beyond the (public) schema and liveness.
"""

from __future__ import annotations

import hmac
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from neural_heatmap_contract.version import VERSION, VERSION_HEADER

from . import _errors
from ._metrics import Metrics

Ctx = grpc.aio.ServicerContext[Any, Any]
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _rebuild(handler: Handler, unary: Any, stream: Any) -> Handler:
    """Copy ``handler`` with its behaviour replaced by ``unary``/``stream`` factories.

    ``unary(fn)`` wraps behaviours returning one response, ``stream(fn)`` those
    yielding many; the four RPC shapes map onto these two. A streaming method
    whose behaviour is a coroutine writing with ``context.write`` (health's
    ``Watch``) is awaited like a unary one: iterating it would fail.
    """
    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }

    def streaming(fn: Any) -> Any:
        return stream(fn) if inspect.isasyncgenfunction(fn) else unary(fn)

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), **kw)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), **kw)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), **kw)
    return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), **kw)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every RPC (except health and reflection) without the right bearer token."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def _ok(self, details: grpc.HandlerCallDetails) -> bool:
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_PREFIXES):
            return handler
        if self._ok(handler_call_details):
            return handler

        async def deny(_request: Any, context: Ctx) -> None:
            await _errors.abort(context, _errors.unauthenticated(
                "missing or wrong 'authorization: Bearer <token>' metadata"
            ))

        async def deny_stream(_request: Any, context: Ctx) -> AsyncIterator[Any]:
            await deny(_request, context)
            yield  # pragma: no cover

        return _rebuild(handler, lambda _fn: deny, lambda _fn: deny_stream)


def _code_name(context: Ctx) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "OK" if code is None else str(code)


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts calls by method and code, times unary calls, gauges open streams."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        m = self._m
        streaming = bool(handler.request_streaming or handler.response_streaming)

        def unary(fn: Any) -> Any:
            async def wrapper(request: Any, context: Ctx) -> Any:
                start, code = time.perf_counter(), "OK"
                if streaming:
                    m.active_streams.labels(method).inc()
                try:
                    result = await fn(request, context)
                    code = _code_name(context)
                    return result
                except grpc.aio.AbortError:
                    code = _code_name(context)
                    raise
                except BaseException:
                    code = "CANCELLED" if context.cancelled() else "UNKNOWN"
                    raise
                finally:
                    if streaming:
                        m.active_streams.labels(method).dec()
                    m.calls.labels(method, code).inc()
                    m.latency.labels(method).observe(time.perf_counter() - start)

            return wrapper

        def stream(fn: Any) -> Any:
            async def wrapper(request: Any, context: Ctx) -> AsyncIterator[Any]:
                code = "OK"
                m.active_streams.labels(method).inc()
                try:
                    async for item in fn(request, context):
                        yield item
                    code = _code_name(context)
                except grpc.aio.AbortError:
                    code = _code_name(context)
                    raise
                except BaseException:
                    # Cancelled, by the client or after a status the bridge sent from
                    # outside the handler (a slow reader, _slow_readers): count that one.
                    code = "CANCELLED" if context.code() is None else _code_name(context)
                    raise
                finally:
                    m.active_streams.labels(method).dec()
                    m.calls.labels(method, code).inc()

            return wrapper

        return _rebuild(handler, unary, stream)


class VersionInterceptor(grpc.aio.ServerInterceptor):
    """Sends ``x-neural-heatmap-version: <VERSION>`` as initial metadata of every RPC.

    The headers go out before the handler runs, which streams also rely on: a client's
    ``wait_for_connection()`` returns at once, before a quiet stream's first update.
    """

    _HEADER = ((VERSION_HEADER, VERSION),)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        header = self._HEADER

        def unary(fn: Any) -> Any:
            async def wrapper(request: Any, context: Ctx) -> Any:
                await context.send_initial_metadata(header)
                return await fn(request, context)

            return wrapper

        def stream(fn: Any) -> Any:
            async def wrapper(request: Any, context: Ctx) -> AsyncIterator[Any]:
                await context.send_initial_metadata(header)
                async for item in fn(request, context):
                    yield item

            return wrapper

        return _rebuild(handler, unary, stream)
