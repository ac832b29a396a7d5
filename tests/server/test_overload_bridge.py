"""Overload safety through a real bridge: gRPC health stays SERVING while the heaviest
RPCs run, and each of them ends with a precise status.

The server runs with two workers and room for three analytics requests; the
heavy RPCs (CompareModels naming two models thousands of times, a 2048-unit
correlation matrix, temporal analysis of every layer, unit listings) are
sent at once, several times, with a 4 s deadline. Allowed outcomes: OK,
RESOURCE_EXHAUSTED (429 overloaded), INVALID_ARGUMENT, DEADLINE_EXCEEDED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from neural_heatmap_contract.v1 import analytics_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.server.conftest import Api
from tests.server.overload_support import (
    OVERLOAD_ARGS,
    HealthProbe,
    http_health,
    load_heavy_data,
    run_concurrently,
)
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

PRECISE = {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED,
           grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED}
RPC_DEADLINE = 4.0


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[ServerProcess, BridgeProcess]]:
    with ServerProcess(extra_args=OVERLOAD_ARGS) as server:
        load_heavy_data(Api(server))
        # The bridge's health probe gives the upstream's /health min(2, interval)
        # seconds; the support's 0.3 s interval would also time the bridge's own busy
        # loop (it relays the 2048-label matrices) rather than the server.
        with BridgeProcess(server.url, "--health-interval", "1") as bridge:
            yield server, bridge


def _rpc(call: Callable[..., Any], request: Any) -> Callable[[], grpc.StatusCode]:
    def run() -> grpc.StatusCode:
        try:
            call(request, timeout=RPC_DEADLINE)
        except grpc.RpcError as err:
            return err.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK
    return run


def test_grpc_health_stays_serving_while_the_heaviest_rpcs_run(
        chain: tuple[ServerProcess, BridgeProcess]) -> None:
    server, bridge = chain
    channel = bridge.channel()
    stub = pb_grpc.NeuralHeatmapServiceStub(channel)
    heavy = [
        _rpc(stub.CompareModels, pb.CompareModelsRequest(
            model_ids=["heavy-a", "heavy-b"] * 3000)),
        _rpc(stub.GetCorrelationMatrix, pb.GetCorrelationMatrixRequest(
            model_ids=["heavy-big"], granularity=analytics_pb2.GRANULARITY_UNIT)),
        _rpc(stub.GetTemporalPatterns, pb.GetTemporalPatternsRequest()),
        _rpc(stub.GetTemporalStatistics, pb.GetTemporalStatisticsRequest()),
        _rpc(stub.ListModels, pb.ListModelsRequest(include_units=True)),
        _rpc(stub.CompareModels, pb.CompareModelsRequest(
            model_ids=[f"m{i}" for i in range(100)])),  # over --max-compare-models
    ] * 2

    def grpc_health() -> None:
        status = bridge.health(timeout=2.0)
        assert status == health_pb2.HealthCheckResponse.SERVING, status

    with HealthProbe(grpc_health) as grpc_probe, HealthProbe(http_health(server.url)) as probe:
        codes = run_concurrently(heavy)
    channel.close()
    assert grpc_probe.failures == [] and grpc_probe.count >= 5, grpc_probe.failures[:3]
    assert probe.failures == [] and probe.worst < 2.0
    assert grpc_probe.worst < 2.0, f"gRPC health took {grpc_probe.worst:.2f} s"
    assert all(code in PRECISE for code in codes), codes
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
    assert grpc.StatusCode.INVALID_ARGUMENT in codes, codes
