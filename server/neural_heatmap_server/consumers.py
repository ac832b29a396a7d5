"""Durable named consumers of the anomaly log: acknowledged cursors and groups.

A consumer is a name the log keeps state for, in the server's SQLite (next to
the outbox, so on either anomaly-log backend), so that a microservice
reconnecting under that name resumes without state of its own:

* **Plain** (``shared`` false): one cursor, ``acked``. A stream under the name
  starts after it; ``ack(sequence)`` moves it forward (never back). What was
  delivered but not acknowledged is delivered again by the next stream.
* **Group** (``shared`` true): members share the work. ``claim`` hands a
  member up to ``limit`` anomalies it then holds for ``ack_deadline`` seconds
  (a lease): first leases that expired unacknowledged (their member died or is
  too slow: *redelivery*), then new sequences after ``dispatched``. ``ack``
  ends a lease; an acknowledged sequence is never handed out again. The
  group's ``acked`` is the sequence below which everything is acknowledged.

A new consumer starts at the log's head when it is first named (only anomalies
logged from then on). A cursor whose next sequence was pruned answers
``sequence_expired``/410; acknowledging a sequence beyond everything handed out
skips the consumer forward to it (the way past a pruned gap).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from neural_heatmap_contract.protocol import SEQUENCE_EXPIRED, is_pruned, pruned_message

from .errors import ApiError, invalid
from .persistence import AnomalyLog, AnomalyQuery

CONSUMER_NAME_PATTERN = "[A-Za-z0-9_-]{1,64}"
NAME = re.compile(CONSUMER_NAME_PATTERN)


@dataclass(frozen=True)
class ConsumerState:
    """A consumer as stored: ``acked`` (everything up to it is done), ``dispatched``
    (a group's newest sequence handed out; a plain consumer's equals ``acked``)."""

    name: str
    shared: bool
    acked: int
    dispatched: int

    def to_json(self) -> dict[str, Any]:
        """The JSON answer of the consumer routes."""
        return {"consumer": self.name, "shared": self.shared, "acked_sequence": self.acked}


class ConsumerStore:
    """Consumers' cursors and group leases in SQLite.

    Args:
        conn: The server's SQLite connection.
        log: The anomaly log (its head starts a new consumer; groups read it).
        ack_deadline: Seconds a group member holds a claimed anomaly before it is
            handed to another member.
    """

    def __init__(self, conn: sqlite3.Connection, log: AnomalyLog, ack_deadline: float) -> None:
        self._conn = conn
        self._log = log
        self._ack_deadline = ack_deadline
        self._lock = threading.Lock()
        conn.execute("CREATE TABLE IF NOT EXISTS consumers (name TEXT PRIMARY KEY,"
                     " shared INTEGER NOT NULL, acked INTEGER NOT NULL,"
                     " dispatched INTEGER NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS consumer_leases (name TEXT NOT NULL,"
                     " sequence INTEGER NOT NULL, member TEXT NOT NULL, deadline REAL NOT NULL,"
                     " PRIMARY KEY (name, sequence))")

    def get(self, name: str, shared: bool) -> ConsumerState:
        """The consumer (created at the log's head if new).

        Raises:
            ApiError: 400 for a bad name, or a name used with the other ``shared``.
        """
        if not NAME.fullmatch(name):
            raise invalid("consumer names are 1-64 letters, digits, '-' or '_'",
                          field="consumer")
        row = self._conn.execute("SELECT shared, acked, dispatched FROM consumers"
                                 " WHERE name = ?", (name,)).fetchone()
        if row is None:
            head = self._log.bounds()[1]
            self._conn.execute("INSERT OR IGNORE INTO consumers VALUES (?, ?, ?, ?)",
                               (name, int(shared), head, head))
            return self.get(name, shared)
        if bool(row[0]) != shared:
            raise invalid(f"consumer {name!r} is {'a group (shared)' if row[0] else 'not shared'};"
                          f" subscribe with shared={'true' if row[0] else 'false'} or use "
                          "another name", field="shared",
                          constraint="a consumer name keeps the shared it was created with")
        return ConsumerState(name, bool(row[0]), int(row[1]), int(row[2]))

    def ack(self, name: str, sequence: int, shared: bool | None = None) -> ConsumerState:
        """Acknowledge ``sequence`` (plain: everything up to it; group: that one).

        Raises:
            ApiError: 400 beyond the log's head or for an unknown consumer.
        """
        with self._lock:
            state = self._existing(name)
            head = self._log.bounds()[1]
            if sequence > head:
                raise invalid(f"sequence {sequence} is beyond the log's head {head}",
                              field="sequence", constraint="sequence <= the log's head")
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                if not state.shared:
                    acked = max(state.acked, sequence)
                    cur.execute("UPDATE consumers SET acked = ?, dispatched = ? WHERE name = ?",
                                (acked, acked, name))
                elif sequence > state.dispatched:
                    # Beyond everything handed out: skip forward (past a pruned gap).
                    cur.execute("DELETE FROM consumer_leases WHERE name = ?", (name,))
                    cur.execute("UPDATE consumers SET acked = ?, dispatched = ? WHERE name = ?",
                                (sequence, sequence, name))
                else:
                    cur.execute("DELETE FROM consumer_leases WHERE name = ? AND sequence = ?",
                                (name, sequence))
                    self._advance_floor(cur, name, state.dispatched)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            return self._existing(name)

    def claim(self, name: str, member: str, limit: int) -> tuple[ConsumerState,
                                                                  list[dict[str, Any]]]:
        """Hand ``member`` of group ``name`` up to ``limit`` anomalies to work on.

        Raises:
            ApiError: 410 ``sequence_expired`` when the group's next sequence was pruned.
        """
        with self._lock:
            state = self.get(name, shared=True)
            now = time.time()
            expired = [int(r[0]) for r in self._conn.execute(
                "SELECT sequence FROM consumer_leases WHERE name = ? AND deadline < ?"
                " ORDER BY sequence LIMIT ?", (name, now, limit))]
            out = [a for s in expired for a in self._log.query(
                AnomalyQuery(after_sequence=s - 1, limit=1)) if a["sequence"] == s]
            gone = set(expired) - {a["sequence"] for a in out}  # pruned while leased
            if len(out) < limit:
                first, _ = self._log.bounds()
                if is_pruned(state.dispatched, first):
                    raise ApiError(SEQUENCE_EXPIRED,
                                   f"consumer {name!r}: "
                                   f"{pruned_message(state.dispatched + 1, first)}; "
                                   f"acknowledge {first - 1} to skip the gap",
                                   after_sequence=state.dispatched, first_sequence=first)
                out += self._log.query(AnomalyQuery(after_sequence=state.dispatched,
                                                    limit=limit - len(out)))
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                cur.executemany("DELETE FROM consumer_leases WHERE name = ? AND sequence = ?",
                                [(name, s) for s in gone])
                cur.executemany(
                    "INSERT OR REPLACE INTO consumer_leases VALUES (?, ?, ?, ?)",
                    [(name, a["sequence"], member, now + self._ack_deadline) for a in out])
                dispatched = max([state.dispatched, *(a["sequence"] for a in out)])
                cur.execute("UPDATE consumers SET dispatched = ? WHERE name = ?",
                            (dispatched, name))
                self._advance_floor(cur, name, dispatched)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            out.sort(key=lambda a: a["sequence"])
            return self._existing(name), out

    def _advance_floor(self, cur: sqlite3.Cursor, name: str, dispatched: int) -> None:
        """A group's ``acked``: below its oldest open lease, or everything handed out."""
        low = cur.execute("SELECT MIN(sequence) FROM consumer_leases WHERE name = ?",
                          (name,)).fetchone()[0]
        cur.execute("UPDATE consumers SET acked = ? WHERE name = ?",
                    (int(low) - 1 if low is not None else dispatched, name))

    def _existing(self, name: str) -> ConsumerState:
        row = self._conn.execute("SELECT shared, acked, dispatched FROM consumers"
                                 " WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ApiError("not_found", f"no consumer named {name!r}; subscribe with it first",
                           consumer=name)
        return ConsumerState(name, bool(row[0]), int(row[1]), int(row[2]))
