"""Ledger entries: the notarised form of an accepted envelope (schemas/hub/LedgerEntry.v1.avsc)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.errors import DecodeError
from hub.ledger.merkle import leaf_hash
from hub.standard import avro

ZERO_HASH = bytes(32)


@dataclass(frozen=True)
class Source:
    """Where an accepted envelope was read: its Kafka topic, partition and offset."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class LedgerEntry:
    """One entry of the ledger: an accepted envelope, notarised at ``index`` and chained to the previous
    entry by its leaf hash."""

    index: int
    prev_leaf_hash: bytes
    notarised_at: int  # microseconds since the epoch, UTC
    source: Source
    membership_version: int
    envelope: bytes
    raw: bytes = field(default=b"", repr=False, compare=False)

    def to_bytes(self) -> bytes:
        """The Avro binary encoding (hand-assembled on the hot path; tests compare it to fastavro's)."""
        if self.raw:
            return self.raw
        if len(self.prev_leaf_hash) != 32:
            raise ValueError("prev_leaf_hash must be 32 bytes")
        z = avro.zigzag
        return b"".join((
            z(self.index), self.prev_leaf_hash, z(self.notarised_at),
            avro.avro_bytes(self.source.topic.encode()), z(self.source.partition), z(self.source.offset),
            z(self.membership_version), avro.avro_bytes(self.envelope),
        ))

    @property
    def leaf_hash(self) -> bytes:
        """RFC 9162 leaf hash of the entry's bytes: SHA-256(0x00 || entry)."""
        return leaf_hash(self.to_bytes())

    @classmethod
    def from_bytes(cls, raw: bytes) -> LedgerEntry:
        c = avro.Cursor(raw)
        index = c.long()
        if index < 0:
            raise DecodeError(f"negative ledger index {index}")
        prev = c.fixed(32)
        notarised_at = c.timestamp()
        source = Source(c.string(), c.int32(), c.long())
        membership_version = c.long()
        envelope = c.blob()
        c.end("LedgerEntry")
        return cls(index, prev, notarised_at, source, membership_version, envelope, raw)


@dataclass(frozen=True)
class ChainHead:
    """Where the next entry of a ledger partition goes: its index and the previous leaf hash."""

    next_index: int = 0
    prev_leaf_hash: bytes = ZERO_HASH

    @classmethod
    def after(cls, entry: LedgerEntry) -> ChainHead:
        return cls(entry.index + 1, entry.leaf_hash)

    def link_problem(self, entry: LedgerEntry) -> str | None:
        """None if ``entry`` is the next link of this chain, else what is wrong."""
        if entry.index != self.next_index:
            return f"index {entry.index} where {self.next_index} was expected"
        if entry.prev_leaf_hash != self.prev_leaf_hash:
            return (f"previous-hash link broken: entry says {entry.prev_leaf_hash.hex()}, "
                    f"entry {self.next_index - 1} hashes to {self.prev_leaf_hash.hex()}")
        return None
