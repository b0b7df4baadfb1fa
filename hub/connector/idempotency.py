"""Answers to idempotency keys, kept on disk: a retry after a connector restart gets the original answer.

A bank's system that times out on ``Publish`` retries with the same ``idempotency_key``; if the
connector restarted in between, an in-memory table would have forgotten the key and the freeze
order would be published twice, as two messages. The connector keeps each key's request and
answer in a SQLite file under ``HUB_HOME/connectors/<namespace>/<member>/`` (WAL, synchronous
NORMAL: it survives the process being killed), the newest ``capacity`` keys.

Before a keyed request's envelope is produced, the signed envelope itself is written to the same
file (write-ahead). A retry that finds no answer but that envelope, whatever happened in between
(the handler failed, the client gave up, the deadline passed, the connector was SIGKILLed between
Kafka's acknowledgement and writing the answer), produces the very same bytes again: same message
id, same signature. The sequencer accepts it if the first never reached the ledger and refuses it
as ``REPLAYED`` if it did, so one key yields at most one ledger entry.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path

from hub.connector.requests import Refusal, bad_field
from hub.errors import ConfigError
from hub.v1 import connector_pb2 as pb

#: keys remembered (the oldest are forgotten first)
CAPACITY = 100_000
#: puts between two prunings of the oldest keys
PRUNE_EVERY = 1_000


class IdempotencyStore:
    """The newest ``capacity`` idempotency keys' requests and answers, in a SQLite file."""

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
                CREATE TABLE IF NOT EXISTS intents (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    key TEXT NOT NULL UNIQUE,
                    request BLOB NOT NULL,
                    envelope BLOB NOT NULL
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

    def get_intent(self, key: str) -> tuple[bytes, bytes] | None:
        """(request, signed envelope) written for ``key`` before it was produced, or None."""
        with self._lock:
            row = self._db.execute("SELECT request, envelope FROM intents WHERE key = ?", (key,)).fetchone()
        return (bytes(row[0]), bytes(row[1])) if row is not None else None

    def put_intent(self, key: str, request: bytes, envelope: bytes) -> None:
        """Write the envelope about to be produced for ``key`` (before producing it)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO intents (key, request, envelope) VALUES (?, ?, ?)",
                             (key, request, envelope))

    def put(self, key: str, request: bytes, response: bytes) -> None:
        """Write the answer to ``key`` (its intent is no longer needed)."""
        with self._lock:
            self._db.execute("DELETE FROM intents WHERE key = ?", (key,))
            self._db.execute("INSERT OR REPLACE INTO answers (key, request, response) VALUES (?, ?, ?)",
                             (key, request, response))
            self._puts += 1
            if self._puts % PRUNE_EVERY == 0:
                for table in ("answers", "intents"):
                    self._db.execute(f"DELETE FROM {table} WHERE seq <= (SELECT MAX(seq) FROM {table}) - ?",
                                     (self.capacity,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


#: keys the connector remembers in memory (the oldest are forgotten first; the store keeps more)
IDEMPOTENCY_KEYS = 100_000
#: the longest idempotency key a request may carry
MAX_KEY_LENGTH = 200


def request_digest(request_bytes: bytes) -> bytes:
    """What is kept of a request to recognise its retries: its SHA-256, never the request (its
    payload is personal information, and the store outlives it)."""
    return hashlib.sha256(b"judicial-hub/idempotency/v1\x00" + request_bytes).digest()


def same_request(kept: bytes | None, request_bytes: bytes) -> bool:
    """Whether ``request_bytes`` is the request kept as ``kept`` (its digest; the request itself in
    a store written before digests were kept)."""
    return kept is not None and (kept == request_digest(request_bytes) or kept == request_bytes)


class IdempotencySlot:
    """One idempotency key's answer. ``lock`` is held by the call publishing for the key until its
    answer is known (a stream releases it from the delivery callback), so a retry waits for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: the request's digest (:func:`request_digest`)
        self.request: bytes | None = None
        self.response: pb.PublishResponse | None = None
        #: the signed envelope produced (or about to be) for the key's request, until it is answered
        self.envelope: bytes | None = None


class IdempotencyKeys:
    """The answers to idempotency keys: the newest in memory, every one in ``store`` (if given).

    :meth:`slot` finds or makes a key's slot; a caller holding ``slot.lock`` asks :meth:`answered`
    whether the key was answered before, and otherwise publishes and :meth:`remember`\\ s the answer.
    """

    def __init__(self, store: IdempotencyStore | None, capacity: int = IDEMPOTENCY_KEYS) -> None:
        self._store = store
        self._capacity = capacity
        self._slots: OrderedDict[str, IdempotencySlot] = OrderedDict()
        self._lock = threading.Lock()

    def slot(self, key: str) -> IdempotencySlot:
        """The slot of ``key`` (with the answer the store holds, after a restart); :class:`Refusal`
        for a key that is too long."""
        if len(key) > MAX_KEY_LENGTH:
            raise bad_field("idempotency_key", f"is longer than {MAX_KEY_LENGTH} characters", "TOO_LONG")
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None:
                return slot
            slot = self._slots[key] = IdempotencySlot()
            while len(self._slots) > self._capacity:
                self._slots.popitem(last=False)
            stored = self._store.get(key) if self._store is not None else None
            if stored is not None:  # answered before this connector (re)started
                slot.request, slot.response = stored[0], pb.PublishResponse.FromString(stored[1])
                return slot
            intent = self._store.get_intent(key) if self._store is not None else None
            if intent is not None:  # produced (or about to be) before this connector (re)started
                slot.request, slot.envelope = intent
            return slot

    def intend(self, key: str, slot: IdempotencySlot, request_bytes: bytes, envelope: bytes) -> None:
        """Before producing ``envelope`` for ``key``: remember it, in memory and in the store, so
        every retry produces these same bytes (``slot.lock`` held)."""
        slot.request, slot.envelope = request_digest(request_bytes), envelope
        if self._store is not None:
            self._store.put_intent(key, slot.request, envelope)

    @staticmethod
    def intended(slot: IdempotencySlot, request_bytes: bytes) -> bytes | None:
        """The envelope produced before for this key's request, not yet answered (``slot.lock``
        held); :class:`Refusal` when the key was used for a different request."""
        if slot.envelope is None:
            return None
        if not same_request(slot.request, request_bytes):
            raise _reused()
        return slot.envelope

    def remember(self, key: str, slot: IdempotencySlot, request_bytes: bytes, response: pb.PublishResponse) -> None:
        """The answer to ``key``, in memory and in the store."""
        slot.request, slot.response, slot.envelope = request_digest(request_bytes), response, None
        if self._store is not None:
            self._store.put(key, slot.request, response.SerializeToString(deterministic=True))

    @staticmethod
    def answered(slot: IdempotencySlot, request_bytes: bytes) -> pb.PublishResponse | None:
        """The original answer for a repeated key (``slot.lock`` held); None when it has none yet;
        :class:`Refusal` when the key was used for a different request."""
        if slot.response is None:
            return None
        if not same_request(slot.request, request_bytes):
            raise _reused()
        return slot.response

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _reused() -> Refusal:
    return bad_field("idempotency_key", "was used before for a different request", "IDEMPOTENCY_KEY_REUSED")
