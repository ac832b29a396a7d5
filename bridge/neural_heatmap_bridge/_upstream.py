"""The one HTTP client the bridge uses to reach the Neural Heatmap server.

One pooled ``aiohttp.ClientSession`` serves every RPC so connections are
reused. Each call carries the caller's remaining gRPC deadline as its upstream
timeout (a call without a deadline gets ``--upstream-timeout``) and a request
id (the caller's ``x-request-id`` metadata, or a fresh one) as
``X-Request-Id``, so one id follows a request through bridge and server logs.
The same budget is sent to the server as ``X-Request-Timeout-Ms`` (whole
milliseconds, at least 1), so the server stops work nobody will read.
Path segments built from caller input go through ``segment``: percent-encoded
with no character left as a separator.
Every failure leaves this module as an ``UpstreamError`` from ``_errors``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import grpc
from neural_heatmap_contract.protocol import DEADLINE_HEADER
from neural_heatmap_contract.routes import http

from . import _errors

JSONDict = dict[str, Any]
# Query parameters: pairs, so that a parameter can repeat (one id per ``model_id``).
Query = Sequence[tuple[str, str]] | Mapping[str, str]
MAX_REQUEST_ID = 128


def segment(value: str) -> str:
    """``value`` percent-encoded as ONE path segment (``/``, ``.`` sequences and all).

    Why: a caller-chosen name must never become another upstream route; with
    ``safe=""`` a ``/`` is ``%2F`` and ``..`` stays inside its segment.
    """
    return quote(value, safe="")


@dataclass(frozen=True)
class CallOptions:
    """What one RPC passes on to the upstream: its time budget and its request id."""

    timeout: float
    request_id: str

    @property
    def timeout_ms(self) -> str:
        """The budget as ``X-Request-Timeout-Ms`` carries it: whole milliseconds, >= 1."""
        return str(max(1, math.floor(self.timeout * 1000)))

    @staticmethod
    def of(context: grpc.aio.ServicerContext[Any, Any], default_timeout: float) -> CallOptions:
        """Derive the upstream timeout and request id from a gRPC call."""
        remaining = context.time_remaining()
        timeout = default_timeout if remaining is None else max(0.001, remaining)
        request_id = ""
        for key, value in context.invocation_metadata() or ():
            if key == "x-request-id":
                request_id = value if isinstance(value, str) else value.decode()
        # Bounded: the caller's id is copied into upstream headers and logs.
        return CallOptions(timeout, request_id[:MAX_REQUEST_ID] or uuid.uuid4().hex)


@dataclass(frozen=True)
class Response:
    """A 2xx upstream answer, read to the end."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self, route: str) -> JSONDict:
        """Decode the body as a JSON object (bare NaN/Infinity allowed, as Python writes them)."""
        try:
            doc = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _errors.bad_payload(route, f"not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise _errors.bad_payload(route, f"expected a JSON object, got {type(doc).__name__}")
        return doc


class Upstream:
    """Pooled HTTP access to the upstream server.

    Args:
        base_url: The server's base URL, e.g. ``http://localhost:8080``.
        token: Bearer token for the upstream, or None.
        default_timeout: Seconds allowed to calls that carry no gRPC deadline.
        trace_configs: aiohttp request hooks (OpenTelemetry's client span and
            ``traceparent`` header when tracing is on).
    """

    def __init__(self, base_url: str, token: str | None, default_timeout: float,
                 trace_configs: Sequence[aiohttp.TraceConfig] = ()) -> None:
        self.base_url = base_url.rstrip("/")
        self.default_timeout = default_timeout
        self._token = token
        self._trace_configs = list(trace_configs)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session, created on first use (it must live on the running loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
                read_bufsize=1 << 20,
                trace_configs=self._trace_configs or None,
            )
        return self._session

    async def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, request_id: str | None = None) -> dict[str, str]:
        """Headers every upstream request carries (auth and request id)."""
        headers = {"X-Request-Id": request_id or uuid.uuid4().hex}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def ws_url(self) -> str:
        """The upstream WebSocket URL."""
        base = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return base + http("WebSocket").path

    @asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        opts: CallOptions,
        *,
        params: Query | None = None,
        json_body: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield the 2xx response unread (for streaming bodies).

        Raises:
            UpstreamError: On transport failure, timeout or a non-2xx answer.
        """
        route = f"{method} {path}"
        all_headers = self.headers(opts.request_id)
        all_headers[DEADLINE_HEADER] = opts.timeout_ms
        if headers:
            all_headers.update(headers)
        body: bytes | None = data
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                params=params,
                data=body,
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=opts.timeout),
            ) as resp:
                if resp.status >= 300:
                    raise _errors.from_http(
                        resp.status, await resp.read(), route, resp.headers.get("Retry-After")
                    )
                yield resp
        except _errors.UpstreamError:
            raise
        except TimeoutError as exc:
            raise _errors.deadline(route) from exc
        except aiohttp.ClientError as exc:
            raise _errors.unavailable(route, str(exc) or type(exc).__name__) from exc

    async def call(
        self,
        method: str,
        path: str,
        opts: CallOptions,
        *,
        params: Query | None = None,
        json_body: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a request and read the whole 2xx answer."""
        route = f"{method} {path}"
        async with self.open(
            method, path, opts, params=params, json_body=json_body, data=data, headers=headers
        ) as resp:
            try:
                body = await resp.read()
            except TimeoutError as exc:
                raise _errors.deadline(route) from exc
            except aiohttp.ClientError as exc:
                raise _errors.unavailable(route, str(exc)) from exc
            return Response(resp.status, resp.content_type, body, resp.headers.copy())

    async def get_json(self, path: str, opts: CallOptions, params: Query | None = None) -> JSONDict:
        """GET a JSON object."""
        return (await self.call("GET", path, opts, params=params)).json(f"GET {path}")

    async def post_json(self, path: str, opts: CallOptions, body: object) -> JSONDict:
        """POST a JSON body and read a JSON object back."""
        return (await self.call("POST", path, opts, json_body=body)).json(f"POST {path}")

    async def healthy(self, timeout: float) -> bool:
        """True when ``GET /health`` answers 2xx within ``timeout`` seconds."""
        try:
            await self.call("GET", http("Health").path, CallOptions(timeout, uuid.uuid4().hex))
        except _errors.UpstreamError:
            return False
        return True
