"""The event loop the bridge runs on: uvloop when it is importable, else asyncio's own.

uvloop's loop (libuv) costs less per wake-up and per socket read than the
standard selector loop, which matters on the bridge's hot path: every unary
RPC is one gRPC call in and one HTTP call out. grpc.aio runs on it (its
completion-queue poller only needs ``add_reader``). ``--no-uvloop`` (or
``NH_BRIDGE_UVLOOP=0``) keeps the standard loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("neural_heatmap_bridge")


def loop_factory(use_uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor when wanted and installed, else None (asyncio's default)."""
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], use_uvloop: bool = True) -> T:
    """``asyncio.run(main)``, on uvloop when ``use_uvloop`` and it is importable."""
    factory = loop_factory(use_uvloop)
    with asyncio.Runner(loop_factory=factory) as runner:
        log.info("event loop: %s", type(runner.get_loop()).__module__)
        return runner.run(main)
