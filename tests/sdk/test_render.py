"""Rendering: ``render_heatmap``/``render_correlation`` through the real bridge and server.

Each theme is checked by what it must look like, not by golden bytes: a layer whose
units are mostly at the top of the scale makes the image's most common colour the
theme's hottest colour (THERMAL red, PLASMA yellow, HOLOGRAPHIC cyan, CUSTOM the last
custom colour); CONTOUR draws lines on white; HOLOGRAPHIC's scanline rows are darker.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from neural_heatmap import (
    InvalidArgumentError,
    NeuralHeatmapClient,
    NotFoundError,
    RenderedImage,
    VisualizationTheme,
)
from neural_heatmap_contract.limits import MAX_RENDER_PIXELS, MAX_RENDER_SIDE
from PIL import Image

from tests.sdk.conftest import Seed
from tests.support.bridge_process import BridgeProcess
from tests.support.sdk_builds import npm_build, tool
from tests.support.server_process import ServerProcess

WIDTH, HEIGHT = 320, 240
WHITE = (255, 255, 255)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def commonest(image: Image.Image, skip: tuple[tuple[int, int, int], ...] = (WHITE,)
              ) -> tuple[int, int, int]:
    """The most frequent colour that is not a background colour."""
    counts = Counter(image.get_flattened_data())
    for colour, _ in counts.most_common():
        if colour not in skip and max(colour) > 20:  # not a background, not near-black
            return tuple(colour)  # type: ignore[return-value]
    raise AssertionError("the image has only background colours")


@pytest.fixture(scope="module")
async def hot_model(client: NeuralHeatmapClient) -> str:
    """A model whose one layer has 12 of 16 units at the top of the scale."""
    model = f"hot-{uuid.uuid4().hex[:8]}"
    values = np.ones((4, 16), dtype=np.float32)
    values[:, :4] = 0.0
    summary = await client.log_batch(model, "l", values, steps=np.arange(4))
    assert summary.frames_accepted == 4
    return model


@pytest.mark.parametrize("theme", ["thermal", "plasma", "holographic", "contour"])
async def test_each_theme_renders_a_png_of_the_asked_size(
        client: NeuralHeatmapClient, seeded: Seed, theme: str) -> None:
    for render in (client.render_heatmap, client.render_correlation):
        image = await render("m1", theme=theme, width=WIDTH, height=HEIGHT)
        assert isinstance(image, RenderedImage) and isinstance(image, bytes)
        assert (image.width, image.height, image.theme) == (WIDTH, HEIGHT,
                                                            VisualizationTheme(theme))
        assert decode(image).size == (WIDTH, HEIGHT)


async def test_hottest_colour_is_the_themes(client: NeuralHeatmapClient, hot_model: str) -> None:
    r, g, b = commonest(decode(await client.render_heatmap(hot_model, theme="thermal")))
    assert r > g + 80 and r > b + 80, (r, g, b)  # red
    r, g, b = commonest(decode(await client.render_heatmap(hot_model, theme="plasma")))
    assert r > 200 and g > 200 and b < 100, (r, g, b)  # yellow
    holo = decode(await client.render_heatmap(hot_model, theme=VisualizationTheme.HOLOGRAPHIC))
    r, g, b = commonest(holo, skip=())
    assert g > r + 40 and b > r + 40, (r, g, b)  # cyan
    custom = await client.render_heatmap(hot_model, theme="custom",
                                         custom_colors=["#00ff00", "#ff00ff"])
    assert commonest(decode(custom)) == (255, 0, 255)  # the last custom colour


async def test_holographic_has_darker_scanlines(client: NeuralHeatmapClient,
                                                hot_model: str) -> None:
    pixels = np.asarray(decode(await client.render_heatmap(hot_model, theme="holographic")),
                        dtype=np.float64)
    brightness = pixels.sum(axis=(1, 2))
    scanlines, others = brightness[0::3], np.concatenate([brightness[1::3], brightness[2::3]])
    assert scanlines.mean() < 0.7 * others.mean()


async def test_contour_draws_isolines_on_white(client: NeuralHeatmapClient, seeded: Seed) -> None:
    def white_share(png: bytes) -> float:
        pixels = np.asarray(decode(png))
        return float((pixels == 255).all(axis=2).mean())

    contour = await client.render_correlation("m1", theme="contour")
    thermal = await client.render_correlation("m1", theme="thermal")
    assert white_share(contour) > white_share(thermal) + 0.2
    # Isolines in several colours of the map, not one filled block.
    line_colours = {c for c, n in Counter(decode(contour).get_flattened_data()).items()
                    if n > 30 and c != WHITE and max(c) - min(c) > 40}
    assert len(line_colours) >= 3


async def test_matrix_has_its_labels(client: NeuralHeatmapClient, seeded: Seed) -> None:
    """The correlation matrix writes its labels left of the plot; the heatmap has none."""
    def text_left_of_plot(png: bytes) -> int:
        dark = (np.asarray(decode(png)) < 100).all(axis=2)
        spine = int(np.argmax(dark.sum(axis=0) > 0.5 * dark.shape[0]))  # the plot's left edge
        return int(dark[:, :spine].sum())

    assert text_left_of_plot(await client.render_correlation("m1", theme="plasma")) > 100
    assert text_left_of_plot(await client.render_heatmap("m1", theme="plasma")) == 0


async def test_default_theme_is_the_stored_theme(client: NeuralHeatmapClient,
                                                 seeded: Seed) -> None:
    await client.set_theme(VisualizationTheme.PLASMA)
    try:
        image = await client.render_correlation("m1")
        assert image.theme is VisualizationTheme.PLASMA
        assert image == await client.render_correlation("m1", theme="plasma")
        assert image != await client.render_correlation("m1", theme="thermal")
    finally:
        await client.set_theme(VisualizationTheme.THERMAL)


async def test_save_png_and_inline_display(client: NeuralHeatmapClient, seeded: Seed,
                                           tmp_path: Path) -> None:
    image = await client.render_heatmap("m1", layers=["a", "b"], width=200, height=100)
    path = image.save_png(tmp_path / "m1.png")
    assert path.read_bytes() == image == image._repr_png_()
    assert decode(path.read_bytes()).size == (200, 100)


async def test_size_limits_name_the_limit(client: NeuralHeatmapClient, seeded: Seed,
                                          server: ServerProcess) -> None:
    with pytest.raises(InvalidArgumentError, match="MAX_RENDER_SIDE"):
        await client.render_heatmap("m1", width=MAX_RENDER_SIDE + 1)
    with pytest.raises(InvalidArgumentError, match="MAX_RENDER_PIXELS"):
        await client.render_correlation("m1", width=MAX_RENDER_SIDE, height=MAX_RENDER_SIDE)
    assert MAX_RENDER_SIDE * MAX_RENDER_SIDE > MAX_RENDER_PIXELS
    status, body = http_get(server, f"/api/render?model_id=m1&height={MAX_RENDER_SIDE + 1}")
    assert status == 400
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_argument" and "MAX_RENDER_SIDE" in error["message"]
    assert error["details"]["limit"] == MAX_RENDER_SIDE


async def test_custom_theme_needs_colours_and_unknown_model_is_not_found(
        client: NeuralHeatmapClient, seeded: Seed) -> None:
    with pytest.raises(InvalidArgumentError, match="custom_colors"):
        await client.render_heatmap("m1", theme="custom", custom_colors=["#ff0000"])
    with pytest.raises(NotFoundError, match="no-such-model"):
        await client.render_heatmap("no-such-model")
    with pytest.raises(NotFoundError, match="no-such-layer"):
        await client.render_correlation("m1", layers=["no-such-layer"])


def http_get(server: ServerProcess, path: str, timeout: float = 60.0) -> tuple[int, bytes]:
    request = urllib.request.Request(server.url + path, headers=server.headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_big_matrix_renders_off_the_event_loop() -> None:
    """A 2048-label matrix (unit granularity) draws in a worker while /health answers."""
    units, frames = 2048, 32
    rng = np.random.default_rng(3)
    with ServerProcess() as server:
        body = json.dumps({"frames": [
            {"model_id": "big", "layer_id": "l", "timestamp": 1.7e9 + i, "step": i,
             "values": rng.normal(size=units).tolist()} for i in range(frames)]}).encode()
        request = urllib.request.Request(server.url + "/api/activations", data=body, headers={
            **server.headers, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert resp.status == 200
        result: dict[str, Any] = {}

        def render() -> None:
            result["answer"] = http_get(server, "/api/render?kind=correlation&model_id=big"
                                        "&granularity=unit&width=1600&height=1600")

        worker = threading.Thread(target=render)
        worker.start()
        health_seconds = []
        while worker.is_alive():
            start = time.monotonic()
            assert http_get(server, "/health", timeout=5.0)[0] == 200
            health_seconds.append(time.monotonic() - start)
            time.sleep(0.05)
        worker.join()
        status, png = result["answer"]
        assert status == 200, png[:300]
        assert decode(png).size == (1600, 1600)
        assert health_seconds and max(health_seconds) < 5.0


def test_typescript_client_renders(bridge: BridgeProcess, seeded: Seed) -> None:
    """sdk/typescript's client.renderHeatmap() against the live bridge (ts_render.mjs)."""
    dist = npm_build()
    run = subprocess.run(
        [tool("node"), str(Path(__file__).with_name("ts_render.mjs")),
         str(dist / "index.js"), bridge.target],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "PNG 300 200"
    assert lines[1].startswith("INVALID ") and "MAX_RENDER_SIDE" in lines[1], lines
