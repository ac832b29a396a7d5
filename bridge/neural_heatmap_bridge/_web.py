"""The bridge's web port: Connect, gRPC-Web and the dashboard's files, under uvicorn.

One ASGI app, run by uvicorn in the bridge's own event loop next to the grpc.aio server:

* ``/neural_heatmap.v1.NeuralHeatmapService/<Method>``: Connect (JSON and binary) and
  gRPC-Web, answered by the same handlers as the gRPC port (``_connect``);
* ``GET``/``HEAD`` of anything else: a file of the dashboard directory (``_static``),
  without a token (the page asks for it; every RPC it makes then needs it).

The page and the RPCs share one origin, so browsers need no CORS. Other origins get CORS
only when ``--web-cors-origin`` lists them exactly (``_cors``). gRPC proper (HTTP/2,
``application/grpc``) is refused with 415 here: it belongs on the gRPC port.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

from . import _static
from ._connect import endable
from ._cors import Cors

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
DEFAULT_ROOT = Path(__file__).parent / "_web"


class WebApp:
    """Routes a request to the Connect app or to the dashboard's files.

    Args:
        rpc: The Connect/gRPC-Web ASGI app (``_connect.connect_app``).
        rpc_prefix: ``/<service>/``: paths under it are RPCs.
        root: The directory served at ``/``.
        cors: Which other origins may call (``_cors.Cors``; empty: none).
    """

    def __init__(self, rpc: ASGIApp, rpc_prefix: str, root: Path, cors: Cors) -> None:
        self._rpc = rpc
        self._prefix = rpc_prefix
        self._root = root
        self._cors = cors

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        if scope["path"].startswith(self._prefix):
            await self._call(scope, receive, self._cors.wrap(scope, send))
        elif scope["method"] in ("GET", "HEAD"):
            await _static.serve_file(self._root, scope, send)
        else:
            await _static.respond(send, 405, b"only GET and HEAD outside the RPC paths\n",
                                  _TEXT, extra=[(b"allow", b"GET, HEAD")])

    async def _call(self, scope: Any, receive: Any, send: Any) -> None:
        """An RPC: a CORS preflight, a refusal, or the Connect app's answer."""
        method = scope["method"]
        if method == "OPTIONS":
            await self._cors.preflight(scope, send)
        elif method != "POST":
            # Connect allows GET for side-effect-free methods; none is marked so, and a
            # GET is a "simple" cross-site request: another page could call SetTheme.
            await _static.respond(send, 405, b"RPCs are POST requests\n", _TEXT,
                                  extra=[(b"allow", b"POST")])
        elif _is_grpc(_header(scope, b"content-type")):
            await _static.respond(send, 415, b"gRPC over HTTP/2 is served on the bridge's "
                                  b"gRPC port (--listen); this port speaks Connect and "
                                  b"gRPC-Web\n", _TEXT)
        else:
            await self._rpc(_identity_answers(scope), receive, endable(send))


_TEXT = "text/plain; charset=utf-8"


def _is_grpc(content_type: str) -> bool:
    """gRPC proper (``application/grpc``, ``+proto``...), not gRPC-Web."""
    return content_type.startswith("application/grpc") and not content_type.startswith(
        "application/grpc-web"
    )


# What a client may ask its answers to be compressed with: dropped, so answers go out as
# they are. Float tensors hardly compress, and gzip on a 64 MiB matrix would hold the
# bridge's event loop for seconds; a compressed request (Content-Encoding) still works.
_ACCEPT_ENCODINGS = frozenset({b"accept-encoding", b"connect-accept-encoding",
                               b"grpc-accept-encoding"})


def _identity_answers(scope: Any) -> Any:
    headers = [(k, v) for k, v in scope.get("headers", ()) if k not in _ACCEPT_ENCODINGS]
    return {**scope, "headers": headers}


def _header(scope: Any, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def split_host(listen: str) -> str:
    """The host part of a ``host:port`` (``[::1]:50051`` -> ``::1``)."""
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    return host.strip("[]")


def url(host: str, port: int, tls: bool) -> str:
    """The address to print for the web port (a wildcard host shown as ``localhost``)."""
    shown = "localhost" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"the web port {host}:{port} cannot be bound: {exc.strerror}"
                      " (--web-port; 0 turns the web port off)") from exc
    sock.listen(2048)
    return sock


class WebServer:
    """uvicorn serving ``app`` on ``host:port`` inside the running event loop.

    uvicorn's own ``serve()`` would take over SIGINT/SIGTERM; the bridge owns those, so
    this runs uvicorn's start-up, tick loop and shutdown steps itself.

    Args:
        app: The ASGI app.
        host: Address to bind.
        port: Port to bind (0: any free one; see ``port`` after ``start``).
        tls: (certificate, key, client CA or None) when TLS is on.
        grace: Seconds open requests get on shutdown before they are cancelled.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        tls: tuple[str, str, str | None] | None,
        grace: float,
    ) -> None:
        self._host = host
        self._tls = tls is not None
        self.port = port
        kw: dict[str, Any] = {}
        if tls is not None:
            cert, key, client_ca = tls
            kw = {"ssl_certfile": cert, "ssl_keyfile": key}
            if client_ca:
                kw.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        self._config = uvicorn.Config(
            app, host=host, port=port, lifespan="off", log_config=None, access_log=False,
            ws="none", timeout_graceful_shutdown=max(1, round(grace)), server_header=False,
            **kw,
        )
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None
        self._ticker: asyncio.Task[None] | None = None

    def bind(self) -> socket.socket:
        """Take the port (before anything else starts, so a taken port stops start-up).

        Raises:
            OSError: The port cannot be bound; the message names it and the flag.
        """
        if self._sock is None:
            self._sock = _bind(self._host, self.port)
            self.port = int(self._sock.getsockname()[1])
        return self._sock

    async def start(self) -> None:
        """Start serving on the bound port (``bind`` first when it was not)."""
        sock = self.bind()
        self._config.load()
        server = uvicorn.Server(self._config)
        server.lifespan = self._config.lifespan_class(self._config)
        await server.startup(sockets=[sock])
        self._server = server
        self._ticker = asyncio.get_running_loop().create_task(server.main_loop())

    @property
    def url(self) -> str:
        """The address to print (a wildcard host shown as ``localhost``)."""
        return url(self._host, self.port, self._tls)

    async def stop(self) -> None:
        """Stop accepting, let open requests finish (``grace``), then close."""
        if self._server is None:
            return
        self._server.should_exit = True
        if self._ticker is not None:
            await self._ticker
        await self._server.shutdown(sockets=[self._sock] if self._sock else None)
