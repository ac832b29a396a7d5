"""The dashboard in a real browser: ingest-to-pixel latency, draw rate and time, bytes.

A bridge with its web port serves the page to Debian's headless Chromium (Playwright, as in
tests/web). Frames are posted to the server's HTTP API stamped with the wall clock; the page
records, when it draws a frame for the first time, ``Date.now() - frame timestamp`` (the
ingest-to-pixel latency: server, bridge, Connect stream, decode, draw; same machine, same
clock) and how long each draw of the whole canvas took (``performance.now()`` around it).
Two shapes: 12 layers of 256 units fed at the server's heatmap rate (``--heatmap-hz``,
10 per layer per second by default), and one layer of 4,096 units at that rate. The bytes
per update are the stream's own: a heatmap ``StreamUpdatesResponse`` read over gRPC, whose
length-prefixed message is the same binary message Connect carries (5-byte envelope too).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from neural_heatmap_contract.routes import http

from bench._procs import Environment, add_bridge, free_port
from bench._results import CaseResult
from bench._settings import Settings

CHROMIUM = "/usr/bin/chromium-headless-shell"
HEATMAP_HZ = 10.0  # the server's default --heatmap-hz: what a layer is drawn at, at most
LATENCY_P99_TARGET_MS = 100.0
DRAW_4096_TARGET_MS = 4.0
SHAPES = {"12 layers x 256 units": (12, 256), "1 layer x 4,096 units": (1, 4096)}


def _post(url: str, frames: list[dict[str, Any]]) -> None:
    import json
    import urllib.request

    req = urllib.request.Request(url + http("IngestActivations").path,
                                 data=json.dumps({"frames": frames}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def _frames(model: str, layers: int, units: int, tick: int) -> list[dict[str, Any]]:
    now = time.time()
    rng = np.random.default_rng(tick)
    return [{"model_id": model, "layer_id": f"l{i:02d}", "timestamp": now,
             "values": rng.standard_normal(units).round(4).tolist()} for i in range(layers)]


async def _feed(url: str, model: str, layers: int, units: int, seconds: float) -> int:
    """Posts every layer's frame HEATMAP_HZ times a second for ``seconds``; returns ticks."""
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        await asyncio.to_thread(_post, url, _frames(model, layers, units, tick))
        tick += 1
        await asyncio.sleep(max(0.0, start + tick / HEATMAP_HZ - time.monotonic()))
    return tick


async def _bytes_per_update(target: str, model: str, url: str, units: int) -> float:
    import grpc
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc
    from neural_heatmap_contract.v1 import updates_pb2

    await asyncio.to_thread(_post, url, _frames(model, 1, units, 1000))  # streams name known models
    async with grpc.aio.insecure_channel(target) as ch:
        call = pb_grpc.NeuralHeatmapServiceStub(ch).StreamUpdates(pb.StreamUpdatesRequest(
            types=[updates_pb2.UPDATE_TYPE_HEATMAP], model_ids=[model]))
        sizes: list[int] = []

        async def read() -> None:
            while len(sizes) < 5:
                msg = await call.read()
                if msg.WhichOneof("update") == "heatmap":
                    sizes.append(msg.ByteSize() + 5)  # + the 5-byte length prefix / envelope

        reader = asyncio.ensure_future(read())
        for tick in range(100):
            if reader.done():
                break
            await asyncio.to_thread(_post, url, _frames(model, 1, units, tick))
            await asyncio.sleep(1 / HEATMAP_HZ)
        await asyncio.wait_for(reader, 10)
        call.cancel()
    return float(np.median(sizes))


async def run(env: Environment, s: Settings, ctx: dict[str, Any]) -> CaseResult:
    from playwright.async_api import async_playwright

    res = CaseResult("browser", "the dashboard in headless Chromium: latency, draw rate, bytes")
    port = free_port()
    target, _ = add_bridge(env, "--web-port", str(port))
    page_url = f"http://127.0.0.1:{port}/"
    seconds = 3.0 if s.quick else 15.0
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for group, (layers, units) in SHAPES.items():
                model = f"bench-web-{layers}x{units}"
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                await page.goto(page_url)
                await page.wait_for_function(
                    "document.getElementById('banner').dataset.state === 'live'", timeout=30_000)
                await _feed(env.http_url, model, layers, units, 1.5)  # warm-up: every layer drawn
                await page.evaluate("""() => { const s = window.neuralHeatmap.canvas.stats;
                    s.draws = 0; s.drawMs.length = 0; s.latencyMs.length = 0; }""")
                t0 = time.monotonic()
                ticks = await _feed(env.http_url, model, layers, units, seconds)
                await asyncio.sleep(0.5)  # the last frames reach the page
                wall = time.monotonic() - t0
                stats = await page.evaluate("""() => { const s = window.neuralHeatmap.canvas.stats;
                    return { draws: s.draws, drawMs: s.drawMs, latencyMs: s.latencyMs }; }""")
                await page.close()
                lat = [float(v) for v in stats["latencyMs"]]
                draw = [float(v) for v in stats["drawMs"]]
                g = f"{group}, fed {HEATMAP_HZ:g} frames/s per layer for {seconds:g} s"
                res.metric(g, "page", "ingest-to-pixel latency", "ms", lat)
                res.metric(g, "page", "draw time per frame", "ms", draw)
                res.metric(g, "page", "frames drawn per second", "1/s", [stats["draws"] / wall])
                res.notes.append(f"{group}: {ticks} ticks x {layers} layers posted, "
                                 f"{len(lat)} layer frames reached the canvas, "
                                 f"{stats['draws']} canvas draws")
                if layers == 12:
                    p99 = round(float(np.percentile(lat, 99)), 1) if lat else None
                    res.target("browser_latency_p99_12_layers",
                               "ingest-to-pixel latency p99, 12 layers at the heatmap rate",
                               f"< {LATENCY_P99_TARGET_MS:g} ms", p99,
                               "ms", p99 is not None and p99 < LATENCY_P99_TARGET_MS)
                else:
                    p50 = round(float(np.median(draw)), 2) if draw else None
                    res.target("browser_draw_4096", "draw time per frame, one 4,096-unit layer",
                               f"< {DRAW_4096_TARGET_MS:g} ms", p50,
                               "ms", p50 is not None and p50 < DRAW_4096_TARGET_MS)
        finally:
            await browser.close()
    for units in (256, 4096):
        size = await _bytes_per_update(target, f"bench-web-bytes-{units}", env.http_url, units)
        res.metric(f"one heatmap update of {units} units", "stream", "bytes per update", "B",
                   [size])
    return res
