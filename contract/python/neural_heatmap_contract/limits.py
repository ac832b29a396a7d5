"""Limits that more than one part of the system must agree on, each with its default once.

A limit that only one process enforces is a flag of that process (``docs/server.md``,
``docs/bridge.md`` list them all); the ones here cross a boundary: the gRPC message size that
the bridge and every client must raise alike, the largest anomaly page the server serves and
the SDK asks for, the ingest batch the bridge sends and the server reads in one request. Each
is the default of a flag (with its environment fallback) where a process enforces it.
"""

from __future__ import annotations

from typing import Final

MIB: Final = 1 << 20

MAX_MESSAGE_BYTES: Final = 256 * MIB
"""gRPC send/receive limit of the bridge (``--max-send-bytes``, ``--max-receive-bytes``) and
of every client: gRPC's 4 MiB default cannot carry a 2048 x 2048 float32 matrix (16 MiB)."""

MAX_ANOMALY_LIMIT: Final = 10_000
"""Largest ``limit`` of one anomaly read (server ``--max-anomaly-limit``); the SDK's export of
everything asks for this many."""

INGEST_BATCH_BYTES: Final = 8 * MIB
"""Bytes of frame records after which the bridge sends a batch upstream
(bridge ``--ingest-batch-bytes``); well under the server's ``--max-body-bytes`` (64 MiB)."""
