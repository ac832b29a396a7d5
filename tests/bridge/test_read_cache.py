"""The bridge's push-invalidated read cache against a real server and real bridges.

Correctness, not timing: cached answers equal uncached ones; a write through the
bridge is seen by the next read; under concurrent changes made directly on the
server every answer is one the server really gave (never older than one already
seen) and, once the changes stop, equal to the server's; after the push channel
drops the next read goes upstream; a restarted server (new log, new versions)
never gets a stale answer served.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from neural_heatmap_contract.v1 import common_pb2, view_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.bridge.conftest import frame, ingest, nan_anomalies
from tests.support.bridge_process import BridgeProcess
from tests.support.metrics import metric
from tests.support.server_process import ServerProcess
from tests.support.ws_cutting_proxy import WsCuttingProxy

SERVER_ARGS = ["--anomaly-cooldown", "0"]
WAIT = 5.0  # seconds a push may take to arrive under load (a functional bound)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(extra_args=SERVER_ARGS) as proc:
        yield proc


@pytest.fixture(scope="module")
def cached(server: ServerProcess) -> Iterator[BridgeProcess]:
    with BridgeProcess(server.url, metrics=True) as proc:
        yield proc


@pytest.fixture(scope="module")
def uncached(server: ServerProcess) -> Iterator[BridgeProcess]:
    with BridgeProcess(server.url, "--no-read-cache", metrics=True) as proc:
        yield proc


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stubs(
    cached: BridgeProcess, uncached: BridgeProcess
) -> AsyncIterator[tuple[pb_grpc.NeuralHeatmapServiceStub, pb_grpc.NeuralHeatmapServiceStub]]:
    a, b = cached.aio_channel(), uncached.aio_channel()
    yield pb_grpc.NeuralHeatmapServiceStub(a), pb_grpc.NeuralHeatmapServiceStub(b)
    await a.close()
    await b.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(server: ServerProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (at most ``WAIT`` s) until ``check()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():
        assert loop.time() < deadline, f"not within {WAIT} s: {what}"
        await asyncio.sleep(0.02)


async def ready(bridge: BridgeProcess) -> None:
    """Wait until the bridge's push channel is connected and acknowledged."""

    async def up() -> bool:
        return await metric(bridge.metrics_url or "", "nh_bridge_read_cache_ready") == 1

    await until(up, "read cache ready")


async def hits(bridge: BridgeProcess) -> float:
    return await metric(bridge.metrics_url or "", "nh_bridge_read_cache_hits_total")


async def post(http: aiohttp.ClientSession, path: str, body: Any) -> Any:
    async with http.post(path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def reads() -> dict[str, Callable[[pb_grpc.NeuralHeatmapServiceStub], Awaitable[Any]]]:
    """Every cached read, with arguments a client would use."""
    return {
        "GetAnomalies": lambda s: s.GetAnomalies(pb.GetAnomaliesRequest(limit=10)),
        "GetAnomalies(model)": lambda s: s.GetAnomalies(
            pb.GetAnomaliesRequest(model_id="m-rc", min_severity=common_pb2.SEVERITY_HIGH)
        ),
        "ListModels": lambda s: s.ListModels(pb.ListModelsRequest(include_units=True)),
        "GetFilter": lambda s: s.GetFilter(pb.GetFilterRequest()),
        "GetTheme": lambda s: s.GetTheme(pb.GetThemeRequest()),
        "GetLayout": lambda s: s.GetLayout(pb.GetLayoutRequest()),
        "GetCorrelationMatrix": lambda s: s.GetCorrelationMatrix(
            pb.GetCorrelationMatrixRequest(model_ids=["m-rc"])
        ),
        "GetTemporalStatistics": lambda s: s.GetTemporalStatistics(
            pb.GetTemporalStatisticsRequest(model_id="m-rc")
        ),
    }


async def seed(stub: pb_grpc.NeuralHeatmapServiceStub) -> None:
    rng = np.random.default_rng(5)
    frames = [frame("m-rc", f"l{k}", rng.standard_normal(16), 1.7e9 + i, i)
              for i in range(20) for k in range(3)]
    frames.append(frame("m-rc", "l0", np.full(16, np.nan), 1.7e9 + 21, 21))
    await ingest(stub, frames)


async def test_server_pushes_versions(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "subscribe_versions", "data": {}})
        first = (await ws.receive_json(timeout=WAIT))["data"]
        await post(http, "/api/theme", {"theme": "plasma"})
        after_theme = (await ws.receive_json(timeout=WAIT))["data"]
        await nan_anomalies(http, "m-versions", 1)
        after_ingest = (await ws.receive_json(timeout=WAIT))["data"]
    assert after_theme["epoch"] == first["epoch"] and len(first["epoch"]) >= 16
    assert after_theme["view"] == first["view"] + 1
    unchanged = ("anomalies", "frames")
    assert [after_theme[k] for k in unchanged] == [first[k] for k in unchanged]
    assert after_ingest["anomalies"] == first["anomalies"] + 1
    assert after_ingest["frames"] > first["frames"]
    assert after_ingest["view"] == after_theme["view"]


async def test_cached_answers_equal_uncached(
    cached: BridgeProcess,
    stubs: tuple[pb_grpc.NeuralHeatmapServiceStub, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    on, off = stubs
    await seed(on)
    await ready(cached)
    before = await hits(cached)
    for name, call in reads().items():
        first, again, plain = await call(on), await call(on), await call(off)
        assert first == plain, name
        assert again == plain, name
    assert await hits(cached) - before >= len(reads())  # every second read came from memory


async def test_concurrent_identical_misses_share_one_upstream_call(
    cached: BridgeProcess,
    stubs: tuple[pb_grpc.NeuralHeatmapServiceStub, pb_grpc.NeuralHeatmapServiceStub],
    http: aiohttp.ClientSession,
) -> None:
    on, _ = stubs
    await ready(cached)
    url = cached.metrics_url or ""
    view = 'nh_bridge_read_cache_invalidations_total{cause="view"}'
    seen = await metric(url, view)
    await post(http, "/api/layout", {"z_order": ["single-flight"]})

    async def pushed() -> bool:
        return await metric(url, view) > seen

    await until(pushed, "the layout push reached the bridge")
    prefix = 'nh_bridge_read_cache_misses_total{method="GetLayout",why="'
    absent, joined = await metric(url, prefix + 'absent"'), await metric(url, prefix + 'joined"')
    before = await hits(cached)
    answers = await asyncio.gather(*(on.GetLayout(pb.GetLayoutRequest()) for _ in range(20)))
    assert {tuple(a.layout.z_order) for a in answers} == {("single-flight",)}
    assert await metric(url, prefix + 'absent"') - absent == 1  # one upstream call
    shared = await metric(url, prefix + 'joined"') - joined
    assert shared + await hits(cached) - before == 19  # the rest waited for it or hit


async def test_read_your_writes_through_one_bridge(
    cached: BridgeProcess,
    stubs: tuple[pb_grpc.NeuralHeatmapServiceStub, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    on, _ = stubs
    await ready(cached)
    for i in range(15):  # each Get right after its Set, never a wait in between
        colors = [f"#{i:06x}", "#ffffff"]  # a custom theme needs two colours
        await on.GetTheme(pb.GetThemeRequest())  # the old value, cached
        await on.SetTheme(pb.SetThemeRequest(theme=view_pb2.THEME_CUSTOM, custom_colors=colors))
        assert list((await on.GetTheme(pb.GetThemeRequest())).theme.custom_colors) == colors
        await on.GetFilter(pb.GetFilterRequest())
        await on.SetFilter(pb.SetFilterRequest(filter=view_pb2.Filter(model_ids=[f"m{i}"])))
        assert list((await on.GetFilter(pb.GetFilterRequest())).filter.model_ids) == [f"m{i}"]
        await on.ClearFilter(pb.ClearFilterRequest())
        assert not (await on.GetFilter(pb.GetFilterRequest())).filter.model_ids
        layout = view_pb2.Layout(z_order=[f"panel-{i}"])
        await on.GetLayout(pb.GetLayoutRequest())
        await on.SetLayout(pb.SetLayoutRequest(layout=layout))
        assert list((await on.GetLayout(pb.GetLayoutRequest())).layout.z_order) == [f"panel-{i}"]
        before = await on.GetAnomalies(pb.GetAnomaliesRequest(limit=10))
        await ingest(on, [frame("m-ryw", "l0", np.full(8, np.nan), 1.7e9 + i, i)])
        after = await on.GetAnomalies(pb.GetAnomaliesRequest(limit=10))
        assert after.last_sequence == before.last_sequence + 1
        assert after.anomalies[-1].sequence == after.last_sequence  # oldest first
        assert after.anomalies[-1].model_id == "m-ryw"
    await on.ClearFilter(pb.ClearFilterRequest())


async def test_concurrent_changes_from_another_client(
    cached: BridgeProcess,
    stubs: tuple[pb_grpc.NeuralHeatmapServiceStub, pb_grpc.NeuralHeatmapServiceStub],
    http: aiohttp.ClientSession,
) -> None:
    on, _ = stubs
    await ready(cached)
    done = asyncio.Event()
    rounds = 40

    async def writer() -> None:
        try:
            for i in range(rounds):
                await post(http, "/api/theme", {"theme": "custom",
                                               "custom_colors": [f"#{i:06x}", "#ffffff"]})
                await nan_anomalies(http, "m-conc", 1)
                await asyncio.sleep(0)
        finally:
            done.set()

    pages: list[pb.GetAnomaliesResponse] = []

    async def reader() -> None:
        seen_theme, seen_head = -1, 0
        while not done.is_set():
            theme = (await on.GetTheme(pb.GetThemeRequest())).theme
            if theme.custom_colors:
                index = int(theme.custom_colors[0][1:], 16)
                assert index >= seen_theme, "a read went back to an older theme"
                seen_theme = index
            page = await on.GetAnomalies(pb.GetAnomaliesRequest(model_id="m-conc", limit=5))
            assert page.last_sequence >= seen_head, "a read went back to an older log head"
            seen_head = page.last_sequence
            pages.append(page)

    await asyncio.gather(writer(), reader(), reader(), reader())
    async with http.get("/api/anomalies", params={"model_id": "m-conc", "limit": "1000"}) as r:
        log = {a["sequence"]: a for a in (await r.json())["anomalies"]}
    ordered = sorted(log)
    for page in pages:  # each page is what the server answered at some moment
        got = [a.sequence for a in page.anomalies]
        if got:
            assert got == [s for s in ordered if s <= got[-1]][-5:]  # newest 5, oldest first
            assert got[-1] <= page.last_sequence
        for a in page.anomalies:
            assert (a.model_id, a.layer) == (log[a.sequence]["model_id"], log[a.sequence]["layer"])

    # Quiet again: once the last push has arrived, cached answers equal the server's.
    async def direct_theme() -> list[str]:
        async with http.get("/api/theme") as r:
            return list((await r.json())["custom_colors"])

    final = await direct_theme()

    async def settled() -> bool:
        return list((await on.GetTheme(pb.GetThemeRequest())).theme.custom_colors) == final

    await until(settled, "the bridge shows the last theme")
    before = await hits(cached)
    for _ in range(10):
        assert list((await on.GetTheme(pb.GetThemeRequest())).theme.custom_colors) == final
        page = await on.GetAnomalies(pb.GetAnomaliesRequest(model_id="m-conc", limit=5))
        assert [a.sequence for a in page.anomalies] == ordered[-5:]
    assert await hits(cached) - before >= 15


async def test_push_channel_drop_sends_the_next_read_upstream(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    proxy = WsCuttingProxy(server.port)
    await proxy.start()
    try:
        with BridgeProcess(proxy.url, metrics=True) as bridge:
            async with bridge.aio_channel() as ch:
                stub = pb_grpc.NeuralHeatmapServiceStub(ch)
                await ready(bridge)
                await post(http, "/api/theme", {"theme": "holographic"})

                async def shows(theme: int) -> bool:
                    return (await stub.GetTheme(pb.GetThemeRequest())).theme.theme == theme

                await until(lambda: shows(view_pb2.THEME_HOLOGRAPHIC), "push before the cut")
                assert await shows(view_pb2.THEME_HOLOGRAPHIC)  # from memory
                url = bridge.metrics_url or ""
                proxy.cut_websockets()

                async def dropped() -> bool:
                    return await metric(url, "nh_bridge_read_cache_ready") == 0

                await until(dropped, "the bridge noticed the drop")
                # No push can reach the bridge now: only an upstream read shows this.
                await post(http, "/api/theme", {"theme": "contour"})
                assert await shows(view_pb2.THEME_CONTOUR)
                assert await shows(view_pb2.THEME_CONTOUR)
                unready = await metric(
                    url, 'nh_bridge_read_cache_misses_total{method="GetTheme",why="unready"'
                )
                assert unready >= 2
                proxy.allow_websockets()
                await ready(bridge)
                assert await shows(view_pb2.THEME_CONTOUR)
    finally:
        await proxy.stop()


async def test_server_restart_never_serves_a_stale_answer() -> None:
    server = ServerProcess(extra_args=SERVER_ARGS)
    server.start()
    try:
        with BridgeProcess(server.url, metrics=True) as bridge:
            async with (
                bridge.aio_channel() as ch,
                aiohttp.ClientSession(base_url=server.url) as http,
            ):
                stub = pb_grpc.NeuralHeatmapServiceStub(ch)
                await ready(bridge)
                await post(http, "/api/theme", {"theme": "plasma"})
                await nan_anomalies(http, "m-old", 3)
                old = await stub.GetAnomalies(pb.GetAnomaliesRequest(limit=10))
                assert old.last_sequence == 3
                before = await hits(bridge)
                await stub.GetTheme(pb.GetThemeRequest())
                await stub.GetTheme(pb.GetThemeRequest())
                await stub.GetAnomalies(pb.GetAnomaliesRequest(limit=10))
                assert await hits(bridge) > before  # the old answers were in memory

                server.stop()
                shutil.rmtree(server.data_dir)  # a new log and view state behind the same URL
                server.start()
                async with aiohttp.ClientSession(base_url=server.url) as fresh:
                    await nan_anomalies(fresh, "m-new", 1)
                # Every answer from now on is the new server's, from the first one on.
                for _ in range(20):
                    theme = await stub.GetTheme(pb.GetThemeRequest())
                    page = await stub.GetAnomalies(pb.GetAnomaliesRequest(limit=10))
                    assert theme.theme.theme == view_pb2.THEME_THERMAL
                    assert [a.model_id for a in page.anomalies] == ["m-new"]
                    assert page.last_sequence == 1
                await ready(bridge)
                epochs = await metric(
                    bridge.metrics_url or "",
                    'nh_bridge_read_cache_invalidations_total{cause="epoch"}',
                )
                assert epochs == 1  # the new server announced itself as such
                assert (await stub.GetTheme(pb.GetThemeRequest())).theme.theme == (
                    view_pb2.THEME_THERMAL
                )
                page = await stub.GetAnomalies(pb.GetAnomaliesRequest(limit=10))
                assert [a.model_id for a in page.anomalies] == ["m-new"]
    finally:
        server.cleanup()


async def test_no_read_cache_flag_always_asks_upstream(
    uncached: BridgeProcess,
    stubs: tuple[pb_grpc.NeuralHeatmapServiceStub, pb_grpc.NeuralHeatmapServiceStub],
) -> None:
    _, off = stubs
    for _ in range(3):
        await off.GetTheme(pb.GetThemeRequest())
    url = uncached.metrics_url or ""
    assert await metric(url, "nh_bridge_read_cache_hits_total") == 0
    assert await metric(url, "nh_bridge_read_cache_ready") == 0

