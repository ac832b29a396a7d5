"""Validation at the edge, through a real bridge in front of a real server.

Every caller error gets a precise status (never UNKNOWN/INTERNAL), auth comes
before any decoding, names never become paths, echoed ids never overflow the
trailers, streams naming unknown models end NOT_FOUND at open, and reflection
answers as v1 as well as v1alpha. The rules one by one: test_validate.py.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from neural_heatmap_contract.v1 import (
    common_pb2,
    ingest_pb2,
    tensor_pb2,
    updates_pb2,
    view_pb2,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)

from tests.bridge.conftest import frame, ingest
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

SERVICE = pb.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
GARBAGE = b"\xff\xff\xff\xff\xff"  # a truncated varint tag: no message decodes from it
GRPCURL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "grpcurl"
BUF = Path(__file__).resolve().parents[2] / "sdk" / "typescript" / "node_modules" / ".bin" / "buf"


def bad_request_field(err: grpc.aio.AioRpcError) -> str:
    """The field named by the status's google.rpc.BadRequest detail."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    return str(bad.field_violations[0].field)
    raise AssertionError("no BadRequest detail")


async def raw_call(
    channel: grpc.aio.Channel, method: Any, payload: bytes, metadata: Any = None
) -> grpc.StatusCode:
    """Send ``payload`` as the request bytes of ``method``; the call's final status."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    try:
        if method.client_streaming and method.server_streaming:

            async def one() -> AsyncIterator[bytes]:
                yield payload

            async for _ in channel.stream_stream(path)(one(), metadata=metadata, timeout=10):
                break
        elif method.client_streaming:

            async def requests() -> AsyncIterator[bytes]:
                yield payload

            await channel.stream_unary(path)(requests(), metadata=metadata, timeout=10)
        elif method.server_streaming:
            call = channel.unary_stream(path)(payload, metadata=metadata, timeout=10)
            async for _ in call:
                break
            call.cancel()
            return grpc.StatusCode.OK
        else:
            await channel.unary_unary(path)(payload, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    "method", [*SERVICE.methods, *HEALTH.methods, *REFLECTION.methods], ids=lambda m: m.name
)
async def test_undecodable_bytes_are_invalid_argument(
    channel: grpc.aio.Channel, method: Any
) -> None:
    assert await raw_call(channel, method, GARBAGE) == grpc.StatusCode.INVALID_ARGUMENT


async def test_health_watch_streams_through_the_interceptors(
    channel: grpc.aio.Channel,
) -> None:
    """Regression (gRPC fuzzer): Watch is a coroutine writing with context.write; the
    metrics interceptor iterated it and every Watch ended UNKNOWN."""
    from grpc_health.v1 import health_pb2_grpc

    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    first = await asyncio.wait_for(call.read(), 5)
    call.cancel()
    assert first.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_v1_refuses_garbage_too(channel: grpc.aio.Channel) -> None:
    path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"

    async def one() -> AsyncIterator[bytes]:
        yield GARBAGE

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in channel.stream_stream(path)(one(), timeout=10):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_garbage_mid_ingest_stream_keeps_what_was_accepted(
    channel: grpc.aio.Channel, stub: pb_grpc.NeuralHeatmapServiceStub
) -> None:
    good = pb.IngestActivationsRequest(frames=[frame("m-mid", "fc", np.ones(4, dtype="<f4"))])

    async def requests() -> AsyncIterator[bytes]:
        yield good.SerializeToString()
        yield GARBAGE

    path = f"/{SERVICE.full_name}/IngestActivations"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.stream_unary(path)(requests(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "after 1 of 1 frames were accepted" in (caught.value.details() or "")
    models = await stub.ListModels(pb.ListModelsRequest())
    assert "m-mid" in {m.model_id for m in models.models}


async def test_auth_comes_before_decoding(server: ServerProcess) -> None:
    with BridgeProcess(server.url, "--token", "s3cret") as bridge:
        async with bridge.aio_channel() as ch:
            for name in ("GetLayout", "SubscribeAnomalies", "IngestActivations"):
                method = SERVICE.methods_by_name[name]
                assert await raw_call(ch, method, GARBAGE) == grpc.StatusCode.UNAUTHENTICATED
                token = [("authorization", "Bearer s3cret")]
                code = await raw_call(ch, method, GARBAGE, token)
                assert code == grpc.StatusCode.INVALID_ARGUMENT, name


async def test_unknown_enum_and_out_of_range_numbers_name_their_field(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    cases: list[tuple[Any, str]] = [
        (stub.GetAnomalies(pb.GetAnomaliesRequest(severity=9)), "severity"),
        (stub.GetAnomalies(pb.GetAnomaliesRequest(after_sequence=2**63)), "after_sequence"),
        (
            stub.GetTemporalPatterns(pb.GetTemporalPatternsRequest(pattern_types=[7])),
            "pattern_types",
        ),
        (stub.SetTheme(pb.SetThemeRequest(theme=42)), "theme"),
        (
            stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=2**64 - 1)).read(),
            "after_sequence",
        ),
        (stub.StreamUpdates(pb.StreamUpdatesRequest(types=[99])).read(), "types"),
    ]
    for call, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert bad_request_field(caught.value) == field


async def test_filter_time_outside_timestamp_range_is_refused_and_get_filter_still_works(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    far = view_pb2.Filter(
        time_range=common_pb2.TimeRange(end={"seconds": 253402300800}), model_ids=["m-a"]
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SetFilter(pb.SetFilterRequest(filter=far))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_field(caught.value) == "filter.time_range.end"
    await stub.GetFilter(pb.GetFilterRequest())


async def test_open_ended_filter_time_range_round_trips(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    """Regression (gRPC fuzzer): an unset end was sent as 1e15 ms, beyond the Timestamp
    range, and every GetFilter was INTERNAL until the filter was cleared."""
    flt = view_pb2.Filter(time_range=common_pb2.TimeRange())
    flt.time_range.SetInParent()
    try:
        stored = (await stub.SetFilter(pb.SetFilterRequest(filter=flt))).filter
        got = (await stub.GetFilter(pb.GetFilterRequest())).filter
    finally:
        await stub.ClearFilter(pb.ClearFilterRequest())
    for answer in (stored, got):
        assert answer.HasField("time_range") and not answer.time_range.HasField("end")


async def test_bad_tensors_are_rejected_per_frame(stub: pb_grpc.NeuralHeatmapServiceStub) -> None:
    good = frame("m-edge", "fc", np.ones(4, dtype="<f4"))
    data = np.ones(4, dtype="<f4").tobytes()
    bad = [
        tensor_pb2.Tensor(shape=[4], dtype=tensor_pb2.DATA_TYPE_UNSPECIFIED, data=data),
        tensor_pb2.Tensor(shape=[4], dtype=999, data=data),
        tensor_pb2.Tensor(shape=[-2, -2], dtype=tensor_pb2.DATA_TYPE_FLOAT32, data=data),
    ]
    frames = [good] + [
        ingest_pb2.ActivationFrame(model_id="m-edge", layer_id="fc", values=t) for t in bad
    ]
    answer = await ingest(stub, frames)
    assert (answer.frames_accepted, answer.frames_rejected) == (1, 3)
    fields = [r.message.split(" ")[0] for r in answer.rejections]
    assert fields == ["frames[1].values.dtype", "frames[2].values.dtype", "frames[3].values.shape"]
    assert {r.code for r in answer.rejections} == {"invalid_argument"}


@pytest.mark.parametrize(
    "name",
    ["../openapi.json", "..", "a/../../health", "%2e%2e/openapi.json", "x/y/z", "evil\n", "/abs"],
)
async def test_download_names_never_become_paths(
    stub: pb_grpc.NeuralHeatmapServiceStub, name: str
) -> None:
    call = stub.DownloadExport(pb.DownloadExportRequest(name=name))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)


async def test_huge_ids_give_not_found_not_resource_exhausted(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    huge = "m" * (1 << 20)
    calls = [
        stub.GetTemporalStatistics(pb.GetTemporalStatisticsRequest(model_id=huge)),
        stub.GetAnomalies(pb.GetAnomaliesRequest(model_id=huge)),
        stub.CompareModels(pb.CompareModelsRequest(model_ids=["m-a", huge])),
        # Under the bridge's id limit: the server answers, echoing every id; still bounded.
        stub.CompareModels(
            pb.CompareModelsRequest(model_ids=[f"{i}" + "x" * 1000 for i in range(8)])
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value.details()
        assert len(caught.value.details() or "") <= 512


@pytest.mark.parametrize("rpc", ["SubscribeHeatmap", "SubscribeAnomalies", "StreamUpdates"])
async def test_live_streams_naming_unknown_models_end_not_found_at_open(
    stub: pb_grpc.NeuralHeatmapServiceStub, loaded: Any, rpc: str
) -> None:
    request = getattr(pb, f"{rpc}Request")(model_ids=["m-a", "no-such-model"])
    call = getattr(stub, rpc)(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(call.read(), 5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "'no-such-model'" in (caught.value.details() or "")
    assert "'m-a'" not in (caught.value.details() or "")


@pytest.mark.parametrize("rpc", ["SubscribeAnomalies", "StreamUpdates"])
async def test_resumable_anomaly_streams_may_name_models_that_do_not_exist_yet(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: Any, rpc: str
) -> None:
    """A durable consumer may start before its producer: after_sequence set, no NOT_FOUND,
    and the model's anomalies arrive once it exists."""
    from tests.bridge.conftest import nan_anomalies

    model = f"later-{rpc}"
    head = (await stub.GetAnomalies(pb.GetAnomaliesRequest(limit=1))).last_sequence
    request = getattr(pb, f"{rpc}Request")(model_ids=[model], after_sequence=head)
    if rpc == "StreamUpdates":
        request.types.append(updates_pb2.UPDATE_TYPE_ANOMALY)
    call = getattr(stub, rpc)(request)
    try:
        await asyncio.sleep(0.3)
        await nan_anomalies(http, model, 1)
        msg = await asyncio.wait_for(call.read(), 10)
    finally:
        call.cancel()
    update = msg.update if rpc == "SubscribeAnomalies" else msg.anomaly
    assert [a.model_id for a in update.anomalies] == [model]


async def test_reflection_answers_as_v1_and_v1alpha(channel: grpc.aio.Channel) -> None:
    for version in ("v1", "v1alpha"):
        info = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="grpc.reflection.v1.ServerReflection"
            ),
        ]
        answers = [a async for a in info(iter(requests), timeout=10)]
        names = {s.name for s in answers[0].list_services_response.service}
        assert {SERVICE.full_name, "grpc.reflection.v1.ServerReflection"} <= names
        assert "grpc.reflection.v1alpha.ServerReflection" in names
        files = answers[1].file_descriptor_response.file_descriptor_proto
        assert files and b"grpc/reflection/v1/reflection.proto" in files[0]


@pytest.mark.skipif(not GRPCURL.exists(), reason="grpcurl not installed (make setup)")
def test_grpcurl_lists_and_describes_through_reflection(bridge: BridgeProcess) -> None:
    run = [str(GRPCURL), "-plaintext", bridge.target]
    listed = subprocess.run([*run, "list"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert SERVICE.full_name in listed.stdout.split()
    assert "grpc.reflection.v1.ServerReflection" in listed.stdout.split()
    described = subprocess.run(
        [*run, "describe", f"{SERVICE.full_name}.GetAnomalies"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert described.returncode == 0 and "GetAnomaliesRequest" in described.stdout


@pytest.mark.skipif(not BUF.exists(), reason="buf not installed (make setup)")
def test_buf_curl_calls_through_reflection_v1_only(bridge: BridgeProcess) -> None:
    answer = subprocess.run(
        [
            str(BUF),
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--reflect-protocol",
            "grpc-v1",
            "--data",
            "{}",
            f"http://{bridge.target}/{SERVICE.full_name}/GetLayout",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    assert "layout" in answer.stdout
