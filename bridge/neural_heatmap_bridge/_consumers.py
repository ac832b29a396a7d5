"""Durable named consumers (``SubscribeAnomaliesRequest.consumer``) and ``AckAnomalies``.

The server keeps every consumer's state (``neural_heatmap_server.consumers``,
docs/reliability.md "Durable consumers"), so the bridge stays stateless and a
consumer may reconnect through any bridge:

* A **plain** consumer's stream is an ordinary anomaly stream that starts after
  the consumer's acknowledged cursor (``GET /api/consumers/<name>``), so it has
  every property of one (exactly once, in order, resumable, heartbeats).
* A **group** member's stream (``shared``) asks the server for work
  (``POST /api/consumers/<name>/claim``) with a member id of its own, delivers
  what it is given, and asks again: at once after a full batch, after
  ``POLL_INTERVAL`` when there was nothing. While idle it sends heartbeats
  naming the group's acknowledged cursor.

Acknowledgements are a unary ``AckAnomalies`` rather than messages on a
bidirectional stream: any bridge can take one (the state is the server's), a
client acknowledges from wherever its work finishes, and every SDK's unary
machinery (deadlines, retries: an acknowledgement is idempotent) applies.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator

from neural_heatmap_contract.routes import http
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import updates_pb2

from . import _convert as cv
from . import _errors
from ._anomaly_cache import AnomalyCache
from ._upstream import CallOptions, Upstream, segment

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
POLL_INTERVAL = 0.2  # seconds between claims while a group has nothing new


def check_request(request: pb.SubscribeAnomaliesRequest) -> None:
    """The consumer fields of a subscription, checked before anything is asked upstream.

    Raises:
        UpstreamError: INVALID_ARGUMENT naming the field.
    """
    if request.shared and not request.consumer:
        raise _errors.invalid("shared needs a consumer name", field="shared")
    if not request.consumer:
        return
    check_name(request.consumer, "consumer")
    if request.HasField("after_sequence"):
        raise _errors.invalid(
            "consumer and after_sequence exclude each other: a consumer resumes after its "
            "acknowledged cursor",
            field="after_sequence",
        )
    if request.shared and (request.model_ids or request.min_severity):
        raise _errors.invalid(
            "a consumer group (shared) takes no model_ids or min_severity: every member "
            "must be able to take every anomaly",
            field="model_ids" if request.model_ids else "min_severity",
        )


def check_name(name: str, field: str) -> None:
    """A consumer name: 1-64 letters, digits, '-' or '_' (it becomes a URL segment)."""
    if not NAME.fullmatch(name):
        raise _errors.invalid(
            f"{field} must be 1-64 letters, digits, '-' or '_', got {name!r}", field=field
        )


async def cursor(up: Upstream, name: str, opts: CallOptions) -> int:
    """A plain consumer's acknowledged cursor (the server creates it at the log's head)."""
    doc = await up.get_json(http("GetConsumer").fill(name=segment(name)), opts, {"shared": "false"})
    return int(doc["acked_sequence"])


async def ack(up: Upstream, name: str, sequence: int, opts: CallOptions) -> int:
    """Acknowledge; the consumer's cursor afterwards."""
    path = http("AckAnomalies").fill(name=segment(name))
    doc = await up.post_json(path, opts, {"sequence": sequence})
    return int(doc["acked_sequence"])


async def group_stream(
    up: Upstream,
    cache: AnomalyCache,
    name: str,
    opts: CallOptions,
    batch: int,
    heartbeat_interval: float,
) -> AsyncIterator[updates_pb2.AnomalyUpdate | updates_pb2.AnomalyHeartbeat]:
    """A group member's updates (``AnomalyUpdate``) and idle heartbeats, until cancelled."""
    member = uuid.uuid4().hex
    path = http("ClaimAnomalies").fill(name=segment(name))
    last_sent = time.monotonic()
    while True:
        doc = await up.post_json(path, opts, {"member": member, "limit": batch})
        items = cache.convert(doc.get("anomalies"))
        if items:
            last_sent = time.monotonic()
            yield cv.anomaly_update(items)
            if len(items) == batch:
                continue
        elif time.monotonic() - last_sent >= heartbeat_interval:
            last_sent = time.monotonic()
            beat = updates_pb2.AnomalyHeartbeat(last_sequence=int(doc["acked_sequence"]))
            beat.timestamp.GetCurrentTime()
            yield beat
        await asyncio.sleep(POLL_INTERVAL)
