"""The real bridge with faults in chosen anomaly streams, for liveness tests only.

Liveness tests need an anomaly stream that stops delivering *inside* the bridge, which no
real failure produces on demand, for clients in any language that cannot be changed for
the test. This entry module runs the production bridge unchanged except for the hooks it
gives each anomaly stream (``neural_heatmap_bridge._stream_hooks``); the production
package never imports this file (import-linter, pyproject.toml)::

    python -m tests.support.faulty_bridge --test-faults "mute@1,freeze@3" [bridge flags]

gives the 1st and 3rd anomaly stream the bridge opens (``SubscribeAnomalies``, or
``StreamUpdates`` with anomalies) that fault; every other stream, including the one a
client reopens afterwards, is healthy, so a resuming client recovers and the test can
check that nothing was lost or repeated. Modes:

* ``mute``: the stream never receives an anomaly (as if it had fallen out of the fan-out)
  but keeps sending heartbeats, so its cursor falls behind the head it is told; the
  bridge's own watchdog ends it with UNAVAILABLE.
* ``freeze``: after its first heartbeat (its first idle interval) the stream sends nothing
  at all and stays open; only a client-side idle bound notices.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import logging
import sys
from collections.abc import Sequence

from neural_heatmap_bridge import _loop
from neural_heatmap_bridge.__main__ import run
from neural_heatmap_bridge._config import parse_config
from neural_heatmap_bridge._stream_hooks import NO_HOOKS, Mailbox, StreamHooks


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


class Muted(StreamHooks):
    """Never reads: every catch-up step only waits."""

    async def may_catch_up(self, mb: Mailbox) -> bool:
        await mb.pause()
        return False


class Frozen(StreamHooks):
    """Silent and open after its first heartbeat."""

    async def heartbeat_sent(self, mb: Mailbox) -> None:
        await asyncio.get_running_loop().create_future()  # until the stream is cancelled


class FaultPlan:
    """Counts anomaly streams as they open and gives each planned fault to its stream."""

    def __init__(self, plan: dict[int, Fault]) -> None:
        self._plan = plan
        self._opened = 0

    def __call__(self) -> StreamHooks:
        self._opened += 1
        fault = self._plan.get(self._opened)
        return {Fault.MUTE: Muted(), Fault.FREEZE: Frozen(), None: NO_HOOKS}[fault]


def main(argv: Sequence[str] | None = None) -> None:
    """``--test-faults PLAN``, then every bridge flag."""
    parser = argparse.ArgumentParser(prog="faulty-bridge", add_help=False)
    parser.add_argument("--test-faults", type=parse_faults, required=True)
    ns, bridge_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    config = parse_config(bridge_args)
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _loop.run(run(config, stream_hooks=FaultPlan(ns.test_faults)), config.uvloop)


if __name__ == "__main__":
    main()
