"""The one retry/reconnect policy (protos/policy/retry.json) in every language.

The generated Python, Go, TypeScript and Java files must be exactly what
scripts/gen_policy.py writes from the policy file (so no one edits one language by hand),
and the Python consumers (SDK retries and reconnects, the bridge's log reads) must run on
it. Go, TypeScript and Java check their runtime values in sdk/go/neuralheatmap/policy_test.go,
sdk/typescript/src/test/policy.test.ts and sdk/java/src/test/java/dev/neuralheatmap/PolicyTest.java.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from neural_heatmap import Retry
from neural_heatmap._retry import TRANSIENT_CODES
from neural_heatmap._streaming import RECONNECT_CODES, ReconnectPolicy
from neural_heatmap_bridge import _anomaly_ring
from neural_heatmap_contract import policy
from neural_heatmap_contract.backoff import backoff_delay

ROOT = Path(__file__).resolve().parents[2]
POLICY = json.loads((ROOT / "protos/policy/retry.json").read_text())


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
