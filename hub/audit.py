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
from typing import Any, Protocol

from hub import avro
from hub.envelope import Envelope
from hub.errors import DecodeError, HubError
from hub.ledger.checkpoint import open_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry
from hub.ledger.merkle import CompactRange
from hub.ledger.note import NoteVerifier
from hub.membership import Membership
from hub.schemas import SchemaRegistry
from hub.sequencer.core import ReplayMemory
from hub.validation import Limits, Rejected, ask_of, validate


class Finding(StrEnum):
    ENTRY_MALFORMED = "ENTRY_MALFORMED"
    INDEX_GAP = "INDEX_GAP"
    HASH_LINK_BROKEN = "HASH_LINK_BROKEN"
    UNKNOWN_MEMBERSHIP = "UNKNOWN_MEMBERSHIP"
    ENVELOPE_INVALID = "ENVELOPE_INVALID"
    CHECKPOINT_INVALID = "CHECKPOINT_INVALID"
    CHECKPOINT_ORDER = "CHECKPOINT_ORDER"
    CHECKPOINT_ROOT_MISMATCH = "CHECKPOINT_ROOT_MISMATCH"
    CHECKPOINT_BEYOND_LEDGER = "CHECKPOINT_BEYOND_LEDGER"
    # closed loops across the whole ledger (hub.audit_loops)
    ANSWER_UNMATCHED = "ANSWER_UNMATCHED"
    FEEDBACK_MISSING = "FEEDBACK_MISSING"
    FEEDBACK_LATE = "FEEDBACK_LATE"
    CREDENTIAL_TRANSITION = "CREDENTIAL_TRANSITION"


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
    checkpoints: int = 0
    checkpoints_verified: int = 0
    last_checkpoint_size: int = 0

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["violations"] = [{**asdict(v), "finding": str(v.finding)} for v in self.violations]
        return d


class LoopObserver(Protocol):
    def observe(self, partition: int, index: int, offset: int, env: Envelope, notarised_at: int,
                membership: Membership, payload: Any) -> None: ...


class PartitionAudit:
    def __init__(self, partition: int, memberships: dict[int, Membership], registry: SchemaRegistry,
                 limits: Limits = Limits(), loops: LoopObserver | None = None):
        self.partition = partition
        self.memberships = memberships
        self.registry = registry
        self.limits = limits
        self.head = ChainHead()
        self.replay = ReplayMemory(limits.max_age_us + limits.max_skew_us)
        self.tree = CompactRange()
        self.result = PartitionResult(partition)
        self.loops = loops
        #: tree size -> (root hash, checkpoint record offset) still to compare
        self._pending: dict[int, tuple[bytes, int]] = {}

    def expect_checkpoints(self, records: list[tuple[int, bytes]], log_key: NoteVerifier) -> None:
        """Signed checkpoints (record offset, note bytes) to check against the replayed tree."""
        last = -1
        for offset, raw in records:
            self.result.checkpoints += 1
            try:
                cp, _ = open_checkpoint(raw, log_key, origin=log_key.name)
            except HubError as exc:
                self._flag(-1, offset, Finding.CHECKPOINT_INVALID,
                           f"checkpoint at offset {offset} does not verify: {exc.diagnostics()}")
                continue
            if cp.size <= last:
                self._flag(cp.size - 1, offset, Finding.CHECKPOINT_ORDER,
                           f"checkpoint of size {cp.size} follows one of size {last}: the log went backwards")
                continue
            last = cp.size
            self._pending[cp.size] = (cp.root_hash, offset)

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
            self._check_checkpoint()
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
                               self.limits, asks=self.replay)
            if isinstance(verdict, Rejected):
                self._flag(entry.index, offset, Finding.ENVELOPE_INVALID, f"{verdict.reason}: {verdict.detail}")
            else:
                env = verdict.envelope
                self.replay.add(env.message_id, env.created_at, entry.notarised_at, ask_of(env, membership))
                if self.loops is not None:
                    schema = self.registry.by_fingerprint(env.schema_fingerprint)
                    payload = avro.decode(schema.schema, env.payload) if schema is not None else None
                    self.loops.observe(self.partition, entry.index, offset, env, entry.notarised_at, membership,
                                       payload)
        self.head = ChainHead.after(entry)
        self.tree.append(entry.leaf_hash)
        self._check_checkpoint()

    def _check_checkpoint(self) -> None:
        want = self._pending.pop(self.tree.size, None)
        if want is None:
            return
        root, offset = want
        got = self.tree.root()
        if got != root:
            self._flag(self.tree.size - 1, offset, Finding.CHECKPOINT_ROOT_MISMATCH,
                       f"the signed checkpoint of size {self.tree.size} has root {root.hex()[:16]}… but the "
                       f"first {self.tree.size} entries hash to {got.hex()[:16]}…: history was rewritten")
        else:
            self.result.checkpoints_verified += 1
            self.result.last_checkpoint_size = self.tree.size

    def finish(self) -> PartitionResult:
        for size, (_, offset) in sorted(self._pending.items()):
            self._flag(size - 1, offset, Finding.CHECKPOINT_BEYOND_LEDGER,
                       f"a signed checkpoint covers {size} entries but the ledger holds {self.tree.size}: "
                       "entries were removed")
        self._pending.clear()
        self.result.tree_size = self.tree.size
        self.result.root_hash = self.tree.root().hex()
        self.result.head_leaf_hash = self.head.prev_leaf_hash.hex()
        return self.result


def _leaf(raw: bytes) -> bytes:
    from hub.ledger.merkle import leaf_hash

    return leaf_hash(raw)
