"""OpenTelemetry across the three hops: one SDK call is one trace in SDK, bridge and server.

Every process exports with the standard OTLP/HTTP exporter, configured only by
the standard ``OTEL_*`` variables, to a collector this test runs; the spans
must share one trace id and chain SDK client -> bridge server -> bridge
upstream client -> server handler -> the analytic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.bridge_process import BridgeProcess
from tests.support.otlp_collector import OtlpCollector, ReceivedSpan
from tests.support.server_process import REPO_ROOT, ServerProcess

pytest.importorskip("opentelemetry.sdk")

SDK, BRIDGE, SERVER = "neural-heatmap-sdk", "neural-heatmap-bridge", "neural-heatmap-server"
RPC = "/neural_heatmap.v1.NeuralHeatmapService/GetCorrelationMatrix"
SERVER_KIND, CLIENT_KIND = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind

SDK_CALL = """
import asyncio, sys
from neural_heatmap import connect

async def main() -> None:
    async with await connect(sys.argv[1]) as client:
        matrix = await client.get_correlation_matrix(model_ids=["traced"])
        print(matrix.labels)

asyncio.run(main())
"""


OWN_PROVIDER_CALL = """
import asyncio, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from neural_heatmap import connect

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main() -> None:
    async with await connect(sys.argv[1]) as client:
        await client.list_models()

asyncio.run(main())
spans = [s for s in exporter.get_finished_spans() if s.name.endswith("/ListModels")]
print(format(spans[0].context.trace_id, "032x"), spans[0].name)
"""


def _seed(server: ServerProcess) -> None:
    frames = [{"model_id": "traced", "layer_id": layer, "values": [float(i), float(i * i), 1.0],
               "step": i} for i in range(8) for layer in ("a", "b")]
    req = urllib.request.Request(f"{server.url}/api/activations",
                                 data=json.dumps({"frames": frames}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read()) == {"accepted": 16}


def _one(spans: list[ReceivedSpan], service: str, name: str, kind: int | None = None,
         parent: ReceivedSpan | None = None) -> ReceivedSpan:
    found = [s for s in spans if s.service == service and s.name == name
             and (kind is None or s.kind == kind)
             and (parent is None or s.parent_span_id == parent.span_id)]
    assert len(found) == 1, (service, name, sorted({(s.service, s.name) for s in spans}))
    return found[0]


@dataclass(frozen=True)
class Traced:
    """A collector, and a server and bridge exporting to it (seeded with a small model)."""

    collector: OtlpCollector
    bridge: BridgeProcess


@pytest.fixture(scope="module")
def traced() -> Iterator[Traced]:
    with OtlpCollector() as collector:
        env = collector.env()
        with ServerProcess(env=env) as server, BridgeProcess(server.url, env=env) as bridge:
            _seed(server)
            yield Traced(collector, bridge)


def _sdk(script: str, target: str, **env: str) -> str:
    """Run ``script`` with the SDK of the source tree in a process of its own."""
    sdk_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(
        str(REPO_ROOT / d) for d in ("sdk/python", "contract/python"))}
    done = subprocess.run([sys.executable, "-c", script, target], env=sdk_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_one_sdk_call_is_one_trace_across_sdk_bridge_and_server(traced: Traced) -> None:
    assert "traced/a" in _sdk(SDK_CALL, traced.bridge.target, **traced.collector.env())

    def complete(spans: list[ReceivedSpan]) -> bool:
        return any(s.service == SDK for s in spans) and any(
            s.name == "analytic correlation" for s in spans)

    spans = traced.collector.wait_for(complete)
    client = _one(spans, SDK, RPC, CLIENT_KIND)
    trace = [s for s in spans if s.trace_id == client.trace_id]
    assert {s.service for s in trace} == {SDK, BRIDGE, SERVER}
    rpc = _one(trace, BRIDGE, RPC, SERVER_KIND, parent=client)
    upstream = _one(trace, BRIDGE, "GET", CLIENT_KIND, parent=rpc)
    handler = _one(trace, SERVER, "GET /api/correlation", SERVER_KIND, parent=upstream)
    _one(trace, SERVER, "analytic correlation", parent=handler)
    # the bridge's health probes of the server (one a second) start no traces
    assert not [s for s in spans if "/health" in s.name]


def test_a_program_with_its_own_tracer_provider_gets_sdk_spans_in_its_traces(
        traced: Traced) -> None:
    """No OTEL_* variable: the program set OpenTelemetry up itself, and the SDK uses it."""
    out = _sdk(OWN_PROVIDER_CALL, traced.bridge.target)
    trace_id, span_name = out.split()
    assert span_name == "/neural_heatmap.v1.NeuralHeatmapService/ListModels"
    spans = traced.collector.wait_for(
        lambda spans: any(s.trace_id == trace_id and s.service == BRIDGE for s in spans))
    _one([s for s in spans if s.trace_id == trace_id], BRIDGE, span_name, SERVER_KIND)


def test_tracing_is_off_unless_an_exporter_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from neural_heatmap_contract import tracing

    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert tracing.tracing_requested() == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.tracing_requested() == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,console")
    assert tracing.tracing_requested() == ["otlp", "console"]
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.tracing_requested() == []
