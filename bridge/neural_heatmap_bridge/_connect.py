"""Connect (JSON and binary) and gRPC-Web over the same handlers as the gRPC port.

``connectrpc`` serves the protocols as an ASGI app; this module gives it the bridge's
servicer without writing any RPC twice. Each call goes through the very method handlers
the gRPC server registers (``_server.edge_handlers``: raw request bytes, validation at
the edge, pre-serialized answers) and through the same interceptors (version header,
metrics, bearer-token auth), driven with a ``grpc.aio`` interceptor chain; the handlers
see a ``ConnectCallContext`` instead of grpc's servicer context:

=============================  ==============================================================
grpc servicer context          on the web port
=============================  ==============================================================
``invocation_metadata()``      the HTTP request headers (lower-case names)
``time_remaining()``           ``connect-timeout-ms`` / ``grpc-timeout`` (the library enforces
                               it too: DEADLINE_EXCEEDED)
``cancelled()``                the call's task is being cancelled (client gone, deadline)
``send_initial_metadata()``    response headers
``abort(code, msg, trailers)`` ``ConnectError`` with the same code, message and the
                               ``google.rpc.Status`` details (ErrorInfo, RetryInfo, BadRequest)
=============================  ==============================================================

So a call without the token is ``unauthenticated`` with ErrorInfo reason
``BRIDGE_UNAUTHENTICATED``, and every error of the contract's table carries the same
code and reason as on the gRPC port.

A JSON request is parsed into its message and re-serialized to the bytes the handlers
take, after auth (as on the gRPC port, where decoding waits for the interceptors): a
caller without the token learns nothing about the schema. Pre-serialized answers pass
through the binary codec as they are and are parsed once for JSON.

Client streaming (``IngestActivations``) is served too, for clients that stream a
request body over HTTP/1.1 (connectrpc's Python client, connect-go): the frames are read
as they arrive, as on the gRPC port. Browsers cannot send it (``fetch`` streams no request
body over HTTP/1.1) and gRPC-Web has no client streaming; bidirectional streaming needs
HTTP/2 and the service has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn, cast

import grpc
from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_connect as connect_gen
from protobuf.wkt import Any as WireAny

from . import _errors

if TYPE_CHECKING:
    from connectrpc.request import RequestContext

    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler

STATUS_DETAILS_KEY = "grpc-status-details-bin"
JSON_CACHE_BYTES = 16 << 20  # JSON of shared answers kept (``JsonCodec``)
# grpc spells it CANCELLED, Connect CANCELED; every other code has the same name.
_CODES: dict[grpc.StatusCode, Code] = {
    c: Code.CANCELED if c is grpc.StatusCode.CANCELLED else Code[c.name]
    for c in grpc.StatusCode
    if c is not grpc.StatusCode.OK
}


_GRPC_CODES = {connect: grpc_code for grpc_code, connect in _CODES.items()}


class _Aborted(grpc.aio.AbortError):
    """How ``abort`` ends a handler: the same exception type the handlers let pass."""


class _Ending:
    """Set when a call is ended from another task while its stream waits on a write."""

    requested = False


_ENDING: ContextVar[_Ending | None] = ContextVar("nh_connect_ending", default=None)


def endable(send: Any) -> Any:
    """The request's ASGI ``send``, giving up a stream write when the call is ended from
    outside (``ConnectCallContext.abort`` from the slow-reader watchdog).

    Call it in the request's task (it marks the task's context). The watchdog cancels the
    task, which waits in ``send`` for a client that reads nothing (uvicorn awaits the
    transport before it writes, so nothing of the message went out); this drops that one
    message and lets the stream go on to its end, where the handler raises the status.
    The status then waits behind the bytes already written, like on the gRPC port.
    """
    ending = _Ending()
    _ENDING.set(ending)

    async def send_or_give_up(message: Any) -> None:
        try:
            await send(message)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not (ending.requested and message.get("more_body") and task is not None):
                raise
            ending.requested = False
            task.uncancel()

    return send_or_give_up


def connect_error(
    code: grpc.StatusCode, message: str, trailing_metadata: Sequence[tuple[str, Any]] = ()
) -> ConnectError:
    """The Connect error for a grpc status: same code, message and ``google.rpc`` details."""
    details: list[ErrorDetail] = []
    for key, value in trailing_metadata or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            details = [ErrorDetail(WireAny(type_url=d.type_url, value=d.value))
                       for d in status.details]
    return ConnectError(_CODES.get(code, Code.UNKNOWN), message, details)


class ConnectCallContext:
    """The part of ``grpc.aio.ServicerContext`` the bridge's handlers use, for one call.

    Args:
        ctx: connectrpc's context of the call (headers, deadline, response headers).
    """

    def __init__(self, ctx: RequestContext[Any, Any]) -> None:
        self._ctx = ctx
        self._task = asyncio.current_task()
        self._ending = _ENDING.get()
        self._code: grpc.StatusCode | None = None
        self.error: ConnectError | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        """The request's headers as grpc metadata (auth and request ids read them)."""
        return tuple(self._ctx.request_headers.allitems())

    def time_remaining(self) -> float | None:
        """Seconds left of the caller's deadline, None without one."""
        ms = self._ctx.timeout_ms
        return None if ms is None else max(0.0, ms / 1000)

    def cancelled(self) -> bool:
        """Whether the call is being cancelled (client disconnect, deadline)."""
        return self._task is not None and self._task.cancelling() > 0

    def code(self) -> grpc.StatusCode | None:
        """The status the call was aborted with (None while it runs or after success)."""
        return self._code

    async def send_initial_metadata(self, metadata: Iterable[tuple[str, Any]]) -> None:
        """Headers sent with the response (the version header)."""
        for key, value in metadata:
            self._ctx.response_headers[key] = str(value)

    def fail(self, error: ConnectError) -> NoReturn:
        """End the call with ``error`` as it is (one the library raised while reading the
        request stream: the client went away, a message too large), past the handlers'
        error wrappers, which turn other exceptions into INTERNAL."""
        self._code = _GRPC_CODES[error.code]
        self.error = error
        raise _Aborted(error.message)

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Sequence[tuple[str, Any]] = (),
    ) -> NoReturn:
        """End the call with this status.

        From inside the call it raises (like grpc's ``AbortError``). From another task
        (the slow-reader watchdog, while the stream waits on a write) the pending write is
        given up (``endable``) and the stream raises the status at its next step; the
        status goes out once the client reads what was written before it.
        """
        self._code = code
        self.error = connect_error(code, details, trailing_metadata)
        if self._task is not None and asyncio.current_task() is not self._task:
            if self._ending is not None:
                self._ending.requested = True
            self._task.cancel()
        raise _Aborted(details)


@dataclass(frozen=True)
class RawRequest:
    """A request body as received: protobuf bytes, or JSON for ``message_class``."""

    data: bytes
    message_class: type[Message] | None = None

    def wire(self) -> bytes:
        """The protobuf bytes the handlers take (JSON parsed and re-serialized).

        Raises:
            UpstreamError: INVALID_ARGUMENT when the JSON is not the request message.
        """
        if self.message_class is None:
            return self.data
        msg = self.message_class()
        try:
            json_format.Parse(self.data or b"{}", msg, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            raise _errors.invalid(
                f"the request JSON is not a valid {msg.DESCRIPTOR.full_name}: {exc}"
            ) from exc
        return bytes(msg.SerializeToString())


@dataclass(frozen=True)
class WireResponse:
    """An answer the handler serialized already (``PRESERIALIZED``), with its type."""

    data: bytes
    message_class: type[Message]


def _message(value: Message | WireResponse) -> Message:
    if isinstance(value, WireResponse):
        return value.message_class.FromString(value.data)
    return value


class BinaryCodec:
    """``proto``: request bytes kept for the edge; pre-serialized answers passed through."""

    def name(self) -> str:
        return "proto"

    def encode(self, message: Message | WireResponse) -> bytes:
        if isinstance(message, WireResponse):
            return message.data
        return bytes(message.SerializeToString())

    def decode(self, data: bytes | bytearray, message_class: type[Message]) -> RawRequest:
        return RawRequest(bytes(data))


def _json(message: Message | WireResponse) -> bytes:
    doc = json_format.MessageToDict(_message(message))
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


class JsonCodec:
    """``json``: canonical protobuf JSON (compact), parsed only after auth.

    Pre-serialized answers are the same bytes for every stream of one update (and every
    read of one cached answer), so their JSON is made once too: remembered by (type,
    bytes), newest first, within ``budget`` bytes of input and output together.

    Args:
        budget: Bytes the remembered encodings may hold; an answer above a quarter of it
            is encoded every time.
    """

    def __init__(self, budget: int = JSON_CACHE_BYTES) -> None:
        self._budget = budget
        self._held = 0
        self._encoded: OrderedDict[tuple[type[Message], bytes], bytes] = OrderedDict()

    def name(self) -> str:
        return "json"

    def encode(self, message: Message | WireResponse) -> bytes:
        if not isinstance(message, WireResponse) or len(message.data) * 4 > self._budget:
            return _json(message)
        key = (message.message_class, message.data)
        hit = self._encoded.get(key)
        if hit is not None:
            self._encoded.move_to_end(key)
            return hit
        out = _json(message)
        self._encoded[key] = out
        self._held += len(message.data) + len(out)
        while self._held > self._budget:
            (_, data), old = self._encoded.popitem(last=False)
            self._held -= len(data) + len(old)
        return out

    def decode(self, data: bytes | bytearray, message_class: type[Message]) -> RawRequest:
        return RawRequest(bytes(data), message_class)


class _CallDetails(grpc.HandlerCallDetails):
    """What the interceptors see of a call: its method path and metadata."""

    def __init__(self, method: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = method
        self.invocation_metadata = metadata


Interceptor = grpc.aio.ServerInterceptor


async def _intercepted(
    interceptors: Sequence[Interceptor], details: grpc.HandlerCallDetails, handler: Handler
) -> Handler:
    """``handler`` wrapped by ``interceptors`` as grpc.aio chains them (first = outermost)."""

    async def at(i: int, d: grpc.HandlerCallDetails) -> Handler | None:
        if i == len(interceptors):
            return handler
        return await interceptors[i].intercept_service(functools.partial(at, i + 1), d)

    wrapped = await at(0, details)
    assert wrapped is not None
    return wrapped


def _wire_first(handler: Handler) -> Handler:
    """``handler`` taking a ``RawRequest``: JSON becomes protobuf bytes, then the edge runs."""
    kw = {"request_deserializer": None, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        unary_fn: Any = handler.unary_unary

        async def unary(request: RawRequest, context: Any) -> Any:
            try:
                raw = request.wire()
            except _errors.UpstreamError as exc:
                await _errors.abort(context, exc)
            return await unary_fn(raw, context)

        return grpc.unary_unary_rpc_method_handler(unary, **kw)
    if handler.stream_unary is not None:
        client_stream_fn: Any = handler.stream_unary

        async def client_stream(requests: AsyncIterator[RawRequest], context: Any) -> Any:
            async def wires() -> AsyncIterator[bytes]:
                try:
                    async for request in requests:
                        # An UpstreamError here becomes the call's status at the edge.
                        yield request.wire()
                except ConnectError as exc:
                    context.fail(exc)

            return await client_stream_fn(wires(), context)

        return grpc.stream_unary_rpc_method_handler(client_stream, **kw)
    stream_fn: Any = handler.unary_stream
    assert stream_fn is not None

    async def stream(request: RawRequest, context: Any) -> AsyncIterator[Any]:
        try:
            raw = request.wire()
        except _errors.UpstreamError as exc:
            await _errors.abort(context, exc)
        async for item in stream_fn(raw, context):
            yield item

    return grpc.unary_stream_rpc_method_handler(stream, **kw)


def _answer(value: Any, message_class: type[Message]) -> Message | WireResponse:
    return WireResponse(value, message_class) if isinstance(value, bytes) else cast(Message, value)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ConnectEndpoints:
    """The servicer's unary and server-streaming methods as connectrpc endpoint functions.

    Args:
        service: The full gRPC service name.
        handlers: Method name -> the handler the gRPC server registers (``edge_handlers``).
        interceptors: The gRPC server's interceptors, outermost first.
    """

    def __init__(
        self, service: str, handlers: Mapping[str, Handler], interceptors: Sequence[Interceptor]
    ) -> None:
        self._service = service
        self._interceptors = tuple(interceptors)
        self._handlers = {name: _wire_first(h) for name, h in handlers.items()}

    async def _resolve(self, method: str, ctx: RequestContext[Any, Any]) -> Handler:
        details = _CallDetails(
            f"/{self._service}/{method}", tuple(ctx.request_headers.allitems())
        )
        return await _intercepted(self._interceptors, details, self._handlers[method])

    def _single(self, method: str, shape: str) -> Callable[..., Awaitable[Any]]:
        """A call answered once: ``shape`` names the behaviour (``unary_unary`` for a
        request, ``stream_unary`` for a request stream)."""

        async def call(request: Any, ctx: RequestContext[Any, Any]) -> Any:
            context = ConnectCallContext(ctx)
            behaviour: Any = getattr(await self._resolve(method, ctx), shape)
            try:
                result = await behaviour(request, context)
            except grpc.aio.AbortError:
                _reraise(context)
            return _answer(result, ctx.method.output)

        return call

    def _server_stream(self, method: str) -> Callable[..., AsyncIterator[Any]]:
        async def call(request: RawRequest, ctx: RequestContext[Any, Any]) -> AsyncIterator[Any]:
            context = ConnectCallContext(ctx)
            behaviour: Any = (await self._resolve(method, ctx)).unary_stream
            try:
                async with contextlib.aclosing(behaviour(request, context)) as items:
                    async for item in items:
                        yield _answer(item, ctx.method.output)
                        if context.error is not None:  # ended from outside (``abort``)
                            _reraise(context)
            except grpc.aio.AbortError:
                _reraise(context)

        return call

    def service(self) -> connect_gen.NeuralHeatmapService:
        """An object with one endpoint function per method, named as connectrpc calls them."""
        functions: dict[str, Any] = {}
        for name, h in self._handlers.items():
            if h.request_streaming:
                functions[_snake(name)] = self._single(name, "stream_unary")
            elif h.response_streaming:
                functions[_snake(name)] = self._server_stream(name)
            else:
                functions[_snake(name)] = self._single(name, "unary_unary")
        return cast(connect_gen.NeuralHeatmapService, SimpleNamespace(**functions))


def _reraise(context: ConnectCallContext) -> NoReturn:
    assert context.error is not None
    raise context.error


def connect_app(
    endpoints: ConnectEndpoints, read_max_bytes: int
) -> connect_gen.NeuralHeatmapServiceASGIApplication:
    """The connectrpc ASGI app (Connect JSON/binary, gRPC-Web) over ``endpoints``.

    Args:
        endpoints: The servicer's methods (``ConnectEndpoints``).
        read_max_bytes: Largest request message accepted (``--max-receive-bytes``).
    """
    return connect_gen.NeuralHeatmapServiceASGIApplication(
        endpoints.service(),
        read_max_bytes=read_max_bytes,
        codecs=[cast(Any, BinaryCodec()), cast(Any, JsonCodec())],
    )
