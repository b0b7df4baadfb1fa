"""Who can open a payload: its data key wrapped for each reader, in a key capsule (envelope v2, pure).

Two layers (docs/standard.md, section 13.3):

* a **key-encryption key** (KEK, 32 random bytes, with a random 16-byte id) per sender and reader
  key, sealed for the reader with HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256),
  HKDF-SHA256, AES-256-GCM, ``info = "judicial-hub/kek/v2" || 0x00 || kek id || reader id``. A
  sender draws a new one every :data:`KEK_MAX_USES` data keys or :data:`KEK_MAX_AGE_S` seconds,
  and at every start: HPKE's public-key operations are paid once per KEK, not per message;
* each message's **data key** is wrapped under the KEK with AES-256-GCM, a random 12-byte nonce and
  ``aad = "judicial-hub/key/v2" || 0x00 || message id || reader id``.

Every wrap carries its KEK sealed for its reader, so each capsule opens alone. Erasing a message
destroys its capsule: the KEK may live on in other capsules, but the wrap of that message's data
key existed only in its own. A reader caches the KEKs it opened (:class:`KekCache`), by the sealed
KEK's bytes.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import DecodeError, HubError
from hub.standard import avro

KEK_DOMAIN = b"judicial-hub/kek/v2\x00"
KEY_DOMAIN = b"judicial-hub/key/v2\x00"
DATA_KEY_SIZE = 32
KEK_SIZE = 32
KEK_ID_SIZE = 16
NONCE_SIZE = 12
#: HPKE's encapsulated key (32) and the sealed KEK with its tag (32 + 16)
KEK_SEALED_SIZE = 32 + KEK_SIZE + 16
#: the nonce, and the wrapped data key with its tag
WRAP_SIZE = NONCE_SIZE + DATA_KEY_SIZE + 16
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
#: a sender's KEK for one reader key wraps at most this many data keys (random 96-bit nonces stay
#: far from colliding), for at most this long
KEK_MAX_USES = 100_000
KEK_MAX_AGE_S = 600.0


class CannotOpenError(HubError):
    """A payload this process cannot decrypt: no wrap for its keys, a key erased, or bytes that do
    not decrypt (never a reason to trust them)."""


@dataclass(frozen=True)
class Reader:
    """Someone a payload is encrypted for: a member id and one of its X25519 encryption keys."""

    member: str
    key_id: str
    public: X25519PublicKey


@dataclass(frozen=True)
class KeyWrap:
    """The data key wrapped for one reader key: the KEK (its id, and sealed for the reader with
    HPKE) and the data key under the KEK (nonce, AES-256-GCM ciphertext and tag)."""

    reader: str
    key_id: str
    kek_id: bytes
    kek_sealed: bytes
    sealed: bytes


@dataclass(frozen=True)
class KeyCapsule:
    """A message's data key wrapped for each of its readers (``schemas/hub/KeyCapsule.v1.avsc``)."""

    message_id: uuid.UUID
    wraps: tuple[KeyWrap, ...]

    def to_bytes(self) -> bytes:
        z, text = avro.zigzag, avro.avro_bytes
        items = b"".join(text(w.reader.encode()) + text(w.key_id.encode()) + w.kek_id + text(w.kek_sealed)
                         + text(w.sealed) for w in self.wraps)
        return self.message_id.bytes + ((z(len(self.wraps)) + items + b"\x00") if self.wraps else b"\x00")

    @classmethod
    def from_bytes(cls, raw: bytes) -> KeyCapsule:
        """Decode strictly; DecodeError otherwise."""
        c = avro.Cursor(raw)
        mid = c.fixed(16)
        wraps = [KeyWrap(c.string(), c.string(), c.fixed(KEK_ID_SIZE), c.blob(), c.blob()) for _ in _items(c)]
        c.end("KeyCapsule")
        return cls(uuid.UUID(bytes=mid), tuple(wraps))

    @staticmethod
    def wrapped_for(raw: bytes) -> tuple[bytes, set[tuple[str, str]]]:
        """A capsule's message id (16 bytes) and its (reader, key id) pairs, without building it (the
        sequencer's check of every message); DecodeError as :meth:`from_bytes`."""
        c = avro.Cursor(raw)
        mid = c.fixed(16)
        pairs: set[tuple[str, str]] = set()
        for _ in _items(c):
            pairs.add((c.string(), c.string()))
            c.fixed(KEK_ID_SIZE)
            c.blob()
            c.blob()
        c.end("KeyCapsule")
        return mid, pairs

    def readers(self) -> list[str]:
        return sorted({w.reader for w in self.wraps})


def _items(c: avro.Cursor) -> Iterable[None]:
    """An Avro array's items in the one accepted layout: a positive count, the items, ``00``."""
    n = c.long()
    if n < 0:
        raise DecodeError("key capsule: array block with a byte size: not the canonical layout")
    if n == 0:
        return
    for _ in range(n):
        yield None
    if c.long() != 0:
        raise DecodeError("key capsule: array in more than one block")


@dataclass
class Kek:
    """A sender's key-encryption key for one reader key: its id, the key, the key sealed for the
    reader, how many data keys it wrapped and since when (the sender's clock)."""

    kek_id: bytes
    key: bytes
    sealed: bytes
    uses: int = 0
    born: float = 0.0


def seal_kek(reader: Reader, *, key: bytes | None = None, kek_id: bytes | None = None, born: float = 0.0) -> Kek:
    """A new KEK for ``reader``, sealed for it with HPKE (random unless given: test vectors)."""
    key = key if key is not None else os.urandom(KEK_SIZE)
    kek_id = kek_id if kek_id is not None else os.urandom(KEK_ID_SIZE)
    if len(key) != KEK_SIZE or len(kek_id) != KEK_ID_SIZE:
        raise ValueError(f"a KEK is {KEK_SIZE} bytes and its id {KEK_ID_SIZE}")
    return Kek(kek_id, key, SUITE.encrypt(key, reader.public, info=_kek_info(kek_id, reader.member)), 0, born)


class KekEpochs:
    """A sender's current KEK per reader key (thread-safe): a new one after ``max_uses`` data keys or
    ``max_age_s`` seconds of ``clock``."""

    def __init__(self, max_uses: int = KEK_MAX_USES, max_age_s: float = KEK_MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_uses, self.max_age_s, self.clock = max_uses, max_age_s, clock
        self._keks: dict[tuple[str, str], Kek] = {}
        self._lock = threading.Lock()

    def kek_for(self, reader: Reader) -> Kek:
        now = self.clock()
        with self._lock:
            kek = self._keks.get((reader.member, reader.key_id))
            if kek is None or kek.uses >= self.max_uses or now - kek.born >= self.max_age_s:
                kek = self._keks[(reader.member, reader.key_id)] = seal_kek(reader, born=now)
            kek.uses += 1
            return kek


def wrap(data_key: bytes, message_id: uuid.UUID, readers: Iterable[Reader], epochs: KekEpochs | None = None, *,
         keks: Mapping[tuple[str, str], Kek] | None = None, nonces: Iterable[bytes] | None = None) -> KeyCapsule:
    """The capsule of ``data_key`` for ``readers`` (one wrap per reader key, sorted), under the KEKs
    of ``epochs`` (None: a new KEK per reader, for this message alone); test vectors give ``keks``
    by (member, key id) and the ``nonces`` in order."""
    unique = {(r.member, r.key_id): r for r in readers}
    nonce_iter = iter(nonces) if nonces is not None else None
    wraps = []
    for k, r in sorted(unique.items()):
        kek = keks[k] if keks is not None else epochs.kek_for(r) if epochs is not None else seal_kek(r)
        nonce = next(nonce_iter) if nonce_iter is not None else os.urandom(NONCE_SIZE)
        wrapped = AESGCM(kek.key).encrypt(nonce, data_key, _key_aad(message_id, r.member))
        wraps.append(KeyWrap(r.member, r.key_id, kek.kek_id, kek.sealed, nonce + wrapped))
    return KeyCapsule(message_id, tuple(wraps))


class KekCache:
    """The KEKs a reader opened: one HPKE opening per KEK, not per message. Keyed by the reader and
    the sealed KEK itself, not by its id: a KEK id is the sender's choice and public, so another
    member could seal a KEK of its own under an honest sender's id; the sealed bytes it cannot copy
    without their KEK."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._keks: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, member: str, kek_sealed: bytes) -> bytes | None:
        with self._lock:
            key = self._keks.get((member, kek_sealed))
            if key is not None:
                self._keks.move_to_end((member, kek_sealed))
            return key

    def put(self, member: str, kek_sealed: bytes, key: bytes) -> None:
        with self._lock:
            self._keks[(member, kek_sealed)] = key
            while len(self._keks) > self.size:
                self._keks.popitem(last=False)


def unwrap(capsule: KeyCapsule, member: str, keys: Mapping[str, X25519PrivateKey],
           cache: KekCache | None = None) -> bytes:
    """The data key, opened with one of ``member``'s private keys (by key id); CannotOpenError when
    the capsule has no wrap for them or none opens."""
    for w in capsule.wraps:
        key = keys.get(w.key_id) if w.reader == member else None
        if key is None or len(w.sealed) != WRAP_SIZE:
            continue
        kek = cache.get(member, w.kek_sealed) if cache is not None else None
        try:
            if kek is None:
                kek = SUITE.decrypt(w.kek_sealed, key, info=_kek_info(w.kek_id, member))
                if len(kek) != KEK_SIZE:
                    continue
                if cache is not None:
                    cache.put(member, w.kek_sealed, kek)
            data_key = AESGCM(kek).decrypt(w.sealed[:NONCE_SIZE], w.sealed[NONCE_SIZE:],
                                           _key_aad(capsule.message_id, member))
        except (InvalidTag, ValueError):
            continue
        if len(data_key) == DATA_KEY_SIZE:
            return data_key
    held = ", ".join(sorted(keys)) or "none"
    raise CannotOpenError(f"message {capsule.message_id}: no key of {member} (held: {held}) opens its capsule")


def _kek_info(kek_id: bytes, reader: str) -> bytes:
    return KEK_DOMAIN + kek_id + reader.encode()


def _key_aad(message_id: uuid.UUID, reader: str) -> bytes:
    return KEY_DOMAIN + message_id.bytes + reader.encode()
