"""What one sequencer transaction writes: a checked batch of inbound records, as Kafka records.

A :class:`Batch` is inbound records read together, with their stateless checks running in the
signature workers (:mod:`hub.sequencer.prechecks`) and the clock reading the checks and the
entries use. :class:`LedgerWriter` turns a batch's verdicts into the notary's outcomes and
produces them into the open transaction: each accepted record's ledger entry (the last one
carrying the Merkle frontier), its copies in the recipients' outboxes (and in the credential
register for a lawyer credential), its key capsule in the keys topic (envelope v2) and the sender's receipt; each refused record's rejection (and a receipt when the sender is known); and a
checkpoint when one is due. The transaction itself is the runner's
(:mod:`hub.sequencer.runner`, with :mod:`hub.kafka.transactions`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from hub.consortium.membership import Membership
from hub.kafka.consumer import Message, header
from hub.kafka.topics import (
    DELIVER_BY_HEADER,
    FRONTIER_HEADER,
    KEYS_HEADER,
    KIND_HEADER,
    Topics,
    deliver_by_value,
)
from hub.kafka.transactions import Produce
from hub.ledger.note import NoteSigner
from hub.sequencer.checkpoints import CheckpointPolicy, make_checkpoint
from hub.sequencer.core import Appended, InboundRecord, Notary, Outcome, Refused, lookups
from hub.sequencer.prechecks import PrecheckBatch, PrecheckPool
from hub.sequencer.stats import SequencerStats
from hub.standard.credentials import is_credential_type
from hub.standard.validation import Verdict
from hub.timeutil import now_us

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Inbound records read together, their checks started at clock ``now`` (microseconds)."""

    msgs: list[Message]
    now: int
    prechecks: PrecheckBatch
    #: the membership its prechecks used
    membership: Membership | None = None


def empty_batch() -> Batch:
    """A batch of no records: a transaction for a due checkpoint only."""
    return Batch([], now_us(), PrecheckBatch([]))


def check(pool: PrecheckPool, msgs: list[Message], membership: Membership, now: int) -> PrecheckBatch:
    """Start the stateless checks of inbound records against ``membership`` at clock ``now``."""
    return pool.submit([(m.value() or b"", membership, now) for m in msgs])


class LedgerWriter:
    """Produces a batch's outcomes into the open transaction, and signs a checkpoint when due.

    It advances the notary (chain head, Merkle frontier, replay window), the checkpoint policy and
    the stats as it goes: when the transaction is aborted, the caller restores them."""

    def __init__(self, topics: Topics, partition: int, notary: Notary, signer: NoteSigner,
                 policy: CheckpointPolicy, stats: SequencerStats) -> None:
        self.topics = topics
        self.partition = partition
        self.notary = notary
        self.signer = signer
        self.policy = policy
        self.stats = stats

    def write(self, produce: Produce, poll: Callable[[float], int], batch: Batch, verdicts: list[Verdict]) -> None:
        """Sequence ``batch`` with its ``verdicts`` and produce every record of the outcome."""
        notary, t, partition = self.notary, self.topics, self.partition
        notary.replay.prefetch(lookups(verdicts))
        outcomes: list[tuple[InboundRecord, Outcome]] = []
        for m, verdict in zip(batch.msgs, verdicts):
            rec = InboundRecord(m.topic() or t.inbound, m.partition() or 0, m.offset() or 0, m.key(),
                                m.value() or b"", deliver_by_value(header(m, DELIVER_BY_HEADER)),
                                header(m, KEYS_HEADER))
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
                produce(t.ledger, out.entry_bytes, key=mid, partition=partition, headers=headers)
                if out.capsule is not None:
                    produce(t.keys, out.capsule, key=mid)
                if is_credential_type(out.envelope.type):
                    produce(t.credentials, out.entry_bytes, key=mid, partition=partition,
                            headers={KIND_HEADER: b"entry"})
                for recipient in out.envelope.recipients:
                    produce(t.outbox(recipient), out.entry_bytes, key=mid, headers={KIND_HEADER: b"entry"})
                produce(t.outbox(out.envelope.sender), out.receipt, key=mid, headers={KIND_HEADER: b"receipt"})
                self.stats.appended += 1
            else:
                assert isinstance(out, Refused)
                produce(t.rejected, out.rejection, key=rec.key, partition=partition)
                if out.notify and out.receipt:
                    produce(t.outbox(out.notify), out.receipt, headers={KIND_HEADER: b"receipt"})
                log.info("rejected %s[%d]@%d: %s %s", rec.topic, rec.partition, rec.offset, out.reason,
                         out.detail)
                self.stats.refused += 1
            if i % 256 == 255:
                # poll gives up the GIL, and getting it back from another thread costs tens of
                # microseconds: once per record, that was most of the produce phase. Nothing here
                # waits on delivery reports (commit_transaction flushes), so poll now and then.
                poll(0)
        now = now_us()
        if self.policy.due(notary.tree.size, now):
            _, signed = make_checkpoint(notary.tree, self.signer)
            produce(t.checkpoints, signed, key=self.signer.name.encode(), partition=partition)
            self.policy.record(notary.tree.size, now)
            self.stats.checkpoints += 1
