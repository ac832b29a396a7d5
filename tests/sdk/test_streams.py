"""Live streams: every kind, callbacks, and exactly-once anomalies across bridge restarts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
import pytest
from neural_heatmap import (
    AnomalyUpdate,
    CorrelationUpdate,
    HeatmapUpdate,
    NeuralHeatmapClient,
    NeuralHeatmapWebSocketClient,
    TemporalUpdate,
    Update,
    UpdateType,
    ViewUpdate,
    VisualizationTheme,
)

from tests.sdk.conftest import UNITS, Seed, nan_frame
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess


async def _feed(client: NeuralHeatmapClient, model: str, stop: asyncio.Event) -> None:
    """Keep sending normal frames so heatmap/correlation/temporal updates flow."""
    step = 0
    rng = np.random.default_rng(11)
    while not stop.is_set():
        values = rng.normal(0.0, 0.1, (2, UNITS)).astype(np.float32)
        await client.log_batch(model, "live", values, steps=np.arange(step, step + 2))
        await client.log_batch(model, "live2", values * 2, steps=np.arange(step, step + 2))
        step += 2
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def feeding(client: NeuralHeatmapClient, model: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    # A live stream can name only models that exist (NOT_FOUND otherwise): create it first.
    await client.log_activations(model, "live", np.full(UNITS, 0.1, dtype=np.float32))
    task = asyncio.create_task(_feed(client, model, stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def _collect(
    it: AsyncIterator[Update], done: Callable[[list[Update]], bool], timeout: float = 15.0
) -> list[Update]:
    got: list[Update] = []

    async def run() -> None:
        async for update in it:
            got.append(update)
            if done(got):
                return

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out; got {[type(u).__name__ for u in got][-50:]}") from None
    await it.aclose()  # type: ignore[attr-defined]
    return got


async def test_stream_updates_every_kind(client: NeuralHeatmapClient, seeded: Seed) -> None:
    kinds = {HeatmapUpdate, CorrelationUpdate, TemporalUpdate, AnomalyUpdate}
    async with feeding(client, "live-all"):
        it = client.stream_updates(
            ["heatmap_update", UpdateType.CORRELATION, "temporal", "anomalies"])
        stop = asyncio.Event()

        async def anomalies() -> None:
            await asyncio.sleep(0.5)
            while not stop.is_set():
                await client.log_activations("anom-all", "fc", nan_frame())
                await asyncio.sleep(0.5)

        injector = asyncio.create_task(anomalies())
        try:
            got = await _collect(it, lambda g: {type(u) for u in g} >= kinds, timeout=20)
        finally:
            stop.set()
            await injector
    heat = next(u for u in got if isinstance(u, HeatmapUpdate) and u.model_id == "live-all")
    assert heat.layer in {"live", "live2"} and heat.values.shape == (UNITS,)
    assert (heat.width, heat.height) == (4, 4) and heat.step is not None
    assert heat.intensity == pytest.approx(float(heat.values.mean()), abs=1e-5)
    corr = next(u for u in got if isinstance(u, CorrelationUpdate))
    assert corr.matrix.shape == (len(corr.labels), len(corr.labels))
    temporal = next(u for u in got if isinstance(u, TemporalUpdate))
    assert isinstance(temporal.patterns, list)
    anomaly = next(u for u in got if isinstance(u, AnomalyUpdate))
    assert anomaly.severity == "critical" and anomaly.description
    assert anomaly.anomalies[0].model_id == "anom-all" and anomaly.anomalies[0].sequence > 0


async def test_subscriptions_choose_the_kinds(client: NeuralHeatmapClient, seeded: Seed) -> None:
    c = NeuralHeatmapClient(client.target)
    await c.subscribe_heatmap(layer_ids=["live2"])
    assert c.subscriptions == {UpdateType.HEATMAP}
    async with feeding(client, "live-sub"):
        got = await _collect(c.stream_updates(), lambda g: len(g) >= 5)
    assert all(isinstance(u, HeatmapUpdate) and u.layer == "live2" for u in got)
    await c.unsubscribe("heatmap")
    assert not c.subscriptions
    await c.disconnect()


async def test_a_theme_set_elsewhere_arrives_as_a_view_update(
    client: NeuralHeatmapClient, bridge: BridgeProcess
) -> None:
    """Another client's set_theme is pushed on this client's stream (never polled)."""
    watcher = NeuralHeatmapClient(bridge.target)
    await watcher.subscribe_view()
    assert watcher.subscriptions == {UpdateType.VIEW}
    before = await client.get_theme()
    target = "contour" if before.theme != VisualizationTheme.CONTOUR else "plasma"
    stream = watcher.stream_updates()
    try:
        # The state as stored when the stream opens comes first: the change is after it.
        first = await asyncio.wait_for(anext(stream), 10)
        assert isinstance(first, ViewUpdate) and first.type is UpdateType.VIEW
        assert first.theme.theme == before.theme
        assert first.layout == await client.get_layout() and first.timestamp > 0
        await client.set_theme(target)
        changed = await asyncio.wait_for(anext(stream), 5)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await client.set_theme(before.theme, custom_colors=before.custom_colors or None)
        await watcher.disconnect()
    assert isinstance(changed, ViewUpdate), changed
    assert changed.theme.theme == VisualizationTheme.parse(target)
    assert changed.filter == first.filter and changed.layout == first.layout


async def test_view_updates_only_when_asked(client: NeuralHeatmapClient, seeded: Seed) -> None:
    """Without VIEW named, a stream of every kind carries no view update, even on a change."""
    before = await client.get_theme()
    async with feeding(client, "live-noview"):
        it = client.stream_updates()

        async def change() -> None:
            await asyncio.sleep(0.3)
            thermal = before.theme == VisualizationTheme.THERMAL
            await client.set_theme("plasma" if thermal else "thermal")

        changer = asyncio.create_task(change())
        got = await _collect(it, lambda g: len(g) >= 20)
        await changer
    await client.set_theme(before.theme, custom_colors=before.custom_colors or None)
    assert got and not any(isinstance(u, ViewUpdate) for u in got)
    assert UpdateType.parse("view") is UpdateType.VIEW
    assert UpdateType.from_proto(5) is UpdateType.VIEW


async def test_per_kind_streams(client: NeuralHeatmapClient, seeded: Seed) -> None:
    async with feeding(client, "live-kind"):
        heat = await _collect(client.stream_heatmap(["live-kind"], ["live"]), lambda g: len(g) >= 2)
        assert all(isinstance(u, HeatmapUpdate) and u.model_id == "live-kind" for u in heat)
        corr = await _collect(client.stream_correlations(), lambda g: len(g) >= 1)
        assert isinstance(corr[0], CorrelationUpdate) and corr[0].labels
        temporal = await _collect(client.stream_temporal(), lambda g: len(g) >= 1)
        assert isinstance(temporal[0], TemporalUpdate)
    head = (await client.get_anomaly_page(limit=1)).last_sequence
    await client.log_activations("anom-kind", "fc", nan_frame())
    await client.log_activations("anom-kind", "fc", nan_frame())
    replay = await _collect(
        client.stream_anomalies(after_sequence=head, model_ids=["anom-kind"]),
        lambda g: sum(len(u.anomalies) for u in g if isinstance(u, AnomalyUpdate)) >= 2,
    )
    seqs = [a.sequence for u in replay if isinstance(u, AnomalyUpdate) for a in u.anomalies]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) == 2 and seqs[0] > head


async def test_websocket_client_callbacks(client: NeuralHeatmapClient, seeded: Seed) -> None:
    # A live stream can name only models that exist (NOT_FOUND otherwise): create it first.
    await client.log_activations("anom-ws", "fc", (0.01 * np.arange(UNITS)).astype(np.float32))
    ws = NeuralHeatmapWebSocketClient(client.target, reconnect_delay=0.2, max_retries=5)
    await ws.connect()
    await ws.subscribe_anomalies(model_ids=["anom-ws"])
    seen: list[str] = []
    every: list[Update] = []

    async def on_anomaly(update: Update) -> None:
        assert isinstance(update, AnomalyUpdate)
        seen.extend(a.description for a in update.anomalies)

    ws.on("anomaly_update", on_anomaly)
    ws.on("*", every.append)

    async def inject() -> None:
        await asyncio.sleep(0.5)
        await client.log_activations("anom-ws", "fc", nan_frame())

    injector = asyncio.create_task(inject())
    await asyncio.wait_for(ws.run(until=lambda: bool(seen)), 15)
    await injector
    assert seen and "anom-ws/fc" in seen[0] and len(every) == 1
    ws.off("anomaly_update", on_anomaly)
    ws.off("*")
    assert not ws._callbacks.get("anomaly_update") and "*" not in ws._callbacks
    await ws.disconnect()


async def _wait_for(
    cond: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0, what: object = ""
) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = cond()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in time: {what() if callable(what) else what}")


@pytest.mark.parametrize("consumer", ["websocket_client", "stream_updates"])
async def test_anomalies_exactly_once_across_three_bridge_restarts(
    client: NeuralHeatmapClient, server: ServerProcess, seeded: Seed, consumer: str
) -> None:
    """Kill the consumer's bridge (SIGKILL) three times mid-stream while anomalies keep
    coming (through another bridge); every anomaly arrives exactly once, in order."""
    model = f"anom-restart-{consumer}"
    received: list[int] = []
    with BridgeProcess(server.url, "--metrics-port", "0") as own:
        start_head = (await client.get_anomaly_page(limit=1)).last_sequence
        if consumer == "websocket_client":
            ws = NeuralHeatmapWebSocketClient(own.target, reconnect_delay=0.1, max_retries=50)
            await ws.connect()
            await ws.subscribe_anomalies(model_ids=[model], after_sequence=start_head)
            stream: AsyncIterator[Update] = ws.listen()
        else:
            sub = NeuralHeatmapClient(own.target)
            await sub.subscribe_anomalies()
            stream = sub.stream_updates(model_ids=[model], after_sequence=start_head,
                                        reconnect_delay=0.1, max_retries=50)

        async def consume() -> None:
            async for update in stream:
                assert isinstance(update, AnomalyUpdate)
                received.extend(a.sequence for a in update.anomalies)

        task = asyncio.create_task(consume())
        sent = 0

        async def send(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                await client.log_activations(model, "fc", nan_frame(), step=sent)
                sent += 1

        # the stream is live once a first anomaly arrives
        await send(1)
        await _wait_for(lambda: len(received) >= 1, what=lambda: own.log()[-2000:])
        for _ in range(3):
            await send(3)
            own.kill()  # mid-stream, no goodbye
            await send(4)  # logged while the consumer is cut off
            await asyncio.sleep(0.2)
            own.start()
            await send(2)
        expected = [
            a.sequence
            for a in await client.get_anomalies(model_id=model, after_sequence=start_head,
                                                limit=1000)
        ]
        assert len(expected) == sent == 28
        await _wait_for(lambda: len(received) >= len(expected),
                        what=lambda: (received, expected, own.log()[-2000:]))
        await asyncio.sleep(0.3)  # nothing extra arrives
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if consumer == "websocket_client":
            assert ws.reconnects >= 3
            await ws.disconnect()
        else:
            await sub.disconnect()
    assert received == expected  # exactly once, in order
