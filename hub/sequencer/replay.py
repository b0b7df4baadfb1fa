"""The replay window: message ids sequenced within the last day, kept on disk, not in objects.

A sequencer must refuse a message id it has already sequenced within the window (a day and
the allowed clock skew: anything older is refused as STALE anyway). At a million messages a
day, a million Python objects would make the process grow with the traffic; here the ids live
in a private temporary SQLite database (deleted when the connection closes, and never left
behind by a killed process: SQLite unlinks it at once), with a small bounded page cache, so the
process's memory stays flat however full the window is. It is only an index: at start the
sequencer rebuilds it from the ledger's recent entries (see ``runner.recover_replay``).

It also remembers, for the same window, the type and recipients of messages that other types
answer (orders), so an answer can be checked against the order it names. Changes since
:meth:`ReplayMemory.mark` can be undone with :meth:`ReplayMemory.rollback` (an SQLite
savepoint), so an aborted Kafka transaction leaves no trace here either.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

Ask = tuple[str, tuple[str, ...]]  # (type, recipients) of a message another type answers

#: how often (by the clock passed to add) ids older than the window are deleted
EVICT_EVERY_US = 1_000_000
#: SQLite page cache, KiB: what the window may hold in memory whatever its size
CACHE_KIB = 8 * 1024


class ReplayMemory:
    def __init__(self, window_us: int):
        self.window_us = window_us
        self._db = sqlite3.connect("", isolation_level=None)  # "": a private temporary file
        self._db.executescript(f"""
            PRAGMA cache_size = -{CACHE_KIB};
            PRAGMA journal_mode = MEMORY;
            PRAGMA synchronous = OFF;
            CREATE TABLE ids (id BLOB PRIMARY KEY, created_at INTEGER NOT NULL, ask TEXT) WITHOUT ROWID;
            CREATE INDEX ids_by_time ON ids (created_at);
        """)
        self._count = 0
        self._count_at_mark = 0
        self._last_evict: int | None = None
        self._last_evict_at_mark: int | None = None
        self._open = False
        self._encoded: dict[Ask, str] = {}
        self.mark()

    def seen(self, message_id: uuid.UUID) -> bool:
        return self._db.execute("SELECT 1 FROM ids WHERE id = ?", (message_id.bytes,)).fetchone() is not None

    def asked(self, message_id: uuid.UUID) -> Ask | None:
        row = self._db.execute("SELECT ask FROM ids WHERE id = ?", (message_id.bytes,)).fetchone()
        if row is None or row[0] is None:
            return None
        type_, recipients = json.loads(row[0])
        return type_, tuple(recipients)

    def add(self, message_id: uuid.UUID, created_at: int, now_us: int, ask: Ask | None = None) -> None:
        cur = self._db.execute("INSERT OR IGNORE INTO ids VALUES (?, ?, ?)",
                               (message_id.bytes, created_at, self._encode(ask)))
        self._count += cur.rowcount
        if self._last_evict is None or now_us - self._last_evict >= EVICT_EVERY_US:
            self._last_evict = now_us
            self._count -= self._db.execute("DELETE FROM ids WHERE created_at < ?",
                                            (now_us - self.window_us,)).rowcount

    def _encode(self, ask: Ask | None) -> str | None:
        if ask is None:
            return None
        text = self._encoded.get(ask)
        if text is None:  # orders mostly go to the same few recipients: encode each pair once
            if len(self._encoded) > 10_000:
                self._encoded.clear()
            text = self._encoded[ask] = json.dumps(ask, ensure_ascii=False)
        return text

    def mark(self) -> None:
        """Keep everything so far; what follows can be rolled back."""
        if self._open:
            self._db.execute("RELEASE SAVEPOINT batch")
        self._db.execute("SAVEPOINT batch")
        self._open = True
        self._count_at_mark = self._count
        self._last_evict_at_mark = self._last_evict

    def rollback(self) -> None:
        """Undo every change since :meth:`mark` (which stays in force)."""
        self._db.execute("ROLLBACK TO SAVEPOINT batch")
        self._count = self._count_at_mark
        self._last_evict = self._last_evict_at_mark

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._db.close()
