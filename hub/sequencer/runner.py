"""The sequencer process: inbound partition p -> ledger partition p, in Kafka transactions.

One batch = one transaction holding the ledger entries, their outbox copies, the
senders' receipts, the rejections and a checkpoint when one is due. The consumed inbound
position commits with them because it is written in them: each ledger entry and each
rejection names its inbound source offset, so a restart resumes one past the last source
its committed output names (:func:`recover`), with no separate offset commit in
the transaction (which cost more than the commit itself). Retriable errors are retried; an abortable error aborts, rewinds the
consumer to the batch's first offset and restores the chain head, Merkle frontier and
replay window to the last committed state; a fatal error (for instance being fenced by
a newer sequencer with the same ``transactional.id``) ends the process for its
supervisor to restart it.

Recovery reads only the tail: the last committed ledger record carries the Merkle
frontier in its ``hub-frontier`` header (the last record of every transaction does),
the last checkpoint gives the last signed size, and the replay window is rebuilt from
the ledger records of the window (by Kafka timestamp), never the whole ledger.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from hub.config import HubConfig
from hub.consortium.governance import apply_update, membership_history
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Membership
from hub.errors import DecodeError, HubError, KafkaOperationError
from hub.kafka.clients import consume_available, consumer_config, producer_config, translate
from hub.kafka.membership_log import read_updates
from hub.kafka.reader import last_record, offset_for_time, read_partition
from hub.kafka.topics import Topics, ensure_topics, topic_specs
from hub.ledger.checkpoint import open_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry, Source
from hub.ledger.log_identity import origin
from hub.ledger.merkle import CompactRange
from hub.ledger.note import NoteVerifier
from hub.sequencer.checkpoints import CheckpointPolicy, log_signer, make_checkpoint
from hub.sequencer.core import Appended, InboundRecord, Notary, Outcome, Refused, lookups
from hub.sequencer.gc_tuning import quiet_gc
from hub.sequencer.prechecks import PrecheckBatch, PrecheckPool
from hub.sequencer.replay import ReplayMemory
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.schemas import SchemaRegistry, hub_record
from hub.standard.validation import Limits, Reason, Rejected, Verdict, ask_of
from hub.timeutil import now_us

log = logging.getLogger(__name__)

KIND_HEADER = "hub-kind"
FRONTIER_HEADER = "hub-frontier"


#: at most how often the consumed inbound position is committed for lag monitoring, seconds
LAG_COMMIT_EVERY_S = 1.0

#: inbound the consumer reads ahead, KiB (librdkafka's default is 64 MiB): ~4,000 envelopes, eight
#: batches. The queue's high-water mark stays in the process's memory (docs/design-notes.md, "Why
#: the sequencer reads only 4 MiB of inbound ahead, 128 KiB a fetch").
PREFETCH_KIB = 4 * 1024
#: inbound one fetch brings, at most, KiB (librdkafka's default is 1 MiB): ~115 envelopes, or two of
#: the largest. Smaller fetches let the prefetch's memory turn over evenly (docs/design-notes.md,
#: same section).
FETCH_KIB = 128

#: records whose delays the stats keep
SAMPLES = 10_000


@dataclass
class SequencerStats:
    appended: int = 0
    refused: int = 0
    batches: int = 0
    aborts: int = 0
    checkpoints: int = 0
    #: seconds spent in committed transactions: producing (with the wait for the checks) and
    #: committing; the longest transaction
    produce_s: float = 0.0
    commit_s: float = 0.0
    longest_s: float = 0.0
    #: inbound record's timestamp -> its transaction committed, ms (the most recent records)
    delays_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    #: ... -> consumed by the sequencer, ms
    pickup_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def timing(self) -> str:
        n = max(self.batches, 1)
        text = (f"per transaction: produce {self.produce_s / n * 1000:.1f} ms, commit {self.commit_s / n * 1000:.1f} ms; "
                f"longest {self.longest_s * 1000:.0f} ms")
        for name, values in (("inbound to consumed", self.pickup_ms), ("inbound to committed", self.delays_ms)):
            if values:
                v = sorted(values)
                text += f"; {name} p50 {v[len(v) // 2]:.0f} ms, p99 {v[int(0.99 * (len(v) - 1))]:.0f} ms"
        return text

    def sample(self, batch_ms: list[int], consumed_ms: float, committed_ms: float) -> None:
        for t in batch_ms:
            self.pickup_ms.append(consumed_ms - t)
            self.delays_ms.append(committed_ms - t)


def transactional_id(namespace: str, partition: int) -> str:
    """Stable per ledger partition, so a restarted sequencer fences its predecessor."""
    return f"{namespace}.sequencer.{partition}"


@dataclass(frozen=True)
class Recovered:
    head: ChainHead
    tree: CompactRange
    checkpoint_size: int
    #: the inbound offset to read next (None: from the beginning)
    inbound_next: int | None


def recover(bootstrap: str, topics: Topics, partition: int, log_key: NoteVerifier) -> Recovered:
    """The committed state of a ledger partition, read from its tail.

    The inbound position is one past the last inbound record that the committed ledger entries or
    rejections name as their source: every inbound record the sequencer reads becomes exactly one
    of the two, written in the same transaction, so the committed output is itself the committed
    position and no consumer-group offset needs to travel in the transaction."""
    cp_size = 0
    cp = last_record(bootstrap, topics.checkpoints, partition)
    if cp is not None:
        cp_size = open_checkpoint(cp.value, log_key, origin=log_key.name)[0].size
    last_source = -1
    rej = last_record(bootstrap, topics.rejected, partition)
    if rej is not None:
        src = avro.decode(hub_record("Rejection"), rej.value)["source"]
        last_source = _source_offset(Source(src["topic"], src["partition"], src["offset"]), topics, partition)
    rec = last_record(bootstrap, topics.ledger, partition)
    if rec is None:
        return Recovered(ChainHead(), CompactRange(), cp_size, last_source + 1 if last_source >= 0 else None)
    entry = LedgerEntry.from_bytes(rec.value)
    inbound_next = max(last_source, _source_offset(entry.source, topics, partition)) + 1
    head = ChainHead.after(entry)
    frontier = rec.headers.get(FRONTIER_HEADER)
    if frontier is not None:
        try:
            tree = CompactRange.from_bytes(frontier)
            if tree.size == head.next_index:
                return Recovered(head, tree, cp_size, inbound_next)
        except DecodeError:
            pass
    log.warning("%s[%d]: no usable Merkle frontier on the last entry: rebuilding from index 0",
                topics.ledger, partition)
    tree = CompactRange()
    for r in read_partition(bootstrap, topics.ledger, partition):
        tree.append(LedgerEntry.from_bytes(r.value).leaf_hash)
    return Recovered(head, tree, cp_size, inbound_next)


def _source_offset(source: Source, topics: Topics, partition: int) -> int:
    if source.topic != topics.inbound or source.partition != partition:
        raise HubError(f"the last output of ledger partition {partition} came from {source.topic}[{source.partition}], "
                       f"not {topics.inbound}[{partition}]: is another namespace's sequencer writing here?")
    return source.offset


def recover_replay(bootstrap: str, topics: Topics, partition: int, window_us: int,
                   membership: Membership) -> ReplayMemory:
    """The message ids (and the orders answers may name) of the ledger entries of the last
    ``window_us``, found by Kafka timestamp: the same window the auditor's replay keeps."""
    memory = ReplayMemory(window_us)
    now = now_us()
    start = offset_for_time(bootstrap, topics.ledger, partition, (now - window_us) // 1000)
    for i, r in enumerate(read_partition(bootstrap, topics.ledger, partition, start)):
        entry = LedgerEntry.from_bytes(r.value)
        env = Envelope.from_bytes(entry.envelope)
        memory.add(env.message_id, env.created_at, entry.notarised_at, ask_of(env, membership))
        if i % 10_000 == 9_999:
            memory.mark()  # write them out: a day's ids never sit in memory at once
    memory.mark()
    return memory


@dataclass
class _Batch:
    msgs: list[Message]
    now: int
    prechecks: PrecheckBatch
    #: the membership its prechecks used
    membership: Membership | None = None


def _empty() -> _Batch:
    """A batch of no records: a transaction for a due checkpoint only."""
    return _Batch([], now_us(), PrecheckBatch([]))


class _Rewound(Exception):
    """The batch was aborted and the consumer rewound; the loop reads it again."""


class Sequencer:
    def __init__(
        self,
        cfg: HubConfig,
        bootstrap: str,
        partition: int,
        membership: Membership,
        registry: SchemaRegistry,
        log_key: SigningKey,
        *,
        batch_size: int = 500,
        poll_timeout: float = 0.05,
        checkpoint_policy: CheckpointPolicy | None = None,
        workers: int = 2,
    ):
        if not 0 <= partition < cfg.partitions:
            raise HubError(f"partition {partition} is outside 0..{cfg.partitions - 1}")
        self.cfg = cfg
        self.bootstrap = bootstrap
        self.partition = partition
        self.topics = Topics(cfg.namespace)
        self.membership = membership
        self.registry = registry
        self.signer = log_signer(log_key, origin(membership.consortium, cfg.namespace, partition))
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.policy = checkpoint_policy or CheckpointPolicy()
        #: processes verifying signatures for the stateless checks (0: in the main thread)
        self.workers = workers
        self.stats = SequencerStats()
        self._stop = threading.Event()
        self.notary: Notary | None = None
        #: the membership log's offset of the next update to apply, the records read after it and
        #: not applied yet, and the consumer following the log
        self._membership_next = 0
        self._held: list[bytes] = []
        self._follower: Consumer | None = None
        self._pool: PrecheckPool | None = None
        #: the inbound position for lag monitoring: the next offset after the last committed
        #: transaction's records, the last one committed to the group, and when (time.monotonic)
        self._lag_next = self._lag_committed = -1
        self._lag_committed_at = 0.0

    def stop(self, *_: object) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, ready: threading.Event | None = None) -> SequencerStats:
        # the genesis, then every update of the membership log; later updates are followed live
        updates = read_updates(self.bootstrap, self.cfg.namespace)
        history = membership_history(self.membership, updates)
        self.membership = history[max(history)]
        ensure_topics(self.bootstrap, self.cfg, topic_specs(self.cfg, list(self.membership.members)))
        # the log is written without transactions, so a waiting fetch returns as soon as an update
        # lands: the short wait other readers need only adds idle requests to the broker here
        follower = Consumer(consumer_config(self.bootstrap, f"{self.cfg.namespace}.sequencer.membership",
                                            **{"fetch.wait.max.ms": 500}))
        follower.assign([TopicPartition(self.topics.membership, 0, len(updates))])
        self._membership_next, self._follower = len(updates), follower
        producer = Producer(producer_config(self.bootstrap,
                                            transactional_id=transactional_id(self.cfg.namespace, self.partition)))
        try:
            producer.init_transactions(60)
        except KafkaException as exc:
            raise translate(exc, "initialising the sequencer's transactions", self.bootstrap) from exc
        # init_transactions has fenced any predecessor and finished its open transaction:
        # what is committed now is the ledger's true state.
        state = recover(self.bootstrap, self.topics, self.partition, self.signer.verifier())
        limits = Limits()
        replay = recover_replay(self.bootstrap, self.topics, self.partition, limits.replay_window_us, self.membership)
        notary = Notary(self.partition, state.head, self.membership, self.registry, limits, replay, state.tree)
        self.notary = notary
        self.policy.last_size = state.checkpoint_size
        log.info("sequencer for %s[%d] starts at index %d (head %s, last checkpoint %d, %d ids in the replay window)",
                 self.topics.ledger, self.partition, state.head.next_index, state.head.prev_leaf_hash.hex()[:16],
                 state.checkpoint_size, len(notary.replay))
        quiet_gc()  # what exists now lives as long as the process
        consumer = Consumer(consumer_config(self.bootstrap, f"{self.cfg.namespace}.sequencer",
                                            **{"queued.max.messages.kbytes": PREFETCH_KIB,
                                               "max.partition.fetch.bytes": FETCH_KIB * 1024}))
        consumer.assign([TopicPartition(self.topics.inbound, self.partition,
                                        OFFSET_BEGINNING if state.inbound_next is None else state.inbound_next)])
        pool = self._pool = PrecheckPool(self.registry, notary.limits, self.workers)
        pool.workers.start()  # before announcing readiness: the first batch must not wait for them
        if ready is not None:
            ready.set()
        # pipeline: while the workers verify batch k+1's signatures, the main thread commits batch k
        pending: _Batch | None = None
        try:
            while not self._stop.is_set():
                self._held += [m.value() or b"" for m in follower.consume(num_messages=10, timeout=0) if not _skip(m)]
                if self._held:
                    if pending is not None:  # under the membership it was checked against (or, if it has
                        # refusals a newer one may lift, under that one: see _verdicts)
                        try:
                            self._transaction(producer, consumer, pending)
                        except _Rewound:
                            pass
                        pending = None
                    self._apply_held()
                msgs = [m for m in consume_available(consumer, self.batch_size,
                                                     0 if pending else self.poll_timeout) if not _skip(m)]
                batch = self._start(msgs, pool) if msgs else None
                if batch is None and pending is None:
                    self._commit_lag(consumer, idle=True)
                try:
                    if pending is not None:
                        self._transaction(producer, consumer, pending)
                    elif batch is None and self.policy.due(notary.tree.size, now_us()):
                        self._transaction(producer, consumer, _empty())
                except _Rewound:
                    if batch is not None:
                        batch.prechecks.cancel()
                    pending = None
                    continue
                pending = batch
            if pending is not None:
                try:
                    self._transaction(producer, consumer, pending)
                except _Rewound:
                    pass
            if notary.tree.size > self.policy.last_size:
                # a clean stop leaves every entry covered by a signed checkpoint
                self.policy.last_at = -self.policy.period_us
                try:
                    self._transaction(producer, consumer, _empty())
                except _Rewound:
                    log.warning("the final checkpoint's transaction was aborted")
            self._commit_lag(consumer, idle=True)
        finally:
            pool.close()
            follower.close()
            consumer.close()
            producer.flush(10)
        log.info("sequencer for %s[%d] stopped at index %d; %s", self.topics.ledger, self.partition,
                 notary.head.next_index, self.stats.timing())
        return self.stats

    def _apply_membership(self, updates: list[bytes]) -> None:
        """Apply new membership-log records; every later message is validated against the result."""
        notary = self.notary
        assert notary is not None
        membership = self.membership
        for raw in updates:
            try:
                membership = apply_update(membership, raw)
            except HubError as exc:
                # the log's writers verify before appending, so this is an operator's error: stop
                raise HubError(f"membership log record does not apply to v{membership.version}: "
                               f"{exc.diagnostics()}") from exc
        ensure_topics(self.bootstrap, self.cfg, topic_specs(self.cfg, list(membership.members)))
        self.membership = notary.membership = membership
        self._membership_next += len(updates)
        log.info("%s[%d]: now validating against membership v%d", self.topics.ledger, self.partition,
                 membership.version)

    def _start(self, msgs: list[Message], pool: PrecheckPool) -> _Batch:
        now = now_us()
        membership = self.membership
        return _Batch(msgs, now, _check(pool, msgs, membership, now), membership)

    def _verdicts(self, batch: _Batch) -> list[Verdict]:
        """The batch's verdicts against the membership its entries will record.

        A connector signs with a new key (or writes to a newly admitted member) as soon as the
        membership log holds the update, which may be before this sequencer has read it. So before
        refusing a key, a sender or a recipient it does not know, the sequencer reads the log to its
        end, and checks the batch again if the membership changed meanwhile."""
        verdicts = batch.prechecks.result()
        if any(isinstance(v, Rejected) and v.reason in _MEMBERSHIP_REASONS for v in verdicts):
            self._catch_up_membership()
        if batch.membership is None or batch.membership is self.membership:
            return verdicts
        assert self._pool is not None
        return _check(self._pool, batch.msgs, self.membership, batch.now).result()

    def _catch_up_membership(self) -> None:
        """Apply the updates the membership log holds beyond what this sequencer applied, read by
        its follower (one watermark query when there are none)."""
        follower = self._follower
        assert follower is not None
        try:
            _, high = follower.get_watermark_offsets(TopicPartition(self.topics.membership, 0), timeout=10,
                                                     cached=False)
        except KafkaException as exc:
            raise translate(exc, "reading the membership log's end", self.bootstrap) from exc
        deadline = time.monotonic() + 30
        while self._membership_next + len(self._held) < high:
            if time.monotonic() > deadline:
                raise KafkaOperationError(f"the membership log's records up to offset {high} did not arrive in 30 s")
            wanted = high - self._membership_next - len(self._held)
            self._held += [m.value() or b"" for m in follower.consume(num_messages=wanted, timeout=1) if not _skip(m)]
        self._apply_held()

    def _apply_held(self) -> None:
        """Apply the membership records read from the follower and not applied yet."""
        held, self._held = self._held, []
        if held:
            self._apply_membership(held)

    def _transaction(self, producer: Producer, consumer: Consumer, batch: _Batch) -> None:
        notary = self.notary
        assert notary is not None
        msgs = batch.msgs
        snap = notary.snapshot()
        policy_before = (self.policy.last_size, self.policy.last_at)
        counts = (self.stats.appended, self.stats.refused, self.stats.checkpoints)
        try:
            t0 = time.perf_counter()
            producer.begin_transaction()
            self._produce_batch(producer, batch)
            t1 = time.perf_counter()
            _commit(producer)
            t2 = time.perf_counter()
            st = self.stats
            st.batches += 1
            st.produce_s += t1 - t0
            st.commit_s += t2 - t1
            st.longest_s = max(st.longest_s, t2 - t0)
            if t2 - t0 > 0.1:
                log.debug("slow transaction: %d records, produce %.0f ms, commit %.0f ms", len(msgs),
                         (t1 - t0) * 1000, (t2 - t1) * 1000)
            st.sample([m.timestamp()[1] for m in msgs], batch.now / 1000, time.time() * 1000)
            if msgs:
                self._lag_next = (msgs[-1].offset() or 0) + 1
                self._commit_lag(consumer, idle=False)
        except KafkaException as exc:
            err = exc.args[0]
            if not err.txn_requires_abort():
                raise translate(exc, "committing a ledger batch", self.bootstrap) from exc
            log.warning("aborting a batch of %d: %s", len(msgs), err.str())
            self.stats.aborts += 1
            producer.abort_transaction(30)
            notary.restore(snap)
            self.policy.last_size, self.policy.last_at = policy_before
            self.stats.appended, self.stats.refused, self.stats.checkpoints = counts
            if msgs:
                consumer.seek(TopicPartition(self.topics.inbound, self.partition, msgs[0].offset() or 0))
            raise _Rewound() from None

    def _commit_lag(self, consumer: Consumer, *, idle: bool) -> None:
        """Commit the inbound position to the consumer group, for lag monitoring only
        (kafka-consumer-groups, dashboards): a restart reads its position from the committed
        ledger and rejections (recover). Under load once a second is enough and spares the group
        coordinator a write per transaction; an idle sequencer commits what it has at once."""
        now = time.monotonic()
        if self._lag_next == self._lag_committed or (not idle and now - self._lag_committed_at < LAG_COMMIT_EVERY_S):
            return
        self._lag_committed, self._lag_committed_at = self._lag_next, now
        consumer.commit(offsets=[TopicPartition(self.topics.inbound, self.partition, self._lag_next)],
                        asynchronous=True)

    def _produce_batch(self, producer: Producer, batch: _Batch) -> None:
        notary = self.notary
        assert notary is not None
        t = self.topics
        verdicts = self._verdicts(batch)
        notary.replay.prefetch(lookups(verdicts))
        outcomes: list[tuple[InboundRecord, Outcome]] = []
        for m, verdict in zip(batch.msgs, verdicts):
            rec = InboundRecord(m.topic() or t.inbound, m.partition() or 0, m.offset() or 0, m.key(),
                                m.value() or b"")
            # one clock reading per batch: the prechecks used it and the entries record it,
            # so the auditor, validating with notarised_at, reaches the same verdicts
            outcomes.append((rec, notary.sequence(rec, batch.now, verdict)))
        last_appended = max((i for i, (_, o) in enumerate(outcomes) if isinstance(o, Appended)), default=-1)
        for i, (rec, out) in enumerate(outcomes):
            if isinstance(out, Appended):
                mid = out.envelope.message_id.bytes
                headers: dict[str, str | bytes | None] = {KIND_HEADER: b"entry"}
                if i == last_appended:
                    headers[FRONTIER_HEADER] = notary.tree.to_bytes()
                producer.produce(t.ledger, out.entry_bytes, key=mid, partition=self.partition, headers=headers)
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
            if i % 256 == 255:
                # poll gives up the GIL, and getting it back from another thread costs tens of
                # microseconds: once per record, that was most of the produce phase. Nothing here
                # waits on delivery reports (commit_transaction flushes), so poll now and then.
                producer.poll(0)
        now = now_us()
        if self.policy.due(notary.tree.size, now):
            _, signed = make_checkpoint(notary.tree, self.signer)
            producer.produce(t.checkpoints, signed, key=self.signer.name.encode(), partition=self.partition)
            self.policy.record(notary.tree.size, now)
            self.stats.checkpoints += 1


def _check(pool: PrecheckPool, msgs: list[Message], membership: Membership, now: int) -> PrecheckBatch:
    """Start the stateless checks of inbound records against ``membership`` at clock ``now``."""
    return pool.submit([(m.value() or b"", membership, now) for m in msgs])


#: refusals a membership update the sequencer has not read yet may lift
_MEMBERSHIP_REASONS = frozenset({Reason.UNKNOWN_SENDER, Reason.UNKNOWN_KEY, Reason.POLICY_DENIED})


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
