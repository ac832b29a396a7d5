"""The bridge's whole error policy: how upstream failures become gRPC statuses.

Every failure the bridge reports goes through ``UpstreamError`` and ``abort``,
so a client sees one consistent shape: a status code from the table below, a
message that names the upstream route, and ``google.rpc.Status`` details with
one ``google.rpc.ErrorInfo`` (reason = the upstream's error code upper-cased,
domain ``neural-heatmap.dev``, metadata with the upstream message, HTTP
status and route), plus ``google.rpc.RetryInfo`` when the upstream said when
to retry and ``google.rpc.BadRequest`` when a request field is wrong.

Text in a status comes partly from the caller (ids echoed by the upstream's
messages), and a status travels in trailers, which have a size limit: every
message and metadata value is sanitized (no control characters) and bounded
(see ``MAX_MESSAGE_BYTES``), so a 1 MiB id still gives its NOT_FOUND and not
a RESOURCE_EXHAUSTED about oversized metadata.

The table itself (which upstream answer or bridge failure gives which status and
``ErrorInfo.reason``) lives in ``neural_heatmap_contract.errors``, shared with the server
and the SDK; ``docs/bridge.md`` shows it rendered. This module only builds statuses
from its rows.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import (
    code_pb2,
    error_details_pb2,
    status_pb2,
)
from grpc_status import rpc_status
from neural_heatmap_contract import errors as table
from neural_heatmap_contract.errors import DOMAIN

# Bounds on caller-influenced text in a status (trailers have a size limit, ~8 KiB
# by default): the message, each ErrorInfo metadata value, and how many entries.
MAX_MESSAGE_BYTES = 512
MAX_METADATA_VALUE_BYTES = 160
MAX_METADATA_ENTRIES = 16

def bounded(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``text`` with control characters replaced and cut to ``limit`` UTF-8 bytes.

    Why: statuses carry ids and names the caller chose; unbounded, they push the
    trailers over their size limit (the caller then sees RESOURCE_EXHAUSTED instead
    of the real status), and raw control characters garble logs and terminals.
    """
    clean = "".join(c if c.isprintable() else "\ufffd" for c in text)
    data = clean.encode()
    if len(data) <= limit:
        return clean
    return data[: max(0, limit - 3)].decode("utf-8", "ignore") + "..."


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse an HTTP ``Retry-After`` (delta seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class UpstreamError(Exception):
    """A failure the bridge reports to its client with a status and ``ErrorInfo``.

    Args:
        code: The gRPC status the client sees.
        reason: Stable upper-case reason for ``ErrorInfo.reason`` (e.g. ``NOT_FOUND``).
        message: One sentence for the client, naming the upstream route when there is one.
        metadata: Extra ``ErrorInfo`` metadata (upstream message, HTTP status, route, ...).

    More ``google.rpc`` details (``RetryInfo``, ``BadRequest``) are added with
    ``with_details`` and sent after the ``ErrorInfo``.

    Message and metadata are sanitized and bounded here (see ``bounded``), the one
    place every status passes through.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        **metadata: object,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = bounded(reason, 64)
        self.message = bounded(message)
        self.details: tuple[Message, ...] = ()
        items = [(k, v) for k, v in metadata.items() if v is not None][:MAX_METADATA_ENTRIES]
        self.metadata = {
            bounded(k, 64): bounded(str(v), MAX_METADATA_VALUE_BYTES) for k, v in items
        }

    @classmethod
    def of(cls, row: table.ErrorRow, message: str, **metadata: object) -> UpstreamError:
        """The error for a row of the contract's table."""
        return cls(grpc.StatusCode[row.grpc_code], row.reason, message, **metadata)

    def annotated(self, message: str, **metadata: object) -> UpstreamError:
        """The same status, reason and details with a fuller message and more metadata.

        Why: a layer that knows more (which stream cursor, how many frames got in)
        explains an error without re-mapping it; the table alone decides the status.
        """
        err = UpstreamError(self.code, self.reason, message, **{**metadata, **self.metadata})
        return err.with_details(*self.details)

    def with_details(self, *details: Message) -> UpstreamError:
        """Add ``google.rpc`` detail messages; returns ``self`` for chaining."""
        self.details += details
        return self

    @property
    def retry_delay(self) -> float | None:
        """Seconds the upstream asked the caller to wait before retrying, if it did."""
        for detail in self.details:
            if isinstance(detail, error_details_pb2.RetryInfo):
                return float(detail.retry_delay.ToTimedelta().total_seconds())
        return None

    def to_status(self) -> grpc.Status:
        """Render as a rich status (``google.rpc.Status`` in the trailers)."""
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=DOMAIN, metadata=self.metadata
        )
        packed = []
        for detail in (info, *self.details):
            item = any_pb2.Any()
            item.Pack(detail)
            packed.append(item)
        proto = status_pb2.Status(
            code=_CODE_NUMBER[self.code], message=self.message, details=packed
        )
        return rpc_status.to_status(proto)


_CODE_NUMBER: dict[grpc.StatusCode, int] = {
    code: getattr(code_pb2, code.name) for code in grpc.StatusCode
}


def _parse_error_body(body: bytes) -> tuple[str | None, str, dict[str, Any]]:
    """Read ``{"error": {"code", "message", "details"}}`` (or the seed's ``{"error": text}``).

    Returns:
        (code, message, details); code is None when the body is not our JSON error object.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, body[:300].decode("utf-8", "replace").strip(), {}
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        details = err.get("details")
        return (
            err["code"],
            str(err.get("message", "")),
            details if isinstance(details, dict) else {},
        )
    if isinstance(err, str):
        return None, err, {}
    return None, str(doc)[:300], {}


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    whole = math.floor(seconds)
    delay.seconds, delay.nanos = whole, round((seconds - whole) * 1e9)
    return error_details_pb2.RetryInfo(retry_delay=delay)


def from_http(
    status: int, body: bytes, route: str, retry_after: str | None = None
) -> UpstreamError:
    """Map a non-2xx upstream answer to an ``UpstreamError`` by the contract's table.

    The server's reason word picks the row (``row_for_answer``), else the HTTP status
    does. ``ErrorInfo.reason`` is the row's, or the upstream's own word upper-cased
    when the table does not know it (a newer server's word still reaches the caller).

    Args:
        status: The HTTP status.
        body: The answer's body (our JSON error object, or anything).
        route: ``METHOD /path`` for the message.
        retry_after: The answer's ``Retry-After`` header, sent on as ``RetryInfo``.
    """
    code_text, message, details = _parse_error_body(body)
    row = table.row_for_answer(status, code_text)
    if row.reason == table.ROUTE_MISSING:
        return unimplemented(route, f"HTTP {status}")
    known = code_text is None or row.word == code_text
    extra = {
        f"detail_{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in details.items()
    }
    delay = retry_after_seconds(retry_after)
    if delay is None and row.retry_info:
        delay = 1.0  # overloaded without a hint: still tell the caller to back off
    err = UpstreamError(
        grpc.StatusCode[row.grpc_code],
        row.reason if known else str(code_text).upper(),
        f"upstream {route} answered {status}: {message}",
        upstream_message=message,
        http_status=status,
        route=route,
        **extra,
    )
    return err if delay is None else err.with_details(_retry_info(delay))


def _own(reason: str, message: str, **metadata: object) -> UpstreamError:
    return UpstreamError.of(table.own_row(reason), message, **metadata)


def unavailable(route: str, why: str) -> UpstreamError:
    """The upstream could not be reached (refused, reset, DNS)."""
    return _own("UPSTREAM_UNAVAILABLE", f"upstream {route} unreachable: {why}", route=route)


def deadline(route: str) -> UpstreamError:
    """The upstream did not answer within the caller's deadline."""
    return _own(
        "UPSTREAM_TIMEOUT", f"upstream {route} did not answer before the deadline", route=route
    )


def bad_payload(route: str, why: str) -> UpstreamError:
    """The upstream answered 2xx with something that breaks the contract."""
    return _own(
        "BAD_UPSTREAM_PAYLOAD",
        f"upstream {route} answered an unusable payload: {why}",
        route=route,
    )


def unimplemented(route: str, why: str = "route missing") -> UpstreamError:
    """The upstream lacks a route (or feature) this RPC needs."""
    return UpstreamError.of(
        table.row_for_answer(404, None),
        f"the upstream server does not implement {route} ({why})",
        route=route,
    )


def invalid(message: str, field: str | None = None, **metadata: object) -> UpstreamError:
    """The request is wrong before anything reaches the upstream.

    ``field`` (a path like ``filter.time_range.start``) is named in a
    ``google.rpc.BadRequest`` field violation and in the ``ErrorInfo`` metadata.
    """
    err = _own("INVALID_ARGUMENT", message, field=field, **metadata)
    if field is None:
        return err
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=bounded(field, 128), description=err.message
    )
    return err.with_details(error_details_pb2.BadRequest(field_violations=[violation]))


def unauthenticated(message: str) -> UpstreamError:
    """The caller sent no valid bearer token (the bridge's own ``--token``)."""
    return _own("BRIDGE_UNAUTHENTICATED", message)


def not_found(message: str, **metadata: object) -> UpstreamError:
    """The request names something (a model, an export) that does not exist."""
    return _own("NOT_FOUND", message, **metadata)


def too_large(message: str, **metadata: object) -> UpstreamError:
    """An answer would exceed the configured maximum send size."""
    return _own("MESSAGE_TOO_LARGE", message, **metadata)


def buffer_full(message: str, **metadata: object) -> UpstreamError:
    """Frames would take the bridge's ingest buffers past ``--ingest-buffer-bytes``."""
    return _own("INGEST_BUFFER_FULL", message, **metadata)


def shutting_down(message: str) -> UpstreamError:
    """The bridge is stopping; the client should resume on another bridge."""
    return _own("BRIDGE_SHUTTING_DOWN", message)


def stalled_upstream(message: str) -> UpstreamError:
    """The upstream's WebSocket stopped answering; streams end so clients resume."""
    return _own("UPSTREAM_STALLED", message)


def stalled_stream(message: str) -> UpstreamError:
    """One stream made no progress past the head it was told."""
    return _own("STREAM_STALLED", message)


def slow_reader(message: str, **metadata: object) -> UpstreamError:
    """A stream's client read nothing for ``--slow-stream-timeout`` seconds (``_slow_readers``)."""
    return _own("SLOW_READER", message, **metadata)


def internal(message: str) -> UpstreamError:
    """A failure of the bridge itself (a bug): never a raw exception to the client."""
    return _own("BRIDGE_INTERNAL", message)


async def abort(context: grpc.aio.ServicerContext[Any, Any], err: UpstreamError) -> NoReturn:
    """End the call with ``err``'s status and its ``google.rpc.Status`` details."""
    status = err.to_status()
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover
