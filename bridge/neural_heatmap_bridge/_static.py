"""The dashboard's files, served read-only from one directory at ``/``.

Only regular files inside the directory are served: a path with a ``..``, ``.`` or empty
segment, a backslash, a NUL or a leading dot in a segment (``.git``) is refused with 404
before the file system is asked, and the resolved file must still lie inside the
directory (a symlink pointing out is refused too). ``/`` is ``index.html``. Files are
small (the built bundle) and read per request, so a rebuilt bundle is served at once.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

Send = Any  # the ASGI send callable

# Content types that must be exact for a browser (module scripts refuse anything else).
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
INDEX = "index.html"


def content_type(path: Path) -> str:
    """The ``Content-Type`` a browser expects for ``path``."""
    known = _TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def resolve(root: Path, url_path: str) -> Path | None:
    """The file ``url_path`` (already percent-decoded) names inside ``root``, or None.

    None for anything that is not a plain file below ``root`` (see the module doc).
    """
    relative = url_path.removeprefix("/") or INDEX
    parts = relative.split("/")
    if relative.endswith("/"):
        parts[-1] = INDEX
    for part in parts:
        if not part or part.startswith(".") or "\\" in part or "\x00" in part:
            return None
    base = root.resolve()
    candidate = (base / Path(*parts)).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


async def respond(
    send: Send,
    status: int,
    body: bytes,
    ctype: str,
    head: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """One complete plain HTTP response (``extra``: more headers)."""
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", ctype.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-cache"),
            *(extra or ()),
        ],
    })
    await send({"type": "http.response.body", "body": b"" if head else body})


async def serve_file(root: Path, scope: dict[str, Any], send: Send) -> None:
    """Answer a GET or HEAD for a file of ``root`` (404 when it names none)."""
    head = scope["method"] == "HEAD"
    found = resolve(root, scope["path"])
    if found is None:
        await respond(send, 404, b"not found\n", "text/plain; charset=utf-8", head)
        return
    await respond(send, 200, found.read_bytes(), content_type(found), head)
