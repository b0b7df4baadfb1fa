"""What must hold of a ledger partition after any history of crashes, checked from Kafka."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from hub.consortium.files import load_membership
from hub.kafka.clients import consumer_config
from hub.kafka.reader import read_partition, watermarks
from hub.kafka.topics import Topics
from hub.ledger.checkpoint import open_checkpoint
from hub.ledger.entry import ZERO_HASH, LedgerEntry
from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin
from hub.ledger.merkle import consistency_proof_from_leaves, root_from_leaf_hashes, verify_consistency
from hub.standard import avro
from hub.standard.schemas import hub_record
from tests.integration.conftest import Hub


def committed_inbound(hub: Hub, partition: int) -> int:
    c = Consumer(consumer_config(hub.bootstrap, f"{hub.namespace}.sequencer"))
    try:
        [tp] = c.committed([TopicPartition(Topics(hub.namespace).inbound, partition)], timeout=10)
        return max(tp.offset, 0)
    finally:
        c.close()


def caught_up(hub: Hub, partition: int) -> bool:
    """The sequencer has committed every inbound record (the high watermark may sit after a marker)."""
    _, high = watermarks(hub.bootstrap, Topics(hub.namespace).inbound, partition)
    return committed_inbound(hub, partition) >= high


@dataclass
class Summary:
    entries: int
    rejected: dict[str, int]
    checkpoints: int


def check_partition(hub: Hub, partition: int, expect: list[str] | None = None) -> Summary:
    """``expect``: the verdict for each inbound record in offset order ("ACCEPTED" or a reason code)."""
    t = Topics(hub.namespace)
    inbound = {r.offset: r.value for r in read_partition(hub.bootstrap, t.inbound, partition)}
    ledger = [LedgerEntry.from_bytes(r.value) for r in read_partition(hub.bootstrap, t.ledger, partition)]
    rejected = [avro.decode(hub_record("Rejection"), r.value)
                for r in read_partition(hub.bootstrap, t.rejected, partition)]

    # contiguous indexes and valid hash links
    assert [e.index for e in ledger] == list(range(len(ledger))), "ledger indexes are not contiguous"
    prev = ZERO_HASH
    for e in ledger:
        assert e.prev_leaf_hash == prev, f"hash link broken at index {e.index}"
        prev = e.leaf_hash
    # no duplicates: every inbound record ends in the ledger or in rejected, exactly once, byte for byte
    placed = [e.source.offset for e in ledger] + [r["source"]["offset"] for r in rejected]
    assert len(placed) == len(set(placed)), "an inbound record was placed twice"
    assert set(placed) == set(inbound), (
        f"inbound and ledger+rejected differ: missing {sorted(set(inbound) - set(placed))[:5]}, "
        f"extra {sorted(set(placed) - set(inbound))[:5]}")
    for e in ledger:
        assert e.envelope == inbound[e.source.offset]
    for r in rejected:
        assert r["original"] == inbound[r["source"]["offset"]]
    envelopes = [e.envelope for e in ledger]
    assert len(envelopes) == len(set(envelopes)), "the same envelope was sequenced twice"
    if expect is not None:
        assert len(expect) == len(inbound)
        verdict = dict(zip(sorted(inbound), expect))
        for e in ledger:
            assert verdict[e.source.offset] == "ACCEPTED", (e.index, verdict[e.source.offset])
        for r in rejected:
            assert verdict[r["source"]["offset"]] == r["reason"], (r["source"], r["reason"], r["detail"])

    # every checkpoint verifies, matches the ledger, and is consistent with the next
    membership = load_membership(hub.consortium)
    key = membership.members[SEQUENCER_MEMBER].keys[0].key.raw
    verifier = log_verifier(key, origin(membership.consortium, hub.namespace, partition))
    leaves = [e.leaf_hash for e in ledger]
    cps = [open_checkpoint(r.value, verifier, origin=verifier.name)[0]
           for r in read_partition(hub.bootstrap, t.checkpoints, partition)]
    for cp in cps:
        assert cp.size <= len(leaves), f"checkpoint of size {cp.size} beyond the ledger"
        assert cp.root_hash == root_from_leaf_hashes(leaves[: cp.size])
    for a, b in itertools.pairwise(cps):
        assert a.size < b.size, "checkpoints must grow"
        verify_consistency(a.size, b.size, consistency_proof_from_leaves(a.size, leaves[: b.size]), a.root_hash,
                           b.root_hash)
    counts: dict[str, int] = {}
    for r in rejected:
        counts[r["reason"]] = counts.get(r["reason"], 0) + 1
    return Summary(len(ledger), counts, len(cps))
