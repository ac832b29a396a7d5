"""Two extension points in an anomaly stream's life, which the bridge itself leaves empty.

Why they exist: liveness tests (tests/bridge/test_liveness.py, the SDKs' stall-recovery
tests) need a stream that stops delivering *inside* the bridge, which no real failure
produces on demand, for clients in any language that cannot be changed for the test. The
bridge calls these points on every anomaly stream; its own :class:`StreamHooks` does
nothing there. The test tree subclasses it (tests/support/faulty_bridge.py) and starts the
bridge through its own entry module with ``Bridge(config, stream_hooks=...)``; no
production module imports anything of the test tree (an import-linter rule,
pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Mailbox(Protocol):
    """What a hook may do with a stream's mailbox (``_mailbox.Mailbox``)."""

    async def pause(self) -> None:
        """Wait a poll interval, or less if something arrives for the stream."""


class StreamHooks:
    """What one anomaly stream does at its catch-up and heartbeat points: nothing extra."""

    async def may_catch_up(self, mb: Mailbox) -> bool:
        """Called before each catch-up step of ``mb``; ``False`` skips the step (the stream
        reads nothing this round)."""
        return True

    async def heartbeat_sent(self, mb: Mailbox) -> None:
        """Called after ``mb`` was handed a heartbeat."""


NO_HOOKS = StreamHooks()
"""The hooks of every stream in production (and of every stream without anomalies)."""

StreamHooksFactory = Callable[[], StreamHooks]
"""Called once per anomaly stream as it opens, in opening order."""


def no_hooks() -> StreamHooks:
    """The production factory: every stream gets :data:`NO_HOOKS`."""
    return NO_HOOKS
