"""The connector's keyring: the key capsules of what its agency may read, and opening payloads.

:class:`KeyRing` follows the keys topic (``<ns>.keys``, compacted, keyed by message id) from its
beginning and keeps each capsule that holds a wrap for this member; a tombstone (an approved
erasure, docs/standard.md "Erasure") drops it for good, and the message's id is remembered as
erased. :meth:`KeyRing.open` decrypts an envelope v2's payload with the member's private
encryption keys and checks it opens the signed commitment (:mod:`hub.standard.sealing`). Nothing
decrypted is kept: each delivery decrypts again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.connector.followers import Follower
from hub.consortium.membership import Membership
from hub.errors import DecodeError
from hub.kafka.consumer import Consumer, Message
from hub.standard.envelope import Envelope
from hub.standard.sealing import (
    CannotOpenError,
    CommitmentMismatchError,
    KekCache,
    KeyCapsule,
    Opened,
    open_envelope_payload,
)

log = logging.getLogger(__name__)

#: how long a delivery waits for its capsule to be read (it is committed with the entry), seconds
CAPSULE_WAIT_S = 5.0


class Unreadable(CannotOpenError):
    """A payload the agency cannot read, with a stable reason: ``ERASED`` (its key was destroyed by
    an approved erasure), ``NO_KEY`` (no capsule, or none of the agency's keys opens it) or
    ``NOT_OPENING`` (it decrypts but does not open the sender's signed commitment)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


class KeyRing(Follower):
    """Capsules addressed to ``member_id``, from the keys topic's ``partitions`` (assigned from their
    beginning), and the member's private encryption keys (by key id)."""

    name = "keyring"

    def __init__(self, consumer: Consumer, member_id: str, keys: Iterable[tuple[str, X25519PrivateKey]]) -> None:
        super().__init__(consumer)
        self.member_id = member_id
        self._keys = dict(keys)
        self._keks = KekCache()
        self._capsules: dict[bytes, bytes] = {}
        self._erased: set[bytes] = set()
        self._cond = threading.Condition()

    def holds(self, message_id: uuid.UUID) -> bool:
        with self._cond:
            return message_id.bytes in self._capsules

    def erase(self, message_ids: Iterable[uuid.UUID]) -> None:
        """Forget these messages' capsules now (an approved erasure, before its tombstones are read)."""
        with self._cond:
            for mid in message_ids:
                self._capsules.pop(mid.bytes, None)
                self._erased.add(mid.bytes)

    def apply(self, membership: Membership) -> None:
        """Forget every capsule an approved erasure of ``membership`` names (its tombstones follow)."""
        self.erase(membership.erased)

    def _handle(self, m: Message) -> None:
        key, value = m.key(), m.value()
        if key is None or len(key) != 16:
            return
        with self._cond:
            if value is None:  # a tombstone: the capsule is erased
                self._capsules.pop(key, None)
                self._erased.add(key)
            else:
                try:
                    capsule = KeyCapsule.from_bytes(value)
                except DecodeError as exc:
                    log.error("keyring: undecodable capsule at offset %s: %s", m.offset(), exc)
                    return
                if key in self._erased or capsule.message_id.bytes != key:
                    return
                if any(w.reader == self.member_id for w in capsule.wraps):
                    self._capsules[key] = value
            self._cond.notify_all()

    def open(self, env: Envelope, wait_s: float = CAPSULE_WAIT_S) -> Opened:
        """The plaintext payload of ``env`` (v2) and its opening; :class:`Unreadable` otherwise."""
        mid = env.message_id.bytes
        end = time.monotonic() + wait_s
        with self._cond:
            while mid not in self._capsules and mid not in self._erased:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if mid in self._erased:
                raise Unreadable("ERASED", f"message {env.message_id} was erased: its data key is destroyed")
            raw = self._capsules.get(mid)
        if raw is None:
            raise Unreadable("NO_KEY", f"message {env.message_id}: no key capsule for {self.member_id}")
        if not self._keys:
            raise Unreadable("NO_KEY", f"{self.member_id} holds no encryption key: start the connector with its "
                             "encryption key file")
        try:
            return open_envelope_payload(env, KeyCapsule.from_bytes(raw), self.member_id, self._keys, self._keks)
        except CommitmentMismatchError as exc:
            raise Unreadable("NOT_OPENING", str(exc)) from None
        except CannotOpenError as exc:
            raise Unreadable("NO_KEY", str(exc)) from None
