"""Follow a ledger partition and its checkpoints, and publish verified tiles.

:class:`Log` is the state machine (no Kafka): feed it ledger records and checkpoint
records in any interleaving and call :meth:`Log.advance`. A checkpoint is published only
once its signature verified (``hub-sequencer``'s key, the partition's origin) and its root
equals the root recomputed from the ledger entries it covers; then the entry bundles and
tiles of the new size are written, and only after them the checkpoint file, so the served
checkpoint never names a missing tile. Checkpoints that fail are refused and reported
(``problems``); entries out of order halt the log. Witness cosignatures
(:mod:`hub.verifier.witnesses`) are added to the published checkpoint afterwards, with
:meth:`Log.attach_cosignatures`, which rewrites the checkpoint file with them.

The lookup index (message id -> ledger index, document SHA-256 -> ledger indexes) is kept
in memory only. It is rebuilt on every start by reading the ledger partition from offset 0
(the ledger never deletes), which also recomputes and re-checks the tree against the
checkpoint already published in the directory. Memory: about 100 bytes per entry.

:func:`follow` is the Kafka edge: one read_committed consumer assigned to both partitions.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.errors import ConfigError, DecodeError, HubError, VerificationError
from hub.kafka.consumer import open_consumer
from hub.kafka.topics import Topics
from hub.ledger import tiles
from hub.ledger.checkpoint import Checkpoint, open_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry
from hub.ledger.merkle import CompactRange
from hub.ledger.note import NoteVerifier, parse_signature_line
from hub.standard.disclosure import hashes
from hub.standard.envelope import Envelope
from hub.standard.schemas import SchemaRegistry
from hub.verifier.proofs import split_note
from hub.verifier.store import TileStore

log = logging.getLogger(__name__)

_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Published:
    """The checkpoint being served: its size and root, and the signed note."""

    size: int
    root: bytes
    note: bytes


def document_hashes(envelope: Envelope, registry: SchemaRegistry) -> list[bytes]:
    """The SHA-256 document hashes an envelope's payload carries.

    Every field named ``sha256`` or ``*_sha256`` holding 32 bytes, at any depth
    (``DocumentServed.document_sha256``, ``EvidenceDeposited.sha256``,
    ``PerformanceReported.evidence_sha256``, ``MediationAgreement.agreement_sha256``,
    ``CaseTransfer``'s documents' ``sha256``); an envelope v2 discloses them in clear
    (:mod:`hub.standard.disclosure`), the rest of its payload is ciphertext.
    """
    if envelope.encrypted:  # v2: the hashes are among the fields kept in clear
        return hashes(envelope.disclosed)
    schema = registry.by_fingerprint(envelope.schema_fingerprint)
    if schema is None:
        return []
    found: list[bytes] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if (k == "sha256" or k.endswith("_sha256")) and isinstance(v, bytes) and len(v) == 32:
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(schema.decode(envelope.payload))
    return found


@dataclass
class Index:
    """message id -> ledger index; document SHA-256 -> ledger indexes (in memory)."""

    by_message: dict[uuid.UUID, int] = field(default_factory=dict)
    by_document: dict[bytes, list[int]] = field(default_factory=dict)

    def add(self, entry: LedgerEntry, registry: SchemaRegistry) -> None:
        try:
            env = Envelope.from_bytes(entry.envelope)
            hashes = document_hashes(env, registry)
        except HubError as exc:
            log.warning("ledger entry %d is not indexed: %s", entry.index, exc.diagnostics())
            return
        self.by_message.setdefault(env.message_id, entry.index)
        for h in hashes:
            self.by_document.setdefault(h, []).append(entry.index)


class Log:
    """One ledger partition as the verifier knows it: entries read, checkpoints verified, published."""

    def __init__(self, store: TileStore, verifiers: Sequence[NoteVerifier], origin: str,
                 registry: SchemaRegistry) -> None:
        if not verifiers:
            raise ConfigError(f"no hub-sequencer key to verify the checkpoints of {origin}")
        self.store = store
        self.verifiers = list(verifiers)
        self.origin = origin
        self.registry = registry
        self.index = Index()
        self.head = ChainHead()
        #: the tree over the entries already checked against a checkpoint
        self.tree = CompactRange()
        self._pending: list[bytes] = []  # entries from tree.size on
        self._pending_leaves: list[bytes] = []
        #: checkpoints verified by signature, waiting for their entries; None: already on disk
        self._targets: deque[tuple[Checkpoint, bytes | None]] = deque()
        self.published: Published | None = None
        self.problems: deque[str] = deque(maxlen=_MAX_PROBLEMS)
        self.halted = False
        self.refused = 0
        #: held while the checkpoint file and :attr:`published` change together
        self.lock = threading.Lock()
        #: called (in the follower's thread) after each new checkpoint is published
        self.on_publish: Callable[[Published], None] | None = None
        on_disk = store.checkpoint()
        if on_disk is not None:
            try:
                cp = self.open(on_disk)
            except HubError as exc:
                raise ConfigError(f"{store.root}/checkpoint is not a checkpoint of {origin}: "
                                  f"{exc.diagnostics()}") from exc
            self.published = Published(cp.size, cp.root_hash, on_disk)
            self._targets.append((cp, None))

    @property
    def entries_read(self) -> int:
        return self.head.next_index

    def open(self, note_bytes: bytes) -> Checkpoint:
        """The checkpoint of a note signed by a hub-sequencer key for this log's origin."""
        failure: HubError = VerificationError("no key")
        for v in self.verifiers:
            try:
                return open_checkpoint(note_bytes, v, origin=self.origin)[0]
            except (VerificationError, DecodeError) as exc:
                failure = exc
        raise failure

    def _problem(self, text: str) -> None:
        log.error("%s: %s", self.origin, text)
        self.problems.append(text)

    def add_entry(self, raw: bytes) -> None:
        if self.halted:
            return
        try:
            entry = LedgerEntry.from_bytes(raw)
        except DecodeError as exc:
            self.halted = True
            self._problem(f"ledger entry {self.head.next_index} is malformed: {exc.diagnostics()}; halted")
            return
        broken = self.head.link_problem(entry)
        if broken is not None:
            self.halted = True
            self._problem(f"ledger entry {self.head.next_index}: {broken}; halted")
            return
        self.head = ChainHead.after(entry)
        self._pending.append(raw)
        self._pending_leaves.append(entry.leaf_hash)
        self.index.add(entry, self.registry)

    def add_checkpoint(self, note_bytes: bytes) -> None:
        try:
            cp = self.open(note_bytes)
        except HubError as exc:
            self.refused += 1
            self._problem(f"checkpoint refused: {exc.diagnostics()}")
            return
        self._targets.append((cp, note_bytes))

    def advance(self) -> Published | None:
        """Check every checkpoint whose entries have been read; publish the largest new one."""
        newest: tuple[Checkpoint, bytes] | None = None
        while self._targets and not self.halted:
            cp, note_bytes = self._targets[0]
            if cp.size <= self.tree.size:
                self._targets.popleft()  # covered by one already checked
                continue
            have = self.tree.size + len(self._pending)
            if cp.size > have:
                break  # its entries are not read yet
            self._targets.popleft()
            grown = CompactRange.from_bytes(self.tree.to_bytes())
            for h in self._pending_leaves[: cp.size - self.tree.size]:
                grown.append(h)
            if grown.root() != cp.root_hash:
                self.refused += 1
                self._problem(f"checkpoint of size {cp.size} refused: its root {cp.root_hash.hex()} "
                              f"is not the "
                              f"root {grown.root().hex()} of the ledger's first {cp.size} entries")
                continue
            published = self.published.size if self.published else 0
            if note_bytes is not None and cp.size > published:
                self._publish(grown, cp, note_bytes)
                newest = (cp, note_bytes)
            else:
                self._advance_tree(grown)
        return self.published if newest else None

    def _advance_tree(self, grown: CompactRange) -> None:
        n = grown.size - self.tree.size
        del self._pending[:n], self._pending_leaves[:n]
        self.tree = grown

    def _publish(self, grown: CompactRange, cp: Checkpoint, note_bytes: bytes) -> None:
        old, new = self.tree.size, grown.size
        n = new - old
        bundles = tiles.bundles_for_growth(old, new, self._pending[:n], self.store.read_bundle)
        hashes = tiles.tiles_for_growth(old, new, self._pending_leaves[:n], self.store.read_tile)
        for path, data in [*bundles.items(), *hashes.items()]:
            self.store.write(path, data)
        with self.lock:
            self.store.write_checkpoint(note_bytes)
            self.published = Published(cp.size, cp.root_hash, note_bytes)
        self._advance_tree(grown)
        log.info("%s: published checkpoint of size %d", self.origin, cp.size)
        if self.on_publish is not None:
            self.on_publish(self.published)

    def log_signed(self, note_bytes: bytes) -> bytes:
        """The note with only the log's own signature lines (witness cosignatures removed)."""
        text, lines = split_note(note_bytes)
        ours = {(v.name, v.key_hash) for v in self.verifiers}
        keep = []
        for line in lines:
            try:
                sig = parse_signature_line(line[:-1])
            except DecodeError:
                continue
            if (sig.name, sig.key_hash) in ours:
                keep.append(line)
        return (text + "\n" + "".join(keep)).encode("utf-8")

    def attach_cosignatures(self, size: int, root: bytes, lines: Sequence[str]) -> bool:
        """Rewrite the published checkpoint of ``size`` and ``root`` with these verified cosignature
        lines appended (replacing earlier lines by the same keys), atomically. False, and nothing
        written, if another checkpoint has been published since."""
        with self.lock:
            pub = self.published
            if pub is None or (pub.size, pub.root) != (size, root):
                return False
            text, current = split_note(pub.note)
            lines = [line if line.endswith("\n") else line + "\n" for line in lines]
            new_ids = set()
            for line in lines:
                sig = parse_signature_line(line.removesuffix("\n"))
                new_ids.add((sig.name, sig.key_hash))
            kept = []
            for line in current:
                try:
                    sig = parse_signature_line(line[:-1])
                except DecodeError:
                    kept.append(line)
                    continue
                if (sig.name, sig.key_hash) not in new_ids:
                    kept.append(line)
            note_bytes = (text + "\n" + "".join([*kept, *lines])).encode("utf-8")
            self.open(note_bytes)  # still the log's checkpoint, or nothing is written
            self.store.write_checkpoint(note_bytes)
            self.published = Published(size, root, note_bytes)
            return True


def follow(bootstrap: str, topics: Topics, partition: int, state: Log, stop: threading.Event,
           caught_up: threading.Event | None = None, poll: float = 0.2) -> None:
    """Feed ``state`` from ``<ns>.ledger[p]`` and ``<ns>.checkpoints[p]`` (read_committed) until ``stop``.

    ``caught_up`` is set once both partitions were read to their end. Kafka failures are raised as
    the hub's errors (:class:`~hub.errors.BrokerUnavailableError` when the cluster is unreachable)."""
    consumer = open_consumer(bootstrap, f"{topics.namespace}.verifier.{uuid.uuid4()}", partition_eof=True)
    try:
        consumer.assign([(topics.ledger, partition, 0), (topics.checkpoints, partition, 0)])
        at_end: set[str] = set()
        while not stop.is_set():
            for m in consumer.consume(1000, poll):
                topic = m.topic()
                at_end.discard(topic or "")
                if topic == topics.ledger:
                    state.add_entry(m.value() or b"")
                else:
                    state.add_checkpoint(m.value() or b"")
            at_end.update(topic for topic, _ in consumer.eof)
            state.advance()
            if caught_up is not None and len(at_end) == 2:
                caught_up.set()
    finally:
        consumer.close()
