"""The bridge names its contract version on every response; a token never leaks in plaintext.

The version travels as the ``x-neural-heatmap-version`` header (initial metadata) of every
RPC, refusals and health included, and ``client.bridge_version()`` reads it. The token rule
is the one every SDK applies with the same words (docs/clients.md, "Settings"): plaintext
only to a loopback address unless the program opts in.
"""

from __future__ import annotations

import grpc
import neural_heatmap
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from neural_heatmap import NeuralHeatmapClient
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
from neural_heatmap_contract.version import VERSION, VERSION_HEADER

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

REFUSAL = ("neural heatmap: refusing to send a bearer token over plaintext to {}; use TLS, "
           "a loopback address, or opt in explicitly (Python insecure_token=True, TypeScript "
           "insecureToken: true, Go WithInsecureToken(), Java allowInsecureToken())")


async def test_sdk_reads_the_bridge_version(client: NeuralHeatmapClient) -> None:
    assert await client.bridge_version() == VERSION == neural_heatmap.__version__


async def test_every_response_carries_the_version_header(bridge: BridgeProcess) -> None:
    async with grpc.aio.insecure_channel(bridge.target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        stub = pb_grpc.NeuralHeatmapServiceStub(channel)
        missing = stub.CompareModels(pb.CompareModelsRequest(model_ids=["nope-1", "nope-2"]))
        stream = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest())
        for call in (health, missing, stream):
            assert dict(await call.initial_metadata())[VERSION_HEADER] == VERSION
        stream.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await missing
        assert err.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


async def test_a_refused_call_carries_the_version_too(server: ServerProcess) -> None:
    with BridgeProcess(server.url, "--token", "s3cret") as locked:
        async with grpc.aio.insecure_channel(locked.target) as channel:
            call = pb_grpc.NeuralHeatmapServiceStub(channel).ListModels(pb.ListModelsRequest())
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert dict(await call.initial_metadata())[VERSION_HEADER] == VERSION


@pytest.mark.parametrize("target", ["bridge.example:50051", "10.1.2.3:50051",
                                    "grpc://bridge.example"])
def test_a_token_in_plaintext_to_a_remote_address_is_refused(target: str) -> None:
    shown = target.removeprefix("grpc://")
    shown = shown if ":" in shown else f"{shown}:50051"
    with pytest.raises(ValueError) as err:
        NeuralHeatmapClient(target, token="t")
    assert str(err.value) == REFUSAL.format(shown)


@pytest.mark.parametrize("target", ["localhost:50051", "127.0.0.1:1", "[::1]:50051",
                                    "unix:/tmp/nh.sock", "ipv4:127.0.0.2:50051"])
def test_a_token_in_plaintext_to_loopback_is_allowed(target: str) -> None:
    assert NeuralHeatmapClient(target, token="t").target


def test_a_token_is_allowed_with_tls_or_the_explicit_opt_in() -> None:
    NeuralHeatmapClient("grpcs://bridge.example", token="t")
    NeuralHeatmapClient("bridge.example:50051", token="t", tls=True)
    NeuralHeatmapClient("bridge.example:50051", token="t", insecure_token=True)
    NeuralHeatmapClient("bridge.example:50051")  # no token: nothing to protect
