"""What the overload tests share: a server with small limits, heavy data, a health prober."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable

import numpy as np

from tests.server.conftest import Api

# Small limits so that a handful of requests saturates the workers and the queue.
OVERLOAD_ARGS = ["--workers", "2", "--max-pending-analytics", "3", "--max-pending-exports", "1",
                 "--max-request-seconds", "12", "--max-compare-models", "8",
                 "--max-new-layers", "64", "--max-matrix-labels", "2048",
                 "--max-push-labels", "16", "--correlation-interval", "0.3"]
LAYERS_PER_MODEL = 24
BIG_UNITS = 2048


def load_heavy_data(api: Api) -> None:
    """Two models of many layers (compare is quadratic in layers) and one 2048-unit layer."""
    rng = np.random.default_rng(7)
    for model in ("heavy-a", "heavy-b"):
        for layer in range(LAYERS_PER_MODEL):
            api.ingest_series(model, f"l{layer}", rng.normal(size=(512, 64)).astype("f4"))
    api.ingest_series("heavy-big", "units", rng.normal(size=(512, BIG_UNITS)).astype("f4"))


class HealthProbe:
    """Polls a health check in a thread and records the slowest answer.

    Leaving the ``with`` block waits until at least ``min_checks`` checks ran: on a fast
    machine the load may end before the prober got going, and a test must not depend on
    how fast the load was (the checks that ran during it are what it asserts on).

    Args:
        check: One health check; raises on failure.
        interval: Seconds between checks.
        min_checks: Checks that must have run before the probe stops.
    """

    def __init__(self, check: Callable[[], None], interval: float = 0.1,
                 min_checks: int = 5) -> None:
        self.check = check
        self.interval = interval
        self.min_checks = min_checks
        self.worst = 0.0
        self.count = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.check()
            except Exception as exc:
                self.failures.append(repr(exc))
            self.worst = max(self.worst, time.monotonic() - started)
            self.count += 1
            if self._stop.wait(self.interval) and self.count >= self.min_checks:
                return

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def http_health(url: str) -> Callable[[], None]:
    """A check of ``GET /health`` that fails beyond 2 s."""
    def check() -> None:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            assert resp.status == 200
    return check


def run_concurrently(calls: list[Callable[[], object]]) -> list[object]:
    """Run every call in its own thread at once; results (or exceptions) in order."""
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
