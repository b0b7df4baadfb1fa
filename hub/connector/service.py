"""An agency's connector: the gRPC servicer that signs, publishes and delivers for it.

Publish: JSON (or Avro) payload -> checked against the standard and the policy -> sealed
in an envelope signed with the agency's key -> produced to the inbound topic keyed by
the agency's id (acks=all, idempotent). With ``wait_for_receipt`` it waits for the
sequencer's receipt, which arrives in the agency's own outbox.

Subscribe/Ack: the agency's outbox (ledger entries addressed to it, receipts for what it
sent), read_committed, from a cursor; Ack commits the cursor for the agency's group.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from hub.connector.credentials import CredentialBook, is_credential_type
from hub.connector.idempotency import IdempotencyStore
from hub.consortium.governance import apply_update, parse_update
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Membership
from hub.errors import DecodeError, EncodeError, HubError
from hub.kafka.clients import consume_available, consumer_config, producer_config, translate
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.sequencer.runner import KIND_HEADER
from hub.standard import avro
from hub.standard.envelope import Envelope, EnvelopeTooLargeError, Unsigned, prepare
from hub.standard.jsonform import FieldProblems, to_json
from hub.standard.schemas import PayloadSchema, SchemaRegistry, hub_record
from hub.timeutil import iso, now_us, to_us
from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Connector"].full_name


@dataclass(frozen=True)
class Agency:
    member_id: str
    key: SigningKey
    membership: Membership
    registry: SchemaRegistry
    topics: Topics
    bootstrap: str
    #: the verifiers serving proofs for GetReceipt, one per ledger partition (none: GetReceipt
    #: answers FAILED_PRECONDITION)
    verifier_urls: tuple[str, ...] = ()
    #: where the connector keeps its state across restarts (idempotency keys); None: in memory only
    state_dir: Path | None = None
    #: the signing key's file, read again when the membership revokes the key in use (a rotation)
    key_file: Path | None = None

    @property
    def outbox(self) -> str:
        return self.topics.outbox(self.member_id)

    @property
    def group(self) -> str:
        return f"{self.topics.namespace}.connector.{self.member_id}"


def receipt_pb(raw: bytes) -> pb.Receipt:
    r = avro.decode(hub_record("Receipt"), raw)
    status = {"ACCEPTED": pb.Receipt.ACCEPTED, "REJECTED": pb.Receipt.REJECTED}.get(
        r["status"], pb.Receipt.STATUS_UNSPECIFIED)
    return pb.Receipt(
        message_id=str(uuid.UUID(bytes=r["message_id"])),
        status=status,
        ledger_partition=r["ledger_partition"],
        ledger_index=r["ledger_index"] or 0,
        leaf_hash=r["leaf_hash"].hex() if r["leaf_hash"] else "",
        reason=r["reason"] or "",
        detail=r["detail"],
        notarised_at=iso(to_us(r["notarised_at"])),
    )


class ReceiptWatcher:
    """Follows the agency's outbox from its end and hands receipts to waiting publishers."""

    def __init__(self, agency: Agency):
        self.agency = agency
        self._waiting: dict[str, tuple[threading.Event, list[pb.Receipt]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(consumer_config(agency.bootstrap, f"{agency.group}.receipts.{uuid.uuid4()}"))
        tp = TopicPartition(agency.outbox, 0)
        try:
            _, high = self._consumer.get_watermark_offsets(tp, timeout=10)
        except KafkaException as exc:
            raise translate(exc, f"reading {agency.outbox}", agency.bootstrap) from exc
        self._consumer.assign([TopicPartition(agency.outbox, 0, high)])
        self._thread = threading.Thread(target=self._run, name="receipts", daemon=True)
        self._thread.start()

    def expect(self, message_id: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._waiting[message_id] = (event, [])
        return event

    def take(self, message_id: str) -> pb.Receipt | None:
        with self._lock:
            _, slot = self._waiting.pop(message_id, (None, []))
        return slot[0] if slot else None

    def _run(self) -> None:
        while not self._stop.is_set():
            for m in consume_available(self._consumer, 500, 0.2):
                err = m.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("receipt watcher: %s", err.str())
                    continue
                if dict(m.headers() or ()).get(KIND_HEADER) != b"receipt":
                    continue
                try:
                    receipt = receipt_pb(m.value() or b"")  # a null value fails to decode like an empty one
                except DecodeError as exc:
                    log.error("undecodable receipt at %s@%d: %s", self.agency.outbox, m.offset(), exc)
                    continue
                with self._lock:
                    waiting = self._waiting.get(receipt.message_id)
                    if waiting:
                        waiting[1].append(receipt)
                        waiting[0].set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()


IDEMPOTENCY_KEYS = 100_000
#: results a PublishStream may hold (waiting for Kafka's acknowledgement, or for the client to read
#: them) before it stops reading requests: gRPC's flow control then holds the client back
STREAM_INFLIGHT = 10_000
#: how long the stream producer waits to fill a batch (the unary Publish keeps the default 2 ms)
STREAM_LINGER_MS = 20
#: requests a PublishBatches frame may hold; those beyond get an INVALID_ARGUMENT result each
MAX_BATCH = 1_000


def _key_problem(membership: Membership, member_id: str, key_id: str) -> str | None:
    """Why the membership would refuse a message signed now with this key; None if it accepts it."""
    member = membership.member(member_id)
    mkey = member.key(key_id) if member is not None else None
    now = now_us()
    if mkey is None:
        return (f"this connector's signing key {key_id} is not a key of {member_id} in membership "
                f"v{membership.version}: install the member's current key file; the connector reads it without restart")
    if mkey.is_revoked(now, membership.version) or not mkey.valid_at(now):
        return (f"this connector's signing key {key_id} is revoked or not valid now in membership "
                f"v{membership.version}: install the new key file (`hub agency rotate-key` does); the "
                "connector reads it without restart")
    return None


class _Refusal(Exception):
    """A request the connector refuses, with the gRPC status to answer."""

    def __init__(self, code: grpc.StatusCode, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of a GET to the verifier; (503, b"") when it cannot be reached."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (urllib.error.URLError, OSError):
        return 503, b""


class _IdempotencySlot:
    """One idempotency key's answer. ``lock`` is held by the call publishing for the key until its
    answer is known (a stream releases it from the delivery callback), so a retry waits for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.request: bytes | None = None
        self.response: pb.PublishResponse | None = None


def _error(seq: int, code: grpc.StatusCode, detail: str) -> pb.PublishResult:
    return pb.PublishResult(sequence=seq, error=pb.PublishError(code=code.name, detail=detail))


def _queue_full() -> _Refusal:
    return _Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "the connector's queue to Kafka is full: retry with back-off")


class ConnectorService(pb_grpc.ConnectorServicer):
    def __init__(self, agency: Agency):
        self.agency = agency
        self.producer = Producer(producer_config(agency.bootstrap))
        # streams trade a little latency per record for far fewer produce requests: with the default
        # 2 ms the producer's broker thread cost ~220 us of CPU per record at 1,500 records/s
        stream_settings: dict[str, Any] = {"linger.ms": STREAM_LINGER_MS}
        self.stream_producer = Producer(producer_config(agency.bootstrap, **stream_settings))
        self._inbound = agency.topics.inbound
        self._record_key = agency.member_id.encode()
        self.receipts = ReceiptWatcher(agency)
        self._committer = Consumer(consumer_config(agency.bootstrap, agency.group))
        self._commit_lock = threading.Lock()
        self._idempotent: OrderedDict[str, _IdempotencySlot] = OrderedDict()
        self._idem_lock = threading.Lock()
        #: the answers to idempotency keys, on disk (hub.connector.idempotency)
        self._answers = IdempotencyStore(agency.state_dir / "idempotency.sqlite") if agency.state_dir else None
        #: why the connector's signing key cannot be used now (revoked by the membership), or None
        self._key_problem: str | None = None
        self.credentials = CredentialBook()
        self._credentials_lock = threading.Lock()
        self._stop = threading.Event()
        self._follower = threading.Thread(target=self._follow_credentials, name="credentials", daemon=True)
        self._follower.start()
        # members added, keys revoked, policy changed: applied as the membership log grows
        self._membership_follower = threading.Thread(target=self._follow_membership, name="membership", daemon=True)
        self._membership_follower.start()
        # one thread serves the streams' delivery reports: a report wakes it, not a timer
        self._poller = threading.Thread(target=self._poll_deliveries, name="deliveries", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        self._follower.join(timeout=5)
        self._membership_follower.join(timeout=5)
        self._poller.join(timeout=5)
        self.receipts.close()
        self.producer.flush(10)
        self.stream_producer.flush(10)
        self._committer.close()
        if self._answers is not None:
            self._answers.close()

    def _poll_deliveries(self) -> None:
        while not self._stop.is_set():
            self.stream_producer.poll(0.1)

    # --- Publish ------------------------------------------------------------------------

    def Publish(self, request: pb.PublishRequest, context: grpc.ServicerContext) -> pb.PublishResponse:
        try:
            return self._publish_idempotent(request, context.time_remaining())
        except _Refusal as r:
            context.abort(r.code, r.detail)
            raise  # unreachable: abort raises

    def _key_slot(self, key: str) -> tuple[_IdempotencySlot, bool]:
        """The idempotency slot of ``key`` and whether this call created it; _Refusal for a bad key."""
        if len(key) > 200:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key is longer than 200 characters")
        with self._idem_lock:
            slot = self._idempotent.get(key)
            if slot is not None:
                return slot, False
            slot = self._idempotent[key] = _IdempotencySlot()
            while len(self._idempotent) > IDEMPOTENCY_KEYS:
                self._idempotent.popitem(last=False)
            stored = self._answers.get(key) if self._answers is not None else None
            if stored is not None:  # answered before this connector (re)started
                slot.request, slot.response = stored[0], pb.PublishResponse.FromString(stored[1])
            return slot, True

    def _remember(self, key: str, slot: _IdempotencySlot, request_bytes: bytes,
                  response: pb.PublishResponse) -> None:
        """The answer to ``key``, in memory and on disk."""
        slot.request, slot.response = request_bytes, response
        if self._answers is not None:
            self._answers.put(key, request_bytes, response.SerializeToString(deterministic=True))

    @staticmethod
    def _answered(slot: _IdempotencySlot, request_bytes: bytes) -> pb.PublishResponse | None:
        """The original answer for a repeated key (slot.lock held); None when it has none yet."""
        if slot.response is None:
            return None
        if slot.request != request_bytes:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key was used before for a different request")
        return slot.response

    def _publish_idempotent(self, request: pb.PublishRequest, time_remaining: float | None) -> pb.PublishResponse:
        """Publish honouring the idempotency key, one call at a time per key; _Refusal otherwise."""
        key = request.idempotency_key
        if not key:
            return self._publish(request, time_remaining)
        slot, _ = self._key_slot(key)
        with slot.lock:  # a concurrent retry waits for the first call's answer
            request_bytes = request.SerializeToString(deterministic=True)
            answered = self._answered(slot, request_bytes)
            if answered is not None:
                return answered
            response = self._publish(request, time_remaining)
            if response.receipt.status != pb.Receipt.STATUS_UNSPECIFIED or not request.wait_for_receipt:
                self._remember(key, slot, request_bytes, response)
            return response

    def _seal(self, request: pb.PublishRequest) -> Envelope:
        """Check a request against the standard and the policy, and sign it; _Refusal otherwise."""
        unsigned, key = self._prepare(request)
        return unsigned.sign(key)

    def _prepare(self, request: pb.PublishRequest) -> tuple[Unsigned, SigningKey]:
        """Check a request against the standard and the policy: the envelope to sign and the key
        to sign it with; _Refusal otherwise."""
        a = self.agency
        if self._key_problem is not None:
            raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, self._key_problem)
        schema = a.registry.latest(request.type)
        if schema is None:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"unknown message type {request.type!r}")
        payload = self._payload(request, schema)
        correlation = None
        if request.correlation_id:
            try:
                correlation = uuid.UUID(request.correlation_id)
            except ValueError:
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "correlation_id is not a UUID") from None
        recipients = list(request.recipients)
        denied = a.membership.check_policy(a.member_id, request.type, recipients, correlation is not None)
        if denied:
            raise _Refusal(grpc.StatusCode.PERMISSION_DENIED, denied)
        try:
            return prepare(type=request.type, schema_fingerprint=schema.fingerprint, sender=a.member_id,
                           key_id=a.key.key_id, recipients=recipients, payload=payload, created_at=now_us(),
                           correlation_id=correlation), a.key
        except EnvelopeTooLargeError as exc:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"TOO_LARGE: {exc}") from None

    def _publish(self, request: pb.PublishRequest, time_remaining: float | None) -> pb.PublishResponse:
        """Check, sign and publish one request; _Refusal with the gRPC status otherwise."""
        env = self._seal(request)
        mid = str(env.message_id)
        event = self.receipts.expect(mid) if request.wait_for_receipt else None
        try:
            self._produce(env)
        except HubError as exc:
            self.receipts.take(mid)
            raise _Refusal(grpc.StatusCode.UNAVAILABLE, exc.diagnostics()) from None
        except _Refusal:
            self.receipts.take(mid)
            raise
        response = pb.PublishResponse(message_id=mid)
        if event is not None:
            timeout = 30.0 if time_remaining is None else max(0.0, time_remaining - 0.05)
            if not event.wait(timeout):
                self.receipts.take(mid)
                raise _Refusal(grpc.StatusCode.DEADLINE_EXCEEDED,
                               f"message {mid} was published but no receipt arrived in time; "
                               "it may still be sequenced: watch Subscribe for its receipt")
            receipt = self.receipts.take(mid)
            assert receipt is not None
            response.receipt.CopyFrom(receipt)
        return response

    def PublishStream(self, request_iterator: Iterator[pb.PublishRequest],
                      context: grpc.ServicerContext) -> Iterator[pb.PublishResult]:
        """Each request is checked, signed and produced as it arrives, without waiting for the ones
        before it to be acknowledged; its result is sent once Kafka has acknowledged its record
        (acks=all), in request order, one result per request (a refused request's error in its place)."""
        stream = self._stream(([r] for r in request_iterator), context)
        return (result for frame in stream.frames() for result in frame)

    def PublishBatches(self, request_iterator: Iterator[pb.PublishBatch],
                       context: grpc.ServicerContext) -> Iterator[pb.PublishBatchResult]:
        """PublishStream a frame of requests at a time: a frame of results answers each frame."""
        stream = self._stream((b.requests for b in request_iterator), context)
        return (pb.PublishBatchResult(results=frame) for frame in stream.frames())

    def _stream(self, frames: Iterator[Sequence[pb.PublishRequest]], context: grpc.ServicerContext) -> _Stream:
        stream = _Stream(self, frames)
        context.add_callback(stream.cancel)
        threading.Thread(target=stream.read, name="publish-stream", daemon=True).start()
        return stream

    def _payload(self, request: pb.PublishRequest, schema: PayloadSchema) -> bytes:
        which = request.WhichOneof("payload")
        if which == "payload_avro":
            try:
                schema.decode(request.payload_avro)
            except DecodeError as exc:
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"payload_avro: {exc.diagnostics()}")
            return bytes(request.payload_avro)
        if which != "payload_json":
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "a payload (payload_json or payload_avro) is required")
        try:
            obj = json.loads(request.payload_json)
        except ValueError as exc:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"payload_json is not JSON: {exc}")
        try:
            return schema.encode_json(obj)
        except FieldProblems as exc:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except EncodeError as exc:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, exc.diagnostics())
        raise AssertionError("unreachable")

    def _produce_async(self, raw: bytes, delivered: Callable[[KafkaError | None, object], None]) -> None:
        """Produce one envelope; ``delivered`` is called from the delivery thread. _Refusal when it
        cannot be queued (RESOURCE_EXHAUSTED when the producer's queue is full)."""
        try:
            self.stream_producer.produce(self._inbound, raw, key=self._record_key, on_delivery=delivered)
        except BufferError:
            raise _queue_full() from None
        except KafkaException as exc:
            raise _Refusal(grpc.StatusCode.UNAVAILABLE,
                           translate(exc, "publishing", self.agency.bootstrap).diagnostics()) from None

    def _produce(self, env: Envelope) -> None:
        done: list[KafkaError | None] = []
        event = threading.Event()

        def delivered(err: KafkaError | None, _msg: object) -> None:
            done.append(err)
            event.set()

        try:
            self.producer.produce(self._inbound, env.raw, key=self._record_key, on_delivery=delivered)
        except BufferError:
            raise _queue_full() from None
        except KafkaException as exc:
            raise translate(exc, "publishing", self.agency.bootstrap) from exc
        while not event.is_set():  # poll returns as soon as a report (this call's or another's) is served
            self.producer.poll(0.05)
        if done[0] is not None:
            raise translate(KafkaException(done[0]), "publishing", self.agency.bootstrap)

    # --- Subscribe / Ack ----------------------------------------------------------------

    def Subscribe(self, request: pb.SubscribeRequest, context: grpc.ServicerContext) -> Iterator[pb.Delivery]:
        a = self.agency
        consumer = Consumer(consumer_config(a.bootstrap, a.group))
        try:
            tp = TopicPartition(a.outbox, 0)
            if request.HasField("after_cursor"):
                tp = TopicPartition(a.outbox, 0, request.after_cursor + 1)
            consumer.assign([tp])
            while context.is_active():
                for m in consume_available(consumer, 500, 0.2):
                    err = m.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            context.abort(grpc.StatusCode.UNAVAILABLE, err.str())
                        continue
                    # a consumed record always has an offset; a null value fails to decode like an empty one
                    delivery = self._delivery(m.offset() or 0, dict(m.headers() or ()).get(KIND_HEADER),
                                              m.value() or b"")
                    if delivery is not None:
                        yield delivery
        finally:
            consumer.close()

    def _delivery(self, offset: int, kind: str | bytes | None, value: bytes) -> pb.Delivery | None:
        try:
            if kind == b"receipt":
                return pb.Delivery(cursor=offset, receipt=receipt_pb(value))
            entry = LedgerEntry.from_bytes(value)
            env = Envelope.from_bytes(entry.envelope)
            schema = self.agency.registry.by_fingerprint(env.schema_fingerprint)
            payload_json = ""
            if schema is not None:
                payload_json = json.dumps(to_json(schema.schema, schema.decode(env.payload)),
                                          ensure_ascii=False)
            return pb.Delivery(cursor=offset, message=pb.Message(
                message_id=str(env.message_id), type=env.type, sender=env.sender,
                recipients=list(env.recipients),
                correlation_id=str(env.correlation_id) if env.correlation_id else "",
                created_at=iso(env.created_at), payload_json=payload_json, envelope=env.raw,
                ledger_partition=entry.source.partition, ledger_index=entry.index,
                leaf_hash=entry.leaf_hash.hex(), notarised_at=iso(entry.notarised_at),
            ))
        except DecodeError as exc:
            log.error("undeliverable record at %s@%d: %s", self.agency.outbox, offset, exc)
            return None

    def _check_own_key(self) -> None:
        """Whether the key in use is one the current membership accepts; if not, the key file's."""
        a = self.agency
        problem = _key_problem(a.membership, a.member_id, a.key.key_id)
        if problem is not None and a.key_file is not None:
            try:
                key = SigningKey.load(a.key_file)
            except (OSError, HubError):
                key = None
            if key is not None and key.key_id != a.key.key_id and _key_problem(a.membership, a.member_id,
                                                                                key.key_id) is None:
                self.agency = replace(a, key=key)
                log.info("%s: now signing with key %s from %s", a.member_id, key.key_id, a.key_file)
                problem = None
        if problem is not None and problem != self._key_problem:
            log.warning("%s: %s", a.member_id, problem)
        self._key_problem = problem

    # --- ledger-derived answers ------------------------------------------------------------

    def _follow_membership(self) -> None:
        """Apply each new quorum-approved update of the membership log to the agency's membership,
        so new members, keys and policy rules are checked at once, with no restart. When an update
        revokes the connector's own signing key, the key file is read again until it holds a key
        the membership accepts (``hub agency rotate-key`` publishes the update, then installs the
        file); meanwhile Publish answers FAILED_PRECONDITION instead of signing with a revoked key."""
        a = self.agency
        consumer = Consumer(consumer_config(a.bootstrap, f"{a.group}.membership.{uuid.uuid4()}"))
        consumer.assign([TopicPartition(a.topics.membership, 0, 0)])
        try:
            while not self._stop.is_set():
                self._check_own_key()
                for m in consume_available(consumer, 100, 0.5):
                    if m.error() is not None:
                        continue
                    current = self.agency.membership
                    try:
                        if parse_update(m.value() or b"").version <= current.version:
                            continue  # already in the membership the connector started with
                        membership = apply_update(current, m.value() or b"")
                    except HubError as exc:
                        log.error("membership log record at offset %d does not apply to v%d: %s", m.offset(),
                                  current.version, exc.diagnostics())
                        continue
                    self.agency = replace(self.agency, membership=membership)
                    log.info("%s: now checking requests against membership v%d", a.member_id, membership.version)
        except KafkaException as exc:
            log.error("following the membership log stopped: %s", translate(exc, "reading the membership log"))
        finally:
            consumer.close()

    def _follow_credentials(self) -> None:
        """Keep the credential book up to date from the agency's outbox, from its beginning."""
        a = self.agency
        consumer = Consumer(consumer_config(a.bootstrap, f"{a.group}.credentials.{uuid.uuid4()}"))
        consumer.assign([TopicPartition(a.outbox, 0, 0)])
        try:
            while not self._stop.is_set():
                for m in consume_available(consumer, 500, 0.2):
                    err = m.error()
                    if err is not None or dict(m.headers() or ()).get(KIND_HEADER) == b"receipt":
                        continue
                    try:
                        entry = LedgerEntry.from_bytes(m.value() or b"")
                        env = Envelope.from_bytes(entry.envelope)
                        if not is_credential_type(env.type):
                            continue
                        schema = a.registry.by_fingerprint(env.schema_fingerprint)
                        if schema is None:
                            continue
                        payload = schema.decode(env.payload)
                    except DecodeError as exc:
                        log.error("credential follower: undecodable record at offset %s: %s", m.offset(), exc)
                        continue
                    with self._credentials_lock:
                        self.credentials.record(env.type, payload, entry.notarised_at, str(env.message_id),
                                                entry.index)
        finally:
            consumer.close()

    def LookupCredential(self, request: pb.LookupCredentialRequest,
                         context: grpc.ServicerContext) -> pb.LookupCredentialResponse:
        if not request.license_number:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "license_number is required")
        at = now_us()
        if request.at:
            try:
                at = to_us(datetime.fromisoformat(request.at.replace("Z", "+00:00")))  # noqa: FURB162
            except ValueError:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at={request.at!r} is not an RFC 3339 time")
        with self._credentials_lock:
            change = self.credentials.status_at(request.license_number, at)
        if change is None:
            return pb.LookupCredentialResponse(status=pb.LookupCredentialResponse.NEVER_LICENSED,
                                               license_number=request.license_number)
        return pb.LookupCredentialResponse(
            status=str(change.status),
            license_number=request.license_number, lawyer_name=change.lawyer_name, message_id=change.message_id,
            ledger_index=change.ledger_index, since=iso(change.at))

    def GetReceipt(self, request: pb.GetReceiptRequest, context: grpc.ServicerContext) -> pb.GetReceiptResponse:
        if not self.agency.verifier_urls:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "this connector has no verifier configured (hub connector run --verifier URL)")
        try:
            mid = str(uuid.UUID(request.message_id))
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "message_id is not a UUID")
        # each verifier serves one ledger partition: the message is on the one that knows it
        found, url, failures = None, "", []
        for url in self.agency.verifier_urls:
            status, body = _http_get(f"{url.rstrip('/')}/lookup/message/{mid}")
            if status == 200:
                found = json.loads(body)
                break
            if status != 404:
                failures.append(f"{url} answered {status}")
        if found is None:
            if failures:
                context.abort(grpc.StatusCode.UNAVAILABLE, "; ".join(failures))
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"message {mid} is not covered by a published checkpoint yet; try again shortly")
        assert found is not None
        if self.agency.member_id != found["sender"] and self.agency.member_id not in found["recipients"]:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{self.agency.member_id} neither sent nor received {mid}")
        status, proof = _http_get(f"{url.rstrip('/')}/proof/message/{mid}")
        if status != 200:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the verifier answered {status} for the proof")
        import base64

        # the checkpoint's origin ends with the partition: <host>/<consortium>/<ns>.ledger/<p>
        partition = int(found["checkpoint"].split("\n", 1)[0].rsplit("/", 1)[1])
        return pb.GetReceiptResponse(ledger_partition=partition, ledger_index=found["index"],
                                     leaf_hash=base64.b64decode(found["leaf_hash"]).hex(),
                                     tlog_proof=proof.decode("utf-8"))

    def Ack(self, request: pb.AckRequest, context: grpc.ServicerContext) -> pb.AckResponse:
        if request.cursor < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cursor must be >= 0")
        nxt = request.cursor + 1
        with self._commit_lock:
            try:
                self._committer.commit(offsets=[TopicPartition(self.agency.outbox, 0, nxt)], asynchronous=False)
            except KafkaException as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, translate(exc, "acknowledging").diagnostics())
        return pb.AckResponse(next_cursor=nxt)


class _Pending:
    """A stream request's place in the answer order; ``result`` is set once it is known.
    ``frame_end`` marks the last request of a PublishBatches frame (every PublishStream request)."""

    __slots__ = ("frame_end", "result")

    def __init__(self, frame_end: bool = True) -> None:
        self.result: pb.PublishResult | None = None
        self.frame_end = frame_end


#: the result of an empty PublishBatches frame's placeholder: it answers with an empty frame
_NO_RESULT = pb.PublishResult()


class _ToSign:
    """A checked stream request on its way to the signer thread, with the idempotency slot it
    holds locked until its answer is known."""

    __slots__ = ("idem", "idempotency_key", "key", "request_bytes", "seq", "slot", "unsigned")

    def __init__(self, seq: int, unsigned: Unsigned, key: SigningKey, slot: _Pending, idempotency_key: str,
                 idem: _IdempotencySlot | None, request_bytes: bytes):
        self.seq, self.unsigned, self.key, self.slot = seq, unsigned, key, slot
        self.idempotency_key, self.idem, self.request_bytes = idempotency_key, idem, request_bytes

    def release(self) -> None:
        """Let a retry with the same key go on (once)."""
        if self.idem is not None:
            idem, self.idem = self.idem, None
            idem.lock.release()


class _Stream:
    """One PublishStream or PublishBatches call.

    A reader thread takes each frame as gRPC delivers it (one request, or a batch of them) and
    hands its requests to a sealer thread, which checks, signs and produces each and goes on to
    the next without waiting for Kafka: the record's delivery report (served by the connector's
    delivery thread) fills in its result. The handler's thread sends the results in request order,
    a frame's results together once all of them are known. At most STREAM_INFLIGHT requests wait
    (for Kafka or for the client to read their frame); then the reader stops taking requests until
    the oldest is answered.
    """

    def __init__(self, service: ConnectorService, frames: Iterator[Sequence[pb.PublishRequest]]):
        self._service = service
        self._frames = frames
        self._pending: deque[_Pending] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._writer_waiting = False
        self._reader_waiting = False
        self._reading = True
        self._cancelled = False

    def cancel(self) -> None:
        """The RPC has ended (finished, cancelled by the client, or past its deadline)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def _resolve(self, slot: _Pending, result: pb.PublishResult) -> None:
        with self._cond:
            slot.result = result
            if self._writer_waiting and self._pending and self._pending[0] is slot:
                self._cond.notify_all()

    def _enqueue(self, slot: _Pending) -> bool:
        """Take the next place in the answer order; False once the RPC has ended."""
        with self._cond:
            while len(self._pending) >= STREAM_INFLIGHT and not self._cancelled:
                self._reader_waiting = True
                self._cond.wait()
                self._reader_waiting = False
            if self._cancelled:
                return False
            self._pending.append(slot)
            return True

    def read(self) -> None:
        """The reader thread: takes frames from gRPC and hands their requests to the sealer thread
        in order, so receiving the next frame overlaps with checking this one."""
        work: queue.SimpleQueue[tuple[int, pb.PublishRequest | None, _Pending] | None] = queue.SimpleQueue()
        sealer = threading.Thread(target=self._seal_in_order, args=(work,), name="publish-stream-seal", daemon=True)
        sealer.start()
        seq = 0
        try:
            for frame in self._frames:
                if not frame:  # an empty batch: answered by an empty frame, in its place
                    slot = _Pending()
                    if not self._enqueue(slot):
                        return
                    self._resolve(slot, _NO_RESULT)
                    continue
                last = len(frame) - 1
                for i, request in enumerate(frame):
                    slot = _Pending(frame_end=i == last)
                    if not self._enqueue(slot):
                        return
                    work.put((seq, None if i >= MAX_BATCH else request, slot))
                    seq += 1
        except grpc.RpcError:
            pass  # the client went away
        except Exception:
            log.exception("PublishStream: reading requests failed")
        finally:
            work.put(None)

    def _seal_in_order(self, work: queue.SimpleQueue[tuple[int, pb.PublishRequest | None, _Pending] | None]) -> None:
        """The sealer thread: checks each request and builds its envelope, then hands it to the
        signer thread, in order: signing (which runs without the GIL) overlaps with checking the
        next request."""
        signing: queue.SimpleQueue[_ToSign | threading.Event | None] = queue.SimpleQueue()
        signer = threading.Thread(target=self._sign_in_order, args=(signing,), name="publish-stream-sign",
                                  daemon=True)
        signer.start()
        try:
            while (item := work.get()) is not None:
                seq, request, slot = item
                if self._cancelled:  # nobody will read the result: publish nothing more
                    continue
                if request is None:
                    self._resolve(slot, _error(seq, grpc.StatusCode.INVALID_ARGUMENT,
                                               f"a PublishBatch holds at most {MAX_BATCH} requests: "
                                               "this one was not published"))
                    continue
                try:
                    self._check(seq, request, slot, signing)
                except Exception as exc:  # noqa: BLE001 - answered in place; the stream goes on
                    self._fail(seq, slot, exc)
        finally:
            signing.put(None)
            signer.join()
            with self._cond:
                self._reading = False
                self._cond.notify_all()

    def _check(self, seq: int, request: pb.PublishRequest, slot: _Pending,
               signing: queue.SimpleQueue[_ToSign | threading.Event | None]) -> None:
        svc = self._service
        if request.wait_for_receipt:  # the slow path: one at a time, exactly as the unary Publish
            drained = threading.Event()  # after the records before it are produced...
            signing.put(drained)
            drained.wait()
            svc.stream_producer.flush(30)  # ... and acknowledged (the unary path has its own producer)
            response = svc._publish_idempotent(request, None)
            self._resolve(slot, pb.PublishResult(sequence=seq, response=response))
            return
        idem: _IdempotencySlot | None = None
        request_bytes = b""
        if request.idempotency_key:
            idem, _ = svc._key_slot(request.idempotency_key)
            idem.lock.acquire()  # held until this request's answer is known: a retry waits for it
            try:
                request_bytes = request.SerializeToString(deterministic=True)
                answered = svc._answered(idem, request_bytes)
            except BaseException:
                idem.lock.release()
                raise
            if answered is not None:
                idem.lock.release()
                self._resolve(slot, pb.PublishResult(sequence=seq, response=answered))
                return
        try:
            unsigned, key = svc._prepare(request)
        except BaseException:
            if idem is not None:
                idem.lock.release()
            raise
        signing.put(_ToSign(seq, unsigned, key, slot, request.idempotency_key, idem, request_bytes))

    def _sign_in_order(self, signing: queue.SimpleQueue[_ToSign | threading.Event | None]) -> None:
        """The signer thread: signs each envelope and produces it; its delivery report answers it."""
        while (item := signing.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            if self._cancelled:
                item.release()
                continue
            try:
                self._sign_and_produce(item)
            except Exception as exc:  # noqa: BLE001 - answered in place; the stream goes on
                item.release()
                self._fail(item.seq, item.slot, exc)

    def _fail(self, seq: int, slot: _Pending, exc: Exception) -> None:
        """A request's error result: the refusal's status, or INTERNAL for a failure of the connector."""
        if isinstance(exc, _Refusal):
            self._resolve(slot, _error(seq, exc.code, exc.detail))
            return
        log.error("PublishStream: request %d failed", seq, exc_info=exc)
        self._resolve(slot, _error(seq, grpc.StatusCode.INTERNAL, "the connector failed on this request"))

    def _sign_and_produce(self, item: _ToSign) -> None:
        svc = self._service
        env = item.unsigned.sign(item.key)
        mid = str(env.message_id)
        seq, idem = item.seq, item.idem

        def delivered(err: KafkaError | None, _msg: object) -> None:
            if err is None:
                response = pb.PublishResponse(message_id=mid)
                result = pb.PublishResult(sequence=seq, response=response)
                if idem is not None:
                    svc._remember(item.idempotency_key, idem, item.request_bytes, response)
            else:
                result = _error(seq, grpc.StatusCode.UNAVAILABLE, err.str())
            item.release()
            self._resolve(item.slot, result)

        svc._produce_async(env.raw, delivered)

    def frames(self) -> Iterator[list[pb.PublishResult]]:
        """The results, a frame at a time, in request order."""
        cond, pending = self._cond, self._pending
        ready: list[list[pb.PublishResult]] = []
        frame: list[pb.PublishResult] = []
        while True:
            with cond:
                while True:
                    if self._cancelled:
                        return
                    freed = False
                    while pending and pending[0].result is not None:
                        slot = pending.popleft()
                        freed = True
                        if slot.result is not _NO_RESULT:
                            assert slot.result is not None
                            frame.append(slot.result)
                        if slot.frame_end:
                            ready.append(frame)
                            frame = []
                    if freed and self._reader_waiting:
                        cond.notify_all()
                    if ready:
                        break
                    if not pending and not self._reading:
                        return
                    self._writer_waiting = True
                    cond.wait()
                    self._writer_waiting = False
            yield from ready
            ready.clear()
