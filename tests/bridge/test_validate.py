"""The edge checks (``_validate``), rule by rule, without processes.

Each row is a request and the status and field its first broken rule gives;
tests/bridge/test_edge.py shows the same rules through a real bridge.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import message
from neural_heatmap_bridge import _errors, _validate
from neural_heatmap_contract.v1 import (
    analytics_pb2,
    common_pb2,
    export_pb2,
    ingest_pb2,
    tensor_pb2,
    updates_pb2,
    view_pb2,
)
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

S = grpc.StatusCode
BIG = 2**63


def _ts(seconds: int, nanos: int = 0) -> Any:
    return {"seconds": seconds, "nanos": nanos}


def _frame(**kw: Any) -> ingest_pb2.ActivationFrame:
    values = kw.pop(
        "values",
        tensor_pb2.Tensor(shape=[2], dtype=tensor_pb2.DATA_TYPE_FLOAT32, data=b"\0" * 8),
    )
    ids = {"model_id": "m", "layer_id": "l"} | kw
    return ingest_pb2.ActivationFrame(values=values, **ids)


BAD: list[tuple[message.Message, grpc.StatusCode, str]] = [
    (pb.GetAnomaliesRequest(severity=9), S.INVALID_ARGUMENT, "severity"),
    (pb.GetAnomaliesRequest(min_severity=-1), S.INVALID_ARGUMENT, "min_severity"),
    (pb.GetAnomaliesRequest(after_sequence=BIG), S.INVALID_ARGUMENT, "after_sequence"),
    (pb.SubscribeAnomaliesRequest(after_sequence=2**64 - 1), S.INVALID_ARGUMENT, "after_sequence"),
    (
        pb.StreamUpdatesRequest(types=[updates_pb2.UPDATE_TYPE_ANOMALY, 77]),
        S.INVALID_ARGUMENT,
        "types",
    ),
    (pb.StreamUpdatesRequest(types=[0]), S.INVALID_ARGUMENT, "types"),
    (pb.GetCorrelationMatrixRequest(granularity=5), S.INVALID_ARGUMENT, "granularity"),
    (
        pb.GetCorrelationMatrixRequest(time_range=common_pb2.TimeRange(end=_ts(253402300800))),
        S.INVALID_ARGUMENT,
        "time_range.end",
    ),
    (pb.GetTemporalPatternsRequest(pattern_types=[4]), S.INVALID_ARGUMENT, "pattern_types"),
    (pb.GetTemporalPatternsRequest(time_window=BIG), S.INVALID_ARGUMENT, "time_window"),
    (pb.SetThemeRequest(), S.INVALID_ARGUMENT, "theme"),
    (pb.SetThemeRequest(theme=6), S.INVALID_ARGUMENT, "theme"),
    (pb.ExportCorrelationMatrixRequest(filename="x"), S.INVALID_ARGUMENT, "format"),
    (
        pb.ExportCorrelationMatrixRequest(filename="x", format=9),
        S.INVALID_ARGUMENT,
        "format",
    ),
    (
        pb.ExportCorrelationMatrixRequest(filename="../x", format=export_pb2.EXPORT_FORMAT_CSV),
        S.INVALID_ARGUMENT,
        "filename",
    ),
    (
        pb.ExportCorrelationMatrixRequest(filename="a/b", format=export_pb2.EXPORT_FORMAT_CSV),
        S.INVALID_ARGUMENT,
        "filename",
    ),
    (pb.DownloadExportRequest(), S.INVALID_ARGUMENT, "name"),
    (pb.DownloadExportRequest(name="../openapi.json"), S.INVALID_ARGUMENT, "name"),
    (pb.DownloadExportRequest(name="a/../../x"), S.INVALID_ARGUMENT, "name"),
    (pb.DownloadExportRequest(name="run/.hidden"), S.INVALID_ARGUMENT, "name"),
    (pb.DownloadExportRequest(name="file.csv\n"), S.INVALID_ARGUMENT, "name"),
    (pb.DownloadExportRequest(name="a\\b"), S.INVALID_ARGUMENT, "name"),
    (pb.DownloadExportRequest(name="x" * 256), S.INVALID_ARGUMENT, "name"),
    (
        pb.SetFilterRequest(
            filter=view_pb2.Filter(time_range=common_pb2.TimeRange(start=_ts(-62135596801)))
        ),
        S.INVALID_ARGUMENT,
        "filter.time_range.start",
    ),
    (
        pb.SetFilterRequest(
            filter=view_pb2.Filter(time_range=common_pb2.TimeRange(start=_ts(0, 10**9)))
        ),
        S.INVALID_ARGUMENT,
        "filter.time_range.start",
    ),
    (
        pb.SetFilterRequest(
            filter=view_pb2.Filter(intensity_range=view_pb2.IntensityRange(max=float("nan")))
        ),
        S.INVALID_ARGUMENT,
        "filter.intensity_range.max",
    ),
    (
        pb.SetFilterRequest(filter=view_pb2.Filter(model_ids=["m" * 2000])),
        S.INVALID_ARGUMENT,
        "filter.model_ids",
    ),
    (
        pb.SetLayoutRequest(
            layout=view_pb2.Layout(panel_positions={"p": view_pb2.PanelPosition(x=float("inf"))})
        ),
        S.INVALID_ARGUMENT,
        "layout.panel_positions['p'].x",
    ),
    (pb.GetTemporalStatisticsRequest(model_id="m" * (1 << 20)), S.NOT_FOUND, "model_id"),
    (pb.CompareModelsRequest(model_ids=["a", "b" * 1025]), S.NOT_FOUND, "model_ids"),
    (pb.SubscribeHeatmapRequest(layer_ids=["l" * 1025]), S.NOT_FOUND, "layer_ids"),
]


@pytest.mark.parametrize(("request_msg", "code", "field"), BAD, ids=lambda x: str(x)[:40])
def test_broken_rule_is_named(
    request_msg: message.Message, code: grpc.StatusCode, field: str
) -> None:
    with pytest.raises(_errors.UpstreamError) as caught:
        _validate.check(request_msg)
    assert caught.value.code == code, caught.value.message
    assert caught.value.metadata["field"] == field
    assert field in caught.value.message


GOOD: list[message.Message] = [
    pb.GetAnomaliesRequest(severity=common_pb2.SEVERITY_HIGH, after_sequence=2**63 - 1),
    pb.StreamUpdatesRequest(types=[updates_pb2.UPDATE_TYPE_HEATMAP], model_ids=["m"]),
    pb.GetCorrelationMatrixRequest(
        granularity=analytics_pb2.GRANULARITY_UNIT,
        time_range=common_pb2.TimeRange(start=_ts(-62135596800), end=_ts(253402300799, 999999999)),
    ),
    pb.DownloadExportRequest(name="run-1/events.out.tfevents.1"),
    pb.DownloadExportRequest(name="corr.csv"),
    pb.ExportCorrelationMatrixRequest(filename="corr", format=export_pb2.EXPORT_FORMAT_PARQUET),
    pb.SetThemeRequest(theme=view_pb2.THEME_CUSTOM, custom_colors=["#fff"]),
    pb.GetTemporalStatisticsRequest(model_id="m" * 1024),
    pb.IngestActivationsRequest(frames=[_frame(values=tensor_pb2.Tensor(dtype=999))]),
]


@pytest.mark.parametrize("request_msg", GOOD, ids=lambda x: str(x)[:40])
def test_valid_requests_pass(request_msg: message.Message) -> None:
    _validate.check(request_msg)  # frames of an ingest request are checked one by one


FRAMES: list[tuple[ingest_pb2.ActivationFrame, str]] = [
    (_frame(values=tensor_pb2.Tensor(shape=[2], data=b"\0" * 8)), "values.dtype"),
    (_frame(values=tensor_pb2.Tensor(shape=[2], dtype=999, data=b"\0" * 8)), "values.dtype"),
    (_frame(values=tensor_pb2.Tensor(shape=[-2, -1], dtype=1, data=b"\0" * 8)), "values.shape"),
    (_frame(values=tensor_pb2.Tensor(shape=[2**40, 1], dtype=1, data=b"\0" * 8)), "values.shape"),
    (
        _frame(values=tensor_pb2.Tensor(shape=[1] * 9 + [2], dtype=1, data=b"\0" * 8)),
        "values.shape",
    ),
    (_frame(step=-5), "step"),
    (_frame(timestamp=_ts(2**40)), "timestamp"),
    (_frame(model_id="m" * 1025), "model_id"),
]


@pytest.mark.parametrize(("frame", "field"), FRAMES, ids=lambda x: str(x)[:40])
def test_bad_frames_are_invalid(frame: ingest_pb2.ActivationFrame, field: str) -> None:
    with pytest.raises(_errors.UpstreamError) as caught:
        _validate.check(frame, "frames[3]")
    assert caught.value.code == S.INVALID_ARGUMENT
    assert caught.value.metadata["field"] == f"frames[3].{field}"


def test_garbage_bytes_are_invalid_argument() -> None:
    with pytest.raises(_errors.UpstreamError) as caught:
        _validate.decode(pb.GetAnomaliesRequest.FromString, b"\xff\xff\xff", "GetAnomaliesRequest")
    assert caught.value.code == S.INVALID_ARGUMENT
    assert "GetAnomaliesRequest" in caught.value.message
