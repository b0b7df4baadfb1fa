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
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from hub import avro
from hub.envelope import Envelope, EnvelopeTooLargeError, seal
from hub.errors import DecodeError, EncodeError, HubError
from hub.identity import SigningKey
from hub.jsonform import FieldProblems, from_json, to_json
from hub.kafka.clients import consume_available, consumer_config, producer_config, translate
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.membership import Membership
from hub.schemas import SchemaRegistry, hub_record
from hub.sequencer.runner import KIND_HEADER
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


class _IdempotencySlot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.request: bytes | None = None
        self.response: pb.PublishResponse | None = None


class ConnectorService(pb_grpc.ConnectorServicer):
    def __init__(self, agency: Agency):
        self.agency = agency
        self.producer = Producer(producer_config(agency.bootstrap))
        self.receipts = ReceiptWatcher(agency)
        self._committer = Consumer(consumer_config(agency.bootstrap, agency.group))
        self._commit_lock = threading.Lock()
        self._idempotent: OrderedDict[str, _IdempotencySlot] = OrderedDict()
        self._idem_lock = threading.Lock()

    def close(self) -> None:
        self.receipts.close()
        self.producer.flush(10)
        self._committer.close()

    # --- Publish ------------------------------------------------------------------------

    def Publish(self, request: pb.PublishRequest, context: grpc.ServicerContext) -> pb.PublishResponse:
        key = request.idempotency_key
        if not key:
            return self._publish(request, context)
        if len(key) > 200:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key is longer than 200 characters")
        with self._idem_lock:
            slot = self._idempotent.get(key)
            if slot is None:
                slot = self._idempotent[key] = _IdempotencySlot()
                while len(self._idempotent) > IDEMPOTENCY_KEYS:
                    self._idempotent.popitem(last=False)
                owner = True
            else:
                owner = False
        with slot.lock:  # a concurrent retry waits for the first call's answer
            if not owner or slot.response is not None:
                if slot.response is not None and slot.request == request.SerializeToString(deterministic=True):
                    return slot.response
                if slot.response is not None:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  "idempotency_key was used before for a different request")
            response = self._publish(request, context)
            if response.receipt.status != pb.Receipt.STATUS_UNSPECIFIED or not request.wait_for_receipt:
                slot.request = request.SerializeToString(deterministic=True)
                slot.response = response
            return response

    def _publish(self, request: pb.PublishRequest, context: grpc.ServicerContext) -> pb.PublishResponse:
        a = self.agency
        schema = a.registry.latest(request.type)
        if schema is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown message type {request.type!r}")
        assert schema is not None
        payload = self._payload(request, schema.schema, context)
        correlation = None
        if request.correlation_id:
            try:
                correlation = uuid.UUID(request.correlation_id)
            except ValueError:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "correlation_id is not a UUID")
        denied = a.membership.check_policy(a.member_id, request.type, list(request.recipients),
                                           correlation is not None)
        if denied:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, denied)
        try:
            env = seal(type=request.type, schema_fingerprint=schema.fingerprint, sender=a.member_id, key=a.key,
                       recipients=list(request.recipients), payload=payload, created_at=now_us(),
                       correlation_id=correlation)
        except EnvelopeTooLargeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"TOO_LARGE: {exc}")
        mid = str(env.message_id)
        event = self.receipts.expect(mid) if request.wait_for_receipt else None
        try:
            self._produce(env)
        except HubError as exc:
            self.receipts.take(mid)
            context.abort(grpc.StatusCode.UNAVAILABLE, exc.diagnostics())
        response = pb.PublishResponse(message_id=mid)
        if event is not None:
            remaining = context.time_remaining()
            timeout = 30.0 if remaining is None else max(0.0, remaining - 0.05)
            if not event.wait(timeout):
                self.receipts.take(mid)
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                              f"message {mid} was published but no receipt arrived in time; "
                              "it may still be sequenced: watch Subscribe for its receipt")
            receipt = self.receipts.take(mid)
            assert receipt is not None
            response.receipt.CopyFrom(receipt)
        return response

    def _payload(self, request: pb.PublishRequest, schema: avro.Schema, context: grpc.ServicerContext) -> bytes:
        which = request.WhichOneof("payload")
        if which == "payload_avro":
            try:
                avro.decode(schema, request.payload_avro)
            except DecodeError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"payload_avro: {exc.diagnostics()}")
            return bytes(request.payload_avro)
        if which != "payload_json":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a payload (payload_json or payload_avro) is required")
        try:
            obj = json.loads(request.payload_json)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"payload_json is not JSON: {exc}")
        try:
            datum = from_json(schema, obj, "payload")
            return avro.encode(schema, datum)
        except FieldProblems as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except EncodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.diagnostics())
        raise AssertionError("unreachable")

    def _produce(self, env: Envelope) -> None:
        done: list[KafkaError | None] = []
        event = threading.Event()

        def delivered(err: KafkaError | None, _msg: object) -> None:
            done.append(err)
            event.set()

        try:
            self.producer.produce(self.agency.topics.inbound, env.raw, key=self.agency.member_id.encode(),
                                  on_delivery=delivered)
        except (KafkaException, BufferError) as exc:
            raise translate(exc, "publishing", self.agency.bootstrap) from exc
        while not event.wait(0.01):
            self.producer.poll(0)
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
                payload_json = json.dumps(to_json(schema.schema, avro.decode(schema.schema, env.payload)),
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
