"""Test-only fault injection for streams (``--fault-injection``; off by default).

Liveness tests need an anomaly stream that stops delivering *inside* the
bridge, which no real failure produces on demand. With the flag on, a stream
whose call carries the metadata ``nh-test-fault: <mode>[:<tag>]`` gets that
fault, once per distinct value: a client that reopens the stream with the same
metadata gets a healthy stream, so a resuming client recovers and the test can
check that nothing was lost or repeated. Modes:

* ``mute``: the stream never receives an anomaly (as if it had fallen out of
  the fan-out) but keeps sending heartbeats, so its cursor falls behind the
  head it is told; the bridge's own watchdog ends it with UNAVAILABLE.
* ``freeze``: after its first heartbeat the stream sends nothing at all and
  stays open; only a client-side idle bound notices.

Without the flag the metadata is ignored, so production bridges cannot be
faulted by a caller.
"""

from __future__ import annotations

import enum
from typing import Any

import grpc

METADATA_KEY = "nh-test-fault"


class Fault(enum.Enum):
    """What goes wrong with one stream."""

    MUTE = "mute"
    FREEZE = "freeze"


class FaultInjector:
    """Hands out each requested fault once.

    Args:
        enabled: ``--fault-injection``; when false every call is healthy.
    """

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._used: set[str] = set()

    def for_call(self, context: grpc.aio.ServicerContext[Any, Any]) -> Fault | None:
        """The fault this call asked for, unless off or already handed out."""
        if not self._enabled:
            return None
        for key, value in context.invocation_metadata() or ():
            if key != METADATA_KEY:
                continue
            text = value if isinstance(value, str) else value.decode()
            if text in self._used:
                return None
            try:
                fault = Fault(text.split(":", 1)[0])
            except ValueError:
                return None
            self._used.add(text)
            return fault
        return None
