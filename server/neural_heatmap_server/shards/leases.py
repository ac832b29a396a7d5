"""Partition ownership: one lease per partition in a JetStream KV bucket.

The bucket's ``ttl`` is the lease: a key not written for that long expires, so the
partition of a SIGKILLed server becomes free without anyone having to notice the death.
The owner renews each of its leases every ``lease / RENEWALS_PER_LEASE`` seconds with a
compare-and-set on the key's revision (``update(last=revision)``); a failed
compare-and-set means another server holds the partition now, and the partition is lost
at once. A renewal NATS does not answer keeps the partition only until the lease would
have lapsed anyway.

Who claims what: a server started with ``--shard-of I/N`` prefers the partitions
``p % N == I`` and claims them whenever they are free. A server holding a partition it
does not prefer (a standby, or a survivor) hands it back once the preferring server is a
live member again (members renew ``member.<id>`` keys the same way). Any server takes a
free partition nobody live prefers once it has seen it free for ``takeover_after``
seconds, which gives the preferring servers time to start first.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import nats
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from neural_heatmap_contract.partition import PARTITIONS

log = logging.getLogger(__name__)

RENEWALS_PER_LEASE = 3


def lease_key(p: int) -> str:
    """The KV key of partition ``p``'s lease."""
    return f"p.{p}"


@dataclass
class Changes:
    """What one ``tick`` changed."""

    gained: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    handing_back: list[int] = field(default_factory=list)


@dataclass
class Leases:
    """This server's leases and its view of the others'.

    Args:
        kv: The lease bucket (its ``ttl`` is the lease time).
        owner: This server's id (``--shard-id``).
        preferred: The partitions of ``--shard-of`` (empty for a standby).
        shard_of: ``(I, N)`` or None, published in the member key.
        lease: Seconds a lease lasts without renewal (the bucket's ttl).
        takeover_after: Seconds a non-preferred partition must be seen free first.
    """

    kv: KeyValue
    owner: str
    preferred: frozenset[int]
    shard_of: tuple[int, int] | None
    lease: float
    takeover_after: float
    held: dict[int, int] = field(default_factory=dict)  # partition -> revision
    renewed: dict[int, float] = field(default_factory=dict)  # partition -> monotonic time
    free_since: dict[int, float] = field(default_factory=dict)
    _member_revision: int = 0

    async def tick(self) -> Changes:
        """Renew, claim and hand back; what changed. Call every ``lease / 3`` seconds."""
        changes = Changes()
        now = time.monotonic()
        await self._announce()
        for p in list(self.held):
            await self._renew(p, now, changes)
        wanted = await self._preferred_by_live_members()
        for p in range(PARTITIONS):
            if p in self.held:
                if p not in self.preferred and p in wanted:
                    changes.handing_back.append(p)
                continue
            await self._maybe_claim(p, now, p in wanted, changes)
        return changes

    async def release(self, p: int) -> None:
        """Give up partition ``p`` (its worker has stopped): delete the key if still ours."""
        revision = self.held.pop(p, None)
        self.renewed.pop(p, None)
        if revision is None:
            return
        try:
            await self.kv.delete(lease_key(p), last=revision)
        except (KeyWrongLastSequenceError, TimeoutError, nats.errors.Error) as exc:
            log.info("releasing partition %d: %s (it lapses by itself)", p, exc)

    async def _announce(self) -> None:
        value = json.dumps({"shard_of": list(self.shard_of) if self.shard_of else None}).encode()
        key = f"member.{self.owner}"
        try:
            if self._member_revision:
                try:
                    self._member_revision = await self.kv.update(key, value,
                                                                 last=self._member_revision)
                    return
                except KeyWrongLastSequenceError:
                    pass
            self._member_revision = await self.kv.put(key, value)
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("announcing shard member %s: %s", self.owner, exc)

    async def _preferred_by_live_members(self) -> set[int]:
        """Partitions some live member (this one included) prefers."""
        wanted = set(self.preferred)
        try:
            keys = await self.kv.keys()
        except (TimeoutError, nats.errors.Error):
            return wanted  # no keys (NoKeysError is a nats error) or NATS away
        for key in keys:
            if not key.startswith("member.") or key == f"member.{self.owner}":
                continue
            try:
                doc = json.loads((await self.kv.get(key)).value or b"{}")
            except (KeyNotFoundError, TimeoutError, nats.errors.Error, ValueError):
                continue
            if doc.get("shard_of"):
                i, n = doc["shard_of"]
                wanted |= {p for p in range(PARTITIONS) if p % n == i}
        return wanted

    async def _renew(self, p: int, now: float, changes: Changes) -> None:
        try:
            self.held[p] = await self.kv.update(lease_key(p), self.owner.encode(),
                                                last=self.held[p])
            self.renewed[p] = now
        except KeyWrongLastSequenceError:
            log.warning("partition %d: lease taken by another server", p)
            self._lose(p, changes)
        except (TimeoutError, nats.errors.Error) as exc:
            if now - self.renewed.get(p, now) >= self.lease:
                log.warning("partition %d: lease not renewed for %.1f s (%s)", p,
                            now - self.renewed[p], exc)
                self._lose(p, changes)

    def _lose(self, p: int, changes: Changes) -> None:
        self.held.pop(p, None)
        self.renewed.pop(p, None)
        changes.lost.append(p)

    async def _maybe_claim(self, p: int, now: float, wanted: bool, changes: Changes) -> None:
        mine = p in self.preferred
        if not mine:
            if wanted:
                self.free_since.pop(p, None)
                return  # a live member prefers it: leave it to them
            try:
                await self.kv.get(lease_key(p))
                self.free_since.pop(p, None)
                return
            except KeyNotFoundError:
                pass
            except (TimeoutError, nats.errors.Error):
                return
            if now - self.free_since.setdefault(p, now) < self.takeover_after:
                return
        try:
            self.held[p] = await self.kv.create(lease_key(p), self.owner.encode())
        except KeyWrongLastSequenceError:
            return  # someone holds it
        except (TimeoutError, nats.errors.Error) as exc:
            log.debug("claiming partition %d: %s", p, exc)
            return
        self.renewed[p] = now
        self.free_since.pop(p, None)
        changes.gained.append(p)
