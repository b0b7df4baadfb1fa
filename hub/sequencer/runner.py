"""The sequencer process: inbound partition p -> ledger partition p, in Kafka transactions.

One batch = one transaction holding the ledger entries, their outbox copies, the
senders' receipts, the rejections and a checkpoint when one is due (:mod:`hub.sequencer.writer`).
The consumed inbound position commits with them because it is written in them: each ledger
entry and each rejection names its inbound source offset, so a restart resumes one past the
last source its committed output names (:func:`~hub.sequencer.recovery.recover`), with no
separate offset commit in the transaction (which cost more than the commit itself).

:meth:`Sequencer.run` reads in four steps: open the Kafka clients (the transactional producer
fences any predecessor), recover the committed state, the batch loop, and a clean stop that
signs a last checkpoint. Transaction errors are sorted by :mod:`hub.kafka.transactions`:
retriable errors are retried (a commit, until the broker answers again); an abortable error
aborts, and :meth:`Sequencer._transaction` rewinds the consumer to the batch's first offset and
restores the chain head, Merkle frontier and replay window to the last committed state; any other
Kafka failure drops the clients and resumes from the committed log (:meth:`Sequencer.run`); a
fenced writer (:class:`~hub.errors.FencedError`, a newer sequencer with the same
``transactional.id``) ends the process (exit 3), not to be restarted.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass

from hub.config import HubConfig
from hub.consortium.governance import apply_update, membership_history
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Membership
from hub.errors import (
    BrokerUnavailableError,
    ConfigError,
    FencedError,
    HubError,
    IntegrityError,
    KafkaOperationError,
    TransactionAbortedError,
    UnavailableError,
)
from hub.kafka.consumer import OFFSET_BEGINNING, Consumer, Message, open_consumer
from hub.kafka.membership_log import read_updates
from hub.kafka.topics import FRONTIER_HEADER, KIND_HEADER, Topics, ensure_topics, topic_specs
from hub.kafka.transactions import TransactionalProducer, open_transactional_producer
from hub.kafka.watch import BrokerWatch
from hub.ledger.log_identity import origin
from hub.sequencer.checkpoints import CheckpointPolicy, log_signer
from hub.sequencer.core import Notary
from hub.sequencer.gc_tuning import quiet_gc
from hub.sequencer.membership_feed import MembershipFeed
from hub.sequencer.prechecks import PrecheckPool
from hub.sequencer.recovery import Recovered, recover, recover_replay
from hub.sequencer.stats import SequencerStats
from hub.sequencer.writer import Batch, LedgerWriter, check, empty_batch
from hub.standard.schemas import SchemaRegistry
from hub.standard.validation import Limits, Reason, Rejected, Verdict
from hub.timeutil import now_us

log = logging.getLogger(__name__)

__all__ = ["FETCH_KIB", "FRONTIER_HEADER", "KIND_HEADER", "PREFETCH_KIB", "Recovered", "Sequencer",
           "SequencerStats", "recover", "recover_replay", "transactional_id"]

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

#: the first pause before resuming after a Kafka failure, doubled on each failure in a row, seconds
RESUME_BACKOFF_S = 0.5
#: the longest pause between two attempts to resume; a run that lasted longer resets the doubling
RESUME_BACKOFF_MAX_S = 15.0

#: refusals a membership update the sequencer has not read yet may lift
_MEMBERSHIP_REASONS = frozenset({Reason.UNKNOWN_SENDER, Reason.UNKNOWN_KEY, Reason.POLICY_DENIED})


def transactional_id(namespace: str, partition: int) -> str:
    """Stable per ledger partition, so a restarted sequencer fences its predecessor."""
    return f"{namespace}.sequencer.{partition}"


@dataclass
class _Running:
    """What a run holds open: its Kafka clients, the signature workers, and the state it advances."""

    producer: TransactionalProducer
    consumer: Consumer
    feed: MembershipFeed
    pool: PrecheckPool
    notary: Notary
    writer: LedgerWriter


class Sequencer:
    """The single writer of one ledger partition: :meth:`run` until :meth:`stop` (or SIGTERM)."""

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
            raise ConfigError(f"partition {partition} is outside 0..{cfg.partitions - 1}")
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
        #: the inbound position for lag monitoring: the next offset after the last committed
        #: transaction's records, the last one committed to the group, and when (time.monotonic)
        self._lag_next = self._lag_committed = -1
        self._lag_committed_at = 0.0
        #: whether Kafka answers (while :meth:`run` runs)
        self.watch: BrokerWatch | None = None
        #: why the sequencer is not serving even if Kafka answers (None: it is serving)
        self.phase: str | None = "starting"

    def stop(self, *_: object) -> None:
        self._stop.set()

    # --- the run: open, recover, loop, stop -------------------------------------------------------

    def run(self, ready: threading.Event | None = None) -> SequencerStats:
        """Sequence until stopped; ``ready`` is set once the first batch can be read.

        Kafka failing under a running sequencer (the broker killed, frozen or away for an hour) ends
        no process: the failure is logged, :meth:`health` says NOT_SERVING, and once Kafka answers
        the run resumes from what the log holds (:meth:`_run_once` again: a new transactional
        producer fences the failed one and ends its transaction; recovery reads the committed
        state). Only a fenced writer (:class:`~hub.errors.FencedError`: a newer sequencer took over)
        or a log that does not verify (:class:`~hub.errors.IntegrityError`) ends the run, and no
        broker at all when it starts (:class:`~hub.errors.BrokerUnavailableError`)."""
        watch = self.watch = BrokerWatch(self.bootstrap, f"sequencer {self.topics.ledger}[{self.partition}]",
                                         self.topics.inbound).start()
        try:
            if not watch.up:
                raise BrokerUnavailableError(f"no Kafka broker answered at {self.bootstrap} ({watch.reason}): "
                                             "start one with `hub kafka up` or point HUB_KAFKA_BOOTSTRAP at a cluster")
            failures = 0
            while True:
                started = time.monotonic()
                try:
                    self._run_once(ready)
                    return self.stats
                except (FencedError, IntegrityError):
                    raise
                except (UnavailableError, KafkaOperationError) as exc:
                    if self._stop.is_set():
                        return self.stats
                    failures = 1 if time.monotonic() - started > RESUME_BACKOFF_MAX_S else failures + 1
                    self.phase = f"resuming after: {exc.diagnostics()}"
                    self.stats.resumes += 1
                    log.warning("sequencer for %s[%d]: %s; resuming from the committed log once Kafka answers",
                                self.topics.ledger, self.partition, exc.diagnostics())
                    self._await_kafka(min(RESUME_BACKOFF_S * 2 ** (failures - 1), RESUME_BACKOFF_MAX_S))
        finally:
            watch.close()

    def health(self) -> tuple[bool, dict[str, object]]:
        """Whether the sequencer does its work now, and what ``/healthz`` shows (:mod:`hub.healthz`)."""
        fields: dict[str, object] = {
            "ledger": self.topics.ledger, "partition": self.partition, "appended": self.stats.appended,
            "rejected": self.stats.refused, "resumes": self.stats.resumes,
            "next_index": self.notary.head.next_index if self.notary is not None else None,
        }
        reason = (self.watch.outage() if self.watch is not None else None) or self.phase
        if reason is not None:
            fields["reason"] = reason
        return reason is None, fields

    def _await_kafka(self, pause: float) -> None:
        """Wait ``pause`` seconds, then until Kafka answers (or the sequencer is stopped)."""
        if self._stop.wait(pause):
            return
        while self.watch is not None and not self.watch.up and not self._stop.wait(0.2):
            pass

    def _run_once(self, ready: threading.Event | None) -> None:
        """Open, recover, loop until stopped, stop cleanly; a Kafka failure propagates after the
        clients are dropped (without waiting on a broker that does not answer)."""
        self.phase = "starting: recovering the committed state"
        took = [time.monotonic()]
        feed, producer = self._open()
        took.append(time.monotonic())
        consumer = pool = None
        clean = False
        try:
            state = recover(self.bootstrap, self.topics, self.partition, self.signer.verifier())
            took.append(time.monotonic())
            notary = self._notary(state)
            took.append(time.monotonic())
            quiet_gc()  # what exists now lives as long as the process
            consumer = open_consumer(self.bootstrap, f"{self.cfg.namespace}.sequencer",
                                     settings={"queued.max.messages.kbytes": PREFETCH_KIB,
                                               "max.partition.fetch.bytes": FETCH_KIB * 1024})
            consumer.assign([(self.topics.inbound, self.partition,
                              OFFSET_BEGINNING if state.inbound_next is None else state.inbound_next)])
            pool = PrecheckPool(self.registry, notary.limits, self.workers)
            pool.workers.start()  # before announcing readiness: the first batch must not wait for them
            writer = LedgerWriter(self.topics, self.partition, notary, self.signer, self.policy, self.stats)
            run = _Running(producer, consumer, feed, pool, notary, writer)
            self.phase = None
            took.append(time.monotonic())
            log.info("sequencer for %s[%d] running %.1f s after starting (membership log, topics and producer %.1f s, "
                     "recovery %.1f s, replay window %.1f s, consumer and workers %.1f s)", self.topics.ledger,
                     self.partition, took[-1] - took[0], *(b - a for a, b in itertools.pairwise(took)))
            if ready is not None:
                ready.set()
            self._loop(run)
            self._finish(run)
            clean = True
        finally:
            if pool is not None:
                pool.close()
            feed.close()
            if consumer is not None:
                consumer.close()
            producer.close(10 if clean else 0)
        self.phase = "stopped"
        log.info("sequencer for %s[%d] stopped at index %d; %s", self.topics.ledger, self.partition,
                 notary.head.next_index, self.stats.timing())

    def _open(self) -> tuple[MembershipFeed, TransactionalProducer]:
        """The membership so far, the topics it needs, the membership log's follower and the
        transactional producer (which fences any predecessor and ends its open transaction)."""
        # the genesis, then every update of the membership log; later updates are followed live
        updates = read_updates(self.bootstrap, self.cfg.namespace)
        history = membership_history(self.membership, updates)
        self.membership = history[max(history)]
        ensure_topics(self.bootstrap, self.cfg, topic_specs(self.cfg, list(self.membership.members)))
        # the log is written without transactions, so a waiting fetch returns as soon as an update
        # lands: the short wait other readers need only adds idle requests to the broker here
        follower = open_consumer(self.bootstrap, f"{self.cfg.namespace}.sequencer.membership",
                                 settings={"fetch.wait.max.ms": 500})
        try:
            follower.assign([(self.topics.membership, 0, len(updates))])
            producer = open_transactional_producer(self.bootstrap,
                                                   transactional_id(self.cfg.namespace, self.partition))
        except BaseException:
            follower.close()
            raise
        return MembershipFeed(follower, self.topics.membership, len(updates)), producer

    def _notary(self, state: Recovered) -> Notary:
        """The notary over the recovered state, with the replay window of the ledger's recent entries."""
        limits = Limits()
        replay = recover_replay(self.bootstrap, self.topics, self.partition, limits.replay_window_us, self.membership)
        notary = self.notary = Notary(self.partition, state.head, self.membership, self.registry, limits, replay,
                                      state.tree)
        self.policy.last_size = state.checkpoint_size
        log.info("sequencer for %s[%d] starts at index %d (head %s, last checkpoint %d, %d ids in the replay window)",
                 self.topics.ledger, self.partition, state.head.next_index, state.head.prev_leaf_hash.hex()[:16],
                 state.checkpoint_size, len(notary.replay))
        return notary

    def _loop(self, run: _Running) -> None:
        """Batches until stopped, pipelined: while the workers verify batch k+1's signatures, the
        main thread commits batch k. A membership update is applied between two batches: the one
        checked under the old membership commits first."""
        pending: Batch | None = None
        while not self._stop.is_set():
            run.feed.poll()
            if run.feed.held:
                if pending is not None:  # under the membership it was checked against (or, if it has
                    # refusals a newer one may lift, under that one: see _verdicts)
                    self._transaction(run, pending)
                    pending = None
                self._apply_held(run)
            msgs = run.consumer.consume(self.batch_size, 0 if pending else self.poll_timeout)
            batch = self._start(run, msgs) if msgs else None
            if batch is None and pending is None:
                self._commit_lag(run, idle=True)
            committed = True
            if pending is not None:
                committed = self._transaction(run, pending)
            elif batch is None and self.policy.due(run.notary.tree.size, now_us()):
                committed = self._transaction(run, empty_batch())
            if not committed:  # aborted and rewound: the batch read meanwhile is read again
                if batch is not None:
                    batch.prechecks.cancel()
                pending = None
                continue
            pending = batch
        if pending is not None:
            self._transaction(run, pending)

    def _finish(self, run: _Running) -> None:
        """A clean stop leaves every entry covered by a signed checkpoint."""
        if run.notary.tree.size > self.policy.last_size:
            self.policy.last_at = -self.policy.period_us
            if not self._transaction(run, empty_batch()):
                log.warning("the final checkpoint's transaction was aborted")
        self._commit_lag(run, idle=True)

    # --- one batch, one transaction -----------------------------------------------------------------

    def _start(self, run: _Running, msgs: list[Message]) -> Batch:
        now = now_us()
        membership = self.membership
        return Batch(msgs, now, check(run.pool, msgs, membership, now), membership)

    def _transaction(self, run: _Running, batch: Batch) -> bool:
        """Write ``batch`` in one transaction: True once committed; False when Kafka had it aborted,
        after the consumer is rewound to the batch's first record and the notary, the checkpoint
        policy and the stats are back at the last committed state."""
        notary, msgs, st = run.notary, batch.msgs, self.stats
        snap = notary.snapshot()
        policy_before = (self.policy.last_size, self.policy.last_at)
        counts = (st.appended, st.refused, st.checkpoints)
        producer = run.producer

        def fill() -> None:
            run.writer.write(producer.produce, producer.poll, batch, self._verdicts(run, batch))

        try:
            took = producer.transaction(fill, lambda: not self._stop.is_set())
        except HubError as exc:
            if not isinstance(exc, TransactionAbortedError):
                # the run resumes from the log: these counts were never committed
                st.appended, st.refused, st.checkpoints = counts
                raise
            log.warning("aborted a batch of %d: %s", len(msgs), exc.diagnostics())
            st.aborts += 1
            notary.restore(snap)
            self.policy.last_size, self.policy.last_at = policy_before
            st.appended, st.refused, st.checkpoints = counts
            if msgs:
                run.consumer.seek(self.topics.inbound, self.partition, msgs[0].offset() or 0)
            return False
        st.batches += 1
        st.produce_s += took.produce_s
        st.commit_s += took.commit_s
        total = took.produce_s + took.commit_s
        st.longest_s = max(st.longest_s, total)
        if total > 0.1:
            log.debug("slow transaction: %d records, produce %.0f ms, commit %.0f ms", len(msgs),
                      took.produce_s * 1000, took.commit_s * 1000)
        st.sample([m.timestamp()[1] for m in msgs], batch.now / 1000, time.time() * 1000)
        if msgs:
            self._lag_next = (msgs[-1].offset() or 0) + 1
            self._commit_lag(run, idle=False)
        return True

    def _verdicts(self, run: _Running, batch: Batch) -> list[Verdict]:
        """The batch's verdicts against the membership its entries will record.

        A connector signs with a new key (or writes to a newly admitted member) as soon as the
        membership log holds the update, which may be before this sequencer has read it. So before
        refusing a key, a sender or a recipient it does not know, the sequencer reads the log to its
        end, and checks the batch again if the membership changed meanwhile."""
        verdicts = batch.prechecks.result()
        if any(isinstance(v, Rejected) and v.reason in _MEMBERSHIP_REASONS for v in verdicts):
            run.feed.catch_up()
            self._apply_held(run)
        if batch.membership is None or batch.membership is self.membership:
            return verdicts
        return check(run.pool, batch.msgs, self.membership, batch.now).result()

    def _commit_lag(self, run: _Running, *, idle: bool) -> None:
        """Commit the inbound position to the consumer group, for lag monitoring only
        (kafka-consumer-groups, dashboards): a restart reads its position from the committed
        ledger and rejections (recover). Under load once a second is enough and spares the group
        coordinator a write per transaction; an idle sequencer commits what it has at once."""
        now = time.monotonic()
        if self._lag_next == self._lag_committed or (not idle and now - self._lag_committed_at < LAG_COMMIT_EVERY_S):
            return
        self._lag_committed, self._lag_committed_at = self._lag_next, now
        run.consumer.commit(self.topics.inbound, self.partition, self._lag_next, asynchronous=True)

    # --- membership updates --------------------------------------------------------------------------

    def _apply_held(self, run: _Running) -> None:
        """Apply the membership-log records read and not applied yet; every later message is
        validated against the result."""
        updates = run.feed.take()
        if not updates:
            return
        membership = self.membership
        for raw in updates:
            try:
                membership = apply_update(membership, raw)
            except HubError as exc:
                # the log's writers verify before appending: a record that does not apply means the
                # log is not what they wrote. Stop: the operator must look
                raise IntegrityError(f"membership log record does not apply to v{membership.version}: "
                                     f"{exc.diagnostics()}") from exc
        ensure_topics(self.bootstrap, self.cfg, topic_specs(self.cfg, list(membership.members)))
        self.membership = run.notary.membership = membership
        log.info("%s[%d]: now validating against membership v%d", self.topics.ledger, self.partition,
                 membership.version)
