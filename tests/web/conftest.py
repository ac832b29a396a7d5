"""The dashboard in a real browser: Debian's chromium-headless-shell driven by Playwright,
against a real server and a real bridge serving the page on its web port.

Playwright's own browser download cannot work here; ``make setup`` installs Debian's
``chromium-headless-shell`` and the tests launch it by path. Screenshots go to one temporary
directory per session (printed at the end, and kept), to be looked at.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.support.bridge_process import BridgeProcess
from tests.support.chromium import CHROMIUM, MISSING, launch
from tests.support.server_process import ServerProcess

SERVER_ARGS = ["--anomaly-cooldown", "0", "--correlation-interval", "0.5"]
VIEWPORT = {"width": 1300, "height": 900}
SHOTS = Path(tempfile.mkdtemp(prefix="nh-web-shots-"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per module (Debian's package, by path).

    Module-scoped, not session-scoped: Playwright's sync API holds an event loop on this
    thread while it runs, which the asyncio tests that follow in the same session need.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(MISSING)
    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()
    print(f"\ndashboard screenshots: {SHOTS}")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """A real server (anomalies without cooldown, correlations every half second)."""
    with ServerProcess(extra_args=SERVER_ARGS) as proc:
        yield proc


@pytest.fixture(scope="module")
def bridge(server: ServerProcess) -> Iterator[BridgeProcess]:
    """A real bridge in front of ``server``, serving the dashboard on its web port."""
    with BridgeProcess(server.url, web=True) as proc:
        yield proc


class Dashboard:
    """One open page of the dashboard and what its console said."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []  # every URL the page asked for
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(msg.text)

    def open(self, url: str) -> Dashboard:
        self.page.goto(url)
        return self

    def wait_live(self, timeout_ms: float = 15_000) -> None:
        self.page.wait_for_function(
            "document.getElementById('banner').dataset.state === 'live'", timeout=timeout_ms)

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def pixel(self, selector: str, x: int, y: int) -> tuple[int, int, int]:
        """The RGB of a canvas pixel (what was drawn, not a screenshot's rescaling)."""
        r, g, b = self.js(
            "([s, x, y]) => Array.from(document.querySelector(s).getContext('2d')"
            ".getImageData(x, y, 1, 1).data.slice(0, 3))", [selector, x, y])
        return int(r), int(g), int(b)

    def cell_centre(self, key: str, unit: int) -> tuple[int, int] | None:
        at = self.js("([k, u]) => window.neuralHeatmap.canvas.cellCentre(k, u) ?? null",
                     [key, unit])
        return None if at is None else (int(at["x"]), int(at["y"]))

    def feed_sequences(self) -> list[int]:
        return [int(s) for s in self.js(
            "window.neuralHeatmap.feed.sequences.map((s) => s.toString())")]

    def screenshot(self, name: str) -> Path:
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[], Dashboard]]:
    """Opens fresh pages (each its own context: its own sessionStorage); closes them after."""
    contexts = []

    def make() -> Dashboard:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        return Dashboard(context.new_page())

    yield make
    for context in contexts:
        context.close()


def post_json(url: str, body: Any, token: str | None = None) -> Any:
    """POST a JSON body to the server's HTTP API and read the JSON answer."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def ingest(server: ServerProcess, model: str, layer: str, values: list[float]) -> None:
    post_json(server.url + "/api/activations",
              {"model_id": model, "layer_id": layer, "values": values,
               "timestamp": time.time()})


def wavy(units: int, phase: float) -> list[float]:
    """Smooth values with some structure (isolines and a visible pattern)."""
    side = math.isqrt(units) or 1
    return [math.sin((i % side) / 2.5 + phase) * math.cos((i // side) / 3.0) for i in range(units)]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls ``condition`` until it returns something truthy; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
