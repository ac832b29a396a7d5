"""Protocol facts the server and the bridge must agree on, each written once.

Why here: the bridge speaks the server's HTTP/WebSocket protocol and, with a JetStream
anomaly log, reads the server's stream directly. If either side spelled one of these facts
itself (the deadline header, the heartbeat range, the stream's subject, when a resume point
counts as pruned and what the answer says), a change on one side would silently break the
other. Both import them from here.
"""

from __future__ import annotations

from typing import Final

DEADLINE_HEADER: Final = "X-Request-Timeout-Ms"
"""HTTP header carrying a request's remaining budget in whole milliseconds; the server
stops at ``min(header, --max-request-seconds)`` and the bridge sends its gRPC deadline in it."""

HEARTBEAT_MIN_SECONDS: Final = 0.1
HEARTBEAT_MAX_SECONDS: Final = 60.0
"""The accepted range of a WebSocket ``subscribe_anomalies`` ``heartbeat_interval``: the
server refuses values outside it, the bridge clamps its own interval into it."""

ANOMALY_STREAM: Final = "NH_ANOMALIES"
"""Default JetStream stream name of the anomaly log (``--anomaly-stream`` of both)."""

ANOMALY_SUBJECT_SUFFIX: Final = "anomalies"

SEQUENCE_EXPIRED: Final = "sequence_expired"
"""The reason word (HTTP 410, gRPC OUT_OF_RANGE) for a resume point pruned from the log."""


def anomaly_subject(stream: str) -> str:
    """The one subject the anomaly stream holds: ``<stream>.anomalies``."""
    return f"{stream}.{ANOMALY_SUBJECT_SUFFIX}"


def anomaly_filter(stream: str) -> str:
    """What a reader of the anomaly stream subscribes to: ``<stream>.>``.

    It matches the one server's ``<stream>.anomalies`` and, in the sharded shape, each
    partition owner's ``<stream>.anomalies.p<partition>``: readers read every anomaly of
    the stream in its one sequence order whichever shape wrote it.
    """
    return f"{stream}.>"


def partition_anomaly_subject(stream: str, p: int) -> str:
    """Where, in the sharded shape, partition ``p``'s owner publishes its anomalies."""
    return f"{anomaly_subject(stream)}.p{p}"


def is_pruned(after_sequence: int, first_sequence: int) -> bool:
    """Whether resuming after ``after_sequence`` misses anomalies the log no longer holds.

    Sequences never reuse, so the resume point is lost exactly when the next sequence it
    needs (``after_sequence + 1``) is older than the oldest retained one.
    """
    return after_sequence + 1 < first_sequence


def pruned_message(sequence: int, first_sequence: int, where: str = "") -> str:
    """The one wording of a pruned resume point (``where``: e.g. " from the JetStream ...")."""
    return f"sequence {sequence} was pruned{where}; the oldest retained is {first_sequence}"


NATS_SCHEMES: Final = ("nats://", "tls://")


def nats_servers(text: str) -> list[str]:
    """The NATS server URLs of an ``--anomaly-log`` value: one URL or a comma-separated list.

    Why here: the server and the bridge both take the list (every node of a NATS cluster, so
    either survives the node it first connected to) and must split it the same way; nats-py
    takes a list of URLs and refuses the comma-joined string as one URL.

    Raises:
        ValueError: An empty entry, or one that is not ``nats://`` or ``tls://``.
    """
    urls = [part.strip() for part in text.split(",")]
    for url in urls:
        if not url.startswith(NATS_SCHEMES) or not url.partition("://")[2]:
            raise ValueError(f"expected nats://host:port[,nats://host:port...], got {text!r}")
    return urls
