"""Completeness, health, reflection, auth, TLS, graceful shutdown and metrics of the real bridge."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from neural_heatmap_bridge._service import NeuralHeatmapBridge
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

SERVICE = pb.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_every_rpc_has_a_handler() -> None:
    missing = [m.name for m in SERVICE.methods if m.name not in vars(NeuralHeatmapBridge)]
    assert not missing, f"RPCs without a bridge handler: {missing}"


def test_reflection_lists_and_describes_the_service(bridge: BridgeProcess) -> None:
    with bridge.channel() as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        services = set(db.get_services())
        assert {
            SERVICE.full_name,
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= services
        described = db.FindFileContainingSymbol(SERVICE.full_name)
        assert described.name == SERVICE.file.name


def wait_health(bridge: BridgeProcess, want: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bridge.health() == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"health never became {want}")


def test_health_follows_the_upstream() -> None:
    server = ServerProcess()
    server.start()
    try:
        with BridgeProcess(server.url) as bridge:
            wait_health(bridge, SERVING)
            server.stop()
            wait_health(bridge, NOT_SERVING)
            server.start()
            wait_health(bridge, SERVING)
    finally:
        server.cleanup()


async def test_token_is_required_when_set(server: ServerProcess) -> None:
    with BridgeProcess(server.url, "--token", "s3cret") as bridge:
        async with bridge.aio_channel() as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            for metadata in (
                (),
                (("authorization", "Bearer wrong"),),
                (("authorization", "s3cret"),),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.GetLayout(pb.GetLayoutRequest(), metadata=metadata)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest()).read()
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            ok = (("authorization", "Bearer s3cret"),)
            await stub.GetLayout(pb.GetLayoutRequest(), metadata=ok)
        assert bridge.health() == SERVING  # health stays open


def make_cert(tmp: Path, name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for 127.0.0.1/localhost, made with the openssl CLI."""
    key, cert = tmp / f"{name}.key", tmp / f"{name}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return key.read_bytes(), cert.read_bytes()


async def test_mutual_tls_end_to_end(server: ServerProcess, tmp_path: Path) -> None:
    _key, cert = make_cert(tmp_path, "bridge")
    ckey, ccert = make_cert(tmp_path, "client")
    creds = grpc.ssl_channel_credentials(
        root_certificates=cert, private_key=ckey, certificate_chain=ccert
    )
    args = [
        "--tls-cert",
        str(tmp_path / "bridge.pem"),
        "--tls-key",
        str(tmp_path / "bridge.key"),
        "--tls-client-ca",
        str(tmp_path / "client.pem"),
    ]
    with BridgeProcess(server.url, *args, secure=creds) as bridge:
        async with bridge.aio_channel() as ch:
            layout = await pb_grpc.NeuralHeatmapServiceStub(ch).GetLayout(pb.GetLayoutRequest())
            assert layout is not None
        anonymous = grpc.ssl_channel_credentials(root_certificates=cert)
        async with grpc.aio.secure_channel(bridge.target, anonymous) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await pb_grpc.NeuralHeatmapServiceStub(ch).GetLayout(
                    pb.GetLayoutRequest(), timeout=3
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_sigterm_ends_streams_with_unavailable(server: ServerProcess) -> None:
    with BridgeProcess(server.url) as bridge:
        async with bridge.aio_channel() as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest())
            await call.wait_for_connection()
            await asyncio.sleep(0.3)
            started = time.monotonic()
            bridge.signal(signal.SIGTERM)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(call.read(), 10)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "shutting down" in (caught.value.details() or "")
            assert time.monotonic() - started < 3
        assert bridge.proc is not None and bridge.proc.wait(10) == 0


async def test_metrics_count_calls(
    bridge: BridgeProcess, stub: pb_grpc.NeuralHeatmapServiceStub
) -> None:
    await stub.GetLayout(pb.GetLayoutRequest())
    assert bridge.metrics_url is not None
    async with aiohttp.ClientSession() as s, s.get(bridge.metrics_url) as resp:
        text = await resp.text()
    assert 'nh_bridge_rpc_calls_total{code="OK",method="GetLayout"}' in text
    assert "nh_bridge_rpc_latency_seconds_bucket" in text
    assert "nh_bridge_upstream_up 1.0" in text
