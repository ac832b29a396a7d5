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

The table, in order of precedence:

======================================  ==================  ==========================
upstream failure                        gRPC status         why
======================================  ==================  ==========================
connection refused / reset / DNS        UNAVAILABLE         transient: retry elsewhere
no answer before the deadline           DEADLINE_EXCEEDED   the caller's budget is spent
404 or 405 without our JSON error body  UNIMPLEMENTED       the upstream lacks the route
                                                            (a seed-only server)
400, 422                                INVALID_ARGUMENT    the request is wrong
401                                     UNAUTHENTICATED     bridge -> upstream token
403                                     PERMISSION_DENIED
404 (JSON error body)                   NOT_FOUND           unknown model/layer/export
409                                     ABORTED             concurrent change; re-read
410 sequence_expired                    OUT_OF_RANGE        resume point pruned from log
413                                     RESOURCE_EXHAUSTED  too large
429 or code ``overloaded``              RESOURCE_EXHAUSTED  overloaded; RetryInfo from
                                                            the ``Retry-After`` header
415                                     UNIMPLEMENTED       upstream lacks that encoding
504 or code ``deadline_exceeded``       DEADLINE_EXCEEDED   the server gave up at the
                                                            deadline the bridge sent
503                                     UNAVAILABLE         upstream not ready
other 5xx                               UNAVAILABLE         upstream broken; retryable
unparsable or mis-shaped 2xx payload    INTERNAL            the upstream broke the contract
======================================  ==================  ==========================
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

DOMAIN = "neural-heatmap.dev"
# Bounds on caller-influenced text in a status (trailers have a size limit, ~8 KiB
# by default): the message, each ErrorInfo metadata value, and how many entries.
MAX_MESSAGE_BYTES = 512
MAX_METADATA_VALUE_BYTES = 160
MAX_METADATA_ENTRIES = 16

# HTTP status -> gRPC status for answers that carry the server's JSON error body.
_HTTP_TO_GRPC: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    410: grpc.StatusCode.OUT_OF_RANGE,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.UNIMPLEMENTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
# The server's error codes that decide the status whatever the HTTP status.
_CODE_TO_GRPC: dict[str, grpc.StatusCode] = {
    "sequence_expired": grpc.StatusCode.OUT_OF_RANGE,
    "overloaded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "deadline_exceeded": grpc.StatusCode.DEADLINE_EXCEEDED,
}


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
    """Map a non-2xx upstream answer to an ``UpstreamError`` (the table above).

    Args:
        status: The HTTP status.
        body: The answer's body (our JSON error object, or anything).
        route: ``METHOD /path`` for the message.
        retry_after: The answer's ``Retry-After`` header, sent on as ``RetryInfo``.
    """
    code_text, message, details = _parse_error_body(body)
    if status == 405 or (status == 404 and code_text is None):
        return unimplemented(route, f"HTTP {status}")
    if status == 409 and code_text == "already_exists":
        grpc_code = grpc.StatusCode.ALREADY_EXISTS
    elif code_text in _CODE_TO_GRPC:
        grpc_code = _CODE_TO_GRPC[code_text]
    elif status in _HTTP_TO_GRPC:
        grpc_code = _HTTP_TO_GRPC[status]
    elif status >= 500:
        grpc_code = grpc.StatusCode.UNAVAILABLE
    else:
        grpc_code = grpc.StatusCode.UNKNOWN
    reason = (code_text or grpc_code.name).upper()
    extra = {
        f"detail_{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in details.items()
    }
    delay = retry_after_seconds(retry_after)
    if delay is None and grpc_code == grpc.StatusCode.RESOURCE_EXHAUSTED and status == 429:
        delay = 1.0  # overloaded without a hint: still tell the caller to back off
    err = UpstreamError(
        grpc_code,
        reason,
        f"upstream {route} answered {status}: {message}",
        upstream_message=message,
        http_status=status,
        route=route,
        **extra,
    )
    return err if delay is None else err.with_details(_retry_info(delay))


def unavailable(route: str, why: str) -> UpstreamError:
    """The upstream could not be reached (refused, reset, DNS)."""
    return UpstreamError(
        grpc.StatusCode.UNAVAILABLE,
        "UPSTREAM_UNAVAILABLE",
        f"upstream {route} unreachable: {why}",
        route=route,
    )


def deadline(route: str) -> UpstreamError:
    """The upstream did not answer within the caller's deadline."""
    return UpstreamError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "UPSTREAM_TIMEOUT",
        f"upstream {route} did not answer before the deadline",
        route=route,
    )


def bad_payload(route: str, why: str) -> UpstreamError:
    """The upstream answered 2xx with something that breaks the contract."""
    return UpstreamError(
        grpc.StatusCode.INTERNAL,
        "BAD_UPSTREAM_PAYLOAD",
        f"upstream {route} answered an unusable payload: {why}",
        route=route,
    )


def unimplemented(route: str, why: str = "route missing") -> UpstreamError:
    """The upstream lacks a route (or feature) this RPC needs."""
    return UpstreamError(
        grpc.StatusCode.UNIMPLEMENTED,
        "UPSTREAM_ROUTE_MISSING",
        f"the upstream server does not implement {route} ({why})",
        route=route,
    )


def invalid(message: str, field: str | None = None, **metadata: object) -> UpstreamError:
    """The request is wrong before anything reaches the upstream.

    ``field`` (a path like ``filter.time_range.start``) is named in a
    ``google.rpc.BadRequest`` field violation and in the ``ErrorInfo`` metadata.
    """
    err = UpstreamError(
        grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", message, field=field, **metadata
    )
    if field is None:
        return err
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=bounded(field, 128), description=err.message
    )
    return err.with_details(error_details_pb2.BadRequest(field_violations=[violation]))


def not_found(message: str, **metadata: object) -> UpstreamError:
    """The request names something (a model, an export) that does not exist."""
    return UpstreamError(grpc.StatusCode.NOT_FOUND, "NOT_FOUND", message, **metadata)


def too_large(message: str, **metadata: object) -> UpstreamError:
    """An answer would exceed the configured maximum send size."""
    return UpstreamError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE", message, **metadata
    )


def shutting_down(message: str) -> UpstreamError:
    """The bridge is stopping; the client should resume on another bridge."""
    return UpstreamError(grpc.StatusCode.UNAVAILABLE, "BRIDGE_SHUTTING_DOWN", message)


async def abort(context: grpc.aio.ServicerContext[Any, Any], err: UpstreamError) -> NoReturn:
    """End the call with ``err``'s status and its ``google.rpc.Status`` details."""
    status = err.to_status()
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover
