"""Concurrent ``GET /api/render``: many renders at once draw exactly what one alone draws.

The server draws with matplotlib ``Figure`` objects from worker threads, and matplotlib
shares module-level state between figures (font cache, text-metrics cache, colour maps,
rcParams). This drives a real server with ``--workers 8`` through every theme, both
kinds (the heatmap canvas and the labelled correlation matrix) and several sizes,
``CONCURRENCY`` requests in flight for at least ``LOAD_SECONDS``, and checks each PNG
byte for byte against the same request rendered alone, while ``/health`` keeps
answering. (It found no difference before ``render._MATPLOTLIB`` either; the lock is
a guard, see docs/server.md.)
"""

from __future__ import annotations

import itertools
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.server.conftest import Api, unique
from tests.support.server_process import ServerProcess

CONCURRENCY = 8
LOAD_SECONDS = 8.0  # and until every case was drawn under load at least once
THEMES = ("thermal", "plasma", "holographic", "contour", "custom")
KINDS = ("heatmap", "correlation")
SIZES = ((160, 120), (240, 180), (320, 240))
CUSTOM_COLORS = "#00ff00,#ff00ff,#0000ff"
LAYERS = 6
HEALTH_BOUND_SECONDS = 5.0  # generous: /health is served on the event loop, never queued


@pytest.fixture(scope="module")
def render_server() -> Iterator[ServerProcess]:
    """A server whose pool really draws ``CONCURRENCY`` images at once (default: 2)."""
    with ServerProcess(extra_args=[
            "--workers", str(CONCURRENCY),
            "--max-pending-analytics", str(4 * CONCURRENCY)]) as proc:
        yield proc


@pytest.fixture(scope="module")
def model(render_server: ServerProcess) -> str:
    """``LAYERS`` layers of 16 units with distinct values (a labelled 6 x 6 matrix)."""
    api, model_id = Api(render_server), unique("render")
    rng = np.random.default_rng(3)
    base = np.sin(np.arange(64) / 5.0)[:, None]
    for i in range(LAYERS):
        frames = base * (i - 2.5) + rng.normal(0.0, 0.3, (64, 16)) + 0.05 * np.arange(16)
        api.ingest_series(model_id, f"layer{i}", frames.astype(np.float32))
    return model_id


def render_paths(model_id: str) -> list[str]:
    """One ``/api/render`` request per theme x kind x size."""
    paths = []
    for theme, kind, (width, height) in itertools.product(THEMES, KINDS, SIZES):
        query = {"model_ids": model_id, "kind": kind, "theme": theme,
                 "width": width, "height": height}
        if theme == "custom":
            query["custom_colors"] = CUSTOM_COLORS
        paths.append("/api/render?" + urllib.parse.urlencode(query))
    return paths


@dataclass
class HealthWatch:
    """Polls ``/health`` from its own thread while the load runs."""

    api: Api
    statuses: list[int] = field(default_factory=list)
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.2):
            started = time.monotonic()
            status, _, _ = self.api.request("GET", "/health")
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.statuses.append(status)

    def stop(self) -> None:
        self._stop.set()


def test_concurrent_renders_match_renders_alone(render_server: ServerProcess, model: str
                                                ) -> None:
    api = Api(render_server)

    def fetch(path: str) -> tuple[int, bytes]:
        status, headers, body = api.request("GET", path)
        assert headers.get("Content-Type", "").startswith("image/png") or status != 200
        return status, body

    paths = render_paths(model)
    alone = {}
    for path in paths:  # one at a time: the reference images
        status, body = fetch(path)
        assert status == 200, (path, body[:300])
        alone[path] = body
    assert len(set(alone.values())) == len(paths)  # every case draws a different image

    watch = HealthWatch(api)
    watcher = threading.Thread(target=watch.run, daemon=True)
    watcher.start()
    rng = np.random.default_rng(11)
    drawn = dict.fromkeys(paths, 0)
    mismatches: list[str] = []
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            # Shuffled rounds of all cases with CONCURRENCY in flight, so each case is
            # drawn next to different neighbours (themes, kinds and sizes mixed).
            while time.monotonic() - started < LOAD_SECONDS or min(drawn.values()) == 0:
                order = [paths[i] for i in rng.permutation(len(paths))]
                for path, (status, body) in zip(order, pool.map(fetch, order), strict=True):
                    assert status == 200, (path, status, body[:300])
                    drawn[path] += 1
                    if body != alone[path]:
                        mismatches.append(path)
    finally:
        watch.stop()
        watcher.join(10)
    assert render_server.proc is not None and render_server.proc.poll() is None
    assert mismatches == [], f"{len(mismatches)} of {sum(drawn.values())} differ: {mismatches}"
    assert min(drawn.values()) >= 1
    assert watch.statuses and set(watch.statuses) == {200}, watch.statuses
    assert watch.slowest < HEALTH_BOUND_SECONDS
    assert api.request("GET", "/health")[0] == 200
