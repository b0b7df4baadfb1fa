"""Ed25519 signing identities: the one place the hub touches ``cryptography`` for signatures.

A key id is self-certifying: the lowercase hex of the first 8 bytes of SHA-256 over
the raw 32-byte public key. Private keys are stored as unencrypted PKCS#8 PEM for
development consortia; production members keep theirs in their own HSM/KMS and only
hand the connector a signing callable.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import ConfigError, DecodeError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def key_id(public_key: bytes) -> str:
    """The self-certifying id of a raw Ed25519 public key."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise DecodeError(f"an Ed25519 public key has {PUBLIC_KEY_SIZE} bytes, not {len(public_key)}")
    return hashlib.sha256(public_key).digest()[:8].hex()


def write_private_pem(path: Path, pem: bytes) -> None:
    """Write a private key's PEM to ``path`` readable by its owner only (0600, also when the file
    existed with a wider mode); the directory is made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(pem)


@dataclass(frozen=True)
class VerifyingKey:
    """A raw Ed25519 public key; ``verify`` answers True or False and never raises."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_SIZE:
            raise DecodeError(f"an Ed25519 public key has {PUBLIC_KEY_SIZE} bytes, not {len(self.raw)}")
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.raw))
        object.__setattr__(self, "_key_id", key_id(self.raw))

    @property
    def key_id(self) -> str:
        return self._key_id  # type: ignore[attr-defined, no-any-return]

    def verify(self, signature: bytes, message: bytes) -> bool:
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)  # type: ignore[attr-defined]
        except InvalidSignature:
            return False
        return True


class SigningKey:
    """An Ed25519 private key."""

    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public = VerifyingKey(
            private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise DecodeError("an Ed25519 seed has 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DecodeError(f"not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise DecodeError("the PEM private key is not an Ed25519 key")
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read signing key {path}: {exc.strerror}") from exc
        return cls.from_pem(pem)

    def to_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def save(self, path: Path) -> None:
        """Write the key readable by its owner only."""
        write_private_pem(path, self.to_pem())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The ``cryptography`` key, for signers of other formats (C2SP signed notes)."""
        return self._private

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)
