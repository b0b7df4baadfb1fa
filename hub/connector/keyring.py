"""The connector's keyring: the key capsules of what its agency may read, and opening payloads.

:class:`KeyRing` follows the keys topic (``<ns>.keys``, compacted, keyed by message id) from its
beginning and keeps each capsule that holds a wrap for this member; a tombstone (an approved
erasure, docs/standard.md "Erasure") drops it for good, and the message's id is remembered as
erased. :meth:`KeyRing.open` decrypts an envelope v2's payload with the member's private
encryption keys and checks it opens the signed commitment (:mod:`hub.standard.sealing`). Nothing
decrypted is kept: each delivery decrypts again.

The sequencer commits a message's capsule in the transaction that notarises it, so a capsule
missing when its entry is delivered is either not read yet (the keyring lags, as after a broker
outage) or absent for good. The keyring tells the two apart by the keys topic's last stable
offsets: it answers ``NO_KEY`` only once it has read everything committed when it was asked, and
while it lags it answers :class:`KeyringBehindError` (UNAVAILABLE: subscribe again from the cursor),
never a transient ``NO_KEY``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.connector.followers import Follower
from hub.consortium.membership import Membership
from hub.errors import DecodeError, HubError, UnavailableError
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

#: how long a delivery waits for its capsule before asking where the keys topic ends, seconds
#: (the capsule is committed with the entry: it usually arrives within milliseconds)
CAPSULE_WAIT_S = 0.2
#: how long a delivery then waits for the keyring to read up to that end, seconds
CATCH_UP_S = 30.0
#: how long asking for the keys topic's end may take, seconds
ENDS_TIMEOUT_S = 5.0


class KeyringBehindError(UnavailableError):
    """The keyring has not read the keys topic as far as a delivered entry's capsule yet: a
    transient state (Subscribe answers UNAVAILABLE; subscribing again from the cursor delivers
    the entry opened)."""


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

    def __init__(self, consumer: Consumer, member_id: str, keys: Iterable[tuple[str, X25519PrivateKey]],
                 partitions: Iterable[tuple[str, int]] = ()) -> None:
        super().__init__(consumer)
        self.member_id = member_id
        #: the keys topic's (topic, partition) this keyring reads (its consumer reports their ends)
        self.partitions = list(partitions)
        #: (topic, partition) -> every committed record below this offset has been handled
        self._read_below: dict[tuple[str, int], int] = {}
        #: deliveries ask where the topic ends (a count); the reading thread answers the latest
        #: question in :attr:`_ends` (its answer to question number :attr:`_ends_ticket`)
        self._ends_asked = 0
        self._ends_ticket = 0
        self._ends: dict[tuple[str, int], int] = {}
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

    def _read(self, eof: set[tuple[str, int]]) -> None:
        if eof:
            with self._cond:
                for where in eof:
                    self._advance(where, self._consumer.eof_at.get(where, 0))
                self._cond.notify_all()

    def _advance(self, where: tuple[str, int], below: int) -> None:
        if below > self._read_below.get(where, 0):
            self._read_below[where] = below

    def _handle(self, m: Message) -> None:
        key, value = m.key(), m.value()
        with self._cond:
            self._advance((m.topic() or "", m.partition() or 0), (m.offset() or 0) + 1)
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

    def open(self, env: Envelope, wait_s: float = CAPSULE_WAIT_S, catch_up_s: float = CATCH_UP_S) -> Opened:
        """The plaintext payload of ``env`` (v2) and its opening; :class:`Unreadable` when it cannot
        be opened for good, :class:`KeyringBehindError` while the keyring has not read its capsule."""
        mid = env.message_id.bytes
        if not self._await(lambda: mid in self._capsules or mid in self._erased, wait_s):
            with self._cond:  # the reading thread asks where the topic ends (one thread per client)
                self._ends_asked += 1
                ticket = self._ends_asked
            if not self._await(lambda: mid in self._capsules or mid in self._erased or self._caught_up(ticket),
                               catch_up_s):
                raise KeyringBehindError(f"the keyring of {self.member_id} has not yet read the key capsule of "
                                         f"message {env.message_id}: subscribe again from the cursor")
        with self._cond:
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

    def _await(self, done: Callable[[], bool], wait_s: float) -> bool:
        """Wait up to ``wait_s`` for ``done()`` (checked under the lock as records are read)."""
        end = time.monotonic() + wait_s
        with self._cond:
            while not done():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _tick(self) -> None:
        """Before each read: if a delivery asked, learn where each partition of the keys topic ends
        now, for a read_committed reader (the capsule of any entry delivered before it asked lies below)."""
        with self._cond:
            ticket = self._ends_asked
        if ticket <= self._ends_ticket:
            return
        try:
            ends = {(t, p): self._consumer.watermarks(t, p, timeout=ENDS_TIMEOUT_S)[1] for t, p in self.partitions}
        except HubError as exc:
            log.warning("keyring: cannot tell how far the keys topic goes: %s", exc.diagnostics())
            return
        with self._cond:
            self._ends, self._ends_ticket = ends, ticket
            self._cond.notify_all()

    def _caught_up(self, ticket: int) -> bool:
        """Whether the keyring has read every record committed when delivery ``ticket`` asked."""
        return self._ends_ticket >= ticket and all(self._read_below.get(where, 0) >= end
                                                   for where, end in self._ends.items())
