"""The auditor's replay: recompute every verdict and hash link of a ledger partition.

:class:`PartitionAudit` is pure: feed it each committed ledger record in offset order
and it re-validates the envelope against the membership the entry names (with the
entry's notarised time as the clock, so it reaches the sequencer's verdict), checks the
index is contiguous and the previous-hash link holds, and extends the Merkle tree. Each
problem is a :class:`Violation` naming the index. Reading Kafka happens in the CLI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from hub.errors import DecodeError
from hub.ledger.entry import ChainHead, LedgerEntry
from hub.ledger.merkle import CompactRange
from hub.membership import Membership
from hub.schemas import SchemaRegistry
from hub.sequencer.core import ReplayMemory
from hub.validation import Limits, Rejected, validate


class Finding(StrEnum):
    ENTRY_MALFORMED = "ENTRY_MALFORMED"
    INDEX_GAP = "INDEX_GAP"
    HASH_LINK_BROKEN = "HASH_LINK_BROKEN"
    UNKNOWN_MEMBERSHIP = "UNKNOWN_MEMBERSHIP"
    ENVELOPE_INVALID = "ENVELOPE_INVALID"


@dataclass(frozen=True)
class Violation:
    partition: int
    index: int  # ledger index the violation is about
    offset: int  # Kafka offset of the record read
    finding: Finding
    detail: str

    def line(self) -> str:
        return f"partition {self.partition} index {self.index} (offset {self.offset}): {self.finding}: {self.detail}"


@dataclass
class PartitionResult:
    partition: int
    entries: int = 0
    violations: list[Violation] = field(default_factory=list)
    tree_size: int = 0
    root_hash: str = ""
    head_leaf_hash: str = ""

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["violations"] = [{**asdict(v), "finding": str(v.finding)} for v in self.violations]
        return d


class PartitionAudit:
    def __init__(self, partition: int, memberships: dict[int, Membership], registry: SchemaRegistry,
                 limits: Limits = Limits()):
        self.partition = partition
        self.memberships = memberships
        self.registry = registry
        self.limits = limits
        self.head = ChainHead()
        self.replay = ReplayMemory(limits.max_age_us + limits.max_skew_us)
        self.tree = CompactRange()
        self.result = PartitionResult(partition)

    def _flag(self, index: int, offset: int, finding: Finding, detail: str) -> None:
        self.result.violations.append(Violation(self.partition, index, offset, finding, detail))

    def add(self, offset: int, raw: bytes) -> None:
        self.result.entries += 1
        expected = self.head.next_index
        try:
            entry = LedgerEntry.from_bytes(raw)
        except DecodeError as exc:
            self._flag(expected, offset, Finding.ENTRY_MALFORMED, str(exc))
            # keep counting: the next entry is expected to follow this position
            self.head = ChainHead(expected + 1, b"\xff" * 32)
            self.tree.append(_leaf(raw))
            return
        if entry.index != expected:
            self._flag(entry.index, offset, Finding.INDEX_GAP,
                       f"index {entry.index} follows index {expected - 1}: the chain is not contiguous")
        elif entry.prev_leaf_hash != self.head.prev_leaf_hash and self.head.prev_leaf_hash != b"\xff" * 32:
            self._flag(entry.index, offset, Finding.HASH_LINK_BROKEN,
                       f"entry {entry.index} links to {entry.prev_leaf_hash.hex()[:16]}… but entry "
                       f"{expected - 1} hashes to {self.head.prev_leaf_hash.hex()[:16]}…: entry "
                       f"{expected - 1} was altered, or this link was")
        membership = self.memberships.get(entry.membership_version)
        if membership is None:
            self._flag(entry.index, offset, Finding.UNKNOWN_MEMBERSHIP,
                       f"entry names membership version {entry.membership_version}, which the auditor does not hold")
        else:
            verdict = validate(entry.envelope, membership, self.registry, self.replay, entry.notarised_at,
                               self.limits)
            if isinstance(verdict, Rejected):
                self._flag(entry.index, offset, Finding.ENVELOPE_INVALID, f"{verdict.reason}: {verdict.detail}")
            else:
                self.replay.add(verdict.envelope.message_id, verdict.envelope.created_at, entry.notarised_at)
        self.head = ChainHead.after(entry)
        self.tree.append(entry.leaf_hash)

    def finish(self) -> PartitionResult:
        self.result.tree_size = self.tree.size
        self.result.root_hash = self.tree.root().hex()
        self.result.head_leaf_hash = self.head.prev_leaf_hash.hex()
        return self.result


def _leaf(raw: bytes) -> bytes:
    from hub.ledger.merkle import leaf_hash

    return leaf_hash(raw)
