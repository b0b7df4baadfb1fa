"""Transparency log checkpoints, c2sp.org/tlog-checkpoint.

A checkpoint is the text of a signed note (c2sp.org/signed-note)::

    <origin>\\n<decimal tree size>\\n<base64 RFC 6962 root hash>\\n[<extension line>\\n ...]

signed by the log's key and, optionally, cosigned by witnesses
(c2sp.org/tlog-cosignature). :class:`Checkpoint` checks its rules when built, so
an invalid one cannot exist, and it parses strictly: a parsed checkpoint
re-serialises to exactly the bytes that were signed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hub.errors import DecodeError, EncodeError, VerificationError
from hub.ledger import note, note_keys
from hub.ledger.cosignature import Cosignature, CosignatureVerifier

__all__ = ["MAX_TREE_SIZE", "ROOT_HASH_SIZE", "Checkpoint", "open_checkpoint", "sign_checkpoint"]

#: Size of an RFC 6962 / RFC 9162 SHA-256 root hash.
ROOT_HASH_SIZE = 32

#: Largest tree size: sizes are unsigned 64-bit integers, as in Go's tlog and formats packages.
MAX_TREE_SIZE = 2**64 - 1

_SIZE = re.compile(r"0|[1-9][0-9]*")


def _check_line(value: str, what: str) -> None:
    """A checkpoint line is non-empty, one line, and fits in a note (tlog-checkpoint, "Note text")."""
    if not isinstance(value, str):
        raise EncodeError(f"checkpoint {what} is not a string")
    if not value:
        raise EncodeError(f"checkpoint {what} is empty")
    if any(ch < " " for ch in value):  # newlines and the control characters notes forbid
        raise EncodeError(f"checkpoint {what} contains a newline or control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"checkpoint {what} is not encodable as UTF-8") from exc


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and optional extension lines (tlog-checkpoint).

    Rules checked here (:class:`EncodeError` otherwise): the origin and every
    extension line are non-empty single lines without control characters; the
    size is an integer in ``0..2^64-1``; the root hash is 32 bytes. The origin
    SHOULD be a schema-less URL, but the spec forbids assuming it, so any such
    line is accepted (``go.sum database tree`` is a real origin).
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise EncodeError("checkpoint tree size is not an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise EncodeError(f"checkpoint tree size {self.size} is outside 0..2^64-1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_HASH_SIZE:
            raise EncodeError(f"checkpoint root hash is not {ROOT_HASH_SIZE} bytes")
        if isinstance(self.extensions, str) or not isinstance(self.extensions, (tuple, list)):
            raise EncodeError("checkpoint extensions are not a sequence of lines")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for line in self.extensions:
            _check_line(line, "extension line")

    def to_text(self) -> str:
        """The note text (tlog-checkpoint, "Note text"): one line per field, each ending in a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions))

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly (tlog-checkpoint, "Note text").

        At least three non-empty newline-terminated lines; the size in ASCII
        decimal without leading zeroes; the root hash in canonical standard base64
        of 32 bytes. Raises :class:`DecodeError` for anything else.
        """
        if not isinstance(text, str):
            raise DecodeError("checkpoint text is not a string")
        if not text.endswith("\n"):
            raise DecodeError("checkpoint text does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise DecodeError("checkpoint text has fewer than three lines")
        if any(not line for line in lines):
            raise DecodeError("checkpoint text has an empty line")
        origin, size_line, root_line, *extensions = lines
        if not _SIZE.fullmatch(size_line):
            raise DecodeError("checkpoint tree size is not a decimal number without leading zeroes")
        size = int(size_line)
        if size > MAX_TREE_SIZE:
            raise DecodeError("checkpoint tree size exceeds 2^64-1")
        root_hash = note_keys.decode_base64(root_line, "checkpoint root hash")
        if len(root_hash) != ROOT_HASH_SIZE:
            raise DecodeError(f"checkpoint root hash is {len(root_hash)} bytes, not {ROOT_HASH_SIZE}")
        if base64.b64encode(root_hash).decode("ascii") != root_line:
            raise DecodeError("checkpoint root hash is not canonical base64")
        try:
            return cls(origin, size, root_hash, tuple(extensions))
        except EncodeError as exc:
            raise DecodeError(str(exc)) from exc


def sign_checkpoint(checkpoint: Checkpoint, signer: note.Signer) -> bytes:
    """Sign a checkpoint with the log's key: a signed note whose text is the checkpoint (tlog-checkpoint, "Signatures").

    The log's key name SHOULD equal the origin; that is the caller's choice.
    Witnesses append their lines from :func:`hub.ledger.cosignature.cosign`.
    """
    return note.sign_note(checkpoint.to_text(), [signer])


def open_checkpoint(
    note_bytes: bytes,
    log_verifier: note.Verifier,
    witness_verifiers: Iterable[CosignatureVerifier] = (),
    *,
    origin: str | None = None,
) -> tuple[Checkpoint, tuple[Cosignature, ...]]:
    """Verify a signed checkpoint and its witness cosignatures (tlog-checkpoint, tlog-cosignature).

    The log's signature must verify (:class:`VerificationError` if it is absent
    or bad). Cosignatures from the given witnesses must verify if present and are
    returned, in note order, with their timestamps; whether enough witnesses
    cosigned is the caller's policy. Signatures from unknown keys are ignored, as
    signed-note requires. If ``origin`` is given the checkpoint's origin must
    equal it. Malformed notes or checkpoint texts raise :class:`DecodeError`.
    """
    witnesses = list(witness_verifiers)
    opened = note.open_note(note_bytes, [log_verifier, *witnesses])
    log_id = (log_verifier.name, log_verifier.key_hash)
    if not any((sig.name, sig.key_hash) == log_id for sig in opened.signatures):
        raise VerificationError(
            f"checkpoint has no signature from the log key {log_verifier.name}+{log_verifier.key_hash:08x}"
        )
    checkpoint = Checkpoint.from_text(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            "checkpoint is for another log", expected=origin, calculated=checkpoint.origin
        )
    witness_ids = {(w.name, w.key_hash) for w in witnesses} - {log_id}
    cosignatures = tuple(
        Cosignature.from_signature(sig)
        for sig in opened.signatures
        if (sig.name, sig.key_hash) in witness_ids
    )
    return checkpoint, cosignatures
