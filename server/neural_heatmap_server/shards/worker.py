"""One owned partition: rebuild its windows by replay, then consume its frames in order.

On takeover (``run``), the durable consumer ``p<partition>`` tells how far the previous
owner got: its ack floor ``F`` is the last frame message whose state update and
anomalies were complete. The worker then

1. replays the retained frames of the partition up to ``F`` into windows and detectors
   of its own without reporting anything (they were judged already), so windows and
   detector baselines are what the previous owner had (the stream keeps at least
   ``--window`` messages per layer), and only then hands them to the server's store
   (``adopt``): no query sees a partition half replayed (meanwhile its models answer
   503 with Retry-After, ``ShardNode.check_takeover``);
2. recreates the durable consumer from ``F + 1``: messages the previous owner had been
   given but not acknowledged come again at once and in order, instead of after the
   ack wait behind newer ones;
3. consumes in order, at most ``max_ack_pending`` messages in flight: apply the frames,
   publish their anomalies (``PartitionWriter``: a message id per (frame message, type,
   firing), so an anomaly already published before the takeover is not doubled), then
   acknowledge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import nats
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from neural_heatmap_contract.backoff import backoff_delay
from neural_heatmap_contract.partition import partition_subject

from ..errors import ApiError
from ..store import FrameBatch
from . import frames
from .anomaly_log import PartitionWriter

log = logging.getLogger(__name__)

FETCH_BATCH = 64  # messages asked for per pull
FETCH_WAIT = 1.0  # seconds a pull waits for messages
ACK_WAIT = 30.0  # seconds before JetStream redelivers a message given but not acknowledged

Apply = Callable[[FrameBatch], list[dict[str, Any]]]
Replay = Callable[[], tuple[Callable[[FrameBatch], None], Callable[[], None]]]
"""Makes a replay: ``(apply a batch silently, hand the rebuilt state to the server)``."""


def consumer_name(p: int) -> str:
    """The durable consumer of partition ``p``'s frames."""
    return f"p{p}"


def anomaly_ids(stream: str, sequence: int, found: list[dict[str, Any]]
                ) -> list[tuple[str, dict[str, Any]]]:
    """Each anomaly of one frame message with its message id: the message, the type and
    the how-many-th firing of that type in the message (one per frame at most)."""
    counts: dict[str, int] = {}
    out = []
    for anomaly in found:
        kind = anomaly["anomaly_type"]
        counts[kind] = counts.get(kind, 0) + 1
        out.append((f"{stream}.{sequence}.{kind}.{counts[kind]}", anomaly))
    return out


class PartitionWorker:
    """Owns one partition's frames while its lease is held (cancel ``run`` to stop).

    Args:
        p: The partition.
        js: JetStream.
        frames_stream: The frames stream's name.
        anomaly_stream: The anomaly stream's name.
        apply: Stores a batch and detects its anomalies (returned, not recorded).
        replay: Makes the private state a takeover rebuilds (see ``Replay``).
        max_ack_pending: Messages given to this worker and not yet acknowledged, at most.
        on_dropped: Called with a batch the store refused (a limit) and why.
    """

    def __init__(self, p: int, js: JetStreamContext, frames_stream: str,
                 anomaly_stream: str, apply: Apply, replay: Replay, max_ack_pending: int,
                 on_dropped: Callable[[FrameBatch, ApiError], None]) -> None:
        self.p = p
        self._js = js
        self._frames_stream = frames_stream
        self._apply = apply
        self._replay_state = replay
        self._max_ack_pending = max_ack_pending
        self._on_dropped = on_dropped
        self._writer = PartitionWriter(js, anomaly_stream, p)
        self.ready = asyncio.Event()  # set once the windows are rebuilt
        self.replayed = 0  # frame messages replayed at takeover
        self.stopping = False  # set by ``stop``; every loop here checks it

    def stop(self) -> None:
        """Ask ``run`` to end at its next step.

        Cancelling the task is not enough on its own: nats-py swallows a cancellation
        that arrives while it flushes a publish (a pull request, an ack), and the
        worker would go on consuming a partition it no longer owns.
        """
        self.stopping = True

    async def run(self) -> None:
        """Take the partition over and consume it until cancelled (Fenced ends it too)."""
        await self._writer.start()
        floor = await self._ack_floor()
        await self._replay(floor)
        sub = await self._recreate_consumer(floor)
        self.ready.set()
        log.info("partition %d: consuming from frame message %d (%d replayed)", self.p,
                 floor + 1, self.replayed)
        try:
            while not self.stopping:
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT)
                except TimeoutError:
                    continue
                for msg in msgs:
                    if self.stopping:
                        return  # not acknowledged: the next owner gets it
                    await self._handle(msg)
        finally:
            await sub.unsubscribe()

    async def _ack_floor(self) -> int:
        try:
            info = await self._js.consumer_info(self._frames_stream, consumer_name(self.p))
        except NotFoundError:
            return 0
        return int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0

    async def _replay(self, floor: int) -> None:
        """Apply the retained frame messages up to ``floor`` silently, apart, then hand
        the rebuilt windows and detectors to the server."""
        if floor == 0:
            return
        apply, adopt = self._replay_state()
        await self._replay_into(apply, floor)
        if not self.stopping:
            adopt()

    async def _replay_into(self, apply: Callable[[FrameBatch], None], floor: int) -> None:
        sub = await self._js.pull_subscribe(
            partition_subject(self.p), stream=self._frames_stream,
            config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL,
                                      ack_policy=api.AckPolicy.NONE,
                                      inactive_threshold=ACK_WAIT))
        try:
            if (await sub.consumer_info()).num_pending == 0:
                return
            while not self.stopping:
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT)
                except TimeoutError:
                    continue
                for msg in msgs:
                    meta = msg.metadata
                    if meta.sequence.stream > floor:
                        return
                    batch = frames.decode(msg.subject, msg.headers, msg.data)
                    try:
                        apply(batch)
                    except ApiError as exc:
                        self._on_dropped(batch, exc)
                    self.replayed += 1
                    if meta.sequence.stream == floor or meta.num_pending == 0:
                        return
        finally:
            await sub.unsubscribe()

    async def _recreate_consumer(self, floor: int) -> Any:
        name = consumer_name(self.p)
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(self._frames_stream, name)
        config = api.ConsumerConfig(
            durable_name=name, deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=floor + 1, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=ACK_WAIT,
            max_ack_pending=self._max_ack_pending, filter_subject=partition_subject(self.p))
        await self._js.add_consumer(self._frames_stream, config)
        return await self._js.pull_subscribe_bind(name, stream=self._frames_stream)

    async def _handle(self, msg: Any) -> None:
        """Apply one frame message, publish its anomalies (retrying), then acknowledge."""
        batch = frames.decode(msg.subject, msg.headers, msg.data)
        try:
            found = self._apply(batch)
        except ApiError as exc:
            self._on_dropped(batch, exc)
            found = []
        pairs = anomaly_ids(self._frames_stream, msg.metadata.sequence.stream, found)
        attempt = 0
        while not self.stopping:
            try:
                await self._writer.publish(pairs)
                break
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                log.warning("partition %d: anomaly publish failed (retrying): %s", self.p,
                            exc or type(exc).__name__)
                await asyncio.sleep(backoff_delay(attempt))
                attempt += 1
        else:
            return  # stopped before its anomalies were published: not acknowledged
        await msg.ack()
