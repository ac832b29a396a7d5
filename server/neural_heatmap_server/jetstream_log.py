"""The anomaly log on NATS JetStream (``--anomaly-log nats://host:4222``).

The stream is the log: an anomaly's ``sequence`` is its stream sequence (gaps
allowed, never reused), ``--anomaly-retention`` is the stream's ``max_msgs``
and ``--anomaly-max-age`` its ``max_age``, so a pruned resume point is still
``sequence_expired``/410. Bridges read the stream directly (see the bridge's
``_jetstream``); this server is its only writer.

Exactly-once publishing across crashes (the transactional outbox): ``append``
first commits the anomalies to an outbox table in the server's own SQLite,
then publishes each outbox row with ``Nats-Msg-Id = <writer id>-<row id>``
and ``Nats-Expected-Last-Sequence`` (the stream's head as this single writer
last saw it), and only then, in one transaction, deletes the row and records
the anomaly under its stream sequence in a local copy. A server killed
between publish and commit publishes the row again on restart; JetStream
answers ``duplicate`` with the original sequence (the message id check runs
before the expected-sequence check), so nothing is lost or doubled as long as
the restart comes within the stream's duplicate window
(``--anomaly-dedup-window``). The writer id is kept in the same SQLite file,
so row ids from another database never collide with ours.

HTTP reads (``GET /api/anomalies``, WebSocket replays) come from that local
copy, limited to the stream's bounds: filtering by severity and model is an
index lookup there, while the stream is read by sequence only. When NATS is
unreachable, ``append`` keeps the anomalies in the outbox and the server's
periodic ``flush`` publishes them later, in order.

nats-py is asyncio; the server calls the log from its own event loop and from
worker threads, so the NATS connection lives on a loop in its own thread and
every call waits for it with a bound (``_NatsThread``). The log is used from
the server's loop (like the SQLite one, its calls are short); while NATS is
disconnected ``flush`` returns at once instead of waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.js import api
from nats.js.errors import APIError, NotFoundError
from neural_heatmap_contract.protocol import anomaly_subject, nats_servers

from .errors import ApiError
from .persistence import AnomalyLog, AnomalyQuery, SqliteAnomalyLog

log = logging.getLogger(__name__)

T = TypeVar("T")

CALL_TIMEOUT = 5.0  # seconds any one NATS call may take before the caller gives up
_WRONG_LAST_SEQUENCE = 10071  # JetStream's error code for a failed expected-last-sequence


class _NatsThread:
    """A NATS connection on an event loop of its own, callable from any other thread."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nh-nats",
                                        daemon=True)
        self._thread.start()
        # Reconnect forever: an outage delays publishing (the outbox holds it), never ends it.
        self.nc = self.call(nats.connect(nats_servers(url), max_reconnect_attempts=-1,
                                         reconnect_time_wait=0.5, connect_timeout=2),
                            timeout=CALL_TIMEOUT)
        self.js = self.nc.jetstream(timeout=CALL_TIMEOUT)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the NATS loop and wait at most ``timeout`` seconds for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        try:
            self.call(self.nc.close())
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            log.warning("closing the NATS connection: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT)


class JetStreamAnomalyLog(AnomalyLog):
    """``AnomalyLog`` on a JetStream stream, published through a SQLite outbox.

    Args:
        conn: The server's SQLite connection (outbox, writer id, local copy).
        url: ``nats://host:port`` (comma-separate several for a cluster).
        stream: Stream name; its subject is ``<stream>.anomalies``.
        retention: The stream's ``max_msgs``.
        max_age: The stream's ``max_age`` in seconds; 0 keeps by count only.
        dedup_window: The stream's duplicate window in seconds (see the module docstring).
        replicas: Stream replicas (1 on one machine, 3 on a NATS cluster).
    """

    def __init__(self, conn: sqlite3.Connection, url: str, stream: str, retention: int,
                 max_age: float = 0.0, dedup_window: float = 600.0, replicas: int = 1
                 ) -> None:
        self._conn = conn
        self._copy = SqliteAnomalyLog(conn, retention)
        self._stream = stream
        self._subject = anomaly_subject(stream)
        self._lock = threading.Lock()  # one flush at a time keeps publishing in outbox order
        conn.execute("CREATE TABLE IF NOT EXISTS anomaly_outbox ("
                     " id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS anomaly_writer (id TEXT NOT NULL)")
        row = conn.execute("SELECT id FROM anomaly_writer").fetchone()
        if row is None:
            row = (uuid.uuid4().hex,)
            conn.execute("INSERT INTO anomaly_writer (id) VALUES (?)", row)
        self._writer = str(row[0])
        self._nats = _NatsThread(url)
        config = api.StreamConfig(
            name=stream, subjects=[self._subject], retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE, max_msgs=retention, max_age=max_age or None,
            duplicate_window=dedup_window, num_replicas=replicas,
            discard=api.DiscardPolicy.OLD)
        try:
            self._nats.call(self._nats.js.stream_info(stream))
            self._nats.call(self._nats.js.update_stream(config))
        except NotFoundError:
            self._nats.call(self._nats.js.add_stream(config))
        self._head = self._stream_bounds()[1]
        self.flush()

    # ---- writing ---------------------------------------------------------------------

    def append(self, anomalies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if anomalies:
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                cur.executemany("INSERT INTO anomaly_outbox (payload) VALUES (?)",
                                [(json.dumps(a),) for a in anomalies])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return self.flush()

    def flush(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, payload FROM anomaly_outbox ORDER BY id").fetchall()
            if rows and not self._nats.nc.is_connected:
                return []  # the client reconnects by itself; do not wait on it here
            published: list[dict[str, Any]] = []
            for row_id, payload in rows:
                try:
                    sequence = self._publish(int(row_id), str(payload))
                except (TimeoutError, OSError, nats.errors.Error) as exc:
                    log.warning("anomaly publish to JetStream failed (%d kept in the outbox): "
                                "%s", len(rows) - len(published), exc or type(exc).__name__)
                    break
                anomaly = {"sequence": sequence, **json.loads(payload)}
                self._commit(int(row_id), anomaly)
                published.append(anomaly)
            return published

    def _publish(self, row_id: int, payload: str) -> int:
        """Publish one outbox row; its stream sequence (the original one for a duplicate)."""
        for attempt in range(2):
            headers = {"Nats-Msg-Id": f"{self._writer}-{row_id}",
                       "Nats-Expected-Last-Sequence": str(self._head)}
            try:
                ack = self._nats.call(self._nats.js.publish(
                    self._subject, payload.encode(), stream=self._stream, headers=headers))
            except APIError as exc:
                if exc.err_code != _WRONG_LAST_SEQUENCE or attempt:
                    raise
                # Our view of the head is stale (the stream was purged or recreated, or a
                # second writer slipped in): learn the head again and retry once.
                log.warning("JetStream head moved under us (%s); rereading it", exc)
                self._head = self._stream_bounds()[1]
                continue
            self._head = max(self._head, int(ack.seq))
            return int(ack.seq)
        raise AssertionError("unreachable")

    def _commit(self, row_id: int, anomaly: dict[str, Any]) -> None:
        """Forget the outbox row and keep the anomaly under its stream sequence, atomically."""
        body = {k: v for k, v in anomaly.items() if k != "sequence"}
        cur = self._conn.cursor()
        cur.execute("BEGIN")
        try:
            self._copy.insert(cur, body, anomaly["sequence"])
            self._copy.prune(cur, anomaly["sequence"])
            cur.execute("DELETE FROM anomaly_outbox WHERE id = ?", (row_id,))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    # ---- reading ---------------------------------------------------------------------

    def _stream_bounds(self) -> tuple[int, int]:
        """The stream's ``(first, last)``.

        Raises:
            ApiError: 503 ``unavailable`` while NATS does not answer.
        """
        try:
            info = self._nats.call(self._nats.js.stream_info(self._stream))
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            raise ApiError("unavailable", f"the anomaly log (NATS JetStream) does not answer: "
                           f"{exc or type(exc).__name__}") from exc
        state = info.state
        if not state.messages:
            return state.last_seq + 1, state.last_seq
        return state.first_seq, state.last_seq

    def bounds(self) -> tuple[int, int]:
        return self._stream_bounds()

    def query(self, query: AnomalyQuery) -> list[dict[str, Any]]:
        first, _ = self._stream_bounds()
        # The stream may prune by age before the copy prunes by count.
        return [a for a in self._copy.query(query) if a["sequence"] >= first]

    def close(self) -> None:
        self._nats.close()
        self._conn.close()
