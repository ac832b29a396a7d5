"""The SDK's retry decision is the generated per-RPC table (the protos' idempotency_level).

tests/sdk/test_resilience.py shows the behaviour against a real bridge (a query retried
through a restart, ingestion not); this pins that the decision is read from the table for
every RPC, not written per call site.
"""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from neural_heatmap import NeuralHeatmapClient, Retry, UnavailableError
from neural_heatmap_contract.policy import RETRY_SAFE, Rpc


def test_every_stub_method_is_looked_up_by_its_rpc_name() -> None:
    client = NeuralHeatmapClient("127.0.0.1:1")
    stub = client._open()
    assert {rpc: client._rpc_of(getattr(stub, rpc)) for rpc in RETRY_SAFE} == {
        rpc: rpc for rpc in RETRY_SAFE}
    assert client._rpc_of(print) is None  # not a method of the service: never retried


@pytest.mark.parametrize("rpc", list(RETRY_SAFE))
async def test_call_retries_exactly_the_retry_safe_rpcs(rpc: Rpc) -> None:
    client = NeuralHeatmapClient("127.0.0.1:1", retry=Retry(initial=0.001, maximum=0.001,
                                                            max_attempts=3))
    attempts = 0

    async def attempt(per_try: float | None) -> None:
        nonlocal attempts
        attempts += 1
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(),
                                   grpc.aio.Metadata(), details="down")

    with pytest.raises(UnavailableError):
        await client._call(attempt, rpc=rpc, timeout=5, retry=client.default_retry)
    assert attempts == (3 if RETRY_SAFE[rpc] else 1), rpc
