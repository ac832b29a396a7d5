"""The one error type of the API and its JSON rendering.

Every failure a client can cause becomes an ``ApiError`` carrying an HTTP
status and a stable snake_case ``code``; HTTP handlers and the WebSocket both
render it through ``error_body`` so the shape
``{"error": {"code", "message", "details"}}`` is defined in exactly one place.
"""

from __future__ import annotations

from typing import Any

from neural_heatmap_contract.errors import HTTP_STATUS_BY_WORD

# code -> HTTP status: the contract's error table, the one list of the server's reason
# words (docs/http-api.md shows it rendered).
STATUS_BY_CODE: dict[str, int] = HTTP_STATUS_BY_WORD


# Errors often repeat what the caller sent (an unknown id, a bad name); a caller's
# megabyte must not come back as a megabyte of error (nor fill the bridge's trailers).
MAX_MESSAGE_CHARS = 1024
MAX_DETAIL_CHARS = 256


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


class ApiError(Exception):
    """A client-visible failure with a status, a stable code and details.

    Args:
        code: A key of ``STATUS_BY_CODE``.
        message: One human sentence saying what was wrong.
        details: Machine-readable context (which field, which index, ...).

    Attributes:
        headers: HTTP headers the answer must carry (``Retry-After`` on 429).
    """

    def __init__(self, code: str, message: str, **details: Any) -> None:
        message = _bounded(message, MAX_MESSAGE_CHARS)
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = {k: _bounded(v, MAX_DETAIL_CHARS) if isinstance(v, str) else v
                        for k, v in details.items()}
        self.status = STATUS_BY_CODE[code]
        self.headers: dict[str, str] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle (errors raised in the decoder process come back to the server)."""
        return (_rebuild, (self.code, self.message, self.details, self.headers))

    def body(self) -> dict[str, Any]:
        """The JSON error object sent to the client."""
        return error_body(self.code, self.message, self.details)


def _rebuild(code: str, message: str, details: dict[str, Any],
             headers: dict[str, str]) -> ApiError:
    err = ApiError(code, message, **details)
    err.headers.update(headers)
    return err


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build ``{"error": {"code", "message", "details"}}``."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def invalid(message: str, **details: Any) -> ApiError:
    """Shorthand for a 400 ``invalid_argument`` error."""
    return ApiError("invalid_argument", message, **details)


def not_found(message: str, **details: Any) -> ApiError:
    """Shorthand for a 404 ``not_found`` error."""
    return ApiError("not_found", message, **details)


def overloaded(message: str, retry_after: int, **details: Any) -> ApiError:
    """A 429 ``overloaded`` error whose answer carries ``Retry-After: <seconds>``."""
    err = ApiError("overloaded", message, retry_after_seconds=retry_after, **details)
    err.headers["Retry-After"] = str(retry_after)
    return err


def deadline_exceeded(message: str, **details: Any) -> ApiError:
    """A 504 ``deadline_exceeded`` error (Google's HTTP mapping of DEADLINE_EXCEEDED)."""
    return ApiError("deadline_exceeded", message, **details)
