"""The notary's pure core: one inbound record in, the records to write out.

:class:`Notary` holds a ledger partition's chain head and replay window. ``sequence``
validates a record (:func:`hub.standard.validation.validate`) and returns either an
:class:`Appended` (the ledger entry, its copies for each recipient's outbox and the
sender's receipt) or a :class:`Refused` (the rejection record and, when the sender is a
member, its receipt). Nothing here touches Kafka; the runner writes what it returns in
one transaction, and on abort restores the :meth:`snapshot` taken before the batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from hub.consortium.membership import Membership
from hub.ledger.entry import ChainHead, LedgerEntry, Source
from hub.ledger.merkle import CompactRange
from hub.sequencer.replay import ReplayMemory
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.schemas import SchemaRegistry, hub_record
from hub.standard.validation import (
    Accepted,
    Limits,
    Rejected,
    Verdict,
    ask_of,
    check_answer,
    check_capsule,
    check_deliver_by,
    check_replay,
    precheck,
)


@dataclass(frozen=True)
class InboundRecord:
    """A record read from an inbound topic: where it was read, its key and its value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    #: the latest time (microseconds) the sender's connector lets it be notarised, or None
    #: (the record's ``hub-deliver-by`` header: :data:`hub.kafka.topics.DELIVER_BY_HEADER`)
    deliver_by: int | None = None
    #: an envelope v2's key capsule (the record's ``hub-keys`` header: :data:`hub.kafka.topics.KEYS_HEADER`)
    capsule: bytes | None = None


@dataclass(frozen=True)
class Appended:
    """An accepted record: its ledger entry (decoded and encoded), the envelope, the leaf hash and the
    sender's receipt."""

    entry: LedgerEntry
    envelope: Envelope
    entry_bytes: bytes
    leaf_hash: bytes
    receipt: bytes
    #: an envelope v2's key capsule, for the keys topic (None for v1)
    capsule: bytes | None = None


@dataclass(frozen=True)
class Refused:
    """A refused record: the reason code and detail, the rejection record, and whom to tell with which
    receipt."""

    reason: str
    detail: str
    rejection: bytes
    #: member to tell (its outbox gets the receipt), None when the sender is unknown
    notify: str | None
    receipt: bytes | None


Outcome = Appended | Refused


@dataclass(frozen=True)
class Snapshot:
    """The notary's state before a batch (chain head and Merkle frontier), to restore if it aborts."""

    head: ChainHead
    tree: bytes  # CompactRange.to_bytes()


class Notary:
    """One ledger partition's sequencer core: its chain head, Merkle frontier and replay window."""

    def __init__(
        self,
        partition: int,
        head: ChainHead,
        membership: Membership,
        registry: SchemaRegistry,
        limits: Limits = Limits(),
        replay: ReplayMemory | None = None,
        tree: CompactRange | None = None,
    ):
        self.partition = partition
        self.head = head
        #: the Merkle frontier of every entry so far (RFC 9162 tree of leaf hashes)
        self.tree = tree if tree is not None else CompactRange()
        if self.tree.size != head.next_index:
            raise ValueError(f"Merkle frontier of size {self.tree.size} does not match chain head {head.next_index}")
        self.membership = membership
        self.registry = registry
        self.limits = limits
        self.replay = replay if replay is not None else ReplayMemory(limits.replay_window_us)

    def snapshot(self) -> Snapshot:
        """The state to return to if the batch that follows is aborted."""
        self.replay.mark()
        return Snapshot(self.head, self.tree.to_bytes())

    def restore(self, snap: Snapshot) -> None:
        self.head = snap.head
        self.replay.rollback()
        self.tree = CompactRange.from_bytes(snap.tree)

    def sequence(self, rec: InboundRecord, now_us: int, prechecked: Verdict | None = None) -> Outcome:
        """The outcome for one record; ``prechecked`` is :func:`precheck`'s verdict if already known."""
        if prechecked is None:
            prechecked = precheck(rec.value, self.membership, self.registry, now_us, self.limits)
        verdict = check_deliver_by(check_answer(check_replay(prechecked, self.replay), self.membership, self.replay),
                                   rec.deliver_by, now_us)
        verdict = check_capsule(verdict, rec.capsule, self.membership)
        source = Source(rec.topic, rec.partition, rec.offset)
        if isinstance(verdict, Accepted):
            env = verdict.envelope
            entry = LedgerEntry(self.head.next_index, self.head.prev_leaf_hash, now_us, source,
                                self.membership.version, rec.value)
            raw = entry.to_bytes()
            entry = LedgerEntry(entry.index, entry.prev_leaf_hash, entry.notarised_at, entry.source,
                                entry.membership_version, entry.envelope, raw)
            leaf = entry.leaf_hash
            self.head = ChainHead(entry.index + 1, leaf)
            self.tree.append(leaf)
            self.replay.add(env.message_id, env.created_at, now_us, ask_of(env, self.membership))
            receipt = _receipt(env.message_id, "ACCEPTED", self.partition, entry.index, leaf, None, "", now_us)
            return Appended(entry, env, raw, leaf, receipt, rec.capsule if env.encrypted else None)
        assert isinstance(verdict, Rejected)
        rejected_env = verdict.envelope
        sender = rejected_env.sender if rejected_env else _key_text(rec.key)
        rejection = avro.encode(hub_record("Rejection"), {
            "reason": str(verdict.reason),
            "detail": verdict.detail,
            "source": {"topic": source.topic, "partition": source.partition, "offset": source.offset},
            "rejected_at": now_us,
            "membership_version": self.membership.version,
            "sender": sender,
            "message_id": rejected_env.message_id.bytes if rejected_env else None,
            "key": rec.key,
            "original": rec.value,
        })
        notify = sender if sender is not None and self.membership.member(sender) is not None else None
        rejected_receipt = (
            _receipt(rejected_env.message_id, "REJECTED", self.partition, None, None, str(verdict.reason),
                     verdict.detail, now_us)
            if notify and rejected_env else None
        )
        return Refused(str(verdict.reason), verdict.detail, rejection, notify, rejected_receipt)


def lookups(verdicts: Iterable[Verdict | None]) -> list[uuid.UUID]:
    """The ids a batch's replay and answer checks will ask the window about: each accepted
    message's id and the id of the order it answers (for :meth:`ReplayMemory.prefetch`)."""
    out = []
    for v in verdicts:
        if isinstance(v, Accepted):
            out.append(v.envelope.message_id)
            if v.envelope.correlation_id is not None:
                out.append(v.envelope.correlation_id)
    return out


def _key_text(key: bytes | None) -> str | None:
    if not key:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


_STATUS = {"ACCEPTED": 0, "REJECTED": 1, "UNKNOWN": 2}


def _receipt(message_id: uuid.UUID, status: str, partition: int, index: int | None, leaf: bytes | None,
             reason: str | None, detail: str, now_us: int) -> bytes:
    """A Receipt record's Avro bytes (hand-assembled on the hot path; tests compare it to fastavro's)."""
    z = avro.zigzag
    return b"".join((
        message_id.bytes, z(_STATUS[status]), z(partition),
        b"\x00" if index is None else b"\x02" + z(index),
        b"\x00" if leaf is None else b"\x02" + leaf,
        b"\x00" if reason is None else b"\x02" + avro.avro_bytes(reason.encode()),
        avro.avro_bytes(detail.encode()), z(now_us),
    ))
