"""The one backoff shape of every Python client (SDK retries and reconnects, the bridge).

Before retry number ``attempt`` (0-based) the cap is
``min(maximum, initial * multiplier ** attempt)`` and the wait is
``cap * (1 - jitter * r)`` with ``r`` uniform in ``[0, 1)``. With the policy's equal
jitter (``jitter = 0.5``) each wait lies in ``[cap / 2, cap]``: random enough that many
clients that lost the same peer do not come back in lockstep, and floored so that a peer
that accepts and drops at once is still not hammered. The numbers come from
``policy`` (generated from protos/policy/retry.json, like Go's and TypeScript's).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from . import policy

__all__ = ["backoff_delay"]

# multiplier ** attempt beyond this is past any cap; bounding it keeps the float finite
# (0.1 * 2.0 ** 1100 raises OverflowError after ~25 minutes of failures).
_MAX_EXPONENT = 64


def backoff_delay(
    attempt: int,
    *,
    initial: float = policy.BACKOFF_INITIAL_SECONDS,
    multiplier: float = policy.BACKOFF_MULTIPLIER,
    maximum: float = policy.BACKOFF_MAX_SECONDS,
    jitter: float = policy.BACKOFF_JITTER_FRACTION,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    Args:
        attempt: How many retries came before this one.
        initial: Cap of the first wait.
        multiplier: Growth of the cap per attempt.
        maximum: Largest cap.
        jitter: Share of the wait drawn at random, 0 (none) to 1 (full jitter).
        rng: Source of ``r`` in ``[0, 1)``; injectable for tests.
    """
    cap = min(maximum, initial * multiplier ** min(max(attempt, 0), _MAX_EXPONENT))
    return cap * (1.0 - jitter * rng())
