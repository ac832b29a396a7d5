"""Version counters pushed to WebSocket clients that cache the server's answers.

A client holding answers in memory (the gRPC bridge's read cache, see
docs/bridge.md) asks for ``subscribe_versions``; from then on the server sends
``{"type": "versions", "data": {...}}`` right away (the acknowledgement) and
again after every change that can alter an answer, so the client can tell a
still-valid answer from a stale one without asking:

- ``epoch``: a random id of this server process. Counters start over when the
  server restarts (view state persists, the anomaly log may be new); a client
  must drop everything it cached under another epoch.
- ``anomalies``: the anomaly log's head (newest sequence); moves with every append
  (retention pruning only happens on an append).
- ``view``: counts changes of the filter, theme and layout.
- ``frames``: the activation store's version, bumped by every ingested batch; model
  list, correlations and temporal statistics are functions of it (and the filter).

Every counter only grows within an epoch, and a push is queued only after the
change is visible to every route, so an answer read after receiving version V
reflects at least V.
"""

from __future__ import annotations

import uuid
from typing import Any


class Versions:
    """The counters of one server process (see the module docstring).

    Args:
        anomaly_head: The anomaly log's head when the server starts.
    """

    def __init__(self, anomaly_head: int) -> None:
        self.epoch = uuid.uuid4().hex
        self.anomalies = anomaly_head
        self.view = 0
        self.frames = 0

    def message(self) -> dict[str, Any]:
        """The ``versions`` WebSocket message as it stands now."""
        return {"type": "versions", "data": {
            "epoch": self.epoch, "anomalies": self.anomalies, "view": self.view,
            "frames": self.frames}}
