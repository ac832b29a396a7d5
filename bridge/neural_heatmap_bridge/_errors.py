"""The bridge's whole error policy: how upstream failures become gRPC statuses.

Every failure the bridge reports goes through ``UpstreamError`` and ``abort``,
so a client sees one consistent shape: a status code from the table below, a
message that names the upstream route, and ``google.rpc.Status`` details with
one ``google.rpc.ErrorInfo`` (reason = the upstream's error code upper-cased,
domain ``neural-heatmap.dev``, metadata with the upstream message, HTTP
status and route).

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
413, 429                                RESOURCE_EXHAUSTED  too large / overloaded
415                                     UNIMPLEMENTED       upstream lacks that encoding
503                                     UNAVAILABLE         upstream not ready
other 5xx                               UNAVAILABLE         upstream broken; retryable
unparsable or mis-shaped 2xx payload    INTERNAL            the upstream broke the contract
======================================  ==================  ==========================
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import (
    code_pb2,
    error_details_pb2,
    status_pb2,
)
from grpc_status import rpc_status

DOMAIN = "neural-heatmap.dev"

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
}


class UpstreamError(Exception):
    """A failure the bridge reports to its client with a status and ``ErrorInfo``.

    Args:
        code: The gRPC status the client sees.
        reason: Stable upper-case reason for ``ErrorInfo.reason`` (e.g. ``NOT_FOUND``).
        message: One sentence for the client, naming the upstream route when there is one.
        metadata: Extra ``ErrorInfo`` metadata (upstream message, HTTP status, route, ...).
    """

    def __init__(
        self, code: grpc.StatusCode, reason: str, message: str, **metadata: object
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = {k: str(v) for k, v in metadata.items() if v is not None}

    def to_status(self) -> grpc.Status:
        """Render as a rich status (``google.rpc.Status`` in the trailers)."""
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=DOMAIN, metadata=self.metadata
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        proto = status_pb2.Status(
            code=_CODE_NUMBER[self.code], message=self.message, details=[detail]
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


def from_http(status: int, body: bytes, route: str) -> UpstreamError:
    """Map a non-2xx upstream answer to an ``UpstreamError`` (the table above)."""
    code_text, message, details = _parse_error_body(body)
    if status == 405 or (status == 404 and code_text is None):
        return unimplemented(route, f"HTTP {status}")
    if status == 409 and code_text == "already_exists":
        grpc_code = grpc.StatusCode.ALREADY_EXISTS
    elif code_text == "sequence_expired":
        grpc_code = grpc.StatusCode.OUT_OF_RANGE
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
    return UpstreamError(
        grpc_code,
        reason,
        f"upstream {route} answered {status}: {message}",
        upstream_message=message,
        http_status=status,
        route=route,
        **extra,
    )


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


def invalid(message: str, **metadata: object) -> UpstreamError:
    """The request is wrong before anything reaches the upstream."""
    return UpstreamError(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", message, **metadata)


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
