"""The dashboard in a real browser: themes and their colours (the PNG renderer's), the live
feed, pushed view changes on every page, recovery after a bridge crash, no console errors."""

from __future__ import annotations

import asyncio
import io
import math
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from contourpy import LineType, contour_generator
from neural_heatmap import connect
from neural_heatmap_contract.themes import THEMES
from neural_heatmap_server.render import colormap
from PIL import Image

from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess
from tests.web.conftest import Dashboard, get_json, ingest, post_json, wait_for, wavy

CUSTOM = ["#000000", "#00ff00", "#ffffff"]
# The planted layer: its scale is [0, 1] (units 0 and 1) and unit 9 (column 1, row 1 of the
# 8 x 8 grid) holds 0.5, the middle of table entry 128: one colour in every theme.
PLANTED = 0.5
PLANTED_UNIT = 9


def planted_values() -> list[float]:
    values = [0.25] * 64
    values[0], values[1], values[PLANTED_UNIT] = 0.0, 1.0, PLANTED
    return values


def expected_rgb(theme: str) -> tuple[int, int, int]:
    """The PNG renderer's colour of PLANTED on the scale [0, 1] (its own colour map)."""
    rgba = colormap(THEMES[theme], CUSTOM)(PLANTED, bytes=True)
    return int(rgba[0]), int(rgba[1]), int(rgba[2])


def png_has(server: ServerProcess, model: str, theme: str, rgb: tuple[int, int, int]) -> int:
    """How many pixels of the server's PNG of ``model`` in ``theme`` are exactly ``rgb``."""
    query = urllib.parse.urlencode({"kind": "heatmap", "model_id": model, "theme": theme,
                                    "custom_colors": ",".join(CUSTOM)})
    with urllib.request.urlopen(f"{server.url}/api/render?{query}", timeout=30) as resp:
        pixels = np.asarray(Image.open(io.BytesIO(resp.read())).convert("RGB"))
    return int(np.all(pixels == np.array(rgb, dtype=np.uint8), axis=-1).sum())


def set_theme(server: ServerProcess, theme: str) -> None:
    body = {"theme": theme, "custom_colors": CUSTOM if theme == "custom" else []}
    post_json(server.url + "/api/theme", body)


def away_from_scanlines(page: Dashboard, theme: str, y: int) -> int:
    """A pixel row near ``y`` that the theme's scanlines leave alone."""
    period = int(THEMES[theme].scanline_period)
    return y + 1 if period and y % period == 0 else y


@pytest.mark.parametrize("theme", ["thermal", "plasma", "holographic", "contour", "custom"])
def test_each_theme_draws_the_renderers_colours(
    theme: str, server: ServerProcess, bridge: BridgeProcess,
    open_page: Callable[[], Dashboard],
) -> None:
    model = f"web-{theme}"
    set_theme(server, theme)
    page = open_page().open(bridge.web_url)
    page.wait_live()
    wait_for(lambda: page.js("document.body.dataset.theme") == theme, 5, f"page in {theme}")
    for layer in range(3):
        ingest(server, model, f"wave{layer}", wavy(64, layer))
    ingest(server, model, "planted", planted_values())
    key = f"{model}/planted"
    centre = wait_for(lambda: page.cell_centre(key, PLANTED_UNIT), 10, f"{key} drawn")
    # The scale spans every shown layer; the waves lie inside [-1, 1], so read the planted
    # layer's colour on its own page state: only it may set the scale for this check.
    if theme != "contour":  # isolines draw lines, not cells
        solo = open_page().open(bridge.web_url)
        solo.wait_live()
        ingest(server, model, "planted", planted_values())
        at = wait_for(lambda: solo.cell_centre(key, PLANTED_UNIT), 10, f"{key} drawn alone")
        want = expected_rgb(theme)
        x, y = at[0], away_from_scanlines(solo, theme, at[1])
        wait_for(lambda: solo.pixel("#heatmap", x, y) == want, 5,
                 f"{theme}: planted {PLANTED} drawn as {want}")
        period = int(THEMES[theme].scanline_period)
        if period:  # a scanline row keeps `shade` of it, computed as the renderer does
            shade = np.float32(THEMES[theme].scanline_shade)
            dark = tuple(int(c) for c in (np.array(want, np.float32) * shade).astype(np.uint8))
            row = y - y % period
            assert solo.pixel("#heatmap", x, row) == dark, (row, dark)
        png_model = f"web-png-{theme}"
        ingest(server, png_model, "planted", planted_values())
        assert png_has(server, png_model, theme, want) > 100, f"{want} not in the {theme} PNG"
    ingest(server, model, "wave0", [float("nan"), *wavy(64, 0)[1:]])  # grey cell, an anomaly
    page.page.wait_for_selector(f".anomaly:has-text('{model}/wave0')", timeout=10_000)
    wait_for(lambda: page.js("window.neuralHeatmap.matrix.pairAt(10, 10) != null"), 10,
             "a correlation matrix")
    page.screenshot(f"theme-{theme}")
    assert centre is not None
    assert not page.errors, page.errors


def _renderer_midpoints(matrix: npt.NDArray[np.float64], level: float) -> list[tuple[float, float]]:
    """Midpoints (column, row) of the segments matplotlib's contour draws at ``level``.

    contourpy's mpl2014 is the algorithm ``ax.contour`` uses (render.py); within one cell each
    of its lines is one straight segment between the same edge crossings the page uses.
    """
    lines: Any = contour_generator(z=matrix, name="mpl2014",
                                   line_type=LineType.SeparateCode).lines(level)
    points: list[npt.NDArray[np.float64]] = lines[0]  # SeparateCode: (points, codes)
    return sorted((round(float(x), 3), round(float(y), 3)) for line in points
                  for (x, y) in (line[1:] + line[:-1]) / 2)


def test_contour_draws_the_matrix_as_the_renderers_isolines(
    server: ServerProcess, bridge: BridgeProcess, open_page: Callable[[], Dashboard],
) -> None:
    """In CONTOUR the matrix is isolines on the background, not filled cells: the renderer's
    levels and colours from the theme data, its lines (saddles included), each drawn."""
    theme = THEMES["contour"]
    set_theme(server, "contour")
    page = open_page().open(bridge.web_url)
    page.wait_live()
    wait_for(lambda: page.js("document.body.dataset.theme") == "contour", 5, "page in contour")
    post_json(server.url + "/api/filter", {"model_ids": ["web-iso"]})
    try:
        for step in range(8):  # layer means that go together, against and across
            for layer in range(5):
                shift = math.sin(step * 0.9 + layer * 1.7) + (step % 3) * (layer % 2)
                ingest(server, "web-iso", f"l{layer}", [v + shift for v in wavy(64, layer)])
        # The page's matrix once it is the newest (the stream pushes every recomputation).
        wait_for(lambda: page.js("window.neuralHeatmap.matrix.pairAt(0, 0)?.a") == "web-iso/l0"
                 and page.js("window.neuralHeatmap.matrix.size()") == 5, 15, "the 5-layer matrix")
        time.sleep(1.5)  # the last frames' recomputation has arrived too
        size = 5
        matrix = np.array(page.js("Array.from(window.neuralHeatmap.matrix.values())"),
                          dtype=np.float64).reshape(size, size)
        drawn = page.js("window.neuralHeatmap.matrix.isolines")
    finally:
        req = urllib.request.Request(server.url + "/api/filter", method="DELETE")
        urllib.request.urlopen(req, timeout=10).close()
    n = theme.isolines
    assert [round(lv["level"], 9) for lv in drawn] == [
        round(-1 + 2 * k / (n + 1), 9) for k in range(1, n + 1)]  # linspace(-1, 1, n + 2)[1:-1]
    side = 360
    lines = 0
    for k, lv in enumerate(drawn):
        rgba = colormap(theme, CUSTOM)(k / (n - 1), bytes=True)  # contour colours level k so
        assert lv["color"] == f"rgb({rgba[0]},{rgba[1]},{rgba[2]})", (k, lv["color"])
        got = sorted((round(x * size / side - 0.5, 3), round(y * size / side - 0.5, 3))
                     for x, y in lv["midpoints"])
        want = _renderer_midpoints(matrix, lv["level"])
        assert np.allclose(got, want, atol=2e-3) if got or want else True, (lv["level"], got, want)
        lines += len(got)
    assert lines >= 8, f"only {lines} segments: the data crosses too few levels to test"
    pixels = np.array(page.js(
        "Array.from(document.querySelector('#matrix').getContext('2d')"
        ".getImageData(0, 0, 360, 360).data)"), dtype=np.int64).reshape(side, side, 4)[..., :3]
    background = np.array(Image.new("RGB", (1, 1), theme.background).getpixel((0, 0)))
    share = float(np.all(pixels == background, axis=-1).mean())
    assert share > 0.5, f"{share:.0%} background: cells were filled"
    for lv in drawn:  # each line is on the canvas where the page says, in its colour
        span = np.array([int(c) for c in lv["color"][4:-1].split(",")]) - background
        for x, y in lv["midpoints"][:10]:
            px = pixels[min(int(y), side - 1), min(int(x), side - 1)]
            # antialiased over the background: background + a * span, a well above 0
            a = float(np.dot(px - background, span) / max(int(np.dot(span, span)), 1))
            assert a > 0.2, (lv["color"], (x, y), px.tolist())
    page.screenshot("matrix-contour")
    set_theme(server, "thermal")  # back to cells: the same matrix, filled
    wait_for(lambda: page.js("window.neuralHeatmap.matrix.isolines.length") == 0, 5,
             "cells again in thermal")
    assert not page.errors, page.errors


def test_a_planted_nan_reaches_the_feed_within_two_seconds(
    server: ServerProcess, bridge: BridgeProcess, open_page: Callable[[], Dashboard],
) -> None:
    page = open_page().open(bridge.web_url)
    page.wait_live()
    ingest(server, "web-nan", "l0", [float("nan")] + [0.5] * 15)
    # The feed shows it (newest first) within 2 s of the frame being posted.
    page.page.wait_for_selector(".anomaly:has-text('web-nan/l0')", timeout=2000)
    first = page.page.locator("#feed .anomaly").first
    assert "non_finite" in first.inner_text()
    first.click()  # highlights the layer and unit; nothing breaks
    assert not page.errors, page.errors


def test_set_theme_from_python_repaints_every_open_page(
    server: ServerProcess, bridge: BridgeProcess, open_page: Callable[[], Dashboard],
) -> None:
    set_theme(server, "thermal")
    pages = [open_page().open(bridge.web_url) for _ in range(2)]
    for page in pages:
        page.wait_live()
        wait_for(lambda p=page: p.js("document.body.dataset.theme") == "thermal", 5, "thermal")

    async def python_sets_plasma() -> None:
        async with await connect(bridge.target) as client:
            await client.set_theme("plasma")

    # Playwright's sync API holds this thread's event loop: the SDK runs on its own thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, python_sets_plasma()).result(timeout=30)
    for page in pages:  # pushed: both pages within 1 s, neither reloaded nor polling
        page.page.wait_for_function("document.body.dataset.theme === 'plasma'", timeout=1000)
        assert page.page.locator("#theme option:checked").inner_text() == "plasma"
    set_theme(server, "thermal")


def test_the_page_recovers_from_a_bridge_crash_without_missing_or_repeating_anomalies(
    server: ServerProcess, open_page: Callable[[], Dashboard],
) -> None:
    bridge = BridgeProcess(server.url, web=True).start()
    try:
        page = open_page().open(bridge.web_url)
        page.wait_live()
        page.js("window.__notReloaded = true")
        for _ in range(3):
            ingest(server, "web-crash", "l0", [float("nan")] + [0.5] * 15)
        wait_for(lambda: len(page.feed_sequences()) >= 3, 10, "three anomalies in the feed")
        bridge.kill()
        page.page.wait_for_function(
            "['reconnecting', 'down'].includes(document.getElementById('banner').dataset.state)",
            timeout=10_000)
        for _ in range(4):  # logged while the bridge is gone: the page must not miss them
            ingest(server, "web-crash", "l0", [float("nan")] + [0.5] * 15)
        bridge.start()
        page.wait_live(timeout_ms=30_000)
        for _ in range(2):
            ingest(server, "web-crash", "l0", [float("nan")] + [0.5] * 15)
        logged = [a["sequence"] for a in get_json(
            f"{server.url}/api/anomalies?model_id=web-crash&limit=1000")["anomalies"]]
        assert len(logged) == 9
        wait_for(lambda: set(logged) <= set(page.feed_sequences()), 10,
                 f"every logged anomaly {logged} in the feed {page.feed_sequences()}")
        seen = page.feed_sequences()
        assert len(seen) == len(set(seen)), f"an anomaly shown twice: {seen}"
        assert seen == sorted(seen)
        assert page.js("window.__notReloaded") is True
    finally:
        bridge.stop()


def test_no_console_errors_while_using_every_control(
    server: ServerProcess, bridge: BridgeProcess, open_page: Callable[[], Dashboard],
) -> None:
    page = open_page().open(bridge.web_url)
    page.wait_live()
    for layer in range(2):
        ingest(server, "web-ui-a", f"l{layer}", wavy(16, layer))
        ingest(server, "web-ui-b", f"l{layer}", wavy(16, layer + 1))
    ingest(server, "web-ui-a", "l0", [float("nan")] + [0.5] * 15)
    p = page.page
    p.wait_for_selector(".anomaly:has-text('web-ui-a')", timeout=10_000)
    p.locator(".anomaly").first.click()
    p.select_option("#theme", label="holographic")
    p.wait_for_function("document.body.dataset.theme === 'holographic'", timeout=5000)
    p.fill("#filter-models", "web-ui-a, web-ui-b")
    p.click("#apply-filter")
    p.wait_for_function("document.getElementById('filter-models').value.includes('web-ui-a')")
    p.click("#clear-filter")
    p.click("#save-layout")
    box = p.locator("#matrix").bounding_box()
    assert box is not None
    wait_for(lambda: page.js("window.neuralHeatmap.matrix.pairAt(10, 10) != null"), 10, "a matrix")
    p.mouse.move(box["x"] + 10, box["y"] + 10)
    assert " r = " in p.inner_text("#matrix-tip")
    wait_for(lambda: p.locator("#cka-a option").count() >= 2, 10, "models to compare")
    p.select_option("#cka-a", "web-ui-a")
    p.select_option("#cka-b", "web-ui-b")
    p.click("#compare")
    wait_for(lambda: "CKA(web-ui-a, web-ui-b)" in p.inner_text("#cka-result")
             or "error" in p.inner_text("#cka-result").lower(), 10, "a comparison")
    p.click("#reset-layout")
    p.select_option("#theme", label="thermal")
    p.wait_for_function("document.body.dataset.theme === 'thermal'", timeout=5000)
    assert p.inner_text("#control-error") == ""
    assert not page.errors, page.errors
    # Offline: nothing but the bridge that served it (no CDN, no web fonts).
    elsewhere = [u for u in page.requests if not u.startswith(bridge.web_url + "/")]
    assert elsewhere == [], elsewhere
    assert any(u.endswith("/app.js") for u in page.requests)
    # One multiplexed stream per page (a browser has about six connections per origin).
    streams = [u for u in page.requests if "/StreamUpdates" in u or "/Subscribe" in u]
    assert len(streams) == 1 and streams[0].endswith("/StreamUpdates"), streams


def test_without_the_token_the_page_asks_for_it_and_shows_no_data(
    open_page: Callable[[], Dashboard],
) -> None:
    token = "web-s3cret"
    with ServerProcess(extra_args=["--anomaly-cooldown", "0"], token=token) as server, \
            BridgeProcess(server.url, "--token", token, "--upstream-token", token,
                          web=True) as bridge:
        post_json(server.url + "/api/activations",
                  {"model_id": "web-tok", "layer_id": "l0", "values": [float("nan"), 1.0]}, token)
        page = open_page().open(bridge.web_url)
        page.page.wait_for_selector("#token-form:not([hidden])", timeout=10_000)
        assert page.js("document.getElementById('banner').dataset.state") == "token"
        assert page.feed_sequences() == []
        assert page.js("window.neuralHeatmap.canvas.layers().length") == 0
        page.page.fill("#token-form input", token)
        page.page.click("#token-form button")
        page.wait_live()
        page.page.wait_for_selector(".anomaly:has-text('web-tok/l0')", timeout=10_000)
        page.page.reload()  # kept for the tab: no second question
        page.wait_live()
        assert page.js("document.getElementById('token-form').hidden") is True


def test_a_stopped_server_shows_a_clear_banner_and_the_page_comes_back(
    open_page: Callable[[], Dashboard],
) -> None:
    with ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server, \
            BridgeProcess(server.url, web=True) as bridge:
        page = open_page().open(bridge.web_url)
        page.wait_live()
        server.kill()  # the bridge stays up; what it serves is gone
        page.page.wait_for_function(
            "document.getElementById('banner').dataset.state === 'down'", timeout=30_000)
        assert page.page.inner_text("#banner").startswith("Server down: ")
        server.start()
        page.wait_live(timeout_ms=30_000)
        ingest(server, "web-back", "l0", [float("nan")] + [0.5] * 15)
        page.page.wait_for_selector(".anomaly:has-text('web-back/l0')", timeout=10_000)


def test_a_filter_set_elsewhere_hides_layers_and_units_at_once(
    server: ServerProcess, bridge: BridgeProcess, open_page: Callable[[], Dashboard],
) -> None:
    page = open_page().open(bridge.web_url)
    page.wait_live()
    ingest(server, "web-fa", "l0", planted_values())
    ingest(server, "web-fb", "l0", planted_values())
    shown = "window.neuralHeatmap.canvas.arrangement().map((p) => p.key).sort().join(',')"
    wait_for(lambda: page.js(shown) == "web-fa/l0,web-fb/l0", 10, "both layers drawn")
    post_json(server.url + "/api/filter", {"model_ids": ["web-fa"], "intensity_range": [0.4, 1]})
    try:
        # Pushed: the panel of the filtered-out model leaves, and units outside the range
        # turn into the missing colour, on the frames already drawn (no new frame needed).
        page.page.wait_for_function(f"{shown} === 'web-fa/l0'", timeout=1000)
        x, y = page.cell_centre("web-fa/l0", 2) or (0, 0)  # 0.25: outside [0.4, 1]
        missing = tuple(int(h, 16) for h in ("7f", "7f", "7f"))
        wait_for(lambda: page.pixel("#heatmap", x, y) == missing, 2, "hidden unit in grey")
    finally:
        req = urllib.request.Request(server.url + "/api/filter", method="DELETE")
        urllib.request.urlopen(req, timeout=10).close()
    page.page.wait_for_function(f"{shown} === 'web-fa/l0,web-fb/l0'", timeout=5000)
    assert not page.errors, page.errors
