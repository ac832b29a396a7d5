"""Retries for idempotent calls, none for ingestion, and TLS / mutual TLS to the bridge."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from neural_heatmap import (
    NeuralHeatmapClient,
    Retry,
    UnavailableError,
    VisualizationTheme,
    connect,
)

from tests.support.bridge_process import BridgeProcess
from tests.support.pki import make_pki
from tests.support.server_process import ServerProcess


async def test_idempotent_call_retries_through_a_bridge_restart(server: ServerProcess) -> None:
    with BridgeProcess(server.url, "--metrics-port", "0") as own:
        client = await connect(own.target, retry=Retry(initial=0.1, maximum=0.5))
        await client.get_theme()
        own.kill()
        started = time.monotonic()
        call = asyncio.create_task(client.get_layout(timeout=15))
        await asyncio.sleep(1.0)
        assert not call.done()  # still retrying
        own.start()
        layout = await call
        assert layout is not None and time.monotonic() - started >= 1.0
        # ingestion is never retried: the frames might be stored twice
        own.kill()
        with pytest.raises(UnavailableError):
            await client.log_activations("retry", "fc", np.zeros(4), timeout=5)
        with pytest.raises(UnavailableError) as info:
            await client.get_theme(retry=None, timeout=5)
        assert info.value.code is grpc.StatusCode.UNAVAILABLE
        own.start()
        await client.disconnect()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_mutual_tls(server: ServerProcess, pki: Path) -> None:
    creds = grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes(), (pki / "client.key").read_bytes(),
        (pki / "client.pem").read_bytes())
    with BridgeProcess(
        server.url, "--metrics-port", "0", "--tls-cert", str(pki / "server.pem"),
        "--tls-key", str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.pem"),
        secure=creds,
    ) as tls_bridge:
        # root certificate and client pair given as file paths
        async with await connect(
            f"grpcs://{tls_bridge.target}",
            root_certificates=str(pki / "ca.pem"),
            private_key=str(pki / "client.key"),
            certificate_chain=str(pki / "client.pem"),
        ) as client:
            theme = await client.get_theme()
            assert theme.theme in set(VisualizationTheme)
        # no client certificate: the handshake fails, which gRPC reports as UNAVAILABLE
        anonymous = NeuralHeatmapClient(
            tls_bridge.target, root_certificates=(pki / "ca.pem").read_bytes(), retry=None,
            connect_timeout=2)
        with pytest.raises(UnavailableError):
            await anonymous.get_theme(timeout=3)
        await anonymous.disconnect()
        # plaintext against a TLS port fails too
        plain = NeuralHeatmapClient(tls_bridge.target, retry=None)
        with pytest.raises(UnavailableError):
            await plain.get_theme(timeout=3)
        await plain.disconnect()
