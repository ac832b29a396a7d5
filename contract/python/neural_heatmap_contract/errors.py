"""The error policy as one table: reason word, HTTP status, gRPC code, SDK exception.

The grpc-gateway practice (``runtime/errors.go``): one table decides how every failure
class looks on each side, and every layer derives its mapping from it instead of keeping
its own. The server takes its HTTP status per reason word (``HTTP_STATUS_BY_WORD``), the
bridge its gRPC status and ``ErrorInfo.reason`` per upstream answer (``row_for_answer``)
and per failure of its own (``BRIDGE_ROWS``), the Python SDK its exception class per gRPC
code (``EXCEPTION_BY_CODE``). ``scripts/render_error_table.py`` renders the same rows into
``docs/bridge.md`` and ``docs/http-api.md``; ``tests/contract/test_error_table.py`` pins
every row.

gRPC codes are written as their canonical names (``"NOT_FOUND"``) so the table imports no
gRPC runtime; ``grpc.StatusCode[name]`` and ``google.rpc.code_pb2`` turn them into values.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BRIDGE_ROWS",
    "DOMAIN",
    "EXCEPTION_BY_CODE",
    "HTTP_FALLBACK_ROWS",
    "HTTP_STATUS_BY_WORD",
    "OTHER_5XX",
    "OTHER_STATUS",
    "ROUTE_MISSING",
    "SERVER_ROWS",
    "TRANSPORT_ROWS",
    "WORD_BY_HTTP_STATUS",
    "ErrorRow",
    "own_row",
    "row_for_answer",
]

DOMAIN = "neural-heatmap.dev"
"""``google.rpc.ErrorInfo.domain`` of every status the bridge sends."""


@dataclass(frozen=True)
class ErrorRow:
    """One failure class and how it looks on every side of the contract.

    Attributes:
        when: What happened, in the words of the docs table.
        grpc_code: Canonical gRPC code name the bridge answers with.
        reason: ``ErrorInfo.reason`` (for server words: the word upper-cased).
        word: The server's snake_case ``error.code``, or ``None`` for failures no
            server answer names (transport, bridge-side, bare HTTP statuses).
        http_status: The HTTP status the server answers with (server rows) or that
            selects the row (fallback rows); ``None`` where no HTTP answer exists.
        retry_info: The bridge adds ``google.rpc.RetryInfo`` (from ``Retry-After``,
            1 s when the server gave none) so callers back off.
    """

    when: str
    grpc_code: str
    reason: str
    word: str | None = None
    http_status: int | None = None
    retry_info: bool = False

    @property
    def sdk_exception(self) -> str:
        """Name of the Python SDK exception a caller catches for this row."""
        return EXCEPTION_BY_CODE[self.grpc_code]


ROUTE_MISSING = "UPSTREAM_ROUTE_MISSING"

# Every reason word the server sends (its ``{"error": {"code": ...}}``). The word decides
# the bridge's status whatever HTTP status carried it (a proxy may change the status).
SERVER_ROWS: tuple[ErrorRow, ...] = (
    ErrorRow("the request is wrong", "INVALID_ARGUMENT", "INVALID_ARGUMENT",
             "invalid_argument", 400),
    ErrorRow("missing or wrong bearer token (bridge -> server)", "UNAUTHENTICATED",
             "UNAUTHENTICATED", "unauthenticated", 401),
    ErrorRow("unknown model, layer or export", "NOT_FOUND", "NOT_FOUND", "not_found", 404),
    ErrorRow("the upstream lacks the route (wrong method)", "UNIMPLEMENTED", ROUTE_MISSING,
             "method_not_allowed", 405),
    ErrorRow("the request came too slowly (--body-timeout); retryable", "UNAVAILABLE",
             "REQUEST_TIMEOUT", "request_timeout", 408),
    ErrorRow("the name is taken (an export of it is being written, or it exists as the "
             "other kind)", "ALREADY_EXISTS", "ALREADY_EXISTS", "already_exists", 409),
    ErrorRow("resume point pruned from the anomaly log", "OUT_OF_RANGE", "SEQUENCE_EXPIRED",
             "sequence_expired", 410),
    ErrorRow("body or answer too large", "RESOURCE_EXHAUSTED", "PAYLOAD_TOO_LARGE",
             "payload_too_large", 413),
    ErrorRow("server overloaded; back off", "RESOURCE_EXHAUSTED", "OVERLOADED", "overloaded",
             429, retry_info=True),
    ErrorRow("server failed; retryable", "UNAVAILABLE", "INTERNAL", "internal", 500),
    ErrorRow("server not ready or shutting down", "UNAVAILABLE", "UNAVAILABLE", "unavailable",
             503),
    ErrorRow("the server stopped at the deadline the bridge sent", "DEADLINE_EXCEEDED",
             "DEADLINE_EXCEEDED", "deadline_exceeded", 504),
)

# HTTP answers without a reason word the table knows (a seed server, a proxy, an unknown
# word): the status decides. The reason is the upstream's word upper-cased when it sent
# one, else the row's.
HTTP_FALLBACK_ROWS: tuple[ErrorRow, ...] = (
    ErrorRow("400 without a known code", "INVALID_ARGUMENT", "INVALID_ARGUMENT",
             http_status=400),
    ErrorRow("401 without a known code", "UNAUTHENTICATED", "UNAUTHENTICATED", http_status=401),
    ErrorRow("403", "PERMISSION_DENIED", "PERMISSION_DENIED", http_status=403),
    ErrorRow("404 without a known code (route missing: a seed-only server)", "UNIMPLEMENTED",
             ROUTE_MISSING, http_status=404),
    ErrorRow("405 without a known code", "UNIMPLEMENTED", ROUTE_MISSING, http_status=405),
    ErrorRow("409 without a known code", "ABORTED", "ABORTED", http_status=409),
    ErrorRow("410 without a known code", "OUT_OF_RANGE", "OUT_OF_RANGE", http_status=410),
    ErrorRow("413 without a known code", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED",
             http_status=413),
    ErrorRow("415: the upstream lacks that encoding", "UNIMPLEMENTED", "UNIMPLEMENTED",
             http_status=415),
    ErrorRow("422", "INVALID_ARGUMENT", "INVALID_ARGUMENT", http_status=422),
    ErrorRow("429 without a known code", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED",
             http_status=429, retry_info=True),
    ErrorRow("503 without a known code", "UNAVAILABLE", "UNAVAILABLE", http_status=503),
    ErrorRow("504 without a known code (a proxy's gateway timeout)", "DEADLINE_EXCEEDED",
             "DEADLINE_EXCEEDED", http_status=504),
)
OTHER_5XX = ErrorRow("other 5xx: upstream broken; retryable", "UNAVAILABLE", "UNAVAILABLE")
OTHER_STATUS = ErrorRow("any other status", "UNKNOWN", "UNKNOWN")

# Failures with no HTTP answer at all, between the bridge and its upstream.
TRANSPORT_ROWS: tuple[ErrorRow, ...] = (
    ErrorRow("connection refused / reset / DNS", "UNAVAILABLE", "UPSTREAM_UNAVAILABLE"),
    ErrorRow("no answer before the deadline", "DEADLINE_EXCEEDED", "UPSTREAM_TIMEOUT"),
    ErrorRow("2xx that is not the promised JSON/binary", "INTERNAL", "BAD_UPSTREAM_PAYLOAD"),
)

# Failures the bridge decides itself (validation, limits, streams, shutdown).
BRIDGE_ROWS: tuple[ErrorRow, ...] = (
    ErrorRow("the caller sent no valid bearer token (client -> bridge)", "UNAUTHENTICATED",
             "BRIDGE_UNAUTHENTICATED"),
    ErrorRow("a request field is wrong (with BadRequest naming it)", "INVALID_ARGUMENT",
             "INVALID_ARGUMENT"),
    ErrorRow("the request names something that does not exist", "NOT_FOUND", "NOT_FOUND"),
    ErrorRow("an answer larger than --max-send-bytes", "RESOURCE_EXHAUSTED",
             "MESSAGE_TOO_LARGE"),
    ErrorRow("frames beyond the bridge's --ingest-buffer-bytes; retry later", "RESOURCE_EXHAUSTED",
             "INGEST_BUFFER_FULL"),
    ErrorRow("a stream made no progress past the head it was told", "UNAVAILABLE",
             "STREAM_STALLED"),
    ErrorRow("a stream's client read nothing for --slow-stream-timeout; resume",
             "RESOURCE_EXHAUSTED", "SLOW_READER"),
    ErrorRow("the upstream stopped answering its WebSocket", "UNAVAILABLE", "UPSTREAM_STALLED"),
    ErrorRow("the bridge is stopping; resume elsewhere", "UNAVAILABLE", "BRIDGE_SHUTTING_DOWN"),
    ErrorRow("a bug in the bridge", "INTERNAL", "BRIDGE_INTERNAL"),
)

# gRPC code -> the Python SDK's exception class (one class per code, google-api-core style).
EXCEPTION_BY_CODE: dict[str, str] = {
    "CANCELLED": "RequestCancelledError",
    "UNKNOWN": "UnknownError",
    "INVALID_ARGUMENT": "InvalidArgumentError",
    "DEADLINE_EXCEEDED": "DeadlineExceededError",
    "NOT_FOUND": "NotFoundError",
    "ALREADY_EXISTS": "AlreadyExistsError",
    "PERMISSION_DENIED": "PermissionDeniedError",
    "RESOURCE_EXHAUSTED": "ResourceExhaustedError",
    "FAILED_PRECONDITION": "FailedPreconditionError",
    "ABORTED": "AbortedError",
    "OUT_OF_RANGE": "OutOfRangeError",
    "UNIMPLEMENTED": "UnimplementedError",
    "INTERNAL": "InternalError",
    "UNAVAILABLE": "UnavailableError",
    "DATA_LOSS": "DataLossError",
    "UNAUTHENTICATED": "UnauthenticatedError",
}

HTTP_STATUS_BY_WORD: dict[str, int] = {
    row.word: row.http_status
    for row in SERVER_ROWS
    if row.word is not None and row.http_status is not None
}
"""The server's reason words and the HTTP status each is sent with."""

WORD_BY_HTTP_STATUS: dict[int, str] = {status: word for word, status in HTTP_STATUS_BY_WORD.items()}
"""The reason word for an HTTP status (one word per status), for answers the web framework
makes itself (an unknown route is a 404 ``not_found``)."""

_BY_WORD = {row.word: row for row in SERVER_ROWS}
_BY_STATUS = {row.http_status: row for row in HTTP_FALLBACK_ROWS}


def row_for_answer(http_status: int, word: str | None) -> ErrorRow:
    """The row for a non-2xx upstream answer: its reason word first, else its status.

    Args:
        http_status: The answer's HTTP status.
        word: The ``error.code`` of the server's JSON error body, ``None`` without one.
    """
    if word in _BY_WORD:
        return _BY_WORD[word]
    if http_status in _BY_STATUS:
        return _BY_STATUS[http_status]
    return OTHER_5XX if http_status >= 500 else OTHER_STATUS


_OWN_BY_REASON = {row.reason: row for row in (*TRANSPORT_ROWS, *BRIDGE_ROWS)}


def own_row(reason: str) -> ErrorRow:
    """The transport or bridge-side row with ``reason`` (``KeyError`` if there is none).

    Args:
        reason: An ``ErrorInfo.reason`` of ``TRANSPORT_ROWS`` or ``BRIDGE_ROWS``.
    """
    return _OWN_BY_REASON[reason]
