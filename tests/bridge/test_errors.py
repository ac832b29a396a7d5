"""The error table, row by row, and the bridge in front of a seed-only upstream.

Rows the real server shows are tested against it; rows it cannot show on
demand (413, 429, 503, a garbage answer, a hang, a server without our
routes) use a small fake aiohttp upstream: the bridge's neighbour, never the
bridge itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from aiohttp import WSMsgType, web
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from neural_heatmap_contract.v1 import (
    analytics_pb2,
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
from tests.support.server_process import ServerProcess, free_port


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo detail of a rich status."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            return info
    raise AssertionError("no google.rpc.Status details")


async def expect(code: grpc.StatusCode, coro: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await coro
    assert caught.value.code() == code, caught.value.details()
    return caught.value


# ---------------------------------------------------------------- rows shown by the real server
async def test_unknown_model_is_not_found_with_error_info(
    stub: pb_grpc.NeuralHeatmapServiceStub,
) -> None:
    err = await expect(
        grpc.StatusCode.NOT_FOUND,
        stub.CompareModels(pb.CompareModelsRequest(model_ids=["no-such-model", "nor-this"])),
    )
    info = error_info(err)
    assert (info.reason, info.domain) == ("NOT_FOUND", "neural-heatmap.dev")
    assert info.metadata["http_status"] == "404"
    assert "no-such-model" in info.metadata["upstream_message"]
    assert info.metadata["route"] == "POST /api/compare"


async def test_bad_input_is_invalid_argument(stub: pb_grpc.NeuralHeatmapServiceStub) -> None:
    bad = view_pb2.Filter(intensity_range=view_pb2.IntensityRange(min=2, max=1))
    err = await expect(
        grpc.StatusCode.INVALID_ARGUMENT, stub.SetFilter(pb.SetFilterRequest(filter=bad))
    )
    assert error_info(err).reason == "INVALID_ARGUMENT"
    await expect(grpc.StatusCode.INVALID_ARGUMENT, stub.SetTheme(pb.SetThemeRequest()))


@pytest.mark.parametrize("colors", [[], ["#ff0000"], ["#ff0000", "red"]])
async def test_a_custom_theme_that_cannot_draw_is_refused(
    stub: pb_grpc.NeuralHeatmapServiceStub, colors: list[str]
) -> None:
    """CUSTOM needs two '#rrggbb' colours; the theme stored before stays (renders still draw)."""
    before = (await stub.GetTheme(pb.GetThemeRequest())).theme
    err = await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.SetTheme(pb.SetThemeRequest(theme=view_pb2.THEME_CUSTOM, custom_colors=colors)),
    )
    info = error_info(err)
    assert (info.reason, info.metadata["http_status"]) == ("INVALID_ARGUMENT", "400")
    assert info.metadata["detail_field"] == "custom_colors"
    if len(colors) < 2:
        assert info.metadata["detail_constraint"] == (
            "len(custom_colors) >= 2 when theme is custom")
    else:
        assert "'#rrggbb'" in info.metadata["upstream_message"]
    assert (await stub.GetTheme(pb.GetThemeRequest())).theme == before


async def test_matrix_over_max_send_is_resource_exhausted(
    server: ServerProcess, loaded: Any
) -> None:
    with BridgeProcess(server.url, "--max-send-bytes", "100000") as bridge:
        async with bridge.aio_channel() as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            small = await stub.GetCorrelationMatrix(
                pb.GetCorrelationMatrixRequest(model_ids=["m-a"])
            )
            assert list(small.matrix.matrix.shape) == [3, 3]
            err = await expect(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                stub.GetCorrelationMatrix(
                    pb.GetCorrelationMatrixRequest(
                        model_ids=["m-a"], granularity=analytics_pb2.GRANULARITY_UNIT
                    )
                ),
            )
            assert "--max-send-bytes" in (err.details() or "")


async def test_server_down_is_unavailable() -> None:
    with BridgeProcess(f"http://127.0.0.1:{free_port()}") as bridge:
        async with bridge.aio_channel() as ch:
            stub = pb_grpc.NeuralHeatmapServiceStub(ch)
            err = await expect(grpc.StatusCode.UNAVAILABLE, stub.GetLayout(pb.GetLayoutRequest()))
            assert error_info(err).reason == "UPSTREAM_UNAVAILABLE"
            await expect(
                grpc.StatusCode.UNAVAILABLE,
                stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest()).read(),
            )


# ---------------------------------------------------------------- a fake upstream
class Fake:
    """A seed-only upstream (the seed's routes, no sequences, no binary) with switchable faults."""

    def __init__(self) -> None:
        self.mode = "seed"  # or "garbage", "hang", or an HTTP status as a string
        self.error_code = "whatever"
        self.plain = False
        self.retry_after: str | None = None
        self.seen_timeout_ms: list[int] = []  # X-Request-Timeout-Ms of each /api request

    def fault(self) -> web.Response | None:
        if self.mode == "garbage":
            return web.Response(text="<html>definitely not json", content_type="application/json")
        if self.mode.isdigit():
            if self.plain:
                return web.Response(status=int(self.mode), text="nope")
            body = {"error": {"code": self.error_code, "message": "fake says no", "details": {}}}
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return web.json_response(body, status=int(self.mode), headers=headers)
        return None

    async def route(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        if request.path.startswith("/api/"):
            self.seen_timeout_ms.append(int(request.headers["X-Request-Timeout-Ms"]))
        if self.mode == "hang":
            await asyncio.sleep(3)
        return self.fault() or web.json_response(body)

    def app(self) -> web.Application:
        anomaly = {
            "anomaly_type": "spike",
            "severity": "high",
            "timestamp": 1.7e9,
            "location": {"x": 1, "y": 2},
            "layer": "fc1",
            "model_id": "seedy",
            "score": 12.5,
            "description": "seed spike",
            "metadata": {},
        }
        layout = {
            "panel_positions": {"p": {"x": 1, "y": 2}},
            "panel_sizes": {},
            "visibility": {},
            "z_order": ["p"],
        }

        def ok(body: dict[str, Any]) -> Any:
            async def handler(request: web.Request) -> web.Response:
                return await self.route(request, body)

            return handler

        async def ws(request: web.Request) -> web.WebSocketResponse:
            sock = web.WebSocketResponse()
            await sock.prepare(request)
            async for msg in sock:
                if (
                    msg.type == WSMsgType.TEXT
                    and json.loads(msg.data)["type"] == "subscribe_anomalies"
                ):
                    for _ in range(50):
                        await sock.send_json(
                            {
                                "type": "anomaly_update",
                                "data": {
                                    "timestamp": 1.7e9,
                                    "anomalies": [anomaly],
                                    "severity": "high",
                                    "description": "seed spike",
                                },
                            }
                        )
                        await asyncio.sleep(0.2)
            return sock

        app = web.Application()
        app.router.add_get("/health", ok({"status": "ok"}))
        app.router.add_get(
            "/api/correlation",
            ok(
                {
                    "matrix": [[1.0, 0.25], [0.25, 1.0]],
                    "labels": ["m/a", "m/b"],
                    "timestamp": 1.7e9,
                    "metadata": {"seed": True},
                }
            ),
        )
        app.router.add_get("/api/anomalies", ok({"anomalies": [anomaly]}))
        app.router.add_get(
            "/api/temporal",
            ok(
                {
                    "patterns": [
                        {
                            "pattern_type": "trend",
                            "frequency": None,
                            "amplitude": None,
                            "phase": None,
                            "confidence": 0.9,
                            "start_time": 1.7e9,
                            "end_time": None,
                            "metadata": {"model_id": "m", "layer_id": "a"},
                        }
                    ]
                }
            ),
        )
        app.router.add_get("/api/temporal/stats", ok({"trends": {"increasing": 1}}))
        app.router.add_post("/api/filter", ok({"status": "ok"}))
        app.router.add_post("/api/theme", ok({"status": "ok"}))
        app.router.add_get("/api/layout", ok(layout))
        app.router.add_post("/api/layout", ok({"status": "ok"}))
        app.router.add_post(
            "/api/compare",
            ok({"similarity_matrix": [[1.0, 0.5], [0.5, 1.0]], "model_ids": ["x", "y"]}),
        )
        app.router.add_post("/api/export/correlation", ok({"status": "ok", "filename": "f.csv"}))
        app.router.add_get("/ws", ws)
        return app


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fake() -> AsyncIterator[tuple[Fake, pb_grpc.NeuralHeatmapServiceStub]]:
    """The fake upstream in this process and a real bridge in front of it."""
    state = Fake()
    runner = web.AppRunner(state.app(), shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    with BridgeProcess(f"http://127.0.0.1:{port}", "--upstream-timeout", "1.0") as bridge:
        async with bridge.aio_channel() as ch:
            yield state, pb_grpc.NeuralHeatmapServiceStub(ch)
    await runner.cleanup()


ROWS = [
    ("400", "bad", grpc.StatusCode.INVALID_ARGUMENT),
    ("422", "bad", grpc.StatusCode.INVALID_ARGUMENT),
    ("401", "unauthenticated", grpc.StatusCode.UNAUTHENTICATED),
    ("403", "forbidden", grpc.StatusCode.PERMISSION_DENIED),
    ("404", "not_found", grpc.StatusCode.NOT_FOUND),
    ("409", "conflict", grpc.StatusCode.ABORTED),
    ("410", "sequence_expired", grpc.StatusCode.OUT_OF_RANGE),
    ("413", "payload_too_large", grpc.StatusCode.RESOURCE_EXHAUSTED),
    ("429", "overloaded", grpc.StatusCode.RESOURCE_EXHAUSTED),
    ("503", "unavailable", grpc.StatusCode.UNAVAILABLE),
    ("504", "deadline_exceeded", grpc.StatusCode.DEADLINE_EXCEEDED),
    ("500", "internal", grpc.StatusCode.UNAVAILABLE),
]


@pytest.mark.parametrize(("status", "code", "expected"), ROWS)
async def test_error_table_row(
    fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub],
    status: str,
    code: str,
    expected: grpc.StatusCode,
) -> None:
    state, stub = fake
    state.mode, state.error_code = status, code
    try:
        err = await expect(expected, stub.GetLayout(pb.GetLayoutRequest()))
    finally:
        state.mode = "seed"
    info = error_info(err)
    assert info.reason == code.upper() and info.metadata["http_status"] == status
    assert "fake says no" in (err.details() or "")


async def test_overloaded_carries_retry_info(
    fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    state, stub = fake
    state.mode, state.error_code, state.retry_after = "429", "overloaded", "7"
    try:
        err = await expect(
            grpc.StatusCode.RESOURCE_EXHAUSTED, stub.GetLayout(pb.GetLayoutRequest())
        )
    finally:
        state.mode, state.retry_after = "seed", None
    (value,) = [v for k, v in err.trailing_metadata() or () if k == "grpc-status-details-bin"]
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status_pb2.Status.FromString(value).details)
    assert retry.retry_delay.seconds == 7


async def test_the_callers_deadline_travels_as_a_header(
    fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    state, stub = fake
    state.seen_timeout_ms.clear()
    await stub.GetLayout(pb.GetLayoutRequest(), timeout=5.0)
    await stub.GetLayout(pb.GetLayoutRequest())  # no deadline: --upstream-timeout (1 s)
    with_deadline, without = state.seen_timeout_ms
    assert 3000 < with_deadline <= 5100  # grpc-timeout is rounded up on the wire
    assert 500 < without <= 1000


async def test_plain_404_and_405_mean_route_missing(
    fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    state, stub = fake
    state.mode, state.plain = "405", True
    try:
        err = await expect(grpc.StatusCode.UNIMPLEMENTED, stub.GetLayout(pb.GetLayoutRequest()))
    finally:
        state.mode, state.plain = "seed", False
    assert "GET /api/layout" in (err.details() or "")


async def test_garbage_is_internal(fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub]) -> None:
    state, stub = fake
    state.mode = "garbage"
    try:
        err = await expect(
            grpc.StatusCode.INTERNAL, stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest())
        )
    finally:
        state.mode = "seed"
    assert error_info(err).reason == "BAD_UPSTREAM_PAYLOAD"


async def test_hang_is_deadline_exceeded(
    fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    state, stub = fake
    state.mode = "hang"
    try:
        # No client deadline: the bridge's --upstream-timeout (1 s) fires and is mapped.
        err = await expect(grpc.StatusCode.DEADLINE_EXCEEDED, stub.GetLayout(pb.GetLayoutRequest()))
        assert error_info(err).reason == "UPSTREAM_TIMEOUT"
        # A client deadline travels to the upstream as its timeout.
        await expect(
            grpc.StatusCode.DEADLINE_EXCEEDED, stub.GetLayout(pb.GetLayoutRequest(), timeout=0.3)
        )
    finally:
        state.mode = "seed"


# ---------------------------------------------------------------- a seed-only upstream
async def test_seed_only_upstream_serves_what_its_routes_can(
    fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    _, stub = fake
    corr = (await stub.GetCorrelationMatrix(pb.GetCorrelationMatrixRequest())).matrix
    assert list(corr.matrix.shape) == [2, 2] and corr.labels == ["m/a", "m/b"]
    import numpy as np

    np.testing.assert_array_equal(np.frombuffer(corr.matrix.data, "<f4"), [1, 0.25, 0.25, 1])
    anomalies = (await stub.GetAnomalies(pb.GetAnomaliesRequest())).anomalies
    assert [(a.sequence, a.model_id, a.location.y) for a in anomalies] == [(0, "seedy", 2)]
    patterns = (await stub.GetTemporalPatterns(pb.GetTemporalPatternsRequest())).patterns
    assert patterns[0].HasField("start_time") and not patterns[0].HasField("frequency")
    stats = (await stub.GetTemporalStatistics(pb.GetTemporalStatisticsRequest())).statistics
    assert stats.increasing_trends == 1
    flt = view_pb2.Filter(model_ids=["m"])
    assert (await stub.SetFilter(pb.SetFilterRequest(filter=flt))).filter == flt
    await stub.ClearFilter(pb.ClearFilterRequest())
    theme = await stub.SetTheme(pb.SetThemeRequest(theme=view_pb2.THEME_PLASMA))
    assert theme.theme.theme == view_pb2.THEME_PLASMA
    layout = (await stub.GetLayout(pb.GetLayoutRequest())).layout
    assert layout.panel_positions["p"].y == 2
    await stub.SetLayout(pb.SetLayoutRequest(layout=layout))
    cmp = (await stub.CompareModels(pb.CompareModelsRequest(model_ids=["x", "y"]))).comparison
    assert list(cmp.similarity_matrix.shape) == [2, 2]
    call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest())
    update = await asyncio.wait_for(call.read(), 10)
    call.cancel()
    assert update.update.anomalies[0].description == "seed spike"


@pytest.mark.parametrize(
    "name",
    [
        "ListModels",
        "GetFilter",
        "GetTheme",
        "ListExports",
        "DownloadExport",
        "IngestActivations",
        "GetAnomalies",
        "SubscribeAnomalies",
    ],
)
async def test_seed_only_upstream_missing_routes_are_unimplemented(
    fake: tuple[Fake, pb_grpc.NeuralHeatmapServiceStub],
    name: str,
) -> None:
    _, stub = fake
    calls = {
        "ListModels": lambda: stub.ListModels(pb.ListModelsRequest()),
        "GetFilter": lambda: stub.GetFilter(pb.GetFilterRequest()),
        "GetTheme": lambda: stub.GetTheme(pb.GetThemeRequest()),
        "ListExports": lambda: stub.ListExports(pb.ListExportsRequest()),
        "DownloadExport": lambda: stub.DownloadExport(pb.DownloadExportRequest(name="x")).read(),
        "IngestActivations": lambda: ingest(stub, [frame("m", "l", [1.0, 2.0])]),
        "GetAnomalies": lambda: stub.GetAnomalies(pb.GetAnomaliesRequest(after_sequence=3)),
        "SubscribeAnomalies": lambda: stub.SubscribeAnomalies(
            pb.SubscribeAnomaliesRequest(after_sequence=3)
        ).read(),
    }
    routes = {
        "ListModels": "GET /api/models",
        "GetFilter": "GET /api/filter",
        "GetTheme": "GET /api/theme",
        "ListExports": "GET /api/exports",
        "DownloadExport": "GET /api/exports/x",
        "IngestActivations": "POST /api/activations",
        "GetAnomalies": "after_sequence",
        "SubscribeAnomalies": "after_sequence",
    }
    err = await expect(grpc.StatusCode.UNIMPLEMENTED, calls[name]())
    assert routes[name] in (err.details() or "")
    assert rpc_status.from_call(err) is not None  # type: ignore[arg-type]


async def test_pruned_resume_point_is_out_of_range() -> None:
    import aiohttp

    server = ServerProcess(extra_args=["--anomaly-cooldown", "0", "--anomaly-retention", "5"])
    server.start()
    try:
        frames = [
            {"model_id": "m-prune", "layer_id": f"l{i}", "values": [float("nan"), 1.0]}
            for i in range(20)
        ]
        async with (
            aiohttp.ClientSession() as http,
            http.post(server.url + "/api/activations", json={"frames": frames}) as r,
        ):
            assert r.status == 200
        with BridgeProcess(server.url) as bridge:
            async with bridge.aio_channel() as ch:
                stub = pb_grpc.NeuralHeatmapServiceStub(ch)
                err = await expect(
                    grpc.StatusCode.OUT_OF_RANGE,
                    stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=1)).read(),
                )
                assert "pruned" in (err.details() or "")
                assert error_info(err).reason == "SEQUENCE_EXPIRED"
                await expect(
                    grpc.StatusCode.OUT_OF_RANGE,
                    stub.GetAnomalies(pb.GetAnomaliesRequest(after_sequence=1)),
                )
                call = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=17))
                got = (await asyncio.wait_for(call.read(), 10)).update.anomalies
                call.cancel()
                assert [a.sequence for a in got] == [18, 19, 20]
    finally:
        server.cleanup()
