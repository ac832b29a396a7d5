"""Test-only fault injection for anomaly streams (``--test-faults``; off by default).

Liveness tests need an anomaly stream that stops delivering *inside* the
bridge, which no real failure produces on demand, for clients in any language
that cannot be changed for the test. ``--test-faults "freeze@1,mute@3"`` gives
the 1st and 3rd anomaly stream the bridge opens (``SubscribeAnomalies``, or
``StreamUpdates`` with anomalies) that fault; every other stream, including
the one a client reopens afterwards, is healthy, so a resuming client
recovers and the test can check that nothing was lost or repeated. Modes:

* ``mute``: the stream never receives an anomaly (as if it had fallen out of
  the fan-out) but keeps sending heartbeats, so its cursor falls behind the
  head it is told; the bridge's own watchdog ends it with UNAVAILABLE.
* ``freeze``: after its first heartbeat (its first idle interval) the stream
  sends nothing at all and stays open; only a client-side idle bound notices.
"""

from __future__ import annotations

import argparse
import enum


class Fault(enum.Enum):
    """What goes wrong with one stream."""

    MUTE = "mute"
    FREEZE = "freeze"


def parse_faults(text: str) -> dict[int, Fault]:
    """``"mute@1,freeze@3"`` as ``{1: MUTE, 3: FREEZE}`` (``"mute"`` alone means ``@1``).

    Raises:
        argparse.ArgumentTypeError: On an unknown mode or a bad stream number.
    """
    out: dict[int, Fault] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        mode, _, nth = item.partition("@")
        try:
            fault, index = Fault(mode), int(nth or "1")
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad fault {item!r}: expected mute@N or freeze@N"
            ) from None
        if index < 1:
            raise argparse.ArgumentTypeError(f"bad fault {item!r}: streams count from 1")
        out[index] = fault
    return out


class FaultInjector:
    """Counts anomaly streams and hands each planned fault to its stream.

    Args:
        plan: ``--test-faults``; empty: every stream is healthy.
    """

    def __init__(self, plan: str) -> None:
        self._plan = parse_faults(plan)
        self._opened = 0

    def next_stream(self) -> Fault | None:
        """The fault of the anomaly stream being opened now, if one is planned."""
        if not self._plan:
            return None
        self._opened += 1
        return self._plan.get(self._opened)
