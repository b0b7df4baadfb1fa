"""The sequencer process: inbound partition p -> ledger partition p, in Kafka transactions.

One batch = one transaction holding the ledger entries, their outbox copies, the
senders' receipts, the rejections and the consumed inbound offsets. Retriable errors are
retried; an abortable error aborts, rewinds the consumer to the batch's first offset and
restores the chain head to the last committed one; a fatal error (for instance being
fenced by a newer sequencer with the same ``transactional.id``) ends the process for its
supervisor to restart it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from hub.config import HubConfig
from hub.errors import HubError, KafkaOperationError
from hub.kafka.clients import consumer_config, producer_config, translate
from hub.kafka.reader import last_record
from hub.kafka.topics import Topics, ensure_topics, topic_specs
from hub.ledger.entry import ChainHead, LedgerEntry
from hub.membership import Membership
from hub.schemas import SchemaRegistry
from hub.sequencer.core import Appended, InboundRecord, Notary, Refused
from hub.timeutil import now_us

log = logging.getLogger(__name__)

KIND_HEADER = "hub-kind"


@dataclass
class SequencerStats:
    appended: int = 0
    refused: int = 0
    batches: int = 0
    aborts: int = 0


def transactional_id(namespace: str, partition: int) -> str:
    """Stable per ledger partition, so a restarted sequencer fences its predecessor."""
    return f"{namespace}.sequencer.{partition}"


def recover_head(bootstrap: str, topics: Topics, partition: int) -> ChainHead:
    """The chain head after the last committed ledger entry of ``partition``."""
    rec = last_record(bootstrap, topics.ledger, partition)
    if rec is None:
        return ChainHead()
    return ChainHead.after(LedgerEntry.from_bytes(rec.value))


class Sequencer:
    def __init__(
        self,
        cfg: HubConfig,
        bootstrap: str,
        partition: int,
        membership: Membership,
        registry: SchemaRegistry,
        *,
        batch_size: int = 500,
        poll_timeout: float = 0.05,
    ):
        if not 0 <= partition < cfg.partitions:
            raise HubError(f"partition {partition} is outside 0..{cfg.partitions - 1}")
        self.cfg = cfg
        self.bootstrap = bootstrap
        self.partition = partition
        self.topics = Topics(cfg.namespace)
        self.membership = membership
        self.registry = registry
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.stats = SequencerStats()
        self._stop = threading.Event()
        self.notary: Notary | None = None

    def stop(self, *_: object) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, ready: threading.Event | None = None) -> SequencerStats:
        ensure_topics(self.bootstrap, self.cfg, topic_specs(self.cfg, list(self.membership.members)))
        producer = Producer(producer_config(self.bootstrap,
                                            transactional_id=transactional_id(self.cfg.namespace, self.partition)))
        try:
            producer.init_transactions(60)
        except KafkaException as exc:
            raise translate(exc, "initialising the sequencer's transactions", self.bootstrap) from exc
        # init_transactions has fenced any predecessor and finished its open transaction:
        # what is committed now is the ledger's true head.
        head = recover_head(self.bootstrap, self.topics, self.partition)
        self.notary = Notary(self.partition, head, self.membership, self.registry)
        log.info("sequencer for %s[%d] starts at index %d (head %s)", self.topics.ledger, self.partition,
                 head.next_index, head.prev_leaf_hash.hex()[:16])
        consumer = Consumer(consumer_config(self.bootstrap, f"{self.cfg.namespace}.sequencer"))
        consumer.assign([TopicPartition(self.topics.inbound, self.partition)])
        if ready is not None:
            ready.set()
        try:
            while not self._stop.is_set():
                msgs = consumer.consume(num_messages=self.batch_size, timeout=self.poll_timeout)
                records = [m for m in msgs if not _skip(m)]
                if records:
                    try:
                        self._commit_batch(producer, consumer, records)
                    except _Rewound:
                        continue
        finally:
            consumer.close()
            producer.flush(10)
        log.info("sequencer for %s[%d] stopped at index %d", self.topics.ledger, self.partition,
                 self.notary.head.next_index)
        return self.stats

    def _commit_batch(self, producer: Producer, consumer: Consumer, msgs: list[Message]) -> None:
        assert self.notary is not None
        snap = self.notary.snapshot()
        first_offset = msgs[0].offset()
        while True:
            try:
                producer.begin_transaction()
                self._produce_batch(producer, msgs)
                next_offset = msgs[-1].offset() + 1
                producer.send_offsets_to_transaction(
                    [TopicPartition(self.topics.inbound, self.partition, next_offset)],
                    consumer.consumer_group_metadata(), 30,
                )
                _commit(producer)
                self.stats.batches += 1
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.txn_requires_abort():
                    log.warning("aborting a batch of %d: %s", len(msgs), err.str())
                    self.stats.aborts += 1
                    producer.abort_transaction(30)
                    self.notary.restore(snap)
                    consumer.seek(TopicPartition(self.topics.inbound, self.partition, first_offset))
                    raise _Rewound() from None
                raise translate(exc, "committing a ledger batch", self.bootstrap) from exc

    def _produce_batch(self, producer: Producer, msgs: list[Message]) -> None:
        assert self.notary is not None
        t = self.topics
        for m in msgs:
            rec = InboundRecord(m.topic(), m.partition(), m.offset(), m.key(), m.value() or b"")
            out = self.notary.sequence(rec, now_us())
            if isinstance(out, Appended):
                mid = out.envelope.message_id.bytes
                producer.produce(t.ledger, out.entry_bytes, key=mid, partition=self.partition,
                                 headers={KIND_HEADER: b"entry"})
                for recipient in out.envelope.recipients:
                    producer.produce(t.outbox(recipient), out.entry_bytes, key=mid,
                                     headers={KIND_HEADER: b"entry"})
                producer.produce(t.outbox(out.envelope.sender), out.receipt, key=mid,
                                 headers={KIND_HEADER: b"receipt"})
                self.stats.appended += 1
            else:
                assert isinstance(out, Refused)
                producer.produce(t.rejected, out.rejection, key=rec.key, partition=self.partition)
                if out.notify and out.receipt:
                    producer.produce(t.outbox(out.notify), out.receipt, headers={KIND_HEADER: b"receipt"})
                log.info("rejected %s[%d]@%d: %s %s", rec.topic, rec.partition, rec.offset, out.reason,
                         out.detail)
                self.stats.refused += 1
            producer.poll(0)


class _Rewound(Exception):
    """The batch was aborted and the consumer rewound; the loop reads it again."""


def _commit(producer: Producer) -> None:
    for attempt in range(10):
        try:
            producer.commit_transaction(30)
            return
        except KafkaException as exc:
            if exc.args[0].retriable():
                time.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            raise
    raise KafkaOperationError("commit_transaction kept failing with retriable errors")


def _skip(m: Message) -> bool:
    err = m.error()
    if err is None:
        return False
    if err.code() == KafkaError._PARTITION_EOF:
        return True
    raise translate(KafkaException(err), "consuming inbound")
