"""The auditor's replay: recompute every verdict and hash link of a ledger partition.

:class:`PartitionAudit` is pure: feed it each committed ledger record in offset order
and it re-validates the envelope against the membership the entry names (with the
entry's notarised time as the clock, so it reaches the sequencer's verdict), checks the
index is contiguous and the previous-hash link holds, and extends the Merkle tree. Each
problem is a :class:`Violation` naming the index. Reading Kafka happens in the CLI.

Entries are replayed in batches: while the replay of one batch runs, worker processes check the
signatures of the next (:mod:`hub.sequencer.prechecks`), so every core verifies. :meth:`PartitionAudit.finish`
completes the last batch; results are final only after it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from hub.consortium.membership import Membership
from hub.errors import DecodeError, HubError
from hub.ledger.checkpoint import open_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry
from hub.ledger.merkle import CompactRange, leaf_hash
from hub.ledger.note import NoteVerifier
from hub.sequencer.core import lookups
from hub.sequencer.prechecks import PrecheckBatch, PrecheckPool
from hub.sequencer.replay import ReplayMemory
from hub.sequencer.signature_workers import SignatureWorkers
from hub.standard.envelope import Envelope
from hub.standard.schemas import SchemaRegistry
from hub.standard.validation import Limits, Rejected, Verdict, ask_of, check_answer, check_replay

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hub.ledger.checkpoint import Checkpoint
    from hub.ledger.trust_policy import PolicyCheck


#: a decoded ledger record: offset, bytes, the entry (or why it does not decode), its leaf hash, and
#: the membership its envelope is checked against (None: it does not decode, or names a version the
#: auditor does not hold, so it gets no verdict)
_Decoded = tuple[int, bytes, "LedgerEntry | DecodeError", bytes, "Membership | None"]


class Finding(StrEnum):
    """What the auditor found wrong, as a stable code (the report's ``finding``)."""

    ENTRY_MALFORMED = "ENTRY_MALFORMED"
    INDEX_GAP = "INDEX_GAP"
    HASH_LINK_BROKEN = "HASH_LINK_BROKEN"
    UNKNOWN_MEMBERSHIP = "UNKNOWN_MEMBERSHIP"
    ENVELOPE_INVALID = "ENVELOPE_INVALID"
    CHECKPOINT_INVALID = "CHECKPOINT_INVALID"
    CHECKPOINT_ORDER = "CHECKPOINT_ORDER"
    CHECKPOINT_ROOT_MISMATCH = "CHECKPOINT_ROOT_MISMATCH"
    CHECKPOINT_BEYOND_LEDGER = "CHECKPOINT_BEYOND_LEDGER"
    # the latest witness-cosigned checkpoint under a C2SP tlog-policy (hub.ledger.trust_policy)
    COSIGNATURE_INVALID = "COSIGNATURE_INVALID"
    WITNESS_QUORUM_MISSING = "WITNESS_QUORUM_MISSING"
    SPLIT_VIEW = "SPLIT_VIEW"
    # closed loops across the whole ledger (hub.audit.loops)
    ANSWER_UNMATCHED = "ANSWER_UNMATCHED"
    FEEDBACK_MISSING = "FEEDBACK_MISSING"
    FEEDBACK_LATE = "FEEDBACK_LATE"
    CREDENTIAL_TRANSITION = "CREDENTIAL_TRANSITION"
    # encrypted payloads (envelope v2; hub.audit.payloads)
    KEY_MISSING = "KEY_MISSING"
    ERASURE_INCOMPLETE = "ERASURE_INCOMPLETE"
    PAYLOAD_UNOPENABLE = "PAYLOAD_UNOPENABLE"
    PAYLOAD_INVALID = "PAYLOAD_INVALID"


@dataclass(frozen=True)
class Violation:
    """One finding at one ledger index of one partition, with what the auditor saw."""

    partition: int
    index: int  # ledger index the violation is about
    offset: int  # Kafka offset of the record read
    finding: Finding
    detail: str

    def line(self) -> str:
        return f"partition {self.partition} index {self.index} (offset {self.offset}): {self.finding}: {self.detail}"


@dataclass
class PartitionResult:
    """What replaying one ledger partition found: its size, root, checkpoints and violations."""

    partition: int
    entries: int = 0
    violations: list[Violation] = field(default_factory=list)
    tree_size: int = 0
    root_hash: str = ""
    head_leaf_hash: str = ""
    checkpoints: int = 0
    checkpoints_verified: int = 0
    last_checkpoint_size: int = 0
    #: envelopes v2 (encrypted payloads), how many the audit key opened, how many were erased
    encrypted: int = 0
    payloads_opened: int = 0
    erased: int = 0

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["violations"] = [{**asdict(v), "finding": str(v.finding)} for v in self.violations]
        return d


class LoopObserver(Protocol):
    """Told of every accepted entry, in ledger order (the closed loops: :class:`hub.audit.loops.ClosedLoops`)."""

    def observe(self, partition: int, index: int, offset: int, env: Envelope, notarised_at: int,
                membership: Membership, payload: Any) -> None: ...


class PartitionAudit:
    """Replays one ledger partition from index 0: hash links, envelopes and signatures against the
    membership of each entry's version, the verdicts, and the checkpoints against the rebuilt tree."""

    def __init__(self, partition: int, memberships: dict[int, Membership], registry: SchemaRegistry,
                 limits: Limits = Limits(), loops: LoopObserver | None = None, *, processes: int = 2,
                 workers: SignatureWorkers | None = None, batch_size: int = 256):
        self.partition = partition
        self.memberships = memberships
        self.registry = registry
        self.limits = limits
        self.head = ChainHead()
        self.replay = ReplayMemory(limits.replay_window_us)
        self.tree = CompactRange()
        self.result = PartitionResult(partition)
        self.loops = loops
        #: tree size -> (root hash, checkpoint record offset) still to compare
        self._pending: dict[int, tuple[bytes, int]] = {}
        #: signatures are checked by worker processes (shared when ``workers`` is given), a batch
        #: ahead of the replay (see hub.sequencer.prechecks)
        self.prechecks = PrecheckPool(registry, limits, processes, workers=workers)
        self.batch_size = batch_size
        self._queue: list[tuple[int, bytes]] = []
        self._inflight: tuple[list[_Decoded], PrecheckBatch] | None = None
        #: a witness-cosigned checkpoint to compare at finish, and the roots of the tree at sizes wanted
        self._witnessed: tuple[Checkpoint, str] | None = None
        self._roots: dict[int, bytes | None] = {}
        #: after finish: whether the ledger reproduces the witnessed checkpoint (None: none given)
        self.witnessed_agrees: bool | None = None

    def _flag(self, index: int, offset: int, finding: Finding, detail: str) -> None:
        self.result.violations.append(Violation(self.partition, index, offset, finding, detail))

    def add(self, offset: int, raw: bytes) -> None:
        """Queue the next ledger record (in offset order); verdicts come in batches, and all of
        them by :meth:`finish`."""
        self._queue.append((offset, raw))
        if len(self._queue) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        """Decode the queued entries and start checking their envelopes; then, while the workers
        verify those signatures, replay the batch before (whose signatures are checked or nearly)."""
        decoded = [self._decode(offset, raw) for offset, raw in self._queue]
        self._queue = []
        jobs = [(entry.envelope, membership, entry.notarised_at) for _, _, entry, _, membership in decoded
                if membership is not None and isinstance(entry, LedgerEntry)]
        batch = (decoded, self.prechecks.submit(jobs))
        if self._inflight is not None:
            self._replay(*self._inflight)
        self._inflight = batch

    def _replay(self, decoded: list[_Decoded], batch: PrecheckBatch) -> None:
        verdicts = iter(batch.result())
        # each entry with its verdict (None: no verdict, no membership to check it against)
        examined = [(offset, raw, entry, leaf, membership, None if membership is None else next(verdicts))
                    for offset, raw, entry, leaf, membership in decoded]
        self.replay.prefetch(lookups(verdict for *_, verdict in examined))
        for offset, raw, entry, leaf, membership, verdict in examined:
            if isinstance(entry, DecodeError):
                self._malformed(offset, raw, entry, leaf)
            else:
                self._apply(offset, entry, leaf, membership, verdict)
        self.replay.mark()  # keep this batch: the window's undo journal stays small

    def _decode(self, offset: int, raw: bytes) -> _Decoded:
        try:
            entry = LedgerEntry.from_bytes(raw)
        except DecodeError as exc:
            return offset, raw, exc, leaf_hash(raw), None
        return offset, raw, entry, entry.leaf_hash, self.memberships.get(entry.membership_version)

    def _malformed(self, offset: int, raw: bytes, exc: DecodeError, leaf: bytes) -> None:
        self.result.entries += 1
        expected = self.head.next_index
        self._flag(expected, offset, Finding.ENTRY_MALFORMED, str(exc))
        # keep counting: the next entry is expected to follow this position
        self.head = ChainHead(expected + 1, b"\xff" * 32)
        self.tree.append(leaf)
        self._check_checkpoint()

    def _apply(self, offset: int, entry: LedgerEntry, leaf: bytes, membership: Membership | None,
               prechecked: Verdict | None) -> None:
        self.result.entries += 1
        expected = self.head.next_index
        if entry.index != expected:
            self._flag(entry.index, offset, Finding.INDEX_GAP,
                       f"index {entry.index} follows index {expected - 1}: the chain is not contiguous")
        elif entry.prev_leaf_hash != self.head.prev_leaf_hash and self.head.prev_leaf_hash != b"\xff" * 32:
            self._flag(entry.index, offset, Finding.HASH_LINK_BROKEN,
                       f"entry {entry.index} links to {entry.prev_leaf_hash.hex()[:16]}… but entry "
                       f"{expected - 1} hashes to {self.head.prev_leaf_hash.hex()[:16]}…: entry "
                       f"{expected - 1} was altered, or this link was")
        if membership is None or prechecked is None:
            self._flag(entry.index, offset, Finding.UNKNOWN_MEMBERSHIP,
                       f"entry names membership version {entry.membership_version}, which the auditor does not hold")
        else:
            verdict = check_answer(check_replay(prechecked, self.replay), membership, self.replay)
            if isinstance(verdict, Rejected):
                self._flag(entry.index, offset, Finding.ENVELOPE_INVALID, f"{verdict.reason}: {verdict.detail}")
            else:
                env = verdict.envelope
                self.replay.add(env.message_id, env.created_at, entry.notarised_at, ask_of(env, membership))
                if self.loops is not None:
                    self.loops.observe(self.partition, entry.index, offset, env, entry.notarised_at, membership,
                                       verdict.payload)
        self.head = ChainHead(entry.index + 1, leaf)
        self.tree.append(leaf)
        self._check_checkpoint()

    def _check_checkpoint(self) -> None:
        if self.tree.size in self._roots:
            self._roots[self.tree.size] = self.tree.root()
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
        self._flush()
        if self._inflight is not None:
            self._replay(*self._inflight)
            self._inflight = None
        self.prechecks.close()
        self._compare_witnessed()
        for size, (_, offset) in sorted(self._pending.items()):
            self._flag(size - 1, offset, Finding.CHECKPOINT_BEYOND_LEDGER,
                       f"a signed checkpoint covers {size} entries but the ledger holds {self.tree.size}: "
                       "entries were removed")
        self._pending.clear()
        self.result.tree_size = self.tree.size
        self.result.root_hash = self.tree.root().hex()
        self.result.head_leaf_hash = self.head.prev_leaf_hash.hex()
        return self.result

    # --- checkpoints signed by any key of the log's history, and the witnessed checkpoint ----

    def expect_checkpoints(self, records: list[tuple[int, bytes]], log_keys: Sequence[NoteVerifier]) -> None:
        """Signed checkpoints (record offset, note bytes) to check against the replayed tree. A
        checkpoint may be signed by any of ``log_keys`` (every key the log's member has had: keys
        rotate); all keys share the origin as name."""
        last = -1
        for offset, raw in records:
            self.result.checkpoints += 1
            failure: HubError | None = None
            for key in log_keys:
                try:
                    cp, _ = open_checkpoint(raw, key, origin=key.name)
                    break
                except HubError as exc:
                    failure = exc
            else:
                why = failure.diagnostics() if failure is not None else "no log key to check it with"
                self._flag(-1, offset, Finding.CHECKPOINT_INVALID,
                           f"checkpoint at offset {offset} does not verify with any of the log's "
                           f"{len(log_keys)} key(s): {why}")
                continue
            if cp.size <= last:
                self._flag(cp.size - 1, offset, Finding.CHECKPOINT_ORDER,
                           f"checkpoint of size {cp.size} follows one of size {last}: the log went backwards")
                continue
            last = cp.size
            self._pending[cp.size] = (cp.root_hash, offset)

    def check_witnessed(self, check: PolicyCheck, source: str) -> None:
        """Flag what the trust policy finds wrong with the latest witness-cosigned checkpoint (read
        from ``source``, e.g. the verifier): its log signature (``CHECKPOINT_INVALID``), each
        cosignature by a policy witness that does not verify (``COSIGNATURE_INVALID``) and the
        quorum (``WITNESS_QUORUM_MISSING``). These are not Kafka records: their offset is -1."""
        cp = check.checkpoint
        if cp is None:
            self._flag(-1, -1, Finding.CHECKPOINT_INVALID,
                       f"the cosigned checkpoint from {source} does not verify under the trust policy: {check.problem}")
            return
        for name, why in check.invalid:
            self._flag(cp.size - 1, -1, Finding.COSIGNATURE_INVALID,
                       f"witness {name} on the checkpoint of size {cp.size} from {source}: {why}")
        if not check.quorum_met:
            names = ", ".join(check.cosigners) or "no policy witness"
            self._flag(cp.size - 1, -1, Finding.WITNESS_QUORUM_MISSING,
                       f"the checkpoint of size {cp.size} from {source} is cosigned by {names}; the trust "
                       f"policy's {check.quorum_detail}")

    def expect_witnessed(self, checkpoint: Checkpoint, source: str) -> None:
        """A checkpoint the witnesses cosigned (read from ``source``), to compare with the replayed
        tree at its size by :meth:`finish`: ``SPLIT_VIEW`` if the ledger does not reproduce it."""
        self._witnessed = (checkpoint, source)
        self._roots[checkpoint.size] = self.tree.root() if checkpoint.size == self.tree.size else None

    def _compare_witnessed(self) -> None:
        """A witnessed checkpoint the ledger does not reproduce means history was rewritten (or
        truncated) after the witnesses saw it, or the log showed them another tree than it keeps."""
        if self._witnessed is None:
            return
        checkpoint, source = self._witnessed
        size = checkpoint.size
        ledger_root = self._roots.get(size)
        if ledger_root is None:
            self._flag(size - 1, -1, Finding.SPLIT_VIEW,
                       f"the witnesses cosigned a checkpoint of size {size} (from {source}) but the ledger holds "
                       f"{self.tree.size} entries: entries were removed after they were witnessed")
            self.witnessed_agrees = False
        elif ledger_root != checkpoint.root_hash:
            self._flag(size - 1, -1, Finding.SPLIT_VIEW,
                       f"the witnesses cosigned size {size} with root {checkpoint.root_hash.hex()[:16]}… (from "
                       f"{source}) but the ledger's first {size} entries hash to {ledger_root.hex()[:16]}…: "
                       "history was rewritten after it was witnessed")
            self.witnessed_agrees = False
        else:
            self.witnessed_agrees = True

