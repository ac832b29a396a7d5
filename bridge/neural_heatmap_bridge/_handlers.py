"""Decorators that turn any failure inside an RPC handler into a proper gRPC status.

Handlers raise ``UpstreamError`` (or let a conversion ``PayloadError`` escape);
these wrappers end the call with the mapped status and never leak a raw
exception to the client, for unary calls and for streams alike.

``at_the_edge`` wraps a registered method so that it receives raw bytes (no
grpc deserializer: interceptors, i.e. auth, run before any decoding) and
decodes and validates them itself (``_validate``), each message of a client
stream included.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from neural_heatmap_contract.media import PayloadError

from . import _errors, _validate

Ctx = grpc.aio.ServicerContext[Any, Any]
S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")

log = logging.getLogger("neural_heatmap_bridge")
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler


def _as_error(exc: Exception, name: str) -> _errors.UpstreamError:
    if isinstance(exc, _errors.UpstreamError):
        return exc
    if isinstance(exc, PayloadError | KeyError | TypeError | ValueError | AttributeError):
        return _errors.bad_payload(name, f"{type(exc).__name__}: {exc}")
    log.exception("unexpected failure in %s", name)
    return _errors.internal(f"{name} failed: {type(exc).__name__}: {exc}")


def unary(
    fn: Callable[[S, Req, Ctx], Awaitable[Resp]],
) -> Callable[[S, Req, Ctx], Awaitable[Resp]]:
    """Wrap a unary (or client-streaming) handler so failures become statuses."""

    @functools.wraps(fn)
    async def wrapper(self: S, request: Req, context: Ctx) -> Resp:
        try:
            return await fn(self, request, context)
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await _errors.abort(context, _as_error(exc, fn.__name__))

    return wrapper


def streaming(
    fn: Callable[[S, Req, Ctx], AsyncIterator[Resp]],
) -> Callable[[S, Req, Ctx], AsyncIterator[Resp]]:
    """Wrap a server-streaming handler so a failure ends the stream with a status."""

    @functools.wraps(fn)
    async def wrapper(self: S, request: Req, context: Ctx) -> AsyncIterator[Resp]:
        try:
            # The headers went out already (VersionInterceptor), so a client's
            # wait_for_connection() returns before a quiet stream's first update.
            async for item in fn(self, request, context):
                yield item
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await _errors.abort(context, _as_error(exc, fn.__name__))

    return wrapper


def _type_name(parse: Callable[[bytes], Any]) -> str:
    """The message name behind a generated ``Message.FromString`` deserializer."""
    cls = getattr(parse, "__self__", None)
    desc = getattr(cls, "DESCRIPTOR", None)
    return str(getattr(desc, "full_name", "request message"))


def at_the_edge(handler: Handler) -> Handler:
    """``handler`` taking raw request bytes, decoded and checked before its behaviour runs.

    Args:
        handler: A method handler as generated code registers it (ours, health's,
            reflection's).

    Returns:
        The same method with ``request_deserializer=None``: grpc hands over bytes,
        so a caller's garbage is INVALID_ARGUMENT (never UNKNOWN/INTERNAL) and
        only after the interceptors (auth) have let the call in.
    """
    parse = handler.request_deserializer
    assert parse is not None
    type_name = _type_name(parse)

    def request(raw: bytes) -> Any:
        msg = _validate.decode(parse, raw, type_name)
        _validate.check(msg)  # an ingest request's frames: one by one, in _ingest
        return msg

    async def each(raw_requests: AsyncIterable[bytes]) -> AsyncIterator[Any]:
        async for raw in raw_requests:
            yield request(raw)

    # Our handlers turn an UpstreamError into their status themselves; a library's
    # (health, reflection) would let one raised by ``each`` escape as UNKNOWN.
    kw = {"request_deserializer": None, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        unary_fn: Any = handler.unary_unary

        async def unary_unary(raw: bytes, context: Ctx) -> Any:
            try:
                msg = request(raw)
            except _errors.UpstreamError as exc:
                await _errors.abort(context, exc)
            return await unary_fn(msg, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kw)
    if handler.unary_stream is not None and inspect.isasyncgenfunction(handler.unary_stream):
        stream_fn: Any = handler.unary_stream

        async def unary_stream(raw: bytes, context: Ctx) -> AsyncIterator[Any]:
            try:
                msg = request(raw)
            except _errors.UpstreamError as exc:
                await _errors.abort(context, exc)
            async for item in stream_fn(msg, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kw)
    if handler.unary_stream is not None:  # a coroutine writing with context.write (health)
        writer_fn: Any = handler.unary_stream

        async def unary_writer(raw: bytes, context: Ctx) -> None:
            try:
                msg = request(raw)
            except _errors.UpstreamError as exc:
                await _errors.abort(context, exc)
            await writer_fn(msg, context)

        return grpc.unary_stream_rpc_method_handler(unary_writer, **kw)
    if handler.stream_unary is not None:
        client_stream_fn: Any = handler.stream_unary

        async def stream_unary(raws: AsyncIterable[bytes], context: Ctx) -> Any:
            try:
                return await client_stream_fn(each(raws), context)
            except _errors.UpstreamError as exc:
                await _errors.abort(context, exc)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kw)
    bidi_fn: Any = handler.stream_stream

    async def stream_stream(raws: AsyncIterable[bytes], context: Ctx) -> AsyncIterator[Any]:
        try:
            async for item in bidi_fn(each(raws), context):
                yield item
        except _errors.UpstreamError as exc:
            await _errors.abort(context, exc)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **kw)
