"""CORS for the web port's RPCs: off unless ``--web-cors-origin`` names origins exactly.

The dashboard is served from the same origin as the RPCs and needs none of this. A page
elsewhere (a developer's bundler on another port) may call when its origin
(``scheme://host:port``) is listed; there is no wildcard, so a token in a browser is never
offered to any site. A preflight from an unlisted origin gets 403 naming the flag; its
other requests get no CORS headers (the browser then hides the answer).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Headers Connect and gRPC-Web clients send, and the ones their answers carry.
ALLOW_HEADERS = (
    "authorization, content-type, connect-protocol-version, connect-timeout-ms, "
    "connect-content-encoding, connect-accept-encoding, grpc-timeout, x-grpc-web, "
    "x-user-agent, x-request-id, traceparent"
)
EXPOSE_HEADERS = (
    "grpc-status, grpc-message, grpc-status-details-bin, x-neural-heatmap-version, "
    "connect-content-encoding"
)
MAX_AGE_S = 7200


class Cors:
    """The allowlist and the headers it adds.

    Args:
        origins: Exact origins allowed to call (empty: CORS off).
    """

    def __init__(self, origins: Iterable[str] = ()) -> None:
        self.origins = frozenset(o.rstrip("/") for o in origins if o)

    def _allowed(self, scope: Any) -> str | None:
        for key, value in scope.get("headers", ()):
            if key == b"origin":
                origin = bytes(value).decode("latin-1")
                return origin if origin in self.origins else None
        return None

    def wrap(self, scope: Any, send: Any) -> Any:
        """``send`` adding the CORS headers to the answer when the origin is listed."""
        origin = self._allowed(scope)
        if origin is None:
            return send
        extra = [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            (b"vary", b"Origin"),
        ]

        async def with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        return with_cors

    async def preflight(self, scope: Any, send: Any) -> None:
        """Answer ``OPTIONS``: 204 with the permissions for a listed origin, else 403."""
        if self._allowed(scope) is None:
            body = (b"this origin may not call the bridge; list it with --web-cors-origin "
                    b"(the dashboard on this port needs no CORS)\n")
            headers = [(b"content-type", b"text/plain; charset=utf-8"),
                       (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [
            (b"access-control-allow-methods", b"POST, GET"),
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-max-age", str(MAX_AGE_S).encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
