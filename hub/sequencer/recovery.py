"""A ledger partition's committed state, read from its tail when a sequencer starts.

Recovery reads only the tail: the last committed ledger record carries the Merkle frontier in
its ``hub-frontier`` header (the last record of every transaction does), the last checkpoint
gives the last signed size, and the replay window is rebuilt from the ledger records of the
window (by Kafka timestamp), never the whole ledger. Run it after the sequencer's transactions
are initialised (which fences a predecessor and finishes its open transaction): what is
committed then is the ledger's true state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hub.consortium.membership import Membership
from hub.errors import ConfigError, DecodeError
from hub.kafka.reader import last_record, offset_for_time, read_partition
from hub.kafka.topics import FRONTIER_HEADER, Topics
from hub.ledger.checkpoint import open_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry, Source
from hub.ledger.merkle import CompactRange
from hub.ledger.note import NoteVerifier
from hub.sequencer.replay import ReplayMemory
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.schemas import hub_record
from hub.standard.validation import ask_of
from hub.timeutil import now_us

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    """The committed state of a ledger partition: chain head, Merkle frontier, last signed size."""

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
        raise ConfigError(f"the last output of ledger partition {partition} came from {source.topic}"
                          f"[{source.partition}], not {topics.inbound}[{partition}]: is another namespace's "
                          "sequencer writing here?")
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
