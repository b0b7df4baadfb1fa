"""Offline receipts: C2SP tlog-proof (https://c2sp.org/tlog-proof) for one ledger entry. Pure.

A receipt is one ``.tlog-proof`` file, exactly the spec's text::

    c2sp.org/tlog-proof@v1
    extra <base64 of the ledger entry's bytes>
    index <ledger index>
    <base64 inclusion proof hash, leaf's sibling first>
    ...
    <empty line>
    <the signed checkpoint note, verbatim (with any witness cosignatures)>

The spec leaves the logged data out (a proof is a detached signature) and offers the
``extra`` line for "additional data necessary to reconstruct the record hash": the hub
puts the ledger entry there (its Avro bytes, which hold the exact signed envelope), so
one file is self-contained. The extra data is never trusted as such: the verifier
hashes it into the leaf (SHA-256(0x00 || entry)) and checks the inclusion proof against
the signed checkpoint, so any change to it fails.

:func:`verify_receipt` then checks what the hub promises about the entry: its index is
the proof's index, the checkpoint is signed by ``hub-sequencer`` under the origin of the
partition the entry was notarised in, and the envelope is signed by its sender's key in
the membership.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub.consortium.membership import Membership
from hub.errors import DecodeError, EncodeError, HubError, VerificationError
from hub.ledger import merkle, note, note_keys
from hub.ledger.checkpoint import Checkpoint, open_checkpoint
from hub.ledger.cosignature import Cosignature, CosignatureVerifier, verify_cosignature
from hub.ledger.entry import LedgerEntry
from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin
from hub.standard.envelope import Envelope

__all__ = ["HEADER", "Receipt", "TlogProof", "VerifiedProof", "build_proof", "split_note", "verify_proof",
           "verify_receipt", "witness_cosignatures"]

#: first line of every tlog-proof
HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]*)")
_MAX_INDEX = 2**64 - 1


@dataclass(frozen=True)
class TlogProof:
    """The parts of a tlog-proof: leaf index, inclusion proof, signed checkpoint, optional extra data."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def to_bytes(self) -> bytes:
        if not 0 <= self.index <= _MAX_INDEX:
            raise EncodeError(f"tlog-proof index {self.index} is outside 0..2^64-1")
        if any(len(h) != merkle.HASH_SIZE for h in self.hashes):
            raise EncodeError("tlog-proof hashes must be 32 bytes each")
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {_b64(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(_b64(h) for h in self.hashes)
        return ("\n".join(lines) + "\n\n").encode("ascii") + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        """Parse strictly; :class:`DecodeError` for anything that is not a tlog-proof."""
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError("tlog-proof is not bytes")
        head, sep, checkpoint = bytes(data).partition(b"\n\n")
        if not sep:
            raise DecodeError("tlog-proof has no empty line before its checkpoint")
        try:
            lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise DecodeError("tlog-proof header is not ASCII") from None
        if lines[0] != HEADER:
            raise DecodeError(f"tlog-proof does not start with {HEADER}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = _unb64(rest.pop(0)[len("extra "):], "tlog-proof extra data")
        if not rest:
            raise DecodeError("tlog-proof has no index line")
        m = _INDEX.fullmatch(rest.pop(0))
        if m is None or int(m[1]) > _MAX_INDEX:
            raise DecodeError("tlog-proof index line is not 'index <decimal without leading zeroes>'")
        hashes = []
        for i, line in enumerate(rest):
            h = _unb64(line, f"tlog-proof hash {i}")
            if len(h) != merkle.HASH_SIZE:
                raise DecodeError(f"tlog-proof hash {i} is {len(h)} bytes, not {merkle.HASH_SIZE}")
            hashes.append(h)
        if not checkpoint:
            raise DecodeError("tlog-proof has no checkpoint")
        return cls(int(m[1]), tuple(hashes), checkpoint, extra)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    raw = note_keys.decode_base64(text, what) if text else b""
    if _b64(raw) != text:
        raise DecodeError(f"{what} is not canonical base64")
    return raw


def build_proof(entry: bytes, index: int, hashes: Sequence[bytes], checkpoint_note: bytes) -> bytes:
    """The tlog-proof of ``entry`` at ``index``, with the entry as its extra data."""
    return TlogProof(index, tuple(hashes), checkpoint_note, entry).to_bytes()


def split_note(note_bytes: bytes) -> tuple[str, list[str]]:
    """A signed note's text (final newline included) and its signature lines (each with its newline).

    Only the shape is checked (a blank line before a non-empty block of newline-terminated
    lines); signatures are checked by whoever uses them.
    """
    split = note_bytes.rfind(b"\n\n")
    if split < 0:
        raise DecodeError("signed note has no blank line before its signatures")
    block = note_bytes[split + 2:]
    if not block.endswith(b"\n"):
        raise DecodeError("signed note's signature block is empty or does not end with a newline")
    try:
        text, lines = note_bytes[: split + 1].decode("utf-8"), block.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("signed note is not UTF-8") from None
    return text, [line + "\n" for line in lines[:-1].split("\n")]


def witness_cosignatures(note_bytes: bytes,
                         witnesses: Sequence[CosignatureVerifier]) -> tuple[Cosignature, ...]:
    """The cosignatures on a signed checkpoint that verify with one of ``witnesses``, one per
    witness key, in the order of ``witnesses``. Lines by other keys are ignored (signed-note),
    and a line that names a witness key but does not verify is not counted."""
    text, lines = split_note(note_bytes)
    found: list[Cosignature] = []
    for w in dict.fromkeys(witnesses):
        for line in lines:
            try:
                found.append(verify_cosignature(text, line, w))
                break
            except (DecodeError, VerificationError):
                continue
    return tuple(found)


@dataclass(frozen=True)
class VerifiedProof:
    """A tlog-proof that verified: the signed checkpoint, and the entry at ``index`` in its tree."""

    checkpoint: Checkpoint
    index: int
    entry: bytes


def verify_proof(data: bytes, verifiers: Sequence[note.Verifier], origin_: str,
                 entry: bytes | None = None) -> VerifiedProof:
    """Check a tlog-proof: the checkpoint is signed by one of ``verifiers`` for ``origin_``, and
    ``entry`` (default: the proof's extra data) is leaf ``index`` of the checkpointed tree.

    Raises :class:`DecodeError` or :class:`VerificationError`.
    """
    proof = TlogProof.parse(data)
    data_ = entry if entry is not None else proof.extra
    if data_ is None:
        raise DecodeError("tlog-proof carries no entry (no extra line) and none was given")
    if not verifiers:
        raise VerificationError(f"no log key to check the checkpoint of {origin_}")
    failure: HubError | None = None
    for v in verifiers:
        try:
            cp, _ = open_checkpoint(proof.checkpoint, v, origin=origin_)
            break
        except VerificationError as exc:
            failure = exc
    else:
        assert failure is not None
        raise failure
    merkle.verify_inclusion(merkle.leaf_hash(data_), proof.index, cp.size, proof.hashes, cp.root_hash)
    return VerifiedProof(cp, proof.index, data_)


@dataclass(frozen=True)
class Receipt:
    """What a verified receipt proves: who sent what, when, and where it sits in which log."""

    origin: str
    tree_size: int
    root_hash: bytes
    entry: LedgerEntry
    envelope: Envelope
    sender_name: str
    #: the cosignatures of the given witnesses that verified on the checkpoint
    cosignatures: tuple[Cosignature, ...] = ()


def _namespace(topic: str) -> str:
    if not topic.endswith(".inbound"):
        raise VerificationError(f"ledger entry names source topic {topic!r}, not <namespace>.inbound")
    return topic[: -len(".inbound")]


def verify_receipt(data: bytes, memberships: Mapping[int, Membership],
                   witnesses: Sequence[CosignatureVerifier] = (), quorum: int = 0) -> Receipt:
    """Verify a hub receipt offline against the consortium's membership versions.

    The checkpoint must be signed by a ``hub-sequencer`` key for the origin of the entry's
    partition, the entry must be leaf ``index`` of it (and say so), and the envelope must
    verify with its sender's key, not revoked, in the membership the entry was validated
    against (else the latest one known). At least ``quorum`` of ``witnesses`` must have
    cosigned the checkpoint (the cosigners are returned). :class:`DecodeError` /
    :class:`VerificationError`.
    """
    if not memberships:
        raise VerificationError("no membership to verify against")
    proof = TlogProof.parse(data)
    if proof.extra is None:
        raise DecodeError("receipt carries no ledger entry (no extra line)")
    entry = LedgerEntry.from_bytes(proof.extra)
    if entry.index != proof.index:
        raise VerificationError(f"ledger entry says index {entry.index}, the proof says {proof.index}")
    membership = memberships.get(entry.membership_version) or memberships[max(memberships)]
    hint = ("" if membership.version == entry.membership_version else
            f" (the entry was validated under membership v{entry.membership_version}, which this check does not "
            f"hold: give it the membership log, saved by `hub agency history`)")
    log_member = membership.member(SEQUENCER_MEMBER)
    if log_member is None:
        raise VerificationError(f"the membership has no {SEQUENCER_MEMBER} whose key signs checkpoints")
    origin_ = origin(membership.consortium, _namespace(entry.source.topic), entry.source.partition)
    verified = verify_proof(data, [log_verifier(k.key.raw, origin_) for k in log_member.keys], origin_)
    envelope = Envelope.from_bytes(entry.envelope)
    sender = membership.member(envelope.sender)
    if sender is None:
        raise VerificationError(f"sender {envelope.sender} is not a member of consortium "
                                f"{membership.consortium}{hint}")
    key = sender.key(envelope.sender_key_id)
    if key is None:
        raise VerificationError(f"sender {envelope.sender} has no key {envelope.sender_key_id}{hint}")
    if key.is_revoked(envelope.created_at, membership.version):
        raise VerificationError(f"key {envelope.sender_key_id} of {envelope.sender} is revoked")
    if not envelope.verify(key.key):
        raise VerificationError(f"envelope signature of {envelope.sender} does not verify")
    cp = verified.checkpoint
    cosignatures = witness_cosignatures(proof.checkpoint, witnesses) if witnesses else ()
    if len(cosignatures) < quorum:
        names = ", ".join(c.name for c in cosignatures) or "none"
        raise VerificationError(f"{len(cosignatures)} of the {len(dict.fromkeys(witnesses))} witnesses given "
                                f"cosigned the checkpoint (cosigned: {names}); the quorum is {quorum}")
    return Receipt(cp.origin, cp.size, cp.root_hash, entry, envelope, sender.name, cosignatures)
