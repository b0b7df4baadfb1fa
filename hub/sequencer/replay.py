"""The replay window: message ids sequenced within the last day, kept on disk, not in objects.

A sequencer must refuse a message id it has already sequenced within the window (a day and
the allowed clock skew: anything older is refused as STALE anyway). At a million messages a
day, a million Python objects would make the process grow with the traffic; here the ids live
in a private temporary SQLite database (deleted when the connection closes, and never left
behind by a killed process: SQLite unlinks it at once), with a small bounded page cache, so the
process's memory stays flat however full the window is. It is only an index: at start the
sequencer rebuilds it from the ledger's recent entries (see ``runner.recover_replay``).

It also remembers, for the same window, the type and recipients of messages that other types
answer (orders), so an answer can be checked against the order it names.

The database is used a batch at a time: :meth:`ReplayMemory.prefetch` looks up a whole
batch's ids in one query, additions wait in memory until :meth:`ReplayMemory.mark` writes
them in one statement, and everything since the previous mark can be undone with
:meth:`ReplayMemory.rollback` (an SQLite savepoint), so an aborted Kafka transaction leaves no
trace here either. (Each SQLite call gives up the GIL, and getting it back costs as much as
the call when threads are checking signatures: per-message queries would cost more than the
queries themselves.)
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")
Ask = tuple[str, tuple[str, ...]]  # (type, recipients) of a message another type answers

#: how often (by the clock passed to add) ids older than the window are deleted
EVICT_EVERY_US = 1_000_000
#: SQLite page cache, KiB: what the window may hold in memory whatever its size. Message ids are
#: UUIDv7, so new ids land at the right edge of the index and its hot pages are few; the rest of
#: the file stays in the OS page cache. 1,000,000 ids make a 67 MB file: an 8 MiB cache filled
#: only past 120,000 of them (the sequencer's RSS grew after its first 100,000 entries), and
#: looked up random old ids no faster than this one (~180,000-210,000 ids/s either way).
CACHE_KIB = 2 * 1024
#: ids per prefetch query and rows per INSERT statement, at most. A statement's text depends on how
#: many ids it holds, and the connection keeps up to 128 compiled statements (~170 KB for an INSERT
#: of 500 rows): a text for every batch size the traffic brought made the sequencer's heap grow
#: by 11-13 MB over a million entries. So a statement holds a power of two of them, up to
#: this, padded with its last one (see _sized): ten texts of each kind, compiled once.
CHUNK = 512

_ABSENT = False  # a prefetched id the window does not hold


class ReplayMemory:
    """The replay window of one sequencer: the ids (and orders' asks) sequenced within ``window_us``."""

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
        #: added since the last mark, not yet written: id -> (created_at, encoded ask)
        self._pending: dict[bytes, tuple[int, str | None]] = {}
        #: what the last prefetch found in the database: id -> encoded ask (None: no ask) or _ABSENT
        self._known: dict[bytes, str | None | bool] = {}
        self._encoded: dict[Ask, str] = {}
        self._count = 0
        self._count_at_mark = 0
        self._last_evict: int | None = None
        self._last_evict_at_mark: int | None = None
        self._now = 0
        self._db.execute("SAVEPOINT batch")

    def prefetch(self, message_ids: Iterable[uuid.UUID]) -> None:
        """Look up these ids (a batch's, and the orders its answers name) in one go."""
        keys = [m.bytes for m in message_ids]
        self._known = dict.fromkeys(keys, _ABSENT)
        for i in range(0, len(keys), CHUNK):
            chunk = _sized(keys[i:i + CHUNK])  # an id named twice in IN (...) is still one row
            rows = self._db.execute(f"SELECT id, ask FROM ids WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            self._known.update(rows.fetchall())

    def _lookup(self, key: bytes) -> str | None | bool:
        """The encoded ask (None: seen without one), or _ABSENT."""
        pending = self._pending.get(key)
        if pending is not None:
            return pending[1]
        if key in self._known:
            return self._known[key]
        row = self._db.execute("SELECT ask FROM ids WHERE id = ?", (key,)).fetchone()
        if row is None:
            return _ABSENT
        ask: str | None = row[0]
        return ask

    def seen(self, message_id: uuid.UUID) -> bool:
        return self._lookup(message_id.bytes) is not _ABSENT

    def asked(self, message_id: uuid.UUID) -> Ask | None:
        text = self._lookup(message_id.bytes)
        if not isinstance(text, str):
            return None
        type_, recipients = json.loads(text)
        return type_, tuple(recipients)

    def add(self, message_id: uuid.UUID, created_at: int, now_us: int, ask: Ask | None = None) -> None:
        key = message_id.bytes
        if key not in self._pending and self._lookup(key) is _ABSENT:
            self._pending[key] = (created_at, self._encode(ask))
        self._now = max(self._now, now_us)

    def _encode(self, ask: Ask | None) -> str | None:
        if ask is None:
            return None
        text = self._encoded.get(ask)
        if text is None:  # orders mostly go to the same few recipients: encode each pair once
            if len(self._encoded) > 10_000:
                self._encoded.clear()
            text = self._encoded[ask] = json.dumps(ask, ensure_ascii=False)
        return text

    def _write(self) -> None:
        """The pending additions into the database, then the eviction when one is due."""
        rows = [(k, at, ask) for k, (at, ask) in self._pending.items()]
        for i in range(0, len(rows), CHUNK):
            # one statement for many rows: one SQLite step, one hand-back of the GIL (executemany
            # steps, and gives up the GIL, once per row); a padding row repeats the chunk's last,
            # which OR IGNORE skips and rowcount does not count
            chunk = _sized(rows[i:i + CHUNK])
            cur = self._db.execute(f"INSERT OR IGNORE INTO ids VALUES {','.join(['(?,?,?)'] * len(chunk))}",
                                   [v for row in chunk for v in row])
            self._count += cur.rowcount
        self._pending.clear()
        self._known.clear()
        now = self._now
        if now and (self._last_evict is None or now - self._last_evict >= EVICT_EVERY_US):
            self._last_evict = now
            self._count -= self._db.execute("DELETE FROM ids WHERE created_at < ?", (now - self.window_us,)).rowcount

    def mark(self) -> None:
        """Keep everything so far; what follows can be rolled back."""
        self._write()
        self._db.execute("RELEASE SAVEPOINT batch")
        self._db.execute("SAVEPOINT batch")
        self._count_at_mark = self._count
        self._last_evict_at_mark = self._last_evict

    def rollback(self) -> None:
        """Undo every change since :meth:`mark` (which stays in force)."""
        self._pending.clear()
        self._known.clear()
        self._db.execute("ROLLBACK TO SAVEPOINT batch")
        self._count = self._count_at_mark
        self._last_evict = self._last_evict_at_mark

    def __len__(self) -> int:
        return self._count + len(self._pending)

    def close(self) -> None:
        self._db.close()


def _sized(items: list[T]) -> list[T]:
    """``items`` (at least one) padded with its last to the next power of two."""
    size = 1 << (len(items) - 1).bit_length()
    return items + [items[-1]] * (size - len(items))
