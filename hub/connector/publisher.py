"""Publishing for an agency: check a request, sign its envelope, produce it to the inbound topic.

:class:`Publisher` holds the connector's two producers (one for unary Publish, one with a longer
linger for streams), the receipt watcher Publish waits on, and the idempotency keys. The unary
path (:meth:`Publisher.publish_idempotent`) waits for Kafka's acknowledgement (acks=all) and,
when asked, for the sequencer's receipt; streams (:mod:`hub.connector.stream`) use
:meth:`Publisher.prepare` and :meth:`Publisher.produce_async` and are answered by delivery
reports. Every refusal is a :class:`~hub.connector.requests.Refusal` carrying its gRPC status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import grpc

from hub.connector.agency import CurrentAgency
from hub.connector.followers import ReceiptWatcher
from hub.connector.idempotency import IdempotencyKeys
from hub.connector.requests import Refusal, split_submission, submission, unsigned_envelope
from hub.consortium.identity import SigningKey
from hub.errors import HubError, QueueFullError
from hub.kafka.producer import DeliveryCallback, Headers, Producer
from hub.kafka.topics import DELIVER_BY_HEADER, KEYS_HEADER
from hub.kafka.watch import BrokerWatch
from hub.standard.envelope import Envelope, Unsigned
from hub.standard.sealing import KekEpochs
from hub.timeutil import iso, now_us
from hub.v1 import connector_pb2 as pb

log = logging.getLogger(__name__)

#: how long Publish waits for a receipt when the call has no deadline, seconds
RECEIPT_WAIT_S = 30.0
#: a deadline further away than this is no deadline (gRPC reports none as a huge number), seconds
MAX_WAIT_S = 3600.0
#: a call whose deadline leaves less than this is answered DEADLINE_EXCEEDED without publishing, seconds
MIN_TIME_S = 0.1
#: kept back from the deadline to answer before it passes, seconds
ANSWER_MARGIN_S = 0.05
#: kept back from the deadline, at least, when setting a record's deliver-by time, seconds: the
#: call's way from the client (the connector's view of a gRPC deadline is later than the client's
#: by that), the sequencer's commit and the receipt's way back, and the clocks' difference
DELIVER_BY_MARGIN_S = 0.5
#: and at most, seconds
DELIVER_BY_MARGIN_MAX_S = 2.0
#: what an UNAVAILABLE refusal suggests waiting before a retry, seconds
RETRY_HINT_S = 2.0


def deliver_by_margin(wait_s: float) -> float:
    """Seconds kept back from a wait of ``wait_s`` seconds for the deliver-by time: a third of it,
    between half a second and two (a 3 s deadline keeps 1 s back), never more than half of it."""
    return min(max(DELIVER_BY_MARGIN_S, wait_s / 3), DELIVER_BY_MARGIN_MAX_S, wait_s / 2)


def queue_full() -> Refusal:
    """The refusal for a request Kafka's local queue has no room for (back-pressure)."""
    return Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "the connector's queue to Kafka is full: retry with back-off")


class Publisher:
    """Checks, signs and publishes one agency's requests to the inbound topic, keyed by its id."""

    def __init__(self, current: CurrentAgency, producer: Producer, stream_producer: Producer,
                 receipts: ReceiptWatcher, keys: IdempotencyKeys,
                 find_receipt: Callable[[str], pb.Receipt | None], watch: BrokerWatch) -> None:
        self.current = current
        #: whether Kafka answers: Publish is refused at once while it does not
        self.watch = watch
        #: the accepted receipt of a message id, looked up in the agency's outbox (None: not found)
        self.find_receipt = find_receipt
        self.producer = producer
        self.stream_producer = stream_producer
        self.receipts = receipts
        self.keys = keys
        #: the key-encryption keys data keys are wrapped under, one per reader key (new at every start)
        self.epochs = KekEpochs()
        agency = current.agency
        self._inbound = agency.topics.inbound
        self._record_key = agency.member_id.encode()
        watch.on_change(self._kafka_changed)

    def _kafka_changed(self, up: bool) -> None:
        """When Kafka stops answering, withdraw what is queued and not yet sent: those callers are
        answered UNAVAILABLE (never written) instead of their records going out whenever Kafka
        returns; and an idempotent producer with records queued to a frozen broker spins a core
        (docs/design-notes.md, "When Kafka falters")."""
        if not up:
            self.producer.withdraw_queued()
            self.stream_producer.withdraw_queued()

    def prepare(self, request: pb.PublishRequest) -> tuple[Unsigned, SigningKey]:
        """Check a request against the standard and the policy: the envelope to sign and the key
        to sign it with; :class:`Refusal` otherwise."""
        problem = self.current.key_problem
        if problem is not None:
            raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, problem, reason="SIGNING_KEY_NOT_VALID")
        agency = self.current.agency
        return unsigned_envelope(request, agency, now_us(), self.epochs), agency.key

    def publish_idempotent(self, request: pb.PublishRequest, time_remaining: float | None) -> pb.PublishResponse:
        """Publish honouring the idempotency key, one call at a time per key; :class:`Refusal` otherwise.

        The signed envelope is written ahead (:meth:`IdempotencyKeys.intend`) before it is produced,
        and a retry with no answer yet produces the same bytes again, so the sequencer refuses a
        second copy as REPLAYED; the retry is then answered with the first copy's receipt."""
        key = request.idempotency_key
        if not key:
            return self.publish(request, time_remaining)
        deadline = self._deadline(time_remaining)
        slot = self.keys.slot(key)
        started = time.monotonic()
        # a concurrent retry waits for the first call's answer, within its own deadline
        if not slot.lock.acquire(timeout=deadline):
            raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED,
                          f"a call with idempotency key {key!r} is still in flight; nothing more was published: "
                          "retry with the same key")
        try:
            deadline = self._deadline(deadline - (time.monotonic() - started) + ANSWER_MARGIN_S)
            request_bytes = request.SerializeToString(deterministic=True)
            answered = self.keys.answered(slot, request_bytes)
            if answered is not None:
                return answered
            raw = self.keys.intended(slot, request_bytes)
            again = raw is not None
            if raw is None:
                raw = self._sign(request)  # a bad request is refused as such, whatever Kafka's state
                self.keys.intend(key, slot, request_bytes, raw)
            else:
                self.check_kafka()
            response = self._send(raw, request.wait_for_receipt, deadline, again=again)
            if response.receipt.status != pb.Receipt.STATUS_UNSPECIFIED or not request.wait_for_receipt:
                self.keys.remember(key, slot, request_bytes, response)
            return response
        finally:
            slot.lock.release()

    def publish(self, request: pb.PublishRequest, time_remaining: float | None) -> pb.PublishResponse:
        """Check, sign and publish one request, waiting for Kafka (and for the receipt if asked)."""
        deadline = self._deadline(time_remaining)
        return self._send(self._sign(request), request.wait_for_receipt, deadline, again=False)

    def check_kafka(self) -> None:
        """UNAVAILABLE at once, with nothing signed or queued, while Kafka does not answer: a record
        queued now would be sent whenever the broker returns, whatever became of its caller."""
        outage = self.watch.outage()
        if outage is not None:
            raise Refusal(grpc.StatusCode.UNAVAILABLE, f"{outage}: nothing was published; retry in "
                          f"{RETRY_HINT_S:.0f} s or more (with the same idempotency key)")

    @staticmethod
    def _deadline(time_remaining: float | None) -> float:
        """Seconds this call may wait for a receipt: what its deadline leaves (a little kept back to
        answer in time), :data:`RECEIPT_WAIT_S` without a deadline (gRPC reports "none" as a huge
        number). DEADLINE_EXCEEDED, before anything is signed or produced, when nothing is left."""
        if time_remaining is None or time_remaining > MAX_WAIT_S:
            return RECEIPT_WAIT_S
        if time_remaining < MIN_TIME_S:
            raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED,
                          f"the call's deadline leaves {max(time_remaining, 0) * 1000:.0f} ms: nothing was published")
        return time_remaining - ANSWER_MARGIN_S

    def _sign(self, request: pb.PublishRequest) -> bytes:
        """The signed envelope with its key capsule (:func:`~hub.connector.requests.submission`):
        the request is checked first (a bad one is refused as such even while Kafka is away), then
        nothing is signed while Kafka does not answer (:meth:`check_kafka`)."""
        unsigned, key = self.prepare(request)
        self.check_kafka()
        return submission(unsigned.sign(key).raw, unsigned.capsule)

    def _send(self, raw: bytes, wait_for_receipt: bool, wait_s: float, *, again: bool) -> pb.PublishResponse:
        """Produce a signed envelope and wait for Kafka (and for its receipt, ``wait_s`` at most).
        ``again``: the envelope was produced before for the same idempotency key.

        Waiting for a receipt, the record carries a deliver-by time just before the caller's
        deadline: the sequencer refuses it as EXPIRED after that, so a call answered
        DEADLINE_EXCEEDED leaves its message on the ledger only if it was notarised in time."""
        raw, capsule = split_submission(raw)
        mid = str(Envelope.from_bytes(raw).message_id)
        end = time.monotonic() + wait_s
        headers: Headers = {KEYS_HEADER: capsule} if capsule is not None else {}
        deliver_by = 0
        if wait_for_receipt:
            deliver_by = now_us() + int((wait_s - deliver_by_margin(wait_s)) * 1_000_000)
            headers[DELIVER_BY_HEADER] = str(deliver_by).encode()
        event = self.receipts.expect(mid) if wait_for_receipt else None
        try:
            taken = self.producer.send(self._inbound, raw, key=self._record_key, headers=headers or None,
                                       timeout=wait_s)
        except QueueFullError:
            self.receipts.take(mid)
            raise queue_full() from None
        except HubError as exc:
            self.receipts.take(mid)
            self.watch.suspect()
            raise Refusal(grpc.StatusCode.UNAVAILABLE, exc.diagnostics()) from None
        if not taken:
            self.receipts.take(mid)
            raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, f"Kafka did not take message {mid} in time; "
                          + (f"the sequencer refuses it after {iso(deliver_by)} (EXPIRED), so it is on the ledger "
                             "only if notarised by then: GetReceipt or Subscribe tell" if wait_for_receipt else
                             "it may still be published")
                          + "; a retry with the same idempotency key is safe")
        response = pb.PublishResponse(message_id=mid)
        if event is None:
            return response
        receipt = self._await_receipt(mid, event, end, again)
        if receipt is None:
            raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED,
                          f"message {mid} was published but not notarised in time; the sequencer refuses it after "
                          f"{iso(deliver_by)} (EXPIRED), so it is on the ledger only if notarised by then: "
                          "GetReceipt or Subscribe tell; a retry with the same idempotency key is safe")
        if again and receipt.status == pb.Receipt.REJECTED and receipt.reason == "REPLAYED":
            # the first copy is on the ledger: answer with its receipt
            first = self.find_receipt(mid)
            if first is None:
                raise Refusal(grpc.StatusCode.ALREADY_EXISTS,
                              f"message {mid}, published before with this idempotency key, is on the ledger; "
                              "its receipt is older than the connector looks back: GetReceipt gives its proof",
                              reason="ALREADY_NOTARISED")
            receipt = first
        response.receipt.CopyFrom(receipt)
        return response

    def _await_receipt(self, mid: str, event: threading.Event, end: float, again: bool) -> pb.Receipt | None:
        """The receipt of ``mid`` once it arrives, or None at ``end`` (time.monotonic). Sending
        ``again``, an EXPIRED receipt may be an earlier copy's: it is passed over (if it is this
        copy's, the message is not on the ledger either, and the call ends DEADLINE_EXCEEDED)."""
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0 or not event.wait(left):
                    return None
                receipt = self.receipts.next(mid)
                if receipt is None:
                    continue
                if again and receipt.status == pb.Receipt.REJECTED and receipt.reason == "EXPIRED":
                    continue
                return receipt
        finally:
            self.receipts.take(mid)

    def produce_async(self, raw: bytes, delivered: DeliveryCallback) -> None:
        """Produce one envelope (with its capsule: :func:`~hub.connector.requests.submission`) on the stream producer; ``delivered`` is called from the delivery
        thread. :class:`Refusal` when it cannot be queued (RESOURCE_EXHAUSTED when the queue is full)."""
        self.check_kafka()
        raw, capsule = split_submission(raw)
        try:
            self.stream_producer.produce(self._inbound, raw, key=self._record_key, on_delivery=delivered,
                                         headers={KEYS_HEADER: capsule} if capsule is not None else None)
        except QueueFullError:
            raise queue_full() from None
        except HubError as exc:
            raise Refusal(grpc.StatusCode.UNAVAILABLE, exc.diagnostics()) from None

    def flush_stream(self, timeout: float) -> None:
        """Wait for the stream producer's queued records to be acknowledged."""
        self.stream_producer.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush both producers and close the idempotency store."""
        self.producer.close(timeout)
        self.stream_producer.close(timeout)
        self.keys.close()


class DeliveryPoller:
    """The thread serving the stream producer's delivery reports: a report wakes it, not a timer."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deliveries", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._producer.poll(0.1)
            except HubError as exc:
                log.warning("serving delivery reports: %s", exc.diagnostics())
                self._stop.wait(1.0)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
