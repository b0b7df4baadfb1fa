"""Encrypting a payload for its readers, and proving later what it said (envelope v2, pure).

Construction (docs/standard.md, "Envelope v2"):

* a fresh 32-byte **data key** and a 32-byte **salt** per message;
* ``commitment = SHA-256("judicial-hub/commitment/v2" || 0x00 || salt || payload)``: signed in the
  envelope; whoever holds (salt, payload) can open it, nobody else learns anything from it;
* ``ciphertext = AES-256-GCM(data key, nonce = 12 zero bytes, salt || payload,
  aad = "judicial-hub/payload/v2" || 0x00 || message id)``: a key encrypts one plaintext only, so
  the fixed nonce is never reused with another;
* the data key is wrapped for each reader (:mod:`hub.standard.key_capsule`: under a key-encryption
  key sealed for the reader with HPKE, RFC 9180); the wraps form a :class:`KeyCapsule`, kept off the
  ledger (the keys topic), so destroying it erases the payload while every hash and signature over
  the ciphertext still holds.

Readers are the recipients, the sender (to prove what it sent) and the consortium's auditors.
No I/O, no clock; randomness is drawn here unless given (test vectors give it).

The names of :mod:`hub.standard.key_capsule` most callers need are re-exported here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.standard.envelope import ENVELOPE_V2, Envelope, Unsigned, prepare, uuid7
from hub.standard.key_capsule import (
    DATA_KEY_SIZE,
    CannotOpenError,
    KekCache,
    KekEpochs,
    KeyCapsule,
    KeyWrap,
    Reader,
    unwrap,
    wrap,
)

__all__ = [
    "CannotOpenError", "CommitmentMismatchError", "KekCache", "KekEpochs", "KeyCapsule", "KeyWrap", "Opened",
    "Reader", "Sealed", "commitment", "open_envelope_payload", "open_payload", "opens", "prepare_v2", "seal",
    "unwrap", "wrap",
]

COMMITMENT_DOMAIN = b"judicial-hub/commitment/v2\x00"
PAYLOAD_DOMAIN = b"judicial-hub/payload/v2\x00"
SALT_SIZE = 32
NONCE = bytes(12)


class CommitmentMismatchError(CannotOpenError):
    """A payload that decrypts but does not open the commitment its sender signed."""


@dataclass(frozen=True)
class Sealed:
    """A payload sealed for an envelope v2: what goes on the ledger (ciphertext, commitment), what
    goes to the keys topic (capsule), and the opening a reader proves the content with (salt)."""

    ciphertext: bytes
    commitment: bytes
    salt: bytes
    capsule: KeyCapsule


@dataclass(frozen=True)
class Opened:
    """A decrypted payload with its opening: ``commitment(salt, payload)`` is the envelope's."""

    payload: bytes
    salt: bytes


def commitment(salt: bytes, payload: bytes) -> bytes:
    """The commitment to a plaintext payload under ``salt``."""
    if len(salt) != SALT_SIZE:
        raise ValueError(f"a salt is {SALT_SIZE} bytes")
    return hashlib.sha256(COMMITMENT_DOMAIN + salt + payload).digest()


def opens(commitment_: bytes, salt: bytes, payload: bytes) -> bool:
    """Whether (salt, payload) opens ``commitment_``: what a judge checks."""
    return len(salt) == SALT_SIZE and hmac.compare_digest(commitment(salt, payload), commitment_)


def seal(payload: bytes, message_id: uuid.UUID, readers: Iterable[Reader], *, epochs: KekEpochs | None = None,
         data_key: bytes | None = None, salt: bytes | None = None) -> Sealed:
    """Encrypt ``payload`` (Avro binary) for ``readers`` (under the sender's KEK ``epochs``; None: a
    KEK per reader for this message alone); ``data_key`` and ``salt`` are random unless given (test
    vectors)."""
    data_key = data_key if data_key is not None else os.urandom(DATA_KEY_SIZE)
    salt = salt if salt is not None else os.urandom(SALT_SIZE)
    if len(data_key) != DATA_KEY_SIZE or len(salt) != SALT_SIZE:
        raise ValueError("a data key and a salt are 32 bytes each")
    ciphertext = AESGCM(data_key).encrypt(NONCE, salt + payload, PAYLOAD_DOMAIN + message_id.bytes)
    return Sealed(ciphertext, commitment(salt, payload), salt, wrap(data_key, message_id, readers, epochs))


def open_payload(ciphertext: bytes, message_id: uuid.UUID, data_key: bytes, commitment_: bytes) -> Opened:
    """Decrypt an envelope v2's payload and check it opens the signed commitment; CannotOpenError
    otherwise (a wrong key, altered bytes, or a sender whose commitment does not match)."""
    try:
        plain = AESGCM(data_key).decrypt(NONCE, ciphertext, PAYLOAD_DOMAIN + message_id.bytes)
    except (InvalidTag, ValueError):
        raise CannotOpenError(f"message {message_id}: the payload does not decrypt with its data key") from None
    salt, payload = plain[:SALT_SIZE], plain[SALT_SIZE:]
    if len(salt) != SALT_SIZE or not opens(commitment_, salt, payload):
        raise CommitmentMismatchError(f"message {message_id}: the decrypted payload does not open the signed "
                                      "commitment")
    return Opened(payload, salt)


def prepare_v2(*, type: str, schema_fingerprint: bytes, sender: str, key_id: str, recipients: Sequence[str],
               payload: bytes, disclosed: Sequence[tuple[str, str]], readers: Iterable[Reader], created_at: int,
               correlation_id: uuid.UUID | None = None, message_id: uuid.UUID | None = None,
               deliver_by: int | None = None, epochs: KekEpochs | None = None, data_key: bytes | None = None,
               salt: bytes | None = None) -> tuple[Unsigned, Sealed]:
    """An envelope v2 to sign, its payload (Avro binary) sealed for ``readers``, and the sealing
    (capsule for the keys topic, salt for the opening). EnvelopeTooLargeError if it would not fit."""
    message_id = message_id or uuid7(created_at // 1000)
    sealed = seal(payload, message_id, readers, epochs=epochs, data_key=data_key, salt=salt)
    unsigned = prepare(type=type, schema_fingerprint=schema_fingerprint, sender=sender, key_id=key_id,
                       recipients=recipients, payload=sealed.ciphertext, created_at=created_at,
                       correlation_id=correlation_id, message_id=message_id, version=ENVELOPE_V2,
                       deliver_by=deliver_by, disclosed=disclosed, commitment=sealed.commitment)
    return replace(unsigned, capsule=sealed.capsule.to_bytes()), sealed


def open_envelope_payload(env: Envelope, capsule: KeyCapsule, member: str, keys: Mapping[str, X25519PrivateKey],
                          cache: KekCache | None = None) -> Opened:
    """An envelope v2's payload, opened by ``member`` with its private keys (and the KEKs it opened
    before, in ``cache``); CannotOpenError otherwise."""
    if capsule.message_id != env.message_id:
        raise CannotOpenError(f"the capsule is message {capsule.message_id}'s, not {env.message_id}'s")
    return open_payload(env.payload, env.message_id, unwrap(capsule, member, keys, cache), env.commitment)

