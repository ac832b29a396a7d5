"""The one retry/reconnect policy and the client facts (protos/policy/) in every language.

The generated Python, Go, TypeScript and Java files must be exactly what
scripts/gen_policy.py writes from the policy files and the protos' idempotency levels (so no
one edits one language by hand), and the Python consumers (SDK retries and reconnects, the
bridge's log reads, the server's and bridge's default addresses) must run on them. Go,
TypeScript and Java check their runtime values in sdk/go/neuralheatmap/policy_test.go,
sdk/typescript/src/test/policy.test.ts and sdk/java/src/test/java/dev/neuralheatmap/PolicyTest.java.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from google.protobuf import descriptor_pb2
from neural_heatmap import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TARGET, Retry
from neural_heatmap._client import NeuralHeatmapClient
from neural_heatmap._retry import TRANSIENT_CODES
from neural_heatmap._streaming import RECONNECT_CODES, ReconnectPolicy
from neural_heatmap_bridge import _anomaly_ring
from neural_heatmap_bridge._config import parse_config as bridge_config
from neural_heatmap_bridge.serve import DEFAULT_SERVER_PORT
from neural_heatmap_contract import limits, policy
from neural_heatmap_contract.backoff import backoff_delay
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as service_pb2
from neural_heatmap_server.config import parse_config as server_config

ROOT = Path(__file__).resolve().parents[2]
POLICY = json.loads((ROOT / "protos/policy/retry.json").read_text())
FACTS = json.loads((ROOT / "protos/policy/client.json").read_text())


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_policy", ROOT / "scripts/gen_policy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_files_are_what_the_generator_writes() -> None:
    gen = _generator()
    for path, text in gen.outputs(gen.load()).items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run make gen"


def test_python_constants_equal_the_policy_file() -> None:
    assert list(policy.UNARY_RETRY_CODES) == POLICY["unary_retry_codes"]
    assert list(policy.STREAM_RECONNECT_CODES) == POLICY["stream_reconnect_codes"]
    generated = (policy.BACKOFF_INITIAL_SECONDS, policy.BACKOFF_MULTIPLIER,
                 policy.BACKOFF_MAX_SECONDS, policy.BACKOFF_JITTER)
    b = POLICY["backoff"]
    assert generated == (b["initial_seconds"], b["multiplier"], b["max_seconds"], b["jitter"])


def test_python_consumers_run_on_the_policy() -> None:
    unary = {grpc.StatusCode[c] for c in POLICY["unary_retry_codes"]}
    stream = {grpc.StatusCode[c] for c in POLICY["stream_reconnect_codes"]}
    assert TRANSIENT_CODES == unary == Retry().codes
    assert unary == _anomaly_ring._TRANSIENT
    assert stream == RECONNECT_CODES
    b = POLICY["backoff"]
    retry, reconnect = Retry(), ReconnectPolicy()
    assert (retry.initial, retry.maximum, retry.multiplier) == (
        b["initial_seconds"], b["max_seconds"], b["multiplier"])
    assert (reconnect.delay, reconnect.max_delay) == (b["initial_seconds"], b["max_seconds"])


@pytest.mark.parametrize(("attempt", "cap"), [(0, 0.1), (1, 0.2), (2, 0.4), (5, 3.2), (6, 5.0),
                                              (5000, 5.0)])
def test_equal_jitter_stays_between_half_the_cap_and_the_cap(attempt: int, cap: float) -> None:
    assert backoff_delay(attempt, rng=lambda: 0.0) == pytest.approx(cap)
    assert backoff_delay(attempt, rng=lambda: 0.999999) == pytest.approx(cap / 2, rel=1e-5)
    assert cap / 2 <= backoff_delay(attempt) <= cap


def test_sdk_waits_take_the_shape() -> None:
    waits = Retry().delays()
    first = [next(waits) for _ in range(8)]
    assert all(c / 2 <= w <= c for w, c in zip(first, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5],
                                               strict=True))
    # ReconnectPolicy counts failures from 1; the seed client's explicit settings still apply.
    assert 0.05 <= ReconnectPolicy().wait(1) <= 0.1
    assert 30.0 <= ReconnectPolicy(delay=5.0, max_delay=60.0).wait(5) <= 60.0


def test_client_facts_equal_the_facts_file() -> None:
    generated = (policy.MAX_MESSAGE_BYTES, policy.RETRY_BUDGET_SECONDS,
                 policy.STREAM_IDLE_TIMEOUT_SECONDS, policy.STREAM_RECONNECT_LIMIT)
    assert generated == (FACTS["max_message_bytes"], FACTS["retry_budget_seconds"],
                         FACTS["stream_idle_timeout_seconds"], FACTS["stream_reconnect_limit"])
    bridge, server = FACTS["bridge"], FACTS["server"]
    assert f"{bridge['host']}:{bridge['port']}" == policy.BRIDGE_ADDRESS
    assert f"http://{server['host']}:{server['port']}" == policy.SERVER_URL


def test_python_consumers_run_on_the_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("NH_BRIDGE_LISTEN", "NH_BRIDGE_UPSTREAM", "NH_BRIDGE_MAX_SEND_BYTES",
                "NH_SERVER_HOST", "NH_SERVER_PORT"):
        monkeypatch.delenv(env, raising=False)
    assert limits.MAX_MESSAGE_BYTES == DEFAULT_MAX_MESSAGE_BYTES == FACTS["max_message_bytes"]
    assert NeuralHeatmapClient().max_message_bytes == FACTS["max_message_bytes"]
    assert Retry().deadline == FACTS["retry_budget_seconds"]
    reconnect = ReconnectPolicy()
    assert (reconnect.idle_timeout, reconnect.max_retries) == (
        FACTS["stream_idle_timeout_seconds"], FACTS["stream_reconnect_limit"])
    bridge, server = FACTS["bridge"], FACTS["server"]
    assert DEFAULT_TARGET == NeuralHeatmapClient().target == f"{bridge['host']}:{bridge['port']}"
    b = bridge_config([])
    assert (b.listen, b.upstream, b.max_send_bytes) == (
        f"{bridge['host']}:{bridge['port']}", f"http://{server['host']}:{server['port']}",
        FACTS["max_message_bytes"])
    s = server_config([])
    assert (s.host, s.port) == (server["host"], server["port"]) == (s.host, DEFAULT_SERVER_PORT)


def _levels() -> dict[str, int]:
    service = service_pb2.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
    return {m.name: m.GetOptions().idempotency_level for m in service.methods}


def test_retry_safe_is_each_rpcs_idempotency_level_in_the_protos() -> None:
    unknown = descriptor_pb2.MethodOptions.IDEMPOTENCY_UNKNOWN
    levels = _levels()
    assert list(policy.RETRY_SAFE) == list(levels)  # every RPC, in proto order
    assert {rpc: level != unknown for rpc, level in levels.items()} == dict(policy.RETRY_SAFE)
    assert policy.RETRY_SAFE["IngestActivations"] is False  # a retry could store frames twice
    assert policy.RETRY_SAFE["ListModels"] and policy.RETRY_SAFE["SetFilter"]


def test_every_rpc_declares_its_idempotency_level() -> None:
    """Written out, even IDEMPOTENCY_UNKNOWN: a new RPC without one is a decision not taken."""
    text = (ROOT / "protos/neural_heatmap/v1/neural_heatmap_service.proto").read_text()
    for rpc in _levels():
        block = text.split(f"rpc {rpc}(", 1)[1].split("}", 1)[0]
        assert "option idempotency_level = " in block, f"{rpc} declares no idempotency_level"
