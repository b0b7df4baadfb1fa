"""Ed25519 witness cosignatures, c2sp.org/tlog-cosignature v1 (signature type 0x04).

A cosignature is a note signature line added to a checkpoint by a witness
(tlog-cosignature, "Format"):

- key ID = ``SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 key)[:4]``;
- the signature bytes after the key ID are a ``timestamped_signature``: the
  timestamp (POSIX seconds, u64 big-endian, at most 2^63 - 1) then the 64-byte
  Ed25519 signature;
- the signed message is ``"cosignature/v1\\n" "time <decimal seconds>\\n"``
  followed by the whole checkpoint note text (tlog-cosignature, "Ed25519 signed
  message").

:class:`CosignatureVerifier` satisfies :class:`hub.ledger.note.Verifier`, so
:func:`hub.ledger.note.open_note` checks cosignatures like any other signature.
Timestamps are arguments: nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import DecodeError, EncodeError, VerificationError
from hub.ledger import note, note_keys

__all__ = [
    "MAX_TIMESTAMP",
    "SIGNATURE_TYPE_COSIGNATURE_V1",
    "Cosignature",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosign",
    "cosigned_message",
    "verify_cosignature",
]

#: Signature type identifier byte of Ed25519 cosignatures (signed-note, "Signature types").
SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04

#: Largest timestamp a cosignature may carry (tlog-cosignature, "Format").
MAX_TIMESTAMP = 2**63 - 1

_HEADER = b"cosignature/v1\n"
_ED25519_SIG_SIZE = 64
_TIMESTAMPED_SIZE = 8 + _ED25519_SIG_SIZE


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise EncodeError(f"timestamp {timestamp!r} is not an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise EncodeError(f"timestamp {timestamp} is outside 0..2^63-1")


def cosigned_message(checkpoint_text: bytes, timestamp: int) -> bytes:
    """The message an Ed25519 cosigner signs (tlog-cosignature, "Ed25519 signed message").

    ``b"cosignature/v1\\ntime <timestamp>\\n" + checkpoint_text``, where the
    checkpoint text is the whole note text (final newline included, no signatures).
    """
    _check_timestamp(timestamp)
    return _HEADER + b"time %d\n" % timestamp + checkpoint_text


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Cosignature:
    """A cosignature: who signed, with which key ID, at what time, and the Ed25519 signature."""

    name: str
    key_hash: int
    timestamp: int
    signature: bytes

    @classmethod
    def from_signature(cls, sig: note.Signature) -> Cosignature:
        """Read the timestamp out of a note signature of type 0x04 (tlog-cosignature, "Format").

        Only the shape is checked (72 bytes, timestamp at most 2^63 - 1): verify the
        signature first, for example with ``open_note`` and a :class:`CosignatureVerifier`.
        """
        if len(sig.signature) != _TIMESTAMPED_SIZE:
            raise DecodeError(
                f"cosignature is {len(sig.signature)} bytes, not a timestamp and an Ed25519 signature (72)"
            )
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise DecodeError("cosignature timestamp exceeds 2^63 - 1")
        return cls(sig.name, sig.key_hash, timestamp, sig.signature[8:])

    def line(self) -> str:
        """The note signature line carrying this cosignature, newline included."""
        payload = self.timestamp.to_bytes(8, "big") + self.signature
        return note.signature_line(self.name, self.key_hash, payload)


class CosignatureVerifier:
    """An Ed25519 cosigner's public key, signature type 0x04 (tlog-cosignature, "Format")."""

    __slots__ = ("_hash", "_key", "_name", "_raw")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not note_keys.is_valid_key_name(name):
            raise EncodeError(f"invalid key name {name!r}")
        self._name = name
        self._key = public_key
        self._raw = _public_bytes(public_key)
        self._hash = note_keys.key_hash(name, SIGNATURE_TYPE_COSIGNATURE_V1, self._raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse a vkey ``<name>+<hex8>+<base64(0x04 || 32-byte key)>`` (tlog-cosignature, "Format")."""
        name, _, signature_type, raw = note_keys.parse_verifier_key(vkey)
        if signature_type != SIGNATURE_TYPE_COSIGNATURE_V1:
            raise DecodeError(
                f"verifier key has signature type {signature_type:#04x}, not an Ed25519 cosignature (0x04)"
            )
        return cls(name, note_keys.ed25519_public_key(raw, "cosigner's public key"))

    @property
    def name(self) -> str:
        """The cosigner's key name."""
        return self._name

    @property
    def key_hash(self) -> int:
        """The 32-bit key ID over ``name || 0x0A || 0x04 || public key``."""
        return self._hash

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key."""
        return self._key

    @property
    def public_key_bytes(self) -> bytes:
        """The 32-byte RFC 8032 encoding of the public key."""
        return self._raw

    def to_vkey(self) -> str:
        """This key as a vkey with signature type 0x04."""
        return note_keys.format_verifier_key(self._name, SIGNATURE_TYPE_COSIGNATURE_V1, self._raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a ``timestamped_signature`` by this key over the note text ``message``.

        This is the :class:`~hub.ledger.note.Verifier` hook used by ``open_note``.
        """
        if len(signature) != _TIMESTAMPED_SIZE:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        return note_keys.ed25519_verify(self._key, cosigned_message(message, timestamp), signature[8:])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CosignatureVerifier):
            return NotImplemented
        return (self._name, self._raw) == (other._name, other._raw)

    def __hash__(self) -> int:
        return hash((self._name, self._raw))

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.to_vkey()!r})"


class CosignatureSigner:
    """An Ed25519 cosigner's private key, signature type 0x04 (tlog-cosignature, "Format")."""

    __slots__ = ("_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._verifier = CosignatureVerifier(name, private_key.public_key())

    @classmethod
    def from_skey(cls, skey: str) -> CosignatureSigner:
        """Load a cosigner from an Ed25519 note signer key ``PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>``.

        Neither C2SP nor Go defines a private-key encoding for type 0x04, so this
        reads Go's ``note.GenerateKey`` format (checking its type-0x01 key ID) and
        uses the same name and Ed25519 key for cosigning, whose key ID is the
        type-0x04 one (as ``transparency-dev/formats``' ``NewSignerForCosignatureV1`` does).
        """
        name, _, private_key = note_keys.parse_signer_key(skey)
        return cls(name, private_key)

    @property
    def name(self) -> str:
        """The cosigner's key name."""
        return self._verifier.name

    @property
    def key_hash(self) -> int:
        """The 32-bit type-0x04 key ID."""
        return self._verifier.key_hash

    def verifier(self) -> CosignatureVerifier:
        """The matching verifier."""
        return self._verifier

    def sign(self, checkpoint_text: bytes, timestamp: int) -> bytes:
        """The ``timestamped_signature`` (8-byte timestamp || 64-byte Ed25519 signature) over the text."""
        signature = self._key.sign(cosigned_message(checkpoint_text, timestamp))
        return timestamp.to_bytes(8, "big") + signature

    def __repr__(self) -> str:
        return f"CosignatureSigner(name={self.name!r}, key_hash={self.key_hash:08x})"


def cosign(checkpoint_text: str, signer: CosignatureSigner, timestamp: int) -> str:
    """Cosign a checkpoint at ``timestamp`` and return the signature line to append to its note.

    ``checkpoint_text`` is the checkpoint's note text (``Checkpoint.to_text()``,
    final newline included); a witness checks it is a checkpoint consistent with
    what it saw before calling this. The line (newline included) can be appended
    to the log's signed note: the signature block is last in a note.
    """
    try:
        body = checkpoint_text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError("checkpoint text is not encodable as UTF-8") from exc
    if not checkpoint_text.endswith("\n") or any(ch < " " and ch != "\n" for ch in checkpoint_text):
        raise EncodeError("checkpoint text must end with a newline and have no control characters")
    return note.signature_line(signer.name, signer.key_hash, signer.sign(body, timestamp))


def verify_cosignature(checkpoint_text: str, line: str, verifier: CosignatureVerifier) -> Cosignature:
    """Verify one cosignature line against a checkpoint text; return it with its timestamp.

    ``line`` is a note signature line (a trailing newline is allowed). It must
    carry the verifier's name and key ID (:class:`VerificationError` otherwise)
    and a 72-byte timestamped signature (:class:`DecodeError` otherwise).
    """
    text = line.removesuffix("\n")
    if "\n" in text:
        raise DecodeError("a cosignature line is a single line")
    sig = note.parse_signature_line(text)
    if (sig.name, sig.key_hash) != (verifier.name, verifier.key_hash):
        raise VerificationError(
            "cosignature is not by this cosigner",
            expected=f"{verifier.name}+{verifier.key_hash:08x}",
            calculated=f"{sig.name}+{sig.key_hash:08x}",
        )
    cosignature = Cosignature.from_signature(sig)
    try:
        body = checkpoint_text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DecodeError("checkpoint text is not valid UTF-8") from exc
    if not verifier.verify(body, sig.signature):
        raise VerificationError(f"invalid cosignature for key {sig.name}+{sig.key_hash:08x}")
    return cosignature
