"""One server's part in the sharded shape: its NATS connection, publishing, its partitions.

``ShardNode`` connects to NATS at start-up (streams and buckets are created or updated
then), and from there:

- ``publish`` is ingestion: every batch goes to the frames stream, and the call answers
  only once JetStream acknowledged every message; a frame is never stored here first.
  A layer's unit count is agreed cluster-wide in the ``<prefix>_LAYERS`` bucket (the
  first batch of a layer creates its key), so a frame with the wrong width is a 400 at
  the edge as on one server. What JetStream refuses is a precise error: the stream full
  is 429 ``overloaded``, NATS not answering is 503 ``unavailable``; both say how many
  frames of the call were already accepted (those are kept: never a silent drop).
- a lease loop (``leases``) claims, renews and hands back partitions; each held
  partition runs a ``PartitionWorker`` until its lease is lost or handed back, and then
  the partition's models are dropped from this server's windows.
- the anomaly feed copies the anomaly stream into the local log (``anomaly_log``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nats
from nats.js import api
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue
from neural_heatmap_contract.partition import (
    FRAME_SUBJECT_PREFIX,
    PARTITIONS,
    id_token,
    partition,
)
from neural_heatmap_contract.protocol import nats_servers

from ..errors import ApiError, invalid
from ..store import FrameBatch
from . import frames
from .anomaly_log import ShardAnomalyLog, anomaly_stream_config
from .leases import RENEWALS_PER_LEASE, Changes, Leases
from .worker import PartitionWorker, Replay

log = logging.getLogger(__name__)

CALL_TIMEOUT = 5.0  # seconds one NATS request may take
STOP_POLL = 0.1  # seconds between cancellations of a worker that has not ended yet
_STREAM_FULL = {10077, 10047}  # JetStream: maximum messages / bytes exceeded (discard new)


@dataclass(frozen=True)
class ShardSettings:
    """The ``--shard-*`` flags (see ``config``)."""

    url: str
    owner: str
    shard_of: tuple[int, int] | None
    lease: float
    prefix: str
    window: int
    max_bytes: int
    max_ack_pending: int
    replicas: int
    anomaly_stream: str
    anomaly_retention: int
    anomaly_max_age: float
    anomaly_dedup_window: float

    @property
    def frames_stream(self) -> str:
        """The frames stream's name."""
        return f"{self.prefix}_FRAMES"

    @property
    def preferred(self) -> frozenset[int]:
        """The partitions ``--shard-of I/N`` names (none for a standby)."""
        if self.shard_of is None:
            return frozenset()
        i, n = self.shard_of
        return frozenset(p for p in range(PARTITIONS) if p % n == i)


class ShardNode:
    """See the module docstring.

    Args:
        settings: The shard flags.
        apply: Stores a batch and detects its anomalies (``IngestService`` with the
            anomalies collected rather than recorded).
        replay: Makes a takeover's private state (``worker.Replay``).
        forget_model: Drops a model's windows and detector state (a partition left).
        anomaly_log: The local copy of the anomaly stream.
        on_stored: Called with anomalies the stream holds, in sequence order.
        count_dropped: Counts frames this server's limits refused as their owner.
    """

    def __init__(self, settings: ShardSettings,
                 apply: Callable[[FrameBatch], list[dict[str, Any]]], replay: Replay,
                 forget_model: Callable[[str], None], models: Callable[[], list[str]],
                 anomaly_log: ShardAnomalyLog,
                 on_stored: Callable[[list[dict[str, Any]]], None],
                 count_dropped: Callable[[int], None]) -> None:
        self.settings = settings
        self._apply = apply
        self._replay = replay
        self._forget_model = forget_model
        self._models = models
        self._anomaly_log = anomaly_log
        self._on_stored = on_stored
        self._nc: Any = None
        self._js: Any = None
        self._layers: KeyValue | None = None
        self._units: dict[tuple[str, str], int] = {}
        self.leases: Leases | None = None
        self.workers: dict[int, tuple[PartitionWorker, asyncio.Task[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._count_dropped = count_dropped

    async def start(self) -> None:
        """Connect, create or update the streams and buckets, start the loops."""
        s = self.settings
        self._nc = await nats.connect(nats_servers(s.url), max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.5, connect_timeout=2)
        self._js = self._nc.jetstream(timeout=CALL_TIMEOUT)
        await self._ensure_stream(api.StreamConfig(
            name=s.frames_stream, subjects=[f"{FRAME_SUBJECT_PREFIX}.>"],
            retention=api.RetentionPolicy.LIMITS, storage=api.StorageType.FILE,
            max_msgs_per_subject=s.window, max_bytes=s.max_bytes,
            discard=api.DiscardPolicy.NEW, num_replicas=s.replicas))
        await self._ensure_stream(anomaly_stream_config(
            s.anomaly_stream, s.anomaly_retention, s.anomaly_max_age, s.anomaly_dedup_window,
            s.replicas))
        leases = await self._js.create_key_value(api.KeyValueConfig(
            bucket=f"{s.prefix}_LEASES", ttl=s.lease, history=1, replicas=s.replicas))
        self._layers = await self._js.create_key_value(api.KeyValueConfig(
            bucket=f"{s.prefix}_LAYERS", history=1, replicas=s.replicas))
        self.leases = Leases(leases, s.owner, s.preferred, s.shard_of, s.lease,
                             takeover_after=s.lease)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._lease_loop(), name="nh-shard-leases"),
                       loop.create_task(self._anomaly_log.follow(self._js, s.anomaly_stream,
                                                                 self._on_stored),
                                        name="nh-shard-anomaly-feed")]

    async def _ensure_stream(self, config: api.StreamConfig) -> None:
        try:
            await self._js.stream_info(config.name)
            await self._js.update_stream(config)
        except NotFoundError:
            await self._js.add_stream(config)

    # ---- ingestion -------------------------------------------------------------------

    async def publish(self, batches: list[FrameBatch]) -> int:
        """Publish validated batches; the number of frames JetStream accepted.

        Raises:
            ApiError: 400 for a layer whose width the cluster knows otherwise, 413 for a
                frame larger than a NATS message, 429/503 when JetStream refuses.
        """
        batches = [b for b in batches if len(b.timestamps)]
        for index, batch in enumerate(batches):
            await self._check_units(batch, index)
        max_payload = int(self._nc.max_payload)
        messages = [m for batch in batches for m in frames.encode(batch, max_payload)]
        accepted = 0
        for message in messages:
            try:
                await self._js.publish(message.subject, message.payload,
                                       stream=self.settings.frames_stream,
                                       headers=message.headers)
            except APIError as exc:
                if exc.err_code in _STREAM_FULL:
                    raise ApiError("overloaded", f"the frames stream is full ({exc.description}"
                                   f"); {accepted} frames of this call were accepted",
                                   accepted_frames=accepted, flag="--shard-max-bytes") from exc
                raise self._unavailable(exc, accepted) from exc
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                raise self._unavailable(exc, accepted) from exc
            accepted += message.frames
        return accepted

    @staticmethod
    def _unavailable(exc: BaseException, accepted: int) -> ApiError:
        return ApiError("unavailable", f"the frames stream (NATS JetStream) did not accept a "
                        f"frame: {exc or type(exc).__name__}; {accepted} frames of this call "
                        "were accepted", accepted_frames=accepted)

    async def _check_units(self, batch: FrameBatch, index: int) -> None:
        """The layer's width as the cluster agreed it (the first batch sets it)."""
        key = (batch.model_id, batch.layer_id)
        known = self._units.get(key)
        if known is None:
            assert self._layers is not None
            kv_key = f"{id_token(batch.model_id)}.{id_token(batch.layer_id)}"
            try:
                try:
                    await self._layers.create(kv_key, str(batch.units).encode())
                    known = batch.units
                except KeyWrongLastSequenceError:
                    known = int((await self._layers.get(kv_key)).value or b"0")
            except (KeyNotFoundError, TimeoutError, nats.errors.Error) as exc:
                raise self._unavailable(exc, 0) from exc
            self._units[key] = known
        if known != batch.units:
            raise invalid(f"layer {batch.model_id}/{batch.layer_id} has {known} units, "
                          f"a frame has {batch.units}", index=index, expected_units=known,
                          units=batch.units, constraint="units == the layer's units")

    # ---- partitions ------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        assert self.leases is not None
        interval = self.settings.lease / RENEWALS_PER_LEASE
        while True:
            try:
                changes = await self.leases.tick()
                await self._follow(changes)
            except Exception:
                log.exception("shard lease loop")
            await asyncio.sleep(interval)

    async def _follow(self, changes: Changes) -> None:
        assert self.leases is not None
        for p in changes.lost:
            await self._stop(p)
        for p in changes.handing_back:
            await self._stop(p)
            await self.leases.release(p)
        for p in changes.gained:
            worker = PartitionWorker(p, self._js, self.settings.frames_stream,
                                     self.settings.anomaly_stream, self._apply, self._replay,
                                     self.settings.max_ack_pending, self._dropped)
            task = asyncio.get_running_loop().create_task(self._run(worker),
                                                          name=f"nh-shard-p{p}")
            self.workers[p] = (worker, task)
        for p, (_, task) in list(self.workers.items()):
            if task.done() and p in self.leases.held:  # the worker ended (fenced, error)
                await self._stop(p)
                await self.leases.release(p)

    async def _run(self, worker: PartitionWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("partition %d worker stopped", worker.p)

    async def _stop(self, p: int) -> None:
        """Stop partition ``p``'s worker and drop its models from this server."""
        entry = self.workers.pop(p, None)
        if entry is not None:
            entry[0].stop()
            await _cancelled(entry[1])
        for model in self._models():
            if partition(model) == p:
                self._forget_model(model)

    def _dropped(self, batch: FrameBatch, exc: ApiError) -> None:
        self._count_dropped(len(batch.timestamps))
        log.error("partition %d: %d frames of %s/%s refused by this server's limits and "
                  "dropped: %s", partition(batch.model_id), len(batch.timestamps),
                  batch.model_id, batch.layer_id, exc.message)

    def check_takeover(self, model_id: str) -> None:
        """Called before a model is answered 404 here: while this server rebuilds the
        model's partition, the answer is 503 ``unavailable`` with Retry-After instead
        (never a partial answer, nor "unknown" for a model that exists).

        Raises:
            ApiError: 503 for a model whose partition is being taken over here.
        """
        p = partition(model_id)
        entry = self.workers.get(p)
        if entry is not None and not entry[0].ready.is_set():
            retry = max(1, math.ceil(self.settings.lease))
            err = ApiError("unavailable", f"model {model_id!r} is in partition {p}, which "
                           f"this server is taking over (rebuilding its windows); retry in "
                           f"{retry} s", model_id=model_id, partition=p,
                           retry_after_seconds=retry)
            err.headers["Retry-After"] = str(retry)
            raise err

    def owned(self) -> list[int]:
        """Partitions whose windows are rebuilt and consumed here."""
        return sorted(p for p, (w, _) in self.workers.items() if w.ready.is_set())

    async def close(self) -> None:
        """Stop the workers and loops, release the leases (a clean stop hands them over
        at once instead of after the lease time), close NATS."""
        for task in self._tasks:
            await _cancelled(task)
        for p in list(self.workers):
            await self._stop(p)
            if self.leases is not None:
                await self.leases.release(p)
        if self._nc is not None:
            await self._nc.close()


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` until it has ended: nats-py swallows a cancellation that arrives
    while it flushes a publish (see ``PartitionWorker.stop``)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_POLL)
