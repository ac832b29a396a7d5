"""Durable state behind small interfaces: the anomaly log and the view state.

``AnomalyLog`` and ``ViewStateStore`` are what the rest of the server sees;
the SQLite classes implement them for one machine; ``jetstream_log`` puts the
anomaly log on NATS JetStream (``--anomaly-log nats://...``). Append assigns
increasing sequences, reads go by sequence.

SQLite's ``AUTOINCREMENT`` never reuses a rowid, even after the newest rows
are deleted, so sequences keep growing across pruning and restarts.
"""

from __future__ import annotations

import abc
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .anomalies import SEVERITY_RANK


@dataclass(frozen=True)
class AnomalyQuery:
    """A read of the anomaly log.

    Attributes:
        severity: Exact severity.
        min_severity: Severity at or above.
        model_ids: Only these models (``model_id``, repeated, or ``model_ids`` of a request).
        after_sequence: Only sequences above this (oldest first) instead of the newest.
        limit: Most rows returned.
    """

    severity: str | None = None
    min_severity: str | None = None
    model_ids: tuple[str, ...] | None = None
    after_sequence: int | None = None
    limit: int = 100


class AnomalyLog(abc.ABC):
    """An append-only, sequence-numbered anomaly log with bounded retention."""

    @abc.abstractmethod
    def append(self, anomalies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store anomalies; return them with their new ``sequence``, in order."""

    @abc.abstractmethod
    def query(self, query: AnomalyQuery) -> list[dict[str, Any]]:
        """Matching anomalies in ascending sequence (see ``AnomalyQuery``)."""

    @abc.abstractmethod
    def bounds(self) -> tuple[int, int]:
        """``(first retained sequence, last sequence)``; ``(head + 1, head)`` when empty."""

    def flush(self) -> list[dict[str, Any]]:
        """Publish what an earlier ``append`` could not; return it (sequenced), in order.

        Only a log that publishes to another system can have anything pending, so the
        default has nothing to do.
        """
        return []

    @abc.abstractmethod
    def close(self) -> None:
        """Release the backend."""


class ViewStateStore(abc.ABC):
    """Named JSON documents (filter, theme, layout) that survive restarts."""

    @abc.abstractmethod
    def get(self, key: str) -> dict[str, Any] | None:
        """The stored document, or None."""

    @abc.abstractmethod
    def put(self, key: str, value: dict[str, Any]) -> None:
        """Replace the document."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Forget the document."""


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating) the SQLite file: WAL, and every commit fsynced before it returns.

    Durability policy: an anomaly's sequence is shown to subscribers right after
    ``AnomalyLog.append`` commits, so the commit must already be on disk. WAL with
    ``synchronous=NORMAL`` survives a killed process but not a power cut or an OS
    crash: the last commits can vanish and their sequences would be handed out
    again with other contents. ``synchronous=FULL`` fsyncs the WAL on every
    commit, so a sequence, once seen, is never reused. The cost is one fsync
    per ingest call that finds anomalies (the detector's cooldown keeps those
    rare) and per view-state change.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class SqliteAnomalyLog(AnomalyLog):
    """``AnomalyLog`` in one SQLite table.

    Args:
        conn: An open connection.
        retention: Rows kept; older sequences are deleted after each append.
    """

    _COLUMNS = ("sequence, anomaly_type, severity, timestamp, location_x, location_y, layer, "
                "model_id, score, description, metadata")

    def __init__(self, conn: sqlite3.Connection, retention: int) -> None:
        self._conn = conn
        self._retention = retention
        conn.execute(
            "CREATE TABLE IF NOT EXISTS anomalies ("
            " sequence INTEGER PRIMARY KEY AUTOINCREMENT, anomaly_type TEXT NOT NULL,"
            " severity TEXT NOT NULL, severity_rank INTEGER NOT NULL, timestamp REAL NOT NULL,"
            " location_x INTEGER, location_y INTEGER, layer TEXT, model_id TEXT,"
            " score REAL NOT NULL, description TEXT NOT NULL, metadata TEXT NOT NULL)")
        conn.execute("CREATE INDEX IF NOT EXISTS anomalies_model ON anomalies(model_id, sequence)")

    def append(self, anomalies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not anomalies:
            return []
        stored = []
        cur = self._conn.cursor()
        cur.execute("BEGIN")
        try:
            for a in anomalies:
                stored.append({"sequence": self.insert(cur, a), **a})
            self.prune(cur, stored[-1]["sequence"])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return stored

    @staticmethod
    def insert(cur: sqlite3.Cursor, a: dict[str, Any], sequence: int | None = None) -> int:
        """Insert one anomaly inside the caller's transaction; return its sequence.

        Args:
            cur: A cursor inside an open transaction.
            a: The anomaly (without ``sequence``).
            sequence: A sequence assigned elsewhere (JetStream's); None assigns the next.
        """
        loc = a.get("location")
        cur.execute(
            "INSERT OR IGNORE INTO anomalies (sequence, anomaly_type, severity, severity_rank,"
            " timestamp, location_x, location_y, layer, model_id, score, description, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sequence, a["anomaly_type"], a["severity"], SEVERITY_RANK[a["severity"]],
             a["timestamp"], loc["x"] if loc else None, loc["y"] if loc else None,
             a["layer"], a["model_id"], a["score"], a["description"],
             json.dumps(a["metadata"])))
        return sequence if sequence is not None else int(cur.lastrowid or 0)

    def prune(self, cur: sqlite3.Cursor, last: int) -> None:
        """Drop rows beyond the retention, counted back from sequence ``last``."""
        cur.execute("DELETE FROM anomalies WHERE sequence <= ?", (last - self._retention,))

    def query(self, query: AnomalyQuery) -> list[dict[str, Any]]:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if query.severity is not None:
            where.append("severity = ?")
            args.append(query.severity)
        if query.min_severity is not None:
            where.append("severity_rank >= ?")
            args.append(SEVERITY_RANK[query.min_severity])
        if query.model_ids:
            where.append(f"model_id IN ({','.join('?' * len(query.model_ids))})")
            args.extend(query.model_ids)
        if query.after_sequence is not None:
            where.append("sequence > ?")
            args.append(query.after_sequence)
            order = "ASC"
        else:
            order = "DESC"
        sql = (f"SELECT {self._COLUMNS} FROM anomalies WHERE {' AND '.join(where)}"
               f" ORDER BY sequence {order} LIMIT ?")
        rows = self._conn.execute(sql, (*args, query.limit)).fetchall()
        if order == "DESC":
            rows.reverse()
        return [self._row(r) for r in rows]

    @staticmethod
    def _row(r: tuple[Any, ...]) -> dict[str, Any]:
        seq, kind, severity, ts, x, y, layer, model_id, score, description, meta = r
        return {"sequence": seq, "anomaly_type": kind, "severity": severity, "timestamp": ts,
                "location": {"x": x, "y": y} if x is not None else None, "layer": layer,
                "model_id": model_id, "score": score, "description": description,
                "metadata": json.loads(meta)}

    def bounds(self) -> tuple[int, int]:
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'anomalies'")
        found = row.fetchone()
        head = int(found[0]) if found else 0
        first = self._conn.execute("SELECT MIN(sequence) FROM anomalies").fetchone()[0]
        return (int(first) if first is not None else head + 1, head)

    def close(self) -> None:
        self._conn.close()


class SqliteViewStateStore(ViewStateStore):
    """``ViewStateStore`` as a key/JSON table next to the anomaly log."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute("CREATE TABLE IF NOT EXISTS view_state (key TEXT PRIMARY KEY, value TEXT)")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT value FROM view_state WHERE key = ?", (key,)).fetchone()
        return dict(json.loads(row[0])) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO view_state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def delete(self, key: str) -> None:
        self._conn.execute("DELETE FROM view_state WHERE key = ?", (key,))
