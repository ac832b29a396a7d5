"""The view state on ``StreamUpdates``: the current view first, then every change pushed.

A dashboard shows the stored theme, layout and filter; a change made anywhere (another
bridge, the server's HTTP API, the SDKs) must reach every open stream without polling.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
from neural_heatmap_contract.v1 import updates_pb2, view_pb2


async def next_view(call: Any, timeout: float = 10.0) -> updates_pb2.ViewUpdate:
    """The next ViewUpdate of a stream (nothing else is asked for), or fail after ``timeout``."""
    msg = await asyncio.wait_for(call.read(), timeout)
    assert msg.WhichOneof("update") == "view", msg
    return msg.view


async def test_view_stream_starts_with_the_stored_view_and_follows_changes(
    stub: pb_grpc.NeuralHeatmapServiceStub, http: aiohttp.ClientSession
) -> None:
    await stub.SetTheme(pb.SetThemeRequest(theme=view_pb2.THEME_CONTOUR))
    call = stub.StreamUpdates(pb.StreamUpdatesRequest(types=[updates_pb2.UPDATE_TYPE_VIEW]))
    try:
        assert (await next_view(call)).theme.theme == view_pb2.THEME_CONTOUR
        # Changed on the server itself, not through this bridge: only the push tells it.
        async with http.post("/api/theme", json={"theme": "custom",
                                                 "custom_colors": ["#000000", "#ff0000"]}) as r:
            assert r.status == 200, await r.text()
        view = await next_view(call)
        assert view.theme.theme == view_pb2.THEME_CUSTOM
        assert list(view.theme.custom_colors) == ["#000000", "#ff0000"]
        layout = view_pb2.Layout(panel_positions={"m/l": view_pb2.PanelPosition(x=40, y=8)})
        await stub.SetLayout(pb.SetLayoutRequest(layout=layout))
        view = await next_view(call)
        assert view.layout.panel_positions["m/l"].x == 40
        assert view.theme.theme == view_pb2.THEME_CUSTOM  # the whole view, every time
        # A stream opened now starts with the same (newest) view.
        second = stub.StreamUpdates(pb.StreamUpdatesRequest(types=[updates_pb2.UPDATE_TYPE_VIEW]))
        try:
            assert (await next_view(second)).layout.panel_positions["m/l"].x == 40
        finally:
            second.cancel()
    finally:
        call.cancel()
        await stub.SetTheme(pb.SetThemeRequest(theme=view_pb2.THEME_THERMAL))
        await stub.SetLayout(pb.SetLayoutRequest(layout=view_pb2.Layout()))


async def test_every_kind_leaves_the_view_out(stub: pb_grpc.NeuralHeatmapServiceStub) -> None:
    # Clients that predate UPDATE_TYPE_VIEW ask for "every kind" and get nothing new.
    call = stub.StreamUpdates(pb.StreamUpdatesRequest(types=[]))
    try:
        await stub.SetTheme(pb.SetThemeRequest(theme=view_pb2.THEME_PLASMA))
        with_view = stub.StreamUpdates(
            pb.StreamUpdatesRequest(types=[updates_pb2.UPDATE_TYPE_VIEW])
        )
        assert (await next_view(with_view)).theme.theme == view_pb2.THEME_PLASMA
        with_view.cancel()
        read = asyncio.ensure_future(call.read())
        done, _ = await asyncio.wait({read}, timeout=2.0)
        for task in done:  # whatever came in those seconds, it was no view
            assert task.result().WhichOneof("update") != "view"
        read.cancel()
    finally:
        call.cancel()
        await stub.SetTheme(pb.SetThemeRequest(theme=view_pb2.THEME_THERMAL))
