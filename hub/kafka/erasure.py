"""Executing approved erasures on Kafka (``hub agency erase``, ``hub kafka erasures apply``).

An erasure is approved by the administrators as an ``erase`` membership update; every later
membership records it (:attr:`hub.consortium.membership.Membership.erasures`). :func:`apply_erasures`
then makes the cluster match the membership, as :func:`hub.kafka.acls.apply_acls` does for ACLs, and
changes nothing that matters when run again:

1. it writes a **tombstone** (the message id as key, no value) to the keys topic ``<ns>.keys`` for
   every erased message: the same key, placed by the same murmur2 partitioner as the sequencer's
   capsule, so it lands on the capsule's partition and replaces it. A tombstone written again is
   harmless; one written after a late capsule (see 2) replaces that too. A connector follows the
   keys topic: from the tombstone on, it delivers the message with ``payload_unavailable`` =
   ``ERASED``, with no restart;
2. the inbound topic still holds each sequenced record, and so its ``hub-keys`` header (the same
   capsule): on each inbound partition it **deletes the records the sequencer has consumed**
   (``DeleteRecords`` below the committed offset of the sequencer's group ``<ns>.sequencer``). That
   offset is committed for monitoring and trails what is sequenced by up to a second, so it never
   covers a record that is not sequenced. Records not consumed yet are left for the sequencer,
   and the report says so: run ``hub kafka erasures apply`` again once it has consumed them.

It runs as the operator (the local broker's super user): writing the keys topic and deleting
inbound records are rights no member and no service holds.

When the bytes leave the broker's disks. Readers lose them at once: a tombstone hides the capsule
from every reader of the compacted topic, and after ``DeleteRecords`` the inbound partition starts
at the new low watermark. The bytes go later:

* the capsule: compaction never touches a partition's active segment, so the segment holding it
  must roll first, at the latest after ``segment.ms`` (:data:`~hub.kafka.topics.KEYS_SEGMENT_MS`, an
  hour) once a record arrives after it; the log cleaner then compacts it soon after
  (``min.cleanable.dirty.ratio`` 0.01), leaving only the tombstone;
* the tombstone itself stays ``delete.retention.ms``
  (:data:`~hub.kafka.topics.KEYS_TOMBSTONE_RETENTION_MS`, a day) after that compaction, so that a
  reader behind still learns of the erasure, then goes too;
* deleted inbound records: a segment wholly below the new low watermark is deleted by the broker's
  next retention check (``log.retention.check.interval.ms``, five minutes by default); the part
  of the active segment below it stays on disk, unreadable, until that segment rolls
  (``segment.ms`` of the inbound topic, the broker's ``log.roll.ms`` default: seven days) and is
  deleted in turn.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from hub.consortium.membership import Membership
from hub.errors import BrokerUnavailableError
from hub.kafka.acl_policy import sequencer_prefix
from hub.kafka.clients import admin_client, translate
from hub.kafka.producer import DeliveryFailure, delivery_error, open_producer
from hub.kafka.reader import read_partition, watermarks
from hub.kafka.topics import Topics

__all__ = [
    "CapsuleState",
    "ErasureReport",
    "InboundPartition",
    "apply_erasures",
    "capsule_states",
    "sequencer_positions",
]

_TIMEOUT = 30.0


class CapsuleState(StrEnum):
    """What the keys topic holds for a message id, as of its latest record."""

    #: a key capsule: the payload can be opened by its readers
    LIVE = "live"
    #: a tombstone: the capsule is destroyed
    DESTROYED = "destroyed"
    #: no record (never sequenced as an envelope v2, or a tombstone compacted away)
    ABSENT = "absent"


@dataclass(frozen=True)
class InboundPartition:
    """What :func:`apply_erasures` did on one inbound partition."""

    partition: int
    #: the sequencer group's committed offset (every record before it is consumed); None: none committed
    consumed_to: int | None
    #: the partition's first offset after this run (every record before it is deleted)
    low: int
    #: one past the partition's last offset
    high: int
    #: how many offsets this run deleted
    deleted: int

    @property
    def pending(self) -> int:
        """Records left because the sequencer has not consumed them (yet)."""
        return max(0, self.high - max(self.low, self.consumed_to or 0))


@dataclass(frozen=True)
class ErasureReport:
    """What :func:`apply_erasures` did: tombstones written, inbound records deleted."""

    membership_version: int
    erased: int
    tombstones: int
    inbound: tuple[InboundPartition, ...]

    @property
    def complete(self) -> bool:
        """True when no inbound record the sequencer has not consumed remains (none can still hold
        an erased message's capsule)."""
        return all(p.pending == 0 for p in self.inbound)

    def lines(self) -> list[str]:
        """The report, for people."""
        if not self.erased:
            return [f"membership v{self.membership_version} erases no message: nothing to do"]
        out = [(f"membership v{self.membership_version} erases {self.erased} message(s): {self.tombstones} "
                "tombstone(s) written to the keys topic")]
        for p in self.inbound:
            consumed = "nothing consumed yet" if p.consumed_to is None else f"consumed up to offset {p.consumed_to}"
            left = (f"{p.pending} record(s) not consumed yet remain: run `hub kafka erasures apply` again once "
                    "the sequencer has consumed them" if p.pending else "no record remains")
            out.append(f"inbound partition {p.partition}: {consumed}; records before offset {p.low} deleted "
                       f"({p.deleted} now); {left}")
        return out


def apply_erasures(bootstrap: str, namespace: str, membership: Membership, partitions: int) -> ErasureReport:
    """Destroy what Kafka still holds of every message ``membership`` erases: a tombstone in the keys
    topic for each, and the inbound records the sequencer has consumed on each of ``partitions``
    partitions. Idempotent; run as the operator."""
    ids = [m for e in membership.erasures for m in e.message_ids]
    if not ids:
        return ErasureReport(membership.version, 0, 0, ())
    written = _write_tombstones(bootstrap, Topics(namespace).keys, ids)
    inbound = _delete_consumed(bootstrap, namespace, partitions)
    return ErasureReport(membership.version, len(ids), written, inbound)


def _write_tombstones(bootstrap: str, topic: str, ids: Iterable[uuid.UUID]) -> int:
    producer = open_producer(bootstrap)
    failures: list[DeliveryFailure] = []

    def delivered(err: DeliveryFailure | None, _msg: object) -> None:
        if err is not None:
            failures.append(err)

    n = 0
    for mid in ids:
        producer.produce(topic, None, key=mid.bytes, on_delivery=delivered)
        n += 1
        if n % 1000 == 0:
            producer.poll(0)
    left = producer.flush(_TIMEOUT)
    if failures:
        raise delivery_error(failures[0], f"writing tombstones to {topic}", bootstrap)
    if left:
        raise BrokerUnavailableError(f"{left} tombstone(s) for {topic} were not acknowledged within "
                                     f"{_TIMEOUT:.0f}s: run the erasure again")
    return n


def sequencer_positions(bootstrap: str, namespace: str, partitions: int) -> dict[int, int | None]:
    """The sequencer group's committed inbound offset of each partition (None: none committed)."""
    topic, group = Topics(namespace).inbound, sequencer_prefix(namespace)
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    admin = admin_client(bootstrap)
    try:
        answer = admin.list_consumer_group_offsets([request], request_timeout=_TIMEOUT)[group].result()
    except KafkaException as exc:
        raise translate(exc, f"reading the committed offsets of group {group}", bootstrap) from exc
    positions: dict[int, int | None] = dict.fromkeys(range(partitions))
    for tp in answer.topic_partitions or ():
        if tp.topic == topic and tp.offset >= 0:
            positions[tp.partition] = tp.offset
    return positions


def _delete_consumed(bootstrap: str, namespace: str, partitions: int) -> tuple[InboundPartition, ...]:
    topic = Topics(namespace).inbound
    positions = sequencer_positions(bootstrap, namespace, partitions)
    admin = admin_client(bootstrap)
    out = []
    for p in range(partitions):
        low, high = watermarks(bootstrap, topic, p)
        consumed = positions[p]
        new_low = low
        if consumed is not None and low < min(consumed, high):
            try:
                [future] = admin.delete_records([TopicPartition(topic, p, min(consumed, high))],
                                                request_timeout=_TIMEOUT, operation_timeout=_TIMEOUT).values()
                new_low = future.result().low_watermark
            except KafkaException as exc:
                raise translate(exc, f"deleting consumed records of {topic}[{p}]", bootstrap) from exc
        out.append(InboundPartition(p, consumed, new_low, high, new_low - low))
    return tuple(out)


def capsule_states(bootstrap: str, namespace: str, partitions: int,
                   message_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CapsuleState]:
    """What the keys topic's ``partitions`` partitions hold for each of ``message_ids``, read to
    their end."""
    wanted = {m.bytes: m for m in message_ids}
    states = dict.fromkeys(wanted.values(), CapsuleState.ABSENT)
    topic = Topics(namespace).keys
    for p in range(partitions):
        for rec in read_partition(bootstrap, topic, p):
            mid = wanted.get(rec.key or b"")
            if mid is not None:
                states[mid] = CapsuleState.LIVE if rec.value else CapsuleState.DESTROYED
    return states
