"""Queries: the analytics' planned jobs run in the worker pool, on request or on a timer.

Why a service: an analytic is planned on the event loop (``analytics``: checked,
data snapshotted) and computed in a worker; running it is the same for a route,
a WebSocket request and the periodic correlation/temporal pushes: admitted under
``WORK_CLASS`` (429 ``overloaded`` beyond ``--max-pending-analytics``), bounded by
a deadline, and traced as a child span ``analytic <name>`` of the request's span,
so a trace shows the work apart from the waiting and the encoding around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from neural_heatmap_contract.tracing import span

from ..analytics import Analytics
from ..errors import ApiError
from ..hub import Hub
from ..workers import Deadline, WorkPool

log = logging.getLogger(__name__)

T = TypeVar("T")

WORK_CLASS = "analytics"  # the worker pool's class for analytics (--max-pending-analytics)


class QueryService:
    """Runs planned analytics and pushes the periodic ones to their subscribers.

    Args:
        analytics: Plans each analytic (the checks and the snapshot, on the loop).
        pool: The worker pool, with a ``WORK_CLASS`` class.
        hub: The WebSocket fan-out (correlation and temporal subscribers).
        deadline: Makes the deadline a push runs under.
        correlation_interval: Seconds between correlation pushes.
        temporal_interval: Seconds between temporal pushes.
    """

    def __init__(self, analytics: Analytics, pool: WorkPool, hub: Hub,
                 deadline: Callable[[], Deadline], correlation_interval: float,
                 temporal_interval: float) -> None:
        self._analytics = analytics
        self._pool = pool
        self._hub = hub
        self._deadline = deadline
        self._correlation_interval = correlation_interval
        self._temporal_interval = temporal_interval

    async def offload(self, deadline: Deadline, job: Callable[[], T],
                      name: str | None = None) -> T:
        """Run ``job`` (made by an ``Analytics.plan_*`` method) in the worker pool."""
        with span(f"analytic {name or WORK_CLASS}", **{"nh.work_class": WORK_CLASS}):
            return await self._pool.run(WORK_CLASS, deadline, job)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """The work that runs until shutdown: the periodic correlation/temporal pushes."""
        return [self._periodic(self._correlation_interval, "correlations",
                               self._correlation_update),
                self._periodic(self._temporal_interval, "temporal", self._temporal_update)]

    async def _correlation_update(self) -> None:
        job, truncated = self._analytics.plan_correlation_push()
        payload = (await self.offload(self._deadline(), job)).to_json()
        if truncated:
            payload["metadata"]["truncated"] = truncated
        self._hub.publish_update("correlation_update", "correlations", payload)

    async def _temporal_update(self) -> None:
        payload = await self.offload(self._deadline(), self._analytics.plan_temporal_push())
        self._hub.publish_update("temporal_update", "temporal", payload)

    async def _periodic(self, interval: float, attr: str,
                        push: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._hub.has_subscribers(attr):
                try:
                    await push()
                except ApiError as exc:
                    log.warning("periodic %s update skipped: %s", attr, exc.message)
                except Exception:
                    log.exception("periodic %s update failed", attr)
