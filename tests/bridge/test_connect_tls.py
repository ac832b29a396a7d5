"""TLS and the token on the web port: the gRPC port's flags apply to it unchanged.

A real bridge with ``--tls-cert``/``--tls-key``/``--tls-client-ca`` and ``--token`` serves
its web port over mutual TLS; Connect JSON calls need the CA, a client certificate and the
token, exactly as gRPC calls do.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.support.bridge_process import BridgeProcess
from tests.support.pki import make_pki
from tests.support.server_process import ServerProcess

TOKEN = "tls-token"
PATH = "/neural_heatmap.v1.NeuralHeatmapService/GetTheme"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_bridge(server: ServerProcess, pki: Path) -> Iterator[BridgeProcess]:
    creds = grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes(), (pki / "client.key").read_bytes(),
        (pki / "client.pem").read_bytes())
    with BridgeProcess(
        server.url, "--token", TOKEN, "--tls-cert", str(pki / "server.pem"),
        "--tls-key", str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.pem"),
        secure=creds, web=True,
    ) as proc:
        yield proc


def _context(pki: Path, client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if client_cert:
        ctx.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return ctx


async def _post(url: str, ctx: ssl.SSLContext | None, token: str | None) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.post(
        url, data=b"{}", headers=headers, ssl=ctx if ctx is not None else False
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_connect_over_mutual_tls_with_the_token(tls_bridge: BridgeProcess, pki: Path) -> None:
    url = f"{tls_bridge.web_url}{PATH}"
    assert url.startswith("https://")
    status, doc = await _post(url, _context(pki, client_cert=True), TOKEN)
    assert status == 200, doc
    assert doc["theme"]["theme"].startswith("THEME_")
    status, doc = await _post(url, _context(pki, client_cert=True), None)
    assert (status, doc["code"]) == (401, "unauthenticated")


async def test_without_a_client_certificate_the_handshake_fails(
    tls_bridge: BridgeProcess, pki: Path
) -> None:
    with pytest.raises(aiohttp.ClientError):
        await _post(f"{tls_bridge.web_url}{PATH}", _context(pki, client_cert=False), TOKEN)


async def test_plain_http_gets_no_answer(tls_bridge: BridgeProcess) -> None:
    with pytest.raises(aiohttp.ClientError):
        await _post(f"http://127.0.0.1:{tls_bridge.web_port}{PATH}", None, TOKEN)
