"""X25519 encryption keys: what payloads are encrypted to (HPKE, RFC 9180), beside the Ed25519 signing keys.

Every member may hold X25519 public keys in the membership (``encryption_keys`` of its member
document), each with a validity window and a revocation, like its signing keys
(:class:`hub.consortium.membership.MemberKey`). A sender encrypts to the recipient's current key
(:meth:`hub.consortium.membership.Member.current_encryption_key`) and to each auditor's; the
recipient keeps every private key it has held (:class:`DecryptionKey`), revoked ones included, so
that what was encrypted to them still opens.

A key id is the signing keys' convention (:func:`hub.consortium.identity.key_id`): the lowercase hex
of the first 8 bytes of SHA-256 over the raw 32-byte public key. A public key of small order is
refused: every shared secret with it is zero, which HPKE rejects, so nothing could be encrypted to it.

Pure but for :meth:`DecryptionKey.load` and :meth:`DecryptionKey.save` (unencrypted PKCS#8 PEM,
0600, for development consortia, like :class:`hub.consortium.identity.SigningKey`). The member
document's JSON form of a key is :func:`encryption_key_to_doc`'s; :func:`encryption_keys_from_doc`
reads it back.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hub.consortium.identity import key_id, write_private_pem
from hub.consortium.key_window import KeyWindow
from hub.errors import ConfigError, DecodeError, HubError
from hub.timeutil import RFC3339_FORM, iso, parse_rfc3339, to_us

__all__ = [
    "PUBLIC_KEY_SIZE",
    "DecryptionKey",
    "EncryptionPublicKey",
    "MemberEncryptionKey",
    "encryption_key_from_doc",
    "encryption_key_to_doc",
    "encryption_keys_from_doc",
]

PUBLIC_KEY_SIZE = 32
#: any clamped X25519 scalar is a multiple of the cofactor 8: its product with a point of small
#: order is the zero point, for which ``cryptography`` refuses to compute a shared secret
_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(32)))


@dataclass(frozen=True)
class EncryptionPublicKey:
    """A raw X25519 public key (32 bytes, not of small order); ConfigError otherwise."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != PUBLIC_KEY_SIZE:
            size = len(self.raw) if isinstance(self.raw, (bytes, bytearray)) else type(self.raw).__name__
            raise ConfigError(f"an X25519 public key has {PUBLIC_KEY_SIZE} bytes, not {size}")
        key = X25519PublicKey.from_public_bytes(self.raw)
        try:
            _PROBE.exchange(key)
        except ValueError:
            raise ConfigError("the X25519 public key is of small order: nothing can be encrypted to it") from None
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_key_id", key_id(self.raw))

    @property
    def key_id(self) -> str:
        return self._key_id  # type: ignore[attr-defined, no-any-return]

    def x25519(self) -> X25519PublicKey:
        """The ``cryptography`` key, for HPKE's encapsulation."""
        return self._key  # type: ignore[attr-defined, no-any-return]


class DecryptionKey:
    """An X25519 private key: opens what was encrypted to :attr:`public`."""

    def __init__(self, private: X25519PrivateKey):
        self._private = private
        self.public = EncryptionPublicKey(
            private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    @classmethod
    def generate(cls) -> DecryptionKey:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, raw: bytes) -> DecryptionKey:
        """The key of a raw 32-byte X25519 private key (RFC 9180's test vectors give them so)."""
        if len(raw) != 32:
            raise ConfigError(f"an X25519 private key has 32 bytes, not {len(raw)}")
        return cls(X25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def from_pem(cls, pem: bytes) -> DecryptionKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DecodeError(f"not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, X25519PrivateKey):
            raise DecodeError("the PEM private key is not an X25519 key")
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> DecryptionKey:
        """The key in the PEM file ``path``; a ConfigError naming the file if it cannot be read or is not one."""
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read encryption key {path}: {exc.strerror}") from exc
        try:
            return cls.from_pem(pem)
        except HubError as exc:
            raise ConfigError(f"encryption key {path}: {exc.diagnostics()}") from exc

    def to_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def save(self, path: Path) -> None:
        """Write the key readable by its owner only."""
        write_private_pem(path, self.to_pem())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    @property
    def private_key(self) -> X25519PrivateKey:
        """The ``cryptography`` key, for HPKE's decapsulation."""
        return self._private


@dataclass(frozen=True)
class MemberEncryptionKey(KeyWindow):
    """One of a member's X25519 keys, with its validity window and any revocation: the same rules
    as a signing key's (:class:`hub.consortium.membership.MemberKey`), for the time a payload is
    encrypted and the membership version it is encrypted under."""

    key: EncryptionPublicKey
    not_before: int  # microseconds
    not_after: int | None = None
    revoked_at: int | None = None
    #: the membership version from which on this key is revoked (a revoke_encryption_key update)
    revoked_in_version: int | None = None

    @property
    def key_id(self) -> str:
        return self.key.key_id


# --- the member document's JSON form --------------------------------------------------------


def encryption_key_to_doc(k: MemberEncryptionKey) -> dict[str, Any]:
    """A key as the member document writes it: the fields of a signing key's entry."""
    d: dict[str, Any] = {
        "key_id": k.key_id,
        "public_key": base64.b64encode(k.key.raw).decode(),
        "not_before": iso(k.not_before),
        "not_after": iso(k.not_after) if k.not_after is not None else None,
        "revoked_at": iso(k.revoked_at) if k.revoked_at is not None else None,
    }
    if k.revoked_in_version is not None:
        d["revoked_in_version"] = k.revoked_in_version
    return d


def encryption_key_from_doc(doc: Mapping[str, Any], *, owner: str, version: int) -> MemberEncryptionKey:
    """A key of member ``owner`` in membership ``version`` from :func:`encryption_key_to_doc`'s form.
    ConfigError naming the member for a key that is not one; ValueError, KeyError or TypeError for
    a value of the wrong kind (the membership parser reports those as a ConfigError)."""
    if not isinstance(doc, Mapping):
        raise TypeError(f"member {owner}: an encryption key is a JSON object")
    key = EncryptionPublicKey(base64.b64decode(doc["public_key"], validate=True))
    if doc.get("key_id") and doc["key_id"] != key.key_id:
        raise ConfigError(f"member {owner}: encryption key_id {doc['key_id']} does not match its public key")
    riv = doc.get("revoked_in_version")
    if riv is not None and (isinstance(riv, bool) or not isinstance(riv, int) or not 1 <= riv <= version):
        raise ConfigError(f"member {owner}: revoked_in_version must be a version from 1 to {version}")
    not_after, revoked_at = doc.get("not_after"), doc.get("revoked_at")
    return MemberEncryptionKey(key, _time(doc["not_before"]), _time(not_after) if not_after else None,
                               _time(revoked_at) if revoked_at else None, riv)


def encryption_keys_from_doc(docs: Iterable[Mapping[str, Any]], *, owner: str,
                             version: int) -> tuple[MemberEncryptionKey, ...]:
    """A member's ``encryption_keys`` list; ConfigError if a key appears twice."""
    if not isinstance(docs, list):
        raise TypeError(f"member {owner}: encryption_keys is a list")
    keys = tuple(encryption_key_from_doc(d, owner=owner, version=version) for d in docs)
    if len({k.key_id for k in keys}) != len(keys):
        raise ConfigError(f"member {owner}: an encryption key appears twice")
    return keys


def _time(text: Any) -> int:
    dt = parse_rfc3339(text) if isinstance(text, str) else None
    if dt is None:
        raise ValueError(f"time {str(text)[:40]!r} is not {RFC3339_FORM}")
    return to_us(dt)
