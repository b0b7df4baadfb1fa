"""The agency's outbox as Subscribe and Ack see it: deliveries from a cursor, and the group's cursor.

The outbox holds the ledger entries addressed to the agency and the receipts of what it sent,
read_committed. A cursor is an outbox offset; Ack commits the one after it as the agency's
consumer-group position, so a Subscribe without ``after_cursor`` resumes there.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from hub.connector.deliveries import Opener, delivery_pb, receipt_pb
from hub.connector.requests import Refusal, bad_field
from hub.errors import DecodeError, UnavailableError
from hub.kafka.consumer import OFFSET_COMMITTED, Consumer, header
from hub.kafka.reader import read_partition
from hub.kafka.topics import KIND_HEADER
from hub.kafka.watch import BrokerWatch
from hub.standard.schemas import SchemaRegistry
from hub.timeutil import iso, now_us
from hub.v1 import connector_pb2 as pb

log = logging.getLogger(__name__)

#: how many of the outbox's last records :meth:`Outbox.find_receipt` reads
LOOK_BACK = 100_000
#: the windows before the outbox's end :meth:`Outbox.trace` reads first, the nearest first
TRACE_WINDOWS = (1_000, 10_000)
#: how long Subscribe waits for the outbox's offsets to check a cursor, seconds
WATERMARKS_WAIT_S = 2.5
#: how long Ack waits for Kafka to confirm a commit when its call has no (or a longer) deadline, seconds
ACK_WAIT_S = 5.0


class Outbox:
    """Deliveries of one agency's outbox (partition 0), and its group's committed cursor.

    ``committer`` is a consumer of the agency's group used only to commit cursors;
    ``open_reader`` opens a consumer of the group for each Subscribe call."""

    def __init__(self, topic: str, registry: SchemaRegistry, committer: Consumer,
                 open_reader: Callable[[], Consumer], watch: BrokerWatch, opener: Opener | None = None) -> None:
        self.topic = topic
        self.registry = registry
        #: decrypts envelope v2 payloads for the agency (the connector's keyring)
        self.opener = opener
        self._committer = committer
        #: the one thread that commits cursors (Kafka's commit has no timeout of its own)
        self._commits = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ack")
        self._open_reader = open_reader
        self.watch = watch

    def deliveries(self, after_cursor: int | None, active: Callable[[], bool],
                   heartbeat_s: float = 0.0) -> Iterator[pb.Delivery]:
        """Every delivery after ``after_cursor`` (None: after the group's committed cursor), as they
        arrive, while ``active()``; the hub's error when Kafka fails. With ``heartbeat_s``, a
        heartbeat (cursor -1) whenever nothing was sent for that long, and at once when Kafka stops
        or starts answering the connector."""
        if after_cursor is None:
            start = OFFSET_COMMITTED
        else:
            low, high = self._offsets(WATERMARKS_WAIT_S, "subscribe again later")
            start = subscribe_start(after_cursor, low, high)
        consumer = self._open_reader()
        try:
            consumer.assign([(self.topic, 0, start)])
            beat = _Heartbeats(self.watch, heartbeat_s)
            while active():
                for m in consumer.consume(500, 0.2):
                    offset = m.offset() or 0  # a consumed record always has an offset
                    try:
                        # a null value fails to decode like an empty one
                        delivery = delivery_pb(offset, header(m, KIND_HEADER), m.value() or b"", self.registry,
                                               self.opener)
                    except DecodeError as exc:
                        log.error("undeliverable record at %s@%d: %s", self.topic, offset, exc)
                        continue
                    beat.sent()
                    yield delivery
                heartbeat = beat.due()
                if heartbeat is not None:
                    yield heartbeat
        finally:
            consumer.close()

    def find_receipt(self, message_id: str, look_back: int = LOOK_BACK) -> pb.Receipt | None:
        """The ACCEPTED receipt of ``message_id`` among the outbox's last ``look_back`` records (None
        if there is none): what a retry whose copy was refused as REPLAYED is answered with."""
        return self.trace(message_id, look_back).accepted

    def trace(self, message_id: str, look_back: int = LOOK_BACK) -> Trace:
        """What the outbox's last ``look_back`` records say of ``message_id``: its receipts (the agency
        sent it) and whether it was delivered to the agency (it received it). The end is read first,
        in widening windows (:data:`TRACE_WINDOWS`), until the message is found notarised: a recent
        message costs a read of its last thousand records, only an unknown one all ``look_back``."""
        key = uuid.UUID(message_id).bytes
        low, high = self._committer.watermarks(self.topic, 0)
        found = Trace()
        end = high
        for window in (*(w for w in TRACE_WINDOWS if w < look_back), look_back):
            start = max(low, high - window)
            if start >= end:
                continue
            for rec in read_partition(self._committer.bootstrap, self.topic, 0, start):
                if rec.offset >= end:
                    break
                if rec.key == key:
                    _note(found, rec.headers.get(KIND_HEADER), rec.value)
            if found.notarised or start <= low:
                break
            end = start
        return found

    def ack(self, cursor: int, time_remaining: float | None = None) -> int:
        """Commit the position after ``cursor`` as the agency's and return it, within the call's
        ``time_remaining`` (at most :data:`ACK_WAIT_S`); :class:`Refusal` for a cursor the outbox never
        held (nothing moves), UNAVAILABLE when Kafka does not answer or the commit does not complete in
        time (the cursor may or may not be committed: Ack again)."""
        if cursor < 0:
            raise bad_field("cursor", f"{cursor} is negative: cursors start at 0", "CURSOR_NEGATIVE")
        wait = ACK_WAIT_S if time_remaining is None else max(0.0, min(time_remaining - 0.05, ACK_WAIT_S))
        end = time.monotonic() + wait
        _, high = self._offsets(max(wait, 0.01), "nothing was acknowledged; Ack again later")
        if cursor >= high:
            raise Refusal(grpc.StatusCode.OUT_OF_RANGE,
                          f"cursor {cursor} was never delivered: the outbox ends before {high}; nothing was acknowledged",
                          reason="CURSOR_PAST_END")
        next_cursor = cursor + 1
        commit = self._commits.submit(self._commit, next_cursor)
        try:
            commit.result(timeout=max(end - time.monotonic(), 0.0))
        except concurrent.futures.TimeoutError:
            self.watch.suspect()
            raise Refusal(grpc.StatusCode.UNAVAILABLE,
                          f"Kafka did not confirm the commit of cursor {cursor} in time: Ack again") from None
        except UnavailableError as exc:
            raise Refusal(grpc.StatusCode.UNAVAILABLE, f"{exc.diagnostics()}: Ack again") from None
        return next_cursor

    def _offsets(self, timeout: float, then: str) -> tuple[int, int]:
        """The outbox's (low, high) offsets within ``timeout`` seconds; UNAVAILABLE (saying ``then``)
        at once while Kafka is known to be away, or when it does not answer in time."""
        outage = self.watch.outage()
        if outage is not None:
            raise Refusal(grpc.StatusCode.UNAVAILABLE, f"{outage}: {then}")
        try:
            return self._committer.watermarks(self.topic, 0, timeout=timeout)
        except UnavailableError as exc:
            self.watch.suspect()
            raise Refusal(grpc.StatusCode.UNAVAILABLE, f"{exc.diagnostics()}: {then}") from None

    def _commit(self, next_cursor: int) -> None:
        """One synchronous commit, on the commit thread (a commit Kafka never answers holds it, not a
        server thread; later Acks meanwhile answer UNAVAILABLE at their deadline)."""
        self._committer.commit(self.topic, 0, next_cursor, asynchronous=False)

    def close(self) -> None:
        self._commits.shutdown(wait=False, cancel_futures=True)
        self._committer.close()


def _note(found: Trace, kind: bytes | None, value: bytes) -> None:
    """Add one outbox record of the message to what is known of it."""
    if kind == b"entry":
        found.delivered = True
        return
    try:
        receipt = receipt_pb(value)
    except DecodeError:
        return
    if receipt.status == pb.Receipt.ACCEPTED:
        found.accepted = found.accepted or receipt
    else:
        found.rejected = found.rejected or receipt


@dataclass
class Trace:
    """A message as the agency's outbox knows it: :meth:`Outbox.trace`."""

    accepted: pb.Receipt | None = None
    rejected: pb.Receipt | None = None
    delivered: bool = False

    @property
    def notarised(self) -> bool:
        return self.accepted is not None or self.delivered


def subscribe_start(after_cursor: int, low: int, high: int) -> int:
    """The outbox offset a Subscribe ``after_cursor`` starts at, given the outbox's offsets
    ``low`` (its oldest record) and ``high`` (after its last); :class:`Refusal` for a cursor it
    cannot honour. ``-1`` means "from the oldest record the outbox still holds"."""
    if after_cursor < -1:
        raise bad_field("after_cursor", f"{after_cursor} is negative: give a cursor, -1 for the oldest record, "
                        "or none to resume after the last acknowledged one", "CURSOR_NEGATIVE")
    if after_cursor == -1:
        return low
    if after_cursor + 1 > high:
        raise Refusal(grpc.StatusCode.OUT_OF_RANGE,
                      f"after_cursor {after_cursor} is past the end of the outbox, which ends before {high}",
                      reason="CURSOR_PAST_END")
    if after_cursor + 1 < low:
        raise Refusal(grpc.StatusCode.OUT_OF_RANGE,
                      f"the records after cursor {after_cursor} have expired: the outbox now starts at {low} "
                      f"(records are kept 30 days); after_cursor {low - 1} reads what it holds", reason="CURSOR_EXPIRED")
    return after_cursor + 1


class _Heartbeats:
    """When a Subscribe stream owes its subscriber a heartbeat (``every`` 0: never)."""

    def __init__(self, watch: BrokerWatch, every: float) -> None:
        self.watch = watch
        self.every = every
        self._last = time.monotonic()
        self._serving = True

    def sent(self) -> None:
        self._last = time.monotonic()

    def due(self) -> pb.Delivery | None:
        if self.every <= 0:
            return None
        outage = self.watch.outage()
        serving = outage is None
        now = time.monotonic()
        if serving == self._serving and now - self._last < self.every:
            return None
        self._serving, self._last = serving, now
        reason = outage or ""
        return pb.Delivery(cursor=-1, heartbeat=pb.Heartbeat(serving=serving, reason=reason, at=iso(now_us())))
