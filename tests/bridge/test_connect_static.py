"""The web port's files and CORS: the dashboard directory at ``/``, nothing outside it.

A real bridge serves a temporary directory (``--web-root``) holding a page, a script, a
stylesheet, a hidden file and a symlink pointing out of it; raw HTTP requests (no client
normalises the paths) check what is served and what is refused.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

ALLOWED_ORIGIN = "http://127.0.0.1:5173"
SECRET = "outside the web root\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("web")
    (base / "secret.txt").write_text(SECRET)
    site = base / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>t</title>\n")
    (site / "assets" / "app.js").write_text("console.log(1);\n")
    (site / "assets" / "app.css").write_text("body{}\n")
    (site / ".env").write_text("TOKEN=x\n")
    os.symlink(base / "secret.txt", site / "link.txt")
    return site


@pytest.fixture(scope="module")
def web(server: ServerProcess, root: Path) -> Iterator[BridgeProcess]:
    with BridgeProcess(server.url, "--web-root", str(root), "--web-cors-origin",
                       ALLOWED_ORIGIN, web=True) as proc:
        yield proc


async def raw(port: int, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request written byte for byte (the path exactly as given)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return await raw(port, f"{method} {path} HTTP/1.1\nHost: x\nConnection: close\n")


@pytest.mark.parametrize(("path", "ctype", "start"), [
    ("/", "text/html; charset=utf-8", b"<!doctype html>"),
    ("/index.html", "text/html; charset=utf-8", b"<!doctype html>"),
    ("/assets/app.js", "text/javascript; charset=utf-8", b"console.log"),
    ("/assets/app.css", "text/css; charset=utf-8", b"body{}"),
])
async def test_files_are_served_with_their_types(
    web: BridgeProcess, path: str, ctype: str, start: bytes
) -> None:
    status, headers, body = await get(web.web_port, path)
    assert (status, headers["content-type"]) == (200, ctype)
    assert body.startswith(start)
    assert headers["x-content-type-options"] == "nosniff"
    assert int(headers["content-length"]) == len(body)


async def test_head_has_no_body(web: BridgeProcess) -> None:
    status, headers, body = await get(web.web_port, "/assets/app.js", "HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) == len("console.log(1);\n")


@pytest.mark.parametrize("path", [
    "/../secret.txt",
    "/assets/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/..%5csecret.txt",
    "/link.txt",          # a symlink pointing out of the root
    "/.env",              # hidden files
    "/assets",            # a directory
    "/missing.js",
    "/index.html%00.js",
])
async def test_nothing_outside_the_root_is_served(web: BridgeProcess, path: str) -> None:
    status, _, body = await get(web.web_port, path)
    assert status in (400, 404), (path, status)
    assert SECRET.encode() not in body and b"TOKEN" not in body


async def test_other_methods_outside_the_rpc_paths_are_refused(web: BridgeProcess) -> None:
    status, _, _ = await raw(
        web.web_port, "POST /index.html HTTP/1.1\nHost: x\nContent-Length: 0\nConnection: close\n"
    )
    assert status == 405


async def test_rpcs_are_post_only(web: BridgeProcess) -> None:
    """Connect's GET form would let any page call SetTheme with a "simple" request."""
    status, headers, _ = await get(
        web.web_port,
        "/neural_heatmap.v1.NeuralHeatmapService/SetTheme?encoding=json&message=%7B%7D",
    )
    assert (status, headers["allow"]) == (405, "POST")


def _preflight(origin: str) -> str:
    return (
        "OPTIONS /neural_heatmap.v1.NeuralHeatmapService/GetTheme HTTP/1.1\nHost: x\n"
        f"Origin: {origin}\nAccess-Control-Request-Method: POST\n"
        "Access-Control-Request-Headers: content-type, authorization\nConnection: close\n"
    )


async def test_cors_only_for_the_listed_origin(web: BridgeProcess) -> None:
    status, headers, _ = await raw(web.web_port, _preflight(ALLOWED_ORIGIN))
    assert status == 204
    assert headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "authorization" in headers["access-control-allow-headers"]
    status, headers, body = await raw(web.web_port, _preflight("http://evil.example"))
    assert status == 403 and b"--web-cors-origin" in body
    assert "access-control-allow-origin" not in headers

    call = ("POST /neural_heatmap.v1.NeuralHeatmapService/GetTheme HTTP/1.1\nHost: x\n"
            "Origin: {}\nContent-Type: application/json\nContent-Length: 2\n"
            "Connection: close\n")
    status, headers, body = await raw(web.web_port, call.format(ALLOWED_ORIGIN), b"{}")
    assert status == 200, body
    assert headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "grpc-status-details-bin" in headers["access-control-expose-headers"]
    status, headers, _ = await raw(web.web_port, call.format("http://evil.example"), b"{}")
    assert status == 200
    assert "access-control-allow-origin" not in headers


async def test_the_shipped_page_is_the_default_root(server: ServerProcess) -> None:
    with BridgeProcess(server.url, web=True) as bridge:
        status, headers, body = await get(bridge.web_port, "/")
    shipped = Path(__file__).resolve().parents[2] / "bridge/neural_heatmap_bridge/_web/index.html"
    assert (status, body) == (200, shipped.read_bytes())
    assert headers["content-type"] == "text/html; charset=utf-8"


def test_a_taken_web_port_stops_start_up_with_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        str(repo / d) for d in ("contract/python", "bridge", "sdk/python"))}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "neural_heatmap_bridge", "--listen", "127.0.0.1:0",
             "--upstream", "http://127.0.0.1:9", "--web-port", str(port)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"neural-heatmap-bridge: the web port 127.0.0.1:{port} cannot be bound: Address "
        "already in use (--web-port; 0 turns the web port off)")
    assert "Traceback" not in done.stderr
