"""The signed envelope every cross-agency message travels in (docs/standard.md).

Bytes: the Avro binary encoding of ``schemas/hub/Envelope.v1.avsc`` or ``Envelope.v2.avsc`` (the
``version`` field, first, says which). Signing input: ``b"judicial-hub/envelope/v<N>" + b"\\x00"``
followed by the envelope's bytes up to, not including, the ``signature`` field (the Avro encoding
of every other field, in order).

Version 2 adds, between ``correlation_id`` and ``payload``: ``deliver_by`` (the last moment the
sender vouches for the message), ``disclosed`` (the fields the standard keeps in clear,
:mod:`hub.standard.disclosure`) and ``commitment`` (a salted SHA-256 of the plaintext payload);
its ``payload`` is ciphertext (:mod:`hub.standard.sealing`), and its message id must be a UUIDv7.
Pure: no I/O, no clock (times are arguments).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from hub.consortium.identity import SIGNATURE_SIZE, SigningKey, VerifyingKey
from hub.errors import DecodeError, EncodeError
from hub.standard import avro

ENVELOPE_VERSION = 1
DOMAIN = b"judicial-hub/envelope/v1\x00"
#: the version new messages are sealed in: payloads encrypted, a commitment signed
ENVELOPE_V2 = 2
DOMAIN_V2 = b"judicial-hub/envelope/v2\x00"
_DOMAINS = {ENVELOPE_VERSION: DOMAIN, ENVELOPE_V2: DOMAIN_V2}
COMMITMENT_SIZE = 32

#: A C2SP tlog-tiles entry holds at most 65,535 bytes; a ledger entry wraps the envelope
#: with at most ENTRY_OVERHEAD bytes of its own (index, previous hash, time, source with a
#: topic name of up to 249 characters, membership version, and the envelope's length).
MAX_LEDGER_ENTRY = 65_535
ENTRY_OVERHEAD = 10 + 32 + 10 + (2 + 249 + 5 + 10) + 10 + 3
MAX_ENVELOPE_SIZE = MAX_LEDGER_ENTRY - ENTRY_OVERHEAD


class EnvelopeTooLargeError(DecodeError, EncodeError):
    """An envelope over MAX_ENVELOPE_SIZE bytes."""


class _RandomPool(threading.local):
    """Random bytes for message ids, drawn from the OS 4 KiB at a time per thread: one system call
    (which gives up the GIL) per 409 ids instead of one per id."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.buf = b""
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            self.buf, self.pos = os.urandom(4096), 0
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


_RANDOM = _RandomPool()
# a forked child must not hand out the ids its parent still holds
os.register_at_fork(after_in_child=_RANDOM.reset)


def uuid7(unix_ms: int, rand: bytes | None = None) -> uuid.UUID:
    """A UUIDv7 (RFC 9562 section 5.7): 48-bit Unix milliseconds, then 74 random bits."""
    rand = rand if rand is not None else _RANDOM.take(10)
    if len(rand) != 10:
        raise EncodeError("uuid7 needs 10 random bytes")
    value = (unix_ms & ((1 << 48) - 1)) << 80 | int.from_bytes(rand, "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    return uuid.UUID(int=value)


def _optional_timestamp(c: avro.Cursor) -> int | None:
    """A ``["null", timestamp-micros]`` union."""
    at = c.pos
    branch = c.long()
    if branch == 0:
        return None
    if branch != 1:
        raise DecodeError(f"union branch {branch} out of range at byte {at}")
    return c.timestamp()


def _disclosed(c: avro.Cursor) -> tuple[tuple[str, str], ...]:
    """v2's ``disclosed``: an array of (path, value) records in one block, sorted by path, no path twice."""
    at = c.pos
    n = c.long()
    if n == 0:
        return ()
    if n < 0:
        raise DecodeError(f"array block with a byte size at byte {at}: not the canonical layout")
    out = tuple((c.string(), c.string()) for _ in range(n))
    if c.long() != 0:
        raise DecodeError(f"array in more than one block at byte {at}: not the canonical layout")
    paths = [p for p, _ in out]
    if paths != sorted(set(paths)):
        raise DecodeError("disclosed fields are not sorted by path, or a path repeats")
    return out


def _signature_field_size(signature: bytes) -> int:
    n = len(signature)
    zz = n << 1
    size = 1
    while zz >= 0x80:
        zz >>= 7
        size += 1
    return size + n


@dataclass(frozen=True)
class Envelope:
    """A decoded envelope with the exact bytes it came from (``raw``)."""

    message_id: uuid.UUID
    type: str
    schema_fingerprint: bytes
    sender: str
    sender_key_id: str
    recipients: tuple[str, ...]
    created_at: int  # microseconds since the epoch, UTC
    correlation_id: uuid.UUID | None
    payload: bytes
    signature: bytes
    version: int = ENVELOPE_VERSION
    raw: bytes = field(default=b"", repr=False, compare=False)
    #: v2: the last moment (microseconds) the sender vouches for the message; None: no bound
    deliver_by: int | None = None
    #: v2: the payload's fields kept in clear, (path, text) sorted by path (hub.standard.disclosure)
    disclosed: tuple[tuple[str, str], ...] = ()
    #: v2: SHA-256 commitment to the plaintext payload (hub.standard.sealing.commitment)
    commitment: bytes = b""

    @property
    def encrypted(self) -> bool:
        """Whether the payload is ciphertext (v2): only its readers can decode it."""
        return self.version >= ENVELOPE_V2

    @property
    def domain(self) -> bytes:
        return _DOMAINS[self.version]

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """Decode strictly; DecodeError (EnvelopeTooLargeError when oversized) otherwise."""
        if len(raw) > MAX_ENVELOPE_SIZE:
            raise EnvelopeTooLargeError(f"envelope of {len(raw)} bytes exceeds {MAX_ENVELOPE_SIZE}")
        c = avro.Cursor(raw)
        version = c.int32()
        if version not in _DOMAINS:
            raise DecodeError(f"unsupported envelope version {version}")
        message_id = c.fixed(16)
        if version >= ENVELOPE_V2 and (message_id[6] >> 4 != 7 or message_id[8] >> 6 != 2):
            raise DecodeError("message_id is not a UUIDv7 (RFC 9562): envelope v2 requires one")
        type_ = c.string()
        fingerprint = c.fixed(32)
        sender = c.string()
        sender_key_id = c.string()
        recipients = tuple(c.strings())
        created_at = c.timestamp()
        corr = c.optional_fixed(16)
        deliver_by: int | None = None
        disclosed: tuple[tuple[str, str], ...] = ()
        commitment = b""
        if version >= ENVELOPE_V2:
            deliver_by = _optional_timestamp(c)
            disclosed = _disclosed(c)
            commitment = c.fixed(COMMITMENT_SIZE)
        payload = c.blob()
        signature = c.blob()
        c.end("Envelope")
        return cls(
            message_id=uuid.UUID(bytes=message_id),
            type=type_,
            schema_fingerprint=fingerprint,
            sender=sender,
            sender_key_id=sender_key_id,
            recipients=recipients,
            created_at=created_at,
            correlation_id=uuid.UUID(bytes=corr) if corr is not None else None,
            payload=payload,
            signature=signature,
            version=version,
            raw=raw,
            deliver_by=deliver_by,
            disclosed=disclosed,
            commitment=commitment,
        )

    def disclosed_value(self, path: str) -> str | None:
        """The clear text of a disclosed field (v2), or None."""
        return next((v for p, v in self.disclosed if p == path), None)

    def _record(self, signature: bytes) -> dict[str, object]:
        return {
            "version": self.version,
            "message_id": self.message_id.bytes,
            "type": self.type,
            "schema_fingerprint": self.schema_fingerprint,
            "sender": self.sender,
            "sender_key_id": self.sender_key_id,
            "recipients": list(self.recipients),
            "created_at": self.created_at,
            "correlation_id": self.correlation_id.bytes if self.correlation_id else None,
            **({"deliver_by": self.deliver_by,
                "disclosed": [{"path": p, "value": v} for p, v in self.disclosed],
                "commitment": self.commitment} if self.version >= ENVELOPE_V2 else {}),
            "payload": self.payload,
            "signature": signature,
        }

    def body(self) -> bytes:
        """The Avro encoding of every field but the signature (hand-assembled on the connector's hot
        path; tests compare it with fastavro's encoding of :meth:`_record`)."""
        if self.raw:
            return self.raw[: len(self.raw) - _signature_field_size(self.signature)]
        if len(self.schema_fingerprint) != 32:
            raise EncodeError("schema_fingerprint must be 32 bytes (a SHA-256)")
        if not -(2**63) <= self.created_at < 2**63:
            raise EncodeError("created_at does not fit a long")
        z, text = avro.zigzag, avro.avro_bytes
        recipients = [text(r.encode()) for r in self.recipients]
        return b"".join((
            z(self.version), self.message_id.bytes, text(self.type.encode()), self.schema_fingerprint,
            text(self.sender.encode()), text(self.sender_key_id.encode()),
            (z(len(recipients)) + b"".join(recipients) + b"\x00") if recipients else b"\x00",
            z(self.created_at),
            b"\x02" + self.correlation_id.bytes if self.correlation_id is not None else b"\x00",
            self._v2_fields() if self.version >= ENVELOPE_V2 else b"",
            text(self.payload),
        ))

    def _v2_fields(self) -> bytes:
        if len(self.commitment) != COMMITMENT_SIZE:
            raise EncodeError(f"commitment must be {COMMITMENT_SIZE} bytes (a SHA-256)")
        paths = [p for p, _ in self.disclosed]
        if paths != sorted(set(paths)):
            raise EncodeError("disclosed fields must be sorted by path, each path once")
        z, text = avro.zigzag, avro.avro_bytes
        items = b"".join(text(p.encode()) + text(v.encode()) for p, v in self.disclosed)
        return b"".join((
            b"\x00" if self.deliver_by is None else b"\x02" + z(self.deliver_by),
            (z(len(self.disclosed)) + items + b"\x00") if self.disclosed else b"\x00",
            self.commitment,
        ))

    def signing_input(self) -> bytes:
        """The version's domain followed by the Avro encoding of every field but the signature."""
        return self.domain + self.body()

    def verify(self, key: VerifyingKey) -> bool:
        return key.key_id == self.sender_key_id and key.verify(self.signature, self.signing_input())


#: the signature field's size in an envelope: its length (2 bytes) and the 64 bytes
SIGNATURE_FIELD_SIZE = len(avro.avro_bytes(bytes(SIGNATURE_SIZE)))


@dataclass(frozen=True)
class Unsigned:
    """An envelope ready to be signed: every field but the signature, and their encoding."""

    envelope: Envelope
    body: bytes
    #: an envelope v2's key capsule (hub.standard.sealing.KeyCapsule bytes), travelling beside it
    capsule: bytes | None = None

    def sign(self, key: SigningKey) -> Envelope:
        signature = key.sign(self.envelope.domain + self.body)
        assert len(signature) == SIGNATURE_SIZE
        return replace(self.envelope, signature=signature, raw=self.body + avro.avro_bytes(signature))


def prepare(
    *,
    type: str,
    schema_fingerprint: bytes,
    sender: str,
    key_id: str,
    recipients: Sequence[str],
    payload: bytes,
    created_at: int,
    correlation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    version: int = ENVELOPE_VERSION,
    deliver_by: int | None = None,
    disclosed: Sequence[tuple[str, str]] = (),
    commitment: bytes = b"",
) -> Unsigned:
    """Build an envelope to be signed with key ``key_id``; EnvelopeTooLargeError if, signed, it
    would not fit a ledger entry. (A connector signs on another thread: see :class:`Unsigned`.)
    Version 2 (:data:`ENVELOPE_V2`) takes ``payload`` as ciphertext with its ``commitment``
    (:func:`hub.standard.sealing.seal_v2` builds one)."""
    if version not in _DOMAINS:
        raise EncodeError(f"unsupported envelope version {version}")
    if version == ENVELOPE_VERSION and (deliver_by is not None or disclosed or commitment):
        raise EncodeError("deliver_by, disclosed and commitment exist from envelope v2 on")
    envelope = Envelope(
        message_id=message_id or uuid7(created_at // 1000),
        type=type,
        schema_fingerprint=schema_fingerprint,
        sender=sender,
        sender_key_id=key_id,
        recipients=tuple(recipients),
        created_at=created_at,
        correlation_id=correlation_id,
        payload=payload,
        signature=b"",
        version=version,
        deliver_by=deliver_by,
        disclosed=tuple(disclosed),
        commitment=commitment,
    )
    body = envelope.body()
    if len(body) + SIGNATURE_FIELD_SIZE > MAX_ENVELOPE_SIZE:
        raise EnvelopeTooLargeError(
            f"envelope of {len(body) + SIGNATURE_FIELD_SIZE} bytes exceeds {MAX_ENVELOPE_SIZE}: put large "
            "documents on the ledger as their SHA-256"
        )
    return Unsigned(envelope, body)


def seal(
    *,
    type: str,
    schema_fingerprint: bytes,
    sender: str,
    key: SigningKey,
    recipients: Sequence[str],
    payload: bytes,
    created_at: int,
    correlation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
) -> Envelope:
    """Build and sign an envelope; EnvelopeTooLargeError if it would not fit a ledger entry."""
    return prepare(type=type, schema_fingerprint=schema_fingerprint, sender=sender, key_id=key.key_id,
                   recipients=recipients, payload=payload, created_at=created_at, correlation_id=correlation_id,
                   message_id=message_id).sign(key)
