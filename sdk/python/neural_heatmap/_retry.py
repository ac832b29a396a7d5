"""The SDK's one retry policy.

Policy, in full:

* Only **idempotent** calls are retried, as the protos declare them (each RPC's
  ``idempotency_level``, generated into ``neural_heatmap_contract.policy.RETRY_SAFE``
  and read by the client's ``_call``): queries (``Get*``, ``List*``,
  ``CompareModels``, ``RenderHeatmap``), ``DownloadExport``, the ``Set*``/``ClearFilter``
  calls, which replace state so that repeating them changes nothing,
  ``ExportCorrelationMatrix``, which rewrites the same file, and ``AckAnomalies``.
  ``IngestActivations`` is never retried: a retry could store frames twice.
* Only **transient** status codes are retried: ``UNAVAILABLE`` (bridge or
  upstream not reachable, restarting) and ``DEADLINE_EXCEEDED`` when the
  bridge reports that its upstream timed out while the caller's own overall
  deadline has time left.
* Waits grow exponentially from :attr:`Retry.initial` by
  :attr:`Retry.multiplier` up to :attr:`Retry.maximum`, with equal jitter
  (each wait is uniform in ``[cap/2, cap]``), so many clients that lost the
  bridge at the same moment do not come back in lockstep.
* The codes, the backoff numbers and the budget are the policy every client
  shares (protos/policy/retry.json and client.json, generated into
  ``neural_heatmap_contract.policy`` and into the Go, TypeScript and Java SDKs;
  docs/clients.md).
* The whole call, retries included, stops at the caller's ``timeout`` (or
  :attr:`Retry.deadline` when no timeout is given): each attempt gets the time
  that is left.

Live streams reconnect by ``ReconnectPolicy`` in ``_streaming``, with the same
backoff shape and the policy's stream-reconnect codes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from neural_heatmap_contract import policy
from neural_heatmap_contract.backoff import backoff_delay

__all__ = ["DEFAULT_RETRY", "Retry"]

T = TypeVar("T")

TRANSIENT_CODES: frozenset[grpc.StatusCode] = frozenset(
    grpc.StatusCode[name] for name in policy.UNARY_RETRY_CODES
)


@dataclass(frozen=True)
class Retry:
    """Exponential-backoff retry settings for idempotent calls.

    Attributes:
        initial: First wait cap in seconds.
        maximum: Largest wait cap in seconds.
        multiplier: Growth factor of the wait cap after each failed attempt.
        deadline: Overall time budget in seconds when the call has no timeout.
        max_attempts: Attempts in total, the first one included; ``None``: as
            many as the deadline allows.
        codes: Status codes that count as transient.
        jitter: Share of each wait drawn at random (0.5: equal jitter, 1: full).
    """

    initial: float = policy.BACKOFF_INITIAL_SECONDS
    maximum: float = policy.BACKOFF_MAX_SECONDS
    multiplier: float = policy.BACKOFF_MULTIPLIER
    deadline: float = policy.RETRY_BUDGET_SECONDS
    max_attempts: int | None = None
    codes: frozenset[grpc.StatusCode] = field(default=TRANSIENT_CODES)
    jitter: float = policy.BACKOFF_JITTER_FRACTION

    def delays(self) -> Iterator[float]:
        """Yield the jittered waits between attempts (the policy's backoff shape)."""
        attempt = 0
        while True:
            yield backoff_delay(attempt, initial=self.initial, multiplier=self.multiplier,
                                maximum=self.maximum, jitter=self.jitter)
            attempt += 1


DEFAULT_RETRY = Retry()
"""The retry used by idempotent calls unless ``retry=`` says otherwise."""


async def call_with_retry(
    attempt: Callable[[float | None], Awaitable[T]],
    *,
    retry: Retry | None,
    timeout: float | None,
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or time runs out.

    Args:
        attempt: Makes one call; receives the per-attempt timeout (the time
            left of the overall budget, or ``None`` for no deadline).
        retry: The retry settings, or ``None`` for a single attempt.
        timeout: The caller's overall deadline in seconds, or ``None``.

    Returns:
        What the successful attempt returned.

    Raises:
        grpc.aio.AioRpcError: The last failure, for the caller to convert.
    """
    if retry is None:
        return await attempt(timeout)
    budget = timeout if timeout is not None else retry.deadline
    end = time.monotonic() + budget
    delays = retry.delays()
    attempts = 0
    while True:
        attempts += 1
        remaining = end - time.monotonic()
        try:
            return await attempt(max(remaining, 0.001) if timeout is not None else None)
        except grpc.aio.AioRpcError as exc:
            delay = next(delays)
            remaining = end - time.monotonic()
            if (
                exc.code() not in retry.codes
                or (retry.max_attempts is not None and attempts >= retry.max_attempts)
                or remaining <= delay
            ):
                raise
            await asyncio.sleep(delay)
