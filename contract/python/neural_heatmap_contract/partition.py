"""Which partition a model belongs to, and the NATS subjects its frames travel on.

Why here: in the sharded shape (docs/deploy.md, "Servers sharded by model") every
process that publishes a frame, every server that owns partitions and every bridge
that routes a per-model call must put a model in the same partition, in every
language and in every process. Python's ``hash()`` is salted per process, so the
partition is FNV-1a (32 bit) of the model id's UTF-8 bytes modulo ``PARTITIONS``;
``protos/policy/partition.json`` holds test vectors every implementation checks.

``PARTITIONS`` is far above the number of servers so that shards can be added or
replaced by moving whole partitions, never by renumbering them.
"""

from __future__ import annotations

from typing import Final

PARTITIONS: Final = 64
"""Partitions of the model space; a server owns a set of them (never renumbered)."""

FNV32_OFFSET: Final = 0x811C9DC5
FNV32_PRIME: Final = 0x01000193

FRAME_SUBJECT_PREFIX: Final = "nh.act.p"
"""Frames of partition ``p`` travel on ``nh.act.p.<p>.<model token>.<layer token>``."""


def fnv1a32(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data``."""
    h = FNV32_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return h


def partition(model_id: str) -> int:
    """The partition (0 to ``PARTITIONS - 1``) that owns ``model_id``."""
    return fnv1a32(model_id.encode("utf-8")) % PARTITIONS


def id_token(name: str) -> str:
    """A model or layer id as one NATS subject token (hex of its UTF-8 bytes).

    Ids may contain ``.``, ``*``, ``>`` and inner blanks, which a subject token may not;
    hex keeps every id distinct and reversible (``token_id``).
    """
    return name.encode("utf-8").hex()


def token_id(token: str) -> str:
    """The id an ``id_token`` stands for."""
    return bytes.fromhex(token).decode("utf-8")


def partition_subject(p: int) -> str:
    """The subject filter of every frame of partition ``p`` (``nh.act.p.<p>.>``)."""
    return f"{FRAME_SUBJECT_PREFIX}.{p}.>"


def frame_subject(model_id: str, layer_id: str) -> str:
    """The subject a frame of ``model_id``/``layer_id`` is published on."""
    return (f"{FRAME_SUBJECT_PREFIX}.{partition(model_id)}.{id_token(model_id)}."
            f"{id_token(layer_id)}")
