"""``neural-heatmap-bridge``: run the gRPC bridge until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

from . import _loop
from ._config import BridgeConfig, parse_config
from ._server import Bridge
from ._stream_hooks import StreamHooksFactory, no_hooks


async def run(
    config: BridgeConfig,
    stop: asyncio.Event | None = None,
    stream_hooks: StreamHooksFactory = no_hooks,
) -> None:
    """Serve until ``stop`` is set (or a signal arrives), then shut down gracefully.

    ``stream_hooks``: see ``Bridge`` (the test tree's entry module passes its faults).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge(config, stream_hooks)
    await bridge.start()
    print(f"neural-heatmap-bridge listening on {bridge.port}", flush=True)
    if bridge.web_url:
        print(f"neural-heatmap-bridge web port (Connect, gRPC-Web, dashboard) on {bridge.web_url}",
              flush=True)
    try:
        await stop.wait()
    finally:
        await bridge.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    config = parse_config(argv)
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _loop.run(run(config), config.uvloop)


if __name__ == "__main__":
    main()
