"""Answers to idempotency keys, kept on disk: a retry after a connector restart gets the original answer.

A bank's system that times out on ``Publish`` retries with the same ``idempotency_key``; if the
connector restarted in between, an in-memory table would have forgotten the key and the freeze
order would be published twice, as two messages. The connector keeps each key's request and
answer in a SQLite file under ``HUB_HOME/connectors/<namespace>/<member>/`` (WAL, synchronous
NORMAL: it survives the process being killed), the newest ``capacity`` keys.

The answer is written once Kafka has acknowledged the record, so a connector killed between the
acknowledgement and the write would publish a retry again: a window of a few milliseconds.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from hub.errors import ConfigError

#: keys remembered (the oldest are forgotten first)
CAPACITY = 100_000
#: puts between two prunings of the oldest keys
PRUNE_EVERY = 1_000


class IdempotencyStore:
    def __init__(self, path: Path, capacity: int = CAPACITY):
        self.path = path
        self.capacity = capacity
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.executescript("""
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS answers (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    key TEXT NOT NULL UNIQUE,
                    request BLOB NOT NULL,
                    response BLOB NOT NULL
                );
            """)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the connector's idempotency store {path}: {exc}") from exc
        self._lock = threading.Lock()
        self._puts = 0

    def get(self, key: str) -> tuple[bytes, bytes] | None:
        """(request, response) stored for ``key``, or None."""
        with self._lock:
            row = self._db.execute("SELECT request, response FROM answers WHERE key = ?", (key,)).fetchone()
        return (bytes(row[0]), bytes(row[1])) if row is not None else None

    def put(self, key: str, request: bytes, response: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers (key, request, response) VALUES (?, ?, ?)",
                             (key, request, response))
            self._puts += 1
            if self._puts % PRUNE_EVERY == 0:
                self._db.execute("DELETE FROM answers WHERE seq <= (SELECT MAX(seq) FROM answers) - ?",
                                 (self.capacity,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
