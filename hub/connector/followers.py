"""The connector's followers: threads that keep what it knows current from Kafka.

- :class:`ReceiptWatcher` follows the agency's outbox from its end and hands each receipt to the
  Publish call waiting for it;
- :class:`MembershipFollower` applies each new update of the membership log, and re-reads the
  key file when an update revokes the key in use;
- :class:`CredentialFollower` keeps the lawyers' credential book from the credential register
  (every lawyer credential ever notarised, kept as long as the ledger), from its beginning.

Each takes the consumer it reads (opened and assigned by :func:`hub.connector.service.start_connector`),
runs in a daemon thread from :meth:`Follower.start`, and closes its consumer when :meth:`Follower.close`
stops it. A Kafka failure is logged and the follower reads on after a pause (librdkafka
reconnects by itself); a record whose handling meets a transient failure (an
:class:`~hub.errors.UnavailableError`) is read again after the pause.
"""

from __future__ import annotations

import abc
import logging
import threading
import uuid
from collections.abc import Callable

from hub.connector.agency import CurrentAgency
from hub.connector.deliveries import Opener, receipt_pb
from hub.consortium.governance import apply_update, parse_update
from hub.consortium.membership import Membership
from hub.errors import DecodeError, HubError, UnavailableError
from hub.kafka.consumer import Consumer, Message, header
from hub.kafka.topics import KIND_HEADER
from hub.ledger.entry import LedgerEntry
from hub.standard.credentials import Change, CredentialBook, is_credential_type
from hub.standard.envelope import Envelope
from hub.standard.schemas import SchemaRegistry
from hub.standard.sealing import CannotOpenError
from hub.timeutil import now_us
from hub.v1 import connector_pb2 as pb

log = logging.getLogger(__name__)

#: seconds a follower waits after a Kafka failure before reading again
RETRY_PAUSE_S = 1.0


class Follower(abc.ABC):
    """A daemon thread reading one consumer until :meth:`close`; subclasses handle each record."""

    #: the thread's name
    name = "follower"

    def __init__(self, consumer: Consumer, *, max_records: int = 500, timeout: float = 0.2) -> None:
        self._consumer = consumer
        self._max_records = max_records
        self._timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading; the thread closes its consumer."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._tick()
                try:
                    msgs = self._consumer.consume(self._max_records, self._timeout)
                except HubError as exc:
                    log.warning("%s: %s", self.name, exc.diagnostics())
                    self._stop.wait(RETRY_PAUSE_S)
                    continue
                for i, m in enumerate(msgs):
                    try:
                        self._handle(m)
                    except UnavailableError as exc:  # e.g. the keyring has not read a capsule yet
                        log.warning("%s: %s; reading again from %s[%s]@%s", self.name, exc.diagnostics(),
                                    m.topic(), m.partition(), m.offset())
                        self._rewind(msgs[i:])
                        self._stop.wait(RETRY_PAUSE_S)
                        break
                else:
                    self._read(self._consumer.eof)
        finally:
            self._consumer.close()

    def _rewind(self, unhandled: list[Message]) -> None:
        """Read these records again: seek each of their partitions back to the first of them."""
        first: dict[tuple[str, int], int] = {}
        for m in unhandled:
            first.setdefault((m.topic() or "", m.partition() or 0), m.offset() or 0)
        for (topic, partition), offset in first.items():
            try:
                self._consumer.seek(topic, partition, offset)
            except HubError as exc:
                log.error("%s: cannot read %s[%s] again from %s, its records there are skipped: %s", self.name,
                          topic, partition, offset, exc.diagnostics())

    def _tick(self) -> None:
        """Called before each read."""

    @abc.abstractmethod
    def _handle(self, m: Message) -> None:
        """Handle one record read."""

    def _read(self, eof: set[tuple[str, int]]) -> None:
        """Called after each read's records were handled, with the partitions that reached their end."""


class ReceiptWatcher(Follower):
    """Follows the agency's outbox (from its end when started) and hands receipts to waiting publishers."""

    name = "receipts"

    def __init__(self, consumer: Consumer, outbox: str) -> None:
        super().__init__(consumer)
        self.outbox = outbox
        self._waiting: dict[str, tuple[threading.Event, list[pb.Receipt]]] = {}
        self._lock = threading.Lock()

    def expect(self, message_id: str) -> threading.Event:
        """An event set once the receipt of ``message_id`` arrived; :meth:`take` it then."""
        event = threading.Event()
        with self._lock:
            self._waiting[message_id] = (event, [])
        return event

    def next(self, message_id: str) -> pb.Receipt | None:
        """The first receipt of ``message_id`` that arrived and was not taken yet (None: none), still
        waiting for later ones; the event :meth:`expect` gave is cleared when none is left."""
        with self._lock:
            waiting = self._waiting.get(message_id)
            if not waiting or not waiting[1]:
                return None
            receipt = waiting[1].pop(0)
            if not waiting[1]:
                waiting[0].clear()
            return receipt

    def take(self, message_id: str) -> pb.Receipt | None:
        """The receipt of ``message_id`` if it arrived (None otherwise); stop waiting for it."""
        with self._lock:
            _, slot = self._waiting.pop(message_id, (None, []))
        return slot[0] if slot else None

    def _handle(self, m: Message) -> None:
        if header(m, KIND_HEADER) != b"receipt":
            return
        try:
            receipt = receipt_pb(m.value() or b"")  # a null value fails to decode like an empty one
        except DecodeError as exc:
            log.error("undecodable receipt at %s@%d: %s", self.outbox, m.offset(), exc)
            return
        with self._lock:
            waiting = self._waiting.get(receipt.message_id)
            if waiting:
                waiting[1].append(receipt)
                waiting[0].set()


class MembershipFollower(Follower):
    """Applies each new quorum-approved update of the membership log to the agency's membership,
    so new members, keys and policy rules are checked at once, with no restart. When an update
    revokes the connector's own signing key, the key file is read again until it holds a key the
    membership accepts (``hub agency rotate-key`` publishes the update, then installs the file);
    meanwhile Publish answers FAILED_PRECONDITION instead of signing with a revoked key."""

    name = "membership"

    def __init__(self, consumer: Consumer, current: CurrentAgency,
                 on_membership: Callable[[Membership], None] | None = None) -> None:
        super().__init__(consumer, max_records=100, timeout=0.5)
        self.current = current
        #: told of each new membership version (the keyring forgets what an erasure names)
        self.on_membership = on_membership

    def _tick(self) -> None:
        self.current.check_own_key(now_us())

    def _handle(self, m: Message) -> None:
        raw = m.value() or b""
        current = self.current.agency.membership
        try:
            if parse_update(raw).version <= current.version:
                return  # already in the membership the connector started with
            membership = apply_update(current, raw)
        except HubError as exc:
            log.error("membership log record at offset %d does not apply to v%d: %s", m.offset(),
                      current.version, exc.diagnostics())
            return
        self.current.apply(membership)
        if self.on_membership is not None:
            self.on_membership(membership)
        log.info("%s: now checking requests against membership v%d", self.current.agency.member_id,
                 membership.version)


class CredentialFollower(Follower):
    """Keeps the lawyers' credential book from the credential register, from its beginning: the
    credential messages addressed to ``member_id``. Until every partition of the register has been
    read to the end once (:attr:`ready`), the book may be missing a change, so the connector does
    not answer from it.

    Its consumer is assigned the register's ``partitions`` from their beginning and reports each
    partition's end (``open_consumer(..., partition_eof=True)``)."""

    name = "credentials"

    def __init__(self, consumer: Consumer, registry: SchemaRegistry, member_id: str,
                 partitions: list[tuple[str, int]], opener: Opener | None = None) -> None:
        super().__init__(consumer)
        self.registry = registry
        self.member_id = member_id
        #: decrypts a credential sent as envelope v2 (the connector's keyring)
        self.opener = opener
        self._book = CredentialBook()
        self._lock = threading.Lock()
        self._unread = set(partitions)
        self._total = len(partitions)
        self.ready = threading.Event()
        if not self._unread:
            self.ready.set()

    def progress(self) -> tuple[int, int]:
        """(partitions read to their end at least once, partitions of the register)."""
        return self._total - len(self._unread), self._total

    def _read(self, eof: set[tuple[str, int]]) -> None:
        if self._unread and eof:
            self._unread -= eof
            if not self._unread:
                log.info("%s: the credential register is read to its end; LookupCredential answers",
                         self.member_id)
                self.ready.set()

    def status_at(self, license_number: str, at_us: int) -> Change | None:
        """The credential change in force at ``at_us`` (None: never licensed by then, as far as read)."""
        with self._lock:
            return self._book.status_at(license_number, at_us)

    def _handle(self, m: Message) -> None:
        if header(m, KIND_HEADER) == b"receipt":
            return
        try:
            entry = LedgerEntry.from_bytes(m.value() or b"")
            env = Envelope.from_bytes(entry.envelope)
            if not is_credential_type(env.type) or self.member_id not in env.recipients:
                return
            schema = self.registry.by_fingerprint(env.schema_fingerprint)
            if schema is None:
                return
            plain = env.payload
            if env.encrypted:
                if self.opener is None:
                    return
                plain = self.opener(env).payload
            payload = schema.decode(plain)
        except DecodeError as exc:
            log.error("credential follower: undecodable record at offset %s: %s", m.offset(), exc)
            return
        except CannotOpenError as exc:
            log.warning("credential follower: %s", exc.diagnostics())
            return
        with self._lock:
            self._book.record(env.type, payload, entry.notarised_at, str(env.message_id), entry.index)


def private_group(group: str, purpose: str) -> str:
    """A consumer group of its own for one follower (positions never committed, never shared)."""
    # ':' is in no member id, so the ACL prefix "<group>:" is this member's alone (hub.kafka.acl_policy)
    return f"{group}:{purpose}.{uuid.uuid4()}"
