"""The web port: every RPC over Connect (JSON, binary) and gRPC-Web, as over gRPC.

One real server (the session's, with the known activations) and one real bridge with a
token and its web port on a free port. Each call is made over gRPC and over the four
web transports with connectrpc's own Python client (HTTP/1.1); answers must be the same
messages, and failures the same code, message and ``google.rpc`` details.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import grpc
import numpy as np
import pytest
import pytest_asyncio
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.protocol import ProtocolType
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from neural_heatmap_contract.v1 import export_pb2, render_pb2, view_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
from neural_heatmap_contract.v1.neural_heatmap_service_connect import (
    NeuralHeatmapServiceClient,
)
from neural_heatmap_contract.version import VERSION, VERSION_HEADER

from tests.bridge.conftest import frame, nan_anomalies
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

TOKEN = "connect-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
GRPC_AUTH = (("authorization", f"Bearer {TOKEN}"),)
TRANSPORTS = {
    "connect-proto": (ProtocolType.CONNECT, google_protobuf_binary_codec()),
    "connect-json": (ProtocolType.CONNECT, google_protobuf_json_codec()),
    "grpc-web-proto": (ProtocolType.GRPC_WEB, google_protobuf_binary_codec()),
    "grpc-web-json": (ProtocolType.GRPC_WEB, google_protobuf_json_codec()),
}
METHODS = pb.DESCRIPTOR.services_by_name["NeuralHeatmapService"].methods_by_name


@pytest.fixture(scope="module")
def web_bridge(server: ServerProcess) -> Iterator[BridgeProcess]:
    """A bridge with a token and its web port, in front of the session's server."""
    with BridgeProcess(server.url, "--token", TOKEN, web=True) as proc:
        yield proc


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def grpc_stub(web_bridge: BridgeProcess) -> AsyncIterator[pb_grpc.NeuralHeatmapServiceStub]:
    """The same bridge over gRPC."""
    channel = web_bridge.aio_channel()
    yield pb_grpc.NeuralHeatmapServiceStub(channel)
    await channel.close()


@contextlib.asynccontextmanager
async def web_client(bridge: BridgeProcess, transport: str) -> AsyncIterator[Any]:
    protocol, codec = TRANSPORTS[transport]
    async with NeuralHeatmapServiceClient(
        bridge.web_url, protocol=protocol, codec=codec, send_compression=None
    ) as client:
        yield client


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


Outcome = tuple[str, Any]


def _grpc_outcome(err: grpc.aio.AioRpcError) -> Outcome:
    details: list[Message] = []
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for any_ in status_pb2.Status.FromString(value).details:
                details.append(_unpack(any_.TypeName(), any_.value))
    return ("error", (err.code().name, err.details(), details))


def _connect_outcome(err: ConnectError) -> Outcome:
    code = "CANCELLED" if err.code is Code.CANCELED else err.code.name
    details = [_unpack(d.type_name, d.message_bytes) for d in err.details]
    return ("error", (code, err.message, details))


def _unpack(type_name: str, value: bytes) -> Message:
    kinds: dict[str, type[Message]] = {
        "google.rpc.ErrorInfo": error_details_pb2.ErrorInfo,
        "google.rpc.BadRequest": error_details_pb2.BadRequest,
        "google.rpc.RetryInfo": error_details_pb2.RetryInfo,
    }
    return kinds[type_name].FromString(value)


async def over_grpc(stub: Any, method: str, request: Message, auth: bool = True) -> Outcome:
    try:
        return ("ok", await getattr(stub, method)(
            request, metadata=GRPC_AUTH if auth else (), timeout=30
        ))
    except grpc.aio.AioRpcError as err:
        return _grpc_outcome(err)


async def over_web(client: Any, method: str, request: Message, auth: bool = True) -> Outcome:
    try:
        return ("ok", await getattr(client, _snake(method))(
            request, headers=AUTH if auth else {}, timeout_ms=30000
        ))
    except ConnectError as err:
        return _connect_outcome(err)


def unary_requests() -> dict[str, Message]:
    """One request per unary RPC (reads of the known activations; failures count too)."""
    return {
        "ListModels": pb.ListModelsRequest(include_units=True),
        "GetCorrelationMatrix": pb.GetCorrelationMatrixRequest(model_ids=["m-a"]),
        "GetTemporalPatterns": pb.GetTemporalPatternsRequest(model_id="m-a"),
        "GetTemporalStatistics": pb.GetTemporalStatisticsRequest(model_id="m-a"),
        "GetAnomalies": pb.GetAnomaliesRequest(after_sequence=0, limit=50),
        "GetFilter": pb.GetFilterRequest(),
        "GetTheme": pb.GetThemeRequest(),
        "GetLayout": pb.GetLayoutRequest(),
        "CompareModels": pb.CompareModelsRequest(model_ids=["m-a", "m-b"]),
        "ListExports": pb.ListExportsRequest(),
        "RenderHeatmap": render_pb2.RenderHeatmapRequest(
            kind=render_pb2.RENDER_KIND_HEATMAP, model_id="m-a", width=64, height=48
        ),
        "AckAnomalies": pb.AckAnomaliesRequest(consumer="nobody-here", sequence=1),
        "GetLayerHealth": pb.GetLayerHealthRequest(model_id="m-a"),
        "ClearFilter": pb.ClearFilterRequest(),
        "SetTheme": pb.SetThemeRequest(theme=view_pb2.THEME_THERMAL),
        "SetLayout": pb.SetLayoutRequest(),
        "SetFilter": pb.SetFilterRequest(),
        "ExportCorrelationMatrix": pb.ExportCorrelationMatrixRequest(
            filename="connect-test.json", format=export_pb2.EXPORT_FORMAT_JSON,
            model_ids=["m-a"],
        ),
    }


def test_every_unary_rpc_has_a_request() -> None:
    unary = {m.name for m in METHODS.values() if not m.client_streaming and not m.server_streaming}
    assert set(unary_requests()) == unary


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_unary_rpcs_answer_as_over_grpc(
    loaded: pb.IngestActivationsResponse, web_bridge: BridgeProcess,
    grpc_stub: pb_grpc.NeuralHeatmapServiceStub, transport: str,
) -> None:
    """Each unary RPC answers the same message (or the same failure) as over gRPC."""
    assert loaded.frames_rejected == 0
    async with web_client(web_bridge, transport) as client:
        for method, request in unary_requests().items():
            want = await over_grpc(grpc_stub, method, request)
            got = await over_web(client, method, request)
            assert got == want, f"{method} over {transport}"
    answered = {m for m, r in unary_requests().items()
                if (await over_grpc(grpc_stub, m, r))[0] == "ok"}
    assert {"ListModels", "GetCorrelationMatrix", "RenderHeatmap", "SetTheme"} <= answered


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_without_the_token_every_rpc_is_unauthenticated(
    web_bridge: BridgeProcess, transport: str
) -> None:
    async with web_client(web_bridge, transport) as client:
        for method, request in unary_requests().items():
            kind, (code, message, details) = await over_web(client, method, request, auth=False)
            assert (kind, code) == ("error", "UNAUTHENTICATED"), method
            assert "authorization: Bearer" in message
            assert [d.reason for d in details] == ["BRIDGE_UNAUTHENTICATED"]
        with pytest.raises(ConnectError) as caught:
            async for _ in client.subscribe_anomalies(pb.SubscribeAnomaliesRequest()):
                pass
        assert caught.value.code is Code.UNAUTHENTICATED


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_an_invalid_argument_is_the_same_as_over_grpc(
    web_bridge: BridgeProcess, grpc_stub: pb_grpc.NeuralHeatmapServiceStub, transport: str
) -> None:
    """Validation at the edge: same code, message, ErrorInfo reason and BadRequest field."""
    bad = pb.SetThemeRequest()  # theme is required
    want = await over_grpc(grpc_stub, "SetTheme", bad)
    async with web_client(web_bridge, transport) as client:
        got = await over_web(client, "SetTheme", bad)
    assert got == want
    kind, (code, _message, details) = got
    assert (kind, code) == ("error", "INVALID_ARGUMENT")
    assert details[0].reason == "INVALID_ARGUMENT"
    assert [v.field for v in details[1].field_violations] == ["theme"]


async def _raw_post(url: str, body: bytes, ctype: str, headers: dict[str, str]) -> Any:
    async with aiohttp.ClientSession() as session, session.post(
        url, data=body, headers={"content-type": ctype, **headers}
    ) as resp:
        return resp.status, resp.headers, await resp.json(content_type=None)


async def test_malformed_json_is_invalid_argument_after_auth(web_bridge: BridgeProcess) -> None:
    """A JSON body is decoded after the token check, like protobuf bytes on the gRPC port."""
    url = f"{web_bridge.web_url}/neural_heatmap.v1.NeuralHeatmapService/SetTheme"
    status, _, doc = await _raw_post(url, b'{"theme": 12', "application/json", AUTH)
    assert (status, doc["code"]) == (400, "invalid_argument"), doc
    assert "not a valid neural_heatmap.v1.SetThemeRequest" in doc["message"]
    info = error_details_pb2.ErrorInfo.FromString(_b64(doc["details"][0]["value"]))
    assert (doc["details"][0]["type"], info.reason) == ("google.rpc.ErrorInfo", "INVALID_ARGUMENT")
    status, _, doc = await _raw_post(url, b'{"theme": 12', "application/json", {})
    assert (status, doc["code"]) == (401, "unauthenticated"), doc


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text + "=" * (-len(text) % 4))


async def test_connect_json_answers_carry_the_version_header(web_bridge: BridgeProcess) -> None:
    url = f"{web_bridge.web_url}/neural_heatmap.v1.NeuralHeatmapService/GetTheme"
    status, headers, doc = await _raw_post(url, b"{}", "application/json", AUTH)
    assert status == 200, doc
    assert headers[VERSION_HEADER] == VERSION
    assert doc["theme"]["theme"].startswith("THEME_")


async def test_grpc_over_http2_is_sent_to_the_grpc_port(web_bridge: BridgeProcess) -> None:
    url = f"{web_bridge.web_url}/neural_heatmap.v1.NeuralHeatmapService/GetTheme"
    async with aiohttp.ClientSession() as session, session.post(
        url, data=b"\0\0\0\0\0", headers={"content-type": "application/grpc"}
    ) as resp:
        assert resp.status == 415
        assert "gRPC port" in await resp.text()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_subscribe_anomalies_delivers_every_sequence_once_in_order(
    server: ServerProcess, http: aiohttp.ClientSession, web_bridge: BridgeProcess,
    grpc_stub: pb_grpc.NeuralHeatmapServiceStub, transport: str,
) -> None:
    """From after_sequence 0 to the head, exactly the sequences gRPC delivers, in order."""
    model = f"m-connect-{transport}"
    await nan_anomalies(http, model, 7)
    request = pb.SubscribeAnomaliesRequest(after_sequence=0, model_ids=[model])

    async def take_grpc() -> list[int]:
        call = grpc_stub.SubscribeAnomalies(request, metadata=GRPC_AUTH, timeout=30)
        seqs: list[int] = []
        async for msg in call:
            seqs.extend(a.sequence for a in msg.update.anomalies)
            if len(seqs) >= 7:
                call.cancel()
                break
        return seqs

    want = await take_grpc()
    seqs: list[int] = []
    async with web_client(web_bridge, transport) as client:
        stream = client.subscribe_anomalies(request, headers=AUTH, timeout_ms=30000)
        async with contextlib.aclosing(stream):
            async for msg in stream:
                seqs.extend(a.sequence for a in msg.update.anomalies)
                if len(seqs) >= 7:
                    break
    assert seqs == want
    assert len(seqs) == 7 and seqs == sorted(set(seqs))


STREAMS: dict[str, tuple[Message, Callable[[Any], bool]]] = {
    "SubscribeHeatmap": (pb.SubscribeHeatmapRequest(model_ids=["m-live"]),
                         lambda m: m.update.model_id == "m-live"),
    "SubscribeCorrelations": (pb.SubscribeCorrelationsRequest(),
                              lambda m: m.HasField("update")),
    "SubscribeTemporal": (pb.SubscribeTemporalRequest(), lambda m: m.HasField("update")),
    "StreamUpdates": (pb.StreamUpdatesRequest(model_ids=["m-live"]),
                      lambda m: m.WhichOneof("update") == "heatmap"),
}


@pytest.mark.parametrize("transport", ["connect-proto", "grpc-web-json"])
@pytest.mark.parametrize("method", list(STREAMS))
async def test_live_streams_deliver_updates(
    web_bridge: BridgeProcess, grpc_stub: pb_grpc.NeuralHeatmapServiceStub,
    method: str, transport: str,
) -> None:
    """Each live stream delivers an update over the web port while frames arrive."""
    request, wanted = STREAMS[method]
    await _send(grpc_stub, "m-live", 0)  # a live stream names only models that exist
    feeding = asyncio.get_running_loop().create_task(_feed(grpc_stub, "m-live"))
    try:
        async with web_client(web_bridge, transport) as client:
            stream = getattr(client, _snake(method))(request, headers=AUTH, timeout_ms=30000)
            async with contextlib.aclosing(stream):
                async for msg in stream:
                    if wanted(msg):
                        break
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding


async def _send(stub: pb_grpc.NeuralHeatmapServiceStub, model: str, step: int) -> None:
    frames = [frame(model, f"l{k}", np.sin(np.arange(16) + step * 0.3 + k), step=step)
              for k in range(3)]
    await stub.IngestActivations(iter([pb.IngestActivationsRequest(frames=frames)]),
                                 metadata=GRPC_AUTH, timeout=10)


async def _feed(stub: pb_grpc.NeuralHeatmapServiceStub, model: str) -> None:
    """Frames for ``model`` every 50 ms (heatmaps, correlations, temporal analytics)."""
    step = 1
    while True:
        await _send(stub, model, step)
        step += 1
        await asyncio.sleep(0.05)


async def test_download_export_streams_the_file(
    loaded: pb.IngestActivationsResponse, web_bridge: BridgeProcess,
    grpc_stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    made = await grpc_stub.ExportCorrelationMatrix(
        pb.ExportCorrelationMatrixRequest(filename="connect-download.json",
                                          format=export_pb2.EXPORT_FORMAT_JSON,
                                          model_ids=["m-a"]),
        metadata=GRPC_AUTH, timeout=30)
    want = b"".join([r.chunk async for r in grpc_stub.DownloadExport(
        pb.DownloadExportRequest(name=made.result.files[0].name), metadata=GRPC_AUTH, timeout=30)])
    assert len(want) > 100
    for transport in TRANSPORTS:
        async with web_client(web_bridge, transport) as client:
            got = b"".join([r.chunk async for r in client.download_export(
                pb.DownloadExportRequest(name=made.result.files[0].name), headers=AUTH)])
        assert got == want, transport


async def test_ingest_activations_over_connect_client_streaming(
    web_bridge: BridgeProcess, grpc_stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    """Client streaming works for a client that streams its body over HTTP/1.1."""
    frames = [frame("m-connect-ingest", "l", np.full(8, float(i)), step=i) for i in range(30)]

    async def requests() -> AsyncIterator[pb.IngestActivationsRequest]:
        for i in range(0, 30, 10):
            yield pb.IngestActivationsRequest(frames=frames[i:i + 10])

    async with web_client(web_bridge, "connect-proto") as client:
        resp = await client.ingest_activations(requests(), headers=AUTH, timeout_ms=30000)
    assert (resp.frames_accepted, resp.frames_rejected) == (30, 0)
    models = await grpc_stub.ListModels(pb.ListModelsRequest(), metadata=GRPC_AUTH, timeout=10)
    assert "m-connect-ingest" in {m.model_id for m in models.models}


async def test_answers_are_not_compressed_but_requests_may_be(web_bridge: BridgeProcess) -> None:
    """A browser's Accept-Encoding is ignored (docs/bridge.md); a gzip request is read."""
    import gzip

    url = f"{web_bridge.web_url}/neural_heatmap.v1.NeuralHeatmapService/GetTheme"
    headers = {**AUTH, "accept-encoding": "gzip, deflate, br", "content-encoding": "gzip"}
    async with aiohttp.ClientSession(auto_decompress=False) as session, session.post(
        url, data=gzip.compress(b"{}"), headers={"content-type": "application/json", **headers}
    ) as resp:
        body = await resp.read()
        assert resp.status == 200, body
        assert resp.headers.get("content-encoding", "identity") == "identity"
    assert json.loads(body)["theme"]["theme"].startswith("THEME_")


async def test_a_deadline_ends_a_quiet_stream_as_over_grpc(
    web_bridge: BridgeProcess, grpc_stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    request = pb.SubscribeTemporalRequest()
    with pytest.raises(grpc.aio.AioRpcError) as over_grpc_err:
        async for _ in grpc_stub.SubscribeTemporal(request, metadata=GRPC_AUTH, timeout=0.5):
            pass
    assert over_grpc_err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    for transport in ("connect-proto", "grpc-web-json"):
        async with web_client(web_bridge, transport) as client:
            with pytest.raises(ConnectError) as caught:
                async for _ in client.subscribe_temporal(request, headers=AUTH, timeout_ms=500):
                    pass
        assert caught.value.code is Code.DEADLINE_EXCEEDED, transport


async def test_web_calls_are_counted_in_the_bridge_metrics(server: ServerProcess) -> None:
    """The same metrics interceptor: calls by method and code, whichever port."""
    from tests.support.metrics import metric

    with BridgeProcess(server.url, "--token", TOKEN, web=True, metrics=True) as bridge:
        assert bridge.metrics_url is not None
        async with web_client(bridge, "connect-json") as client:
            for _ in range(3):
                await client.get_theme(pb.GetThemeRequest(), headers=AUTH)
            await over_web(client, "GetTheme", pb.GetThemeRequest(), auth=False)
        ok = 'nh_bridge_rpc_calls_total{code="OK",method="GetTheme"}'
        refused = 'nh_bridge_rpc_calls_total{code="UNAUTHENTICATED",method="GetTheme"}'
        assert await metric(bridge.metrics_url, ok) == 3
        assert await metric(bridge.metrics_url, refused) == 1


async def test_a_bad_message_in_a_client_stream_is_invalid_argument(
    web_bridge: BridgeProcess,
) -> None:
    """Connect JSON client streaming: a message that is not the request type ends the call
    INVALID_ARGUMENT (not INTERNAL), after the messages before it were read."""
    good = json.dumps({"frames": [{"modelId": "m-bad-stream", "layerId": "l", "values": {
        "shape": ["2"], "dtype": "DATA_TYPE_FLOAT32", "data": "AACAPwAAAEA="}}]}).encode()
    bad = b'{"frames": 7}'
    body = b"".join(b"\0" + len(m).to_bytes(4, "big") + m for m in (good, bad))
    url = f"{web_bridge.web_url}/neural_heatmap.v1.NeuralHeatmapService/IngestActivations"
    async with aiohttp.ClientSession() as session, session.post(
        url, data=body, headers={"content-type": "application/connect+json",
                                 "connect-protocol-version": "1", **AUTH}
    ) as resp:
        raw = await resp.read()
    assert resp.status == 200, raw
    flags, size = raw[0], int.from_bytes(raw[1:5], "big")
    assert flags == 2, raw  # only the end of the stream: no answer message
    error = json.loads(raw[5:5 + size])["error"]
    assert error["code"] == "invalid_argument", error
    assert "IngestActivationsRequest" in error["message"]
