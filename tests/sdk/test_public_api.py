"""Public surface of the SDK: pinned names, RPC coverage, addresses, error mapping."""

from __future__ import annotations

import asyncio
import inspect

import grpc
import grpc.aio
import neural_heatmap
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from neural_heatmap import (
    InvalidTargetError,
    NeuralHeatmapClient,
    NeuralHeatmapError,
    NotFoundError,
    Severity,
    UnavailableError,
)
from neural_heatmap._client import RPC_METHODS
from neural_heatmap._errors import from_grpc_error
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2

PUBLIC_NAMES = {
    "DEFAULT_MAX_MESSAGE_BYTES", "DEFAULT_RETRY", "DEFAULT_TARGET", "AbortedError",
    "ActivationFrame", "AlreadyExistsError", "Anomaly", "AnomalyPage", "AnomalyType",
    "AnomalyUpdate", "CorrelationMatrix", "CorrelationUpdate", "DataLossError",
    "DeadlineExceededError", "ExportFormat", "ExportResult", "ExportedFile",
    "FailedPreconditionError", "Filter", "FrameRejection", "Granularity", "HeatmapUpdate",
    "IngestSummary", "InternalError", "InvalidArgumentError", "InvalidParameterError",
    "InvalidTargetError",
    "LayerHealth", "LayerInfo",
    "LayerSimilarity", "LayerStatistics", "LayoutConfig", "ModelComparison", "ModelInfo",
    "NeuralHeatmapClient", "NeuralHeatmapError", "NeuralHeatmapWebSocketClient",
    "NotFoundError", "OscillatingUnit", "OutOfRangeError", "PatternType", "PermissionDeniedError",
    "ReconnectPolicy", "RenderedImage", "RequestCancelledError", "ResourceExhaustedError",
    "Retry", "Severity", "StuckUnit",
    "TemporalPattern", "TemporalStatistics", "TemporalUpdate", "ThemeSettings",
    "UnauthenticatedError", "UnavailableError", "UnimplementedError", "UnitInfo",
    "UnitSpike", "UnitStatistics",
    "UnknownError", "Update", "UpdateType", "ViewFilterWarning", "ViewUpdate",
    "VisualizationTheme", "__version__", "connect",
    "exception_class_for_code",
}

SEED_METHODS = {
    # name: the seed's positional parameters and defaults, in order
    "connect": [],
    "disconnect": [],
    "get_correlation_matrix": [("model_ids", None), ("layer_ids", None), ("as_dataframe", False)],
    "download_correlation_matrix": [("filepath", inspect.Parameter.empty), ("model_ids", None),
                                    ("layer_ids", None)],
    "export_correlation_matrix": [("filename", inspect.Parameter.empty),
                                  ("format", neural_heatmap.ExportFormat.CSV)],
    "get_temporal_patterns": [("model_id", None), ("time_window", None), ("pattern_types", None)],
    "get_temporal_statistics": [("model_id", None)],
    "get_anomalies": [("severity", None), ("limit", None), ("model_id", None)],
    "download_anomalies": [("filepath", inspect.Parameter.empty), ("severity", None),
                           ("limit", None)],
    "set_filter": [("model_ids", None), ("layer_ids", None), ("intensity_range", None),
                   ("spatial_bounds", None), ("time_range", None)],
    "clear_filter": [],
    "set_theme": [("theme", inspect.Parameter.empty)],
    "set_layout": [("layout", inspect.Parameter.empty)],
    "get_layout": [],
    "compare_models": [("model_ids", inspect.Parameter.empty), ("metrics", None)],
    "subscribe_heatmap": [],
    "subscribe_correlations": [],
    "subscribe_temporal": [],
    "subscribe_anomalies": [],
    "stream_updates": [("message_types", None)],
    "export_tensorboard": [("output_dir", inspect.Parameter.empty),
                           ("run_name", inspect.Parameter.empty)],
    "export_all": [("output_dir", inspect.Parameter.empty), ("formats", None)],
}


def test_public_names_are_pinned() -> None:
    assert set(neural_heatmap.__all__) == PUBLIC_NAMES
    for name in neural_heatmap.__all__:
        assert hasattr(neural_heatmap, name), name


def test_seed_signatures_are_kept() -> None:
    for name, expected in SEED_METHODS.items():
        params = [
            p for p in inspect.signature(getattr(NeuralHeatmapClient, name)).parameters.values()
            if p.name != "self" and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        assert [(p.name, p.default) for p in params] == expected, name
        sig = inspect.signature(getattr(NeuralHeatmapClient, name))
        kw_only = inspect.Parameter.KEYWORD_ONLY
        extra = [p.name for p in sig.parameters.values() if p.kind is kw_only]
        if name not in {"connect", "subscribe_heatmap", "subscribe_correlations",
                        "subscribe_temporal", "subscribe_anomalies", "disconnect"}:
            assert "metadata" in extra, name
    ctor = inspect.signature(NeuralHeatmapClient).parameters
    assert [(p.name, p.default) for p in list(ctor.values())[:3]] == [
        ("url", "localhost:50051"), ("ws_url", None), ("auto_connect", False)]
    ws = inspect.signature(neural_heatmap.NeuralHeatmapWebSocketClient).parameters
    assert [(p.name, p.default) for p in list(ws.values())[1:4]] == [
        ("reconnect", True), ("reconnect_delay", 5.0), ("max_retries", 10)]
    for name in ("connect", "disconnect", "subscribe_heatmap", "subscribe_correlations",
                 "subscribe_temporal", "subscribe_anomalies", "listen", "on", "off"):
        assert hasattr(neural_heatmap.NeuralHeatmapWebSocketClient, name)


def test_every_rpc_has_an_sdk_method() -> None:
    service = neural_heatmap_service_pb2.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
    rpcs = {m.name: m for m in service.methods}
    missing = sorted(set(rpcs) - set(RPC_METHODS))
    assert not missing, f"RPCs without an SDK method: {missing}"
    assert not set(RPC_METHODS) - set(rpcs), "mapping names RPCs that no longer exist"
    for rpc, method_name in RPC_METHODS.items():
        method = getattr(NeuralHeatmapClient, method_name, None)
        assert method is not None, f"{rpc} -> {method_name} is not a client method"
        desc = rpcs[rpc]
        if desc.server_streaming and not desc.client_streaming and rpc != "DownloadExport":
            assert inspect.isasyncgenfunction(method), rpc
        else:
            assert inspect.iscoroutinefunction(method), rpc
    # every timeout-taking method is keyword-only
    for name, method in inspect.getmembers(NeuralHeatmapClient, inspect.isfunction):
        if name.startswith("_"):
            continue
        for p in inspect.signature(method).parameters.values():
            if p.name in {"timeout", "metadata", "retry"}:
                assert p.kind is inspect.Parameter.KEYWORD_ONLY, (name, p.name)


@pytest.mark.parametrize("url", ["http://localhost:8080", "https://h:8080", "ws://localhost:8080/ws"])
def test_http_address_gives_a_clear_error(url: str) -> None:
    with pytest.raises(InvalidTargetError) as info:
        NeuralHeatmapClient(url)
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert "bridge" in text and "localhost:50051" in text and "8080" in text


async def test_connect_http_address_raises_before_any_network() -> None:
    with pytest.raises(InvalidTargetError):
        await neural_heatmap.connect("http://localhost:8080")


@pytest.mark.parametrize(("url", "target"), [
    ("localhost:50051", "localhost:50051"), ("grpc://127.0.0.1:7", "127.0.0.1:7"),
    ("grpcs://example.com", "example.com:443"), ("bridge", "bridge:50051"),
    ("unix:/tmp/x.sock", "unix:/tmp/x.sock"),
])
def test_grpc_targets(url: str, target: str) -> None:
    assert NeuralHeatmapClient(url).target == target


async def test_unreachable_bridge_is_unavailable() -> None:
    client = NeuralHeatmapClient("127.0.0.1:1", connect_timeout=0.3)
    with pytest.raises(UnavailableError) as info:
        await client.connect()
    assert "127.0.0.1:1" in str(info.value)
    with pytest.raises(UnavailableError) as info2:
        await client.get_theme(timeout=0.5, retry=None)
    assert info2.value.code is grpc.StatusCode.UNAVAILABLE
    assert isinstance(info2.value.__cause__, grpc.aio.AioRpcError)
    await client.disconnect()


def test_status_details_are_decoded() -> None:
    info = error_details_pb2.ErrorInfo(reason="not_found", domain="neural-heatmap",
                                       metadata={"model_id": "nope"})
    packed = any_pb2.Any()
    packed.Pack(info)
    status = status_pb2.Status(code=code_pb2.NOT_FOUND, message="unknown model 'nope'",
                               details=[packed])
    err = grpc.aio.AioRpcError(
        grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(),
        grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString())),
        details="unknown model 'nope'")
    converted = from_grpc_error(err)
    assert type(converted) is NotFoundError
    assert isinstance(converted, LookupError) and isinstance(converted, NeuralHeatmapError)
    assert converted.code is grpc.StatusCode.NOT_FOUND
    assert converted.message == "unknown model 'nope'"
    assert converted.reason == "not_found" and converted.domain == "neural-heatmap"
    assert converted.error_metadata == {"model_id": "nope"}
    assert "NOT_FOUND" in str(converted)


def test_every_status_code_has_its_class() -> None:
    for code in grpc.StatusCode:
        cls = neural_heatmap.exception_class_for_code(code)
        if code is grpc.StatusCode.OK:
            assert cls is NeuralHeatmapError
        else:
            assert cls is not NeuralHeatmapError and cls.grpc_status_code is code, code
    assert not issubclass(neural_heatmap.RequestCancelledError, asyncio.CancelledError)


def test_enums_compare_to_seed_strings() -> None:
    assert Severity.CRITICAL == "critical" and str(Severity.HIGH) == "high"
    assert Severity.CRITICAL.rank > Severity.LOW.rank
    assert neural_heatmap.PatternType.PERIODIC == "periodic"
    theme = neural_heatmap.VisualizationTheme
    assert theme.parse("PLASMA") is theme.PLASMA
    assert neural_heatmap.UpdateType.parse("anomalies") is neural_heatmap.UpdateType.ANOMALY
    with pytest.raises(ValueError, match="thermal"):
        neural_heatmap.VisualizationTheme.parse("sepia")
