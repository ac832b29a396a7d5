"""Decorators that turn any failure inside an RPC handler into a proper gRPC status.

Handlers raise ``UpstreamError`` (or let a conversion ``PayloadError`` escape);
these wrappers end the call with the mapped status and never leak a raw
exception to the client, for unary calls and for streams alike.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from . import _errors
from ._convert import PayloadError

Ctx = grpc.aio.ServicerContext[Any, Any]
S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")

log = logging.getLogger("neural_heatmap_bridge")


def _as_error(exc: Exception, name: str) -> _errors.UpstreamError:
    if isinstance(exc, _errors.UpstreamError):
        return exc
    if isinstance(exc, PayloadError | KeyError | TypeError | ValueError | AttributeError):
        return _errors.bad_payload(name, f"{type(exc).__name__}: {exc}")
    log.exception("unexpected failure in %s", name)
    return _errors.UpstreamError(
        grpc.StatusCode.INTERNAL, "BRIDGE_INTERNAL", f"{name} failed: {type(exc).__name__}: {exc}"
    )


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
            # Headers right away: a client's wait_for_connection() returns before the
            # first update, which may be long in coming on a quiet stream.
            await context.send_initial_metadata(())
            async for item in fn(self, request, context):
                yield item
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await _errors.abort(context, _as_error(exc, fn.__name__))

    return wrapper
