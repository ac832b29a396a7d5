"""Connection-level limits: slow and idle clients, long request lines, garbage requests.

aiohttp waits for a request body as long as the client keeps its connection open, reads
request lines of at most 8,190 bytes, and logs every malformed request with a traceback at
ERROR. Here, in one place:

- **Headers**: aiohttp's ``keepalive_timeout`` closes a connection whose request line and
  headers are not complete that many seconds after it opened or after the previous answer
  (``--header-timeout``); an idle keep-alive connection goes the same way.
- **Body**: ``read_body`` reads every body before the handler runs; when no byte arrives
  for ``--body-timeout`` seconds the request answers 408 ``request_timeout`` and the
  connection is closed (detected between one and two timeouts after the last byte). A
  client that leaves mid-body is one DEBUG line (``ClientGone``), not a 500.
- **Request line**: ``MAX_REQUEST_LINE_BYTES`` (contract) fits the documented id limits.
- **Garbage** (a NUL byte in a header, a line over the limit): one WARNING line without a
  traceback, at most ``GARBAGE_LINES_PER_WINDOW`` per ``GARBAGE_WINDOW_SECONDS``
  (``QuietProtocolLog``), so nobody can fill the log before auth.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from neural_heatmap_contract.limits import MAX_REQUEST_LINE_BYTES

from .config import ServerConfig
from .errors import ApiError

log = logging.getLogger("neural_heatmap_server.connections")

GARBAGE_WINDOW_SECONDS = 60.0
GARBAGE_LINES_PER_WINDOW = 10
MAX_GARBAGE_ECHO = 200  # characters of the parser's message (it may quote the bad line)


class ClientGone(Exception):
    """The client closed its connection while its request body was being read."""


class QuietProtocolLog(logging.LoggerAdapter[logging.Logger]):
    """The logger of aiohttp's request handler, with malformed requests made quiet.

    aiohttp logs every request its parser refuses with ``logger.exception``; this turns
    those into one WARNING line without a traceback, rate-limited; everything else
    (real failures) passes through unchanged.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self._window_start = -GARBAGE_WINDOW_SECONDS
        self._lines = 0
        self._suppressed = 0

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log as asked, unless the record is a refused malformed request (see the class)."""
        exc = kwargs.get("exc_info")
        if not isinstance(exc, BadHttpMessage) or level < logging.WARNING:
            super().log(level, msg, *args, **kwargs)
            return
        now = time.monotonic()
        if now - self._window_start >= GARBAGE_WINDOW_SECONDS:
            if self._suppressed:
                self.logger.warning("%d more malformed requests were not logged",
                                    self._suppressed)
            self._window_start, self._lines, self._suppressed = now, 0, 0
        if self._lines >= GARBAGE_LINES_PER_WINDOW:
            self._suppressed += 1
            return
        self._lines += 1
        remote = args[0] if args else "?"
        detail = " ".join(str(exc).split())  # the parser's message spans lines
        if len(detail) > MAX_GARBAGE_ECHO:
            detail = detail[:MAX_GARBAGE_ECHO - 1] + "\u2026"
        self.logger.warning("malformed request from %s answered 400: %s", remote, detail)


def handler_args(config: ServerConfig) -> dict[str, Any]:
    """aiohttp request-handler settings (``web.Application(handler_args=...)``)."""
    return {
        "keepalive_timeout": config.header_timeout,
        "max_line_size": MAX_REQUEST_LINE_BYTES,
        "logger": QuietProtocolLog(logging.getLogger("aiohttp.server")),
    }


def request_timeout(seconds: float) -> ApiError:
    """The 408 for a body that stopped arriving."""
    return ApiError("request_timeout",
                    f"no byte of the request body arrived for {seconds:g} s (--body-timeout)",
                    timeout_seconds=seconds)


async def read_body(request: web.Request, idle_seconds: float) -> None:
    """Read the request's whole body (``request.read()`` keeps it for the handler).

    Raises:
        ApiError: 408 ``request_timeout`` when no byte arrived for ``idle_seconds``.
        ClientGone: The client closed the connection mid-body.
        web.HTTPRequestEntityTooLarge: The body is over ``--max-body-bytes``.
    """
    reading = asyncio.ensure_future(request.read())
    seen = request.content.total_bytes
    try:
        while True:
            done, _ = await asyncio.wait((reading,), timeout=idle_seconds)
            if done:
                reading.result()
                return
            if request.content.total_bytes == seen:
                raise request_timeout(idle_seconds)
            seen = request.content.total_bytes
    except ConnectionError as exc:
        raise ClientGone(str(exc)) from exc
    finally:
        reading.cancel()


async def close_after(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Send ``response`` now and close the connection without reading the rest of the body.

    Why: after an answer aiohttp keeps reading an unfinished body for up to 10 s (so a
    client still sending sees the answer); a client too slow to send its body gets no
    such grace.
    """
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
