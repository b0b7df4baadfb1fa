"""An agency's connector: the gRPC servicer that signs, publishes and delivers for it, and its wiring.

Publish: JSON (or Avro) payload -> checked against the standard and the policy -> sealed
in an envelope signed with the agency's key -> produced to the inbound topic keyed by
the agency's id (acks=all, idempotent). With ``wait_for_receipt`` it waits for the
sequencer's receipt, which arrives in the agency's own outbox.

Subscribe/Ack: the agency's outbox (ledger entries addressed to it, receipts for what it
sent), read_committed, from a cursor; Ack commits the cursor for the agency's group.

The parts, each in its own module: :mod:`~hub.connector.requests` (request -> unsigned envelope,
pure), :mod:`~hub.connector.publisher` (sign and produce), :mod:`~hub.connector.stream` (the
streaming pipeline), :mod:`~hub.connector.followers` (receipts, membership, credentials),
:mod:`~hub.connector.outbox` (Subscribe and Ack), :mod:`~hub.connector.proofs` (GetReceipt's
verifiers). :class:`ConnectorService` takes them as arguments and only answers calls;
:func:`start_connector` opens the Kafka clients, the idempotency file and the threads, and
:func:`serve` puts the whole on a gRPC port.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import grpc

from hub.connector.agency import Agency, CurrentAgency
from hub.connector.followers import CredentialFollower, MembershipFollower, ReceiptWatcher, private_group
from hub.connector.health import ConnectorHealth
from hub.connector.idempotency import IdempotencyKeys, IdempotencyStore
from hub.connector.keyring import KeyRing
from hub.connector.outbox import Outbox
from hub.connector.proofs import locate, receipt
from hub.connector.publisher import DeliveryPoller, Publisher
from hub.connector.receipt_status import not_located
from hub.connector.requests import Refusal, bad_field
from hub.connector.stream import PublishStreamCall
from hub.errors import HubError
from hub.kafka.consumer import OFFSET_BEGINNING, open_consumer
from hub.kafka.producer import open_producer
from hub.kafka.watch import BrokerWatch
from hub.rpc import status_details
from hub.rpc.server import TlsConfig, abort_with, create_server, set_serving
from hub.rpc.status_details import Details, Precondition
from hub.standard.validation import Reason
from hub.timeutil import RFC3339_FORM, iso, now_us, parse_rfc3339, to_us
from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

__all__ = ["SERVICE_NAME", "Agency", "Connector", "ConnectorService", "Endpoint", "serve", "start_connector"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Connector"].full_name

#: calls served at once (a Publish waiting for its receipt holds one, within its deadline; so does
#: each Subscribe stream); one more is answered RESOURCE_EXHAUSTED at once. With 32, as gRPC's
#: examples have, 100 Publish calls a second with 3 s deadlines filled them in an outage's first
#: seconds and health checks waited behind them.
CALL_THREADS = 512

#: how long the stream producer waits to fill a batch (the unary Publish keeps the default 2 ms):
#: streams trade a little latency per record for far fewer produce requests; with the default
#: 2 ms the producer's broker thread cost ~220 us of CPU per record at 1,500 records/s
STREAM_LINGER_MS = 20


class ConnectorService(pb_grpc.ConnectorServicer):
    """The Connector gRPC service: each method hands its request to the part that answers it."""

    def __init__(self, current: CurrentAgency, publisher: Publisher, outbox: Outbox,
                 credentials: CredentialFollower) -> None:
        self.current = current
        self.publisher = publisher
        self.outbox = outbox
        self.credentials = credentials

    # --- Publish ------------------------------------------------------------------------

    def Publish(self, request: pb.PublishRequest, context: grpc.ServicerContext) -> pb.PublishResponse:
        try:
            return self.publisher.publish_idempotent(request, context.time_remaining())
        except Refusal as r:
            status_details.abort(context, *r.as_status())

    def PublishStream(self, request_iterator: Iterator[pb.PublishRequest],
                      context: grpc.ServicerContext) -> Iterator[pb.PublishResult]:
        """Each request is checked, signed and produced as it arrives, without waiting for the ones
        before it to be acknowledged; its result is sent once Kafka has acknowledged its record
        (acks=all), in request order, one result per request (a refused request's error in its place)."""
        call = self._stream(([r] for r in request_iterator), context)
        return (result for frame in call.frames() for result in frame)

    def PublishBatches(self, request_iterator: Iterator[pb.PublishBatch],
                       context: grpc.ServicerContext) -> Iterator[pb.PublishBatchResult]:
        """PublishStream a frame of requests at a time: a frame of results answers each frame."""
        call = self._stream((b.requests for b in request_iterator), context)
        return (pb.PublishBatchResult(results=frame) for frame in call.frames())

    def _stream(self, frames: Iterator[Sequence[pb.PublishRequest]],
                context: grpc.ServicerContext) -> PublishStreamCall:
        call = PublishStreamCall(self.publisher, frames)
        context.add_callback(call.cancel)
        threading.Thread(target=call.read, name="publish-stream", daemon=True).start()
        return call

    # --- Subscribe / Ack ----------------------------------------------------------------

    def Subscribe(self, request: pb.SubscribeRequest, context: grpc.ServicerContext) -> Iterator[pb.Delivery]:
        after = request.after_cursor if request.HasField("after_cursor") else None
        try:
            yield from self.outbox.deliveries(after, context.is_active, float(request.heartbeat_seconds))
        except Refusal as r:
            status_details.abort(context, *r.as_status())
        except HubError as exc:
            abort_with(context, exc)

    def Ack(self, request: pb.AckRequest, context: grpc.ServicerContext) -> pb.AckResponse:
        try:
            return pb.AckResponse(next_cursor=self.outbox.ack(request.cursor, context.time_remaining()))
        except Refusal as r:
            status_details.abort(context, *r.as_status())
        except HubError as exc:
            abort_with(context, exc)

    # --- ledger-derived answers ------------------------------------------------------------

    def LookupCredential(self, request: pb.LookupCredentialRequest,
                         context: grpc.ServicerContext) -> pb.LookupCredentialResponse:
        if not request.license_number:
            status_details.abort(context, *bad_field("license_number", "is required", "REQUIRED").as_status())
        at = now_us()
        if request.at:
            when = parse_rfc3339(request.at)
            if when is None:
                status_details.abort(context, *bad_field("at", f"{request.at!r} is not a time in the form {RFC3339_FORM}",
                                                         Reason.MALFORMED).as_status())
            at = to_us(when)
        if not self.credentials.ready.is_set():
            done, total = self.credentials.progress()
            status_details.abort(context, grpc.StatusCode.UNAVAILABLE,
                                 f"the connector is still reading the credential register ({done} of {total} "
                                 "partitions read); retry shortly", Details(reason="REGISTER_LOADING"))
        change = self.credentials.status_at(request.license_number, at)
        if change is None:
            return pb.LookupCredentialResponse(status=pb.LookupCredentialResponse.NEVER_LICENSED,
                                               license_number=request.license_number)
        return pb.LookupCredentialResponse(
            status=str(change.status),
            license_number=request.license_number, lawyer_name=change.lawyer_name, message_id=change.message_id,
            ledger_index=change.ledger_index, since=iso(change.at))

    def GetReceipt(self, request: pb.GetReceiptRequest, context: grpc.ServicerContext) -> pb.GetReceiptResponse:
        """The message's receipt with its inclusion proof; for one no verifier knows, "not yet"
        (UNAVAILABLE) apart from "never" (NOT_FOUND): :mod:`hub.connector.receipt_status`."""
        agency = self.current.agency
        if not agency.verifier_urls:
            status_details.abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                                 "this connector has no verifier configured (hub connector run --verifier URL)",
                                 Details(reason="NO_VERIFIER", preconditions=[Precondition(
                                     "VERIFIER", agency.member_id, "the connector runs without --verifier URL")]))
        try:
            message_id = uuid.UUID(request.message_id)
        except ValueError:
            status_details.abort(context, *bad_field("message_id", "is not a UUID", Reason.MALFORMED).as_status())
        mid = str(message_id)
        try:
            # each verifier serves one ledger partition: the message is on the one that knows it
            located = locate(agency.verifier_urls, mid)
            if located is None:
                refusal = not_located(message_id, agency.member_id, self.outbox.trace(mid), now_us() // 1000)
                status_details.abort(context, *refusal.as_status())
            if agency.member_id != located.sender and agency.member_id not in located.recipients:
                status_details.abort(context, grpc.StatusCode.PERMISSION_DENIED,
                                     f"{agency.member_id} neither sent nor received {mid}", Details(reason="NOT_A_PARTY"))
            return receipt(located, mid)
        except HubError as exc:  # VerifierUnavailableError, Kafka away: UNAVAILABLE, retry later
            abort_with(context, exc)


@dataclass
class Connector:
    """A running connector: its servicer, and the clients, file and threads :meth:`close` stops."""

    servicer: ConnectorService
    _closers: list[Callable[[], object]]
    #: whether Kafka answers the connector
    watch: BrokerWatch

    def on_close(self, close: Callable[[], object]) -> None:
        """Have :meth:`close` call ``close`` first."""
        self._closers.insert(0, close)

    def close(self) -> None:
        """Stop the threads, flush the producers, close the consumers and the idempotency file."""
        for close in self._closers:
            try:
                close()
            except HubError as exc:
                log.warning("closing the connector: %s", exc.diagnostics())


def start_connector(agency: Agency) -> Connector:
    """Open what ``agency``'s connector needs (two producers; consumers for receipts, the group's
    cursor, membership and credentials; the idempotency file) and start its threads."""
    bootstrap, current = agency.bootstrap, CurrentAgency(agency)
    with contextlib.ExitStack() as opened:
        watch = BrokerWatch(bootstrap, f"connector {agency.member_id}", agency.topics.inbound)
        producer = open_producer(bootstrap)
        stream_producer = open_producer(bootstrap, settings={"linger.ms": STREAM_LINGER_MS})
        answers = IdempotencyStore(agency.state_dir / "idempotency.sqlite") if agency.state_dir else None
        keys = IdempotencyKeys(answers)
        opened.callback(keys.close)

        receipts_consumer = open_consumer(bootstrap, private_group(agency.group, "receipts"))
        opened.callback(receipts_consumer.close)
        _, high = receipts_consumer.watermarks(agency.outbox, 0, cached=False)
        receipts_consumer.assign([(agency.outbox, 0, high)])  # receipts of what is published from now
        receipts = ReceiptWatcher(receipts_consumer, agency.outbox)

        keys_consumer = open_consumer(bootstrap, private_group(agency.group, "keys"), partition_eof=True)
        opened.callback(keys_consumer.close)
        keys_parts = [(agency.topics.keys, p) for p in keys_consumer.partitions(agency.topics.keys)]
        keys_consumer.assign([(t, p, OFFSET_BEGINNING) for t, p in keys_parts])
        keyring = KeyRing(keys_consumer, agency.member_id, [(k.key_id, k.private_key) for k in agency.decryption_keys],
                          keys_parts)
        keyring.apply(agency.membership)

        committer = open_consumer(bootstrap, agency.group)
        opened.callback(committer.close)
        outbox = Outbox(agency.outbox, agency.registry, committer, lambda: open_consumer(bootstrap, agency.group),
                        watch, keyring.open)

        credentials_consumer = open_consumer(bootstrap, private_group(agency.group, "credentials"),
                                             partition_eof=True)
        opened.callback(credentials_consumer.close)
        register = agency.topics.credentials
        parts = [(register, p) for p in credentials_consumer.partitions(register)]
        credentials_consumer.assign([(t, p, OFFSET_BEGINNING) for t, p in parts])
        credentials = CredentialFollower(credentials_consumer, agency.registry, agency.member_id, parts, keyring.open)

        membership_consumer = open_consumer(bootstrap, private_group(agency.group, "membership"))
        opened.callback(membership_consumer.close)
        membership_consumer.assign([(agency.topics.membership, 0, 0)])
        membership = MembershipFollower(membership_consumer, current, keyring.apply)

        publisher = Publisher(current, producer, stream_producer, receipts, keys, outbox.find_receipt, watch)
        poller = DeliveryPoller(stream_producer)
        # from here nothing can fail: the threads own their consumers
        opened.pop_all()
    watch.start()
    for thread in (keyring, receipts, credentials, membership, poller):
        thread.start()
    closers: list[Callable[[], object]] = [credentials.close, keyring.close, membership.close, poller.close,
                                           receipts.close,
                                           publisher.close, outbox.close, watch.close]
    return Connector(ConnectorService(current, publisher, outbox, credentials), closers, watch)


@dataclass(frozen=True)
class Endpoint:
    """A serving connector: the bound port, and :meth:`stop`."""

    port: int
    server: grpc.Server
    connector: Connector

    def stop(self, grace: float = 2.0) -> None:
        """Stop taking calls (those running get ``grace`` seconds), then close the connector."""
        self.server.stop(grace).wait()
        self.connector.close()


def serve(agency: Agency, listen: str, *, tls: TlsConfig | None = None) -> Endpoint:
    """Start ``agency``'s connector and serve it on ``listen`` (``host:0``: any port), with mTLS when
    ``tls`` is given (plaintext otherwise: local development only)."""
    server, port, health = create_server(listen, [SERVICE_NAME], CALL_THREADS, tls=tls, max_calls=CALL_THREADS)
    connector = start_connector(agency)
    try:
        pb_grpc.add_ConnectorServicer_to_server(connector.servicer, server)
        server.start()
    except BaseException:
        connector.close()
        raise
    reporter = ConnectorHealth(connector.watch, connector.servicer.current,
                               lambda serving: set_serving(health, [SERVICE_NAME], serving))
    reporter.start()
    connector.on_close(reporter.close)
    return Endpoint(port, server, connector)
