"""PublishStream and PublishBatches: a pipeline that publishes without waiting for each record.

A reader thread takes each frame as gRPC delivers it (one request, or a batch of them) and
hands its requests to a sealer thread, which checks each and builds its envelope, then to a
signer thread, which signs and produces it and goes on to the next without waiting for Kafka:
the record's delivery report (served by the connector's delivery thread) fills in its result.
The handler's thread sends the results in request order, a frame's results together once all
of them are known. At most :data:`STREAM_INFLIGHT` requests wait (for Kafka or for the client
to read their frame); then the reader stops taking requests until the oldest is answered, and
gRPC's flow control holds the client back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Iterator, Sequence

import grpc

from hub.connector.idempotency import IdempotencyKeys, IdempotencySlot
from hub.connector.publisher import Publisher
from hub.connector.requests import Refusal, split_submission, submission
from hub.consortium.identity import SigningKey
from hub.kafka.producer import DeliveryFailure
from hub.standard.envelope import Envelope, Unsigned
from hub.v1 import connector_pb2 as pb

log = logging.getLogger(__name__)

#: results a PublishStream may hold (waiting for Kafka's acknowledgement, or for the client to read
#: them) before it stops reading requests: gRPC's flow control then holds the client back
STREAM_INFLIGHT = 10_000
#: requests a PublishBatches frame may hold; those beyond get an INVALID_ARGUMENT result each
MAX_BATCH = 1_000


def error_result(seq: int, code: grpc.StatusCode, detail: str) -> pb.PublishResult:
    """A stream request's error result, in its place."""
    return pb.PublishResult(sequence=seq, error=pb.PublishError(code=code.name, detail=detail))


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

    __slots__ = ("idem", "idempotency_key", "key", "raw", "request_bytes", "seq", "slot", "unsigned")

    def __init__(self, seq: int, unsigned: Unsigned | None, key: SigningKey | None, slot: _Pending,
                 idempotency_key: str, idem: IdempotencySlot | None, request_bytes: bytes,
                 raw: bytes | None = None):
        self.seq, self.unsigned, self.key, self.slot = seq, unsigned, key, slot
        self.idempotency_key, self.idem, self.request_bytes = idempotency_key, idem, request_bytes
        #: the envelope produced before for the same idempotency key and request (sent again as is)
        self.raw = raw

    def release(self) -> None:
        """Let a retry with the same key go on (once)."""
        if self.idem is not None:
            idem, self.idem = self.idem, None
            idem.lock.release()


class PublishStreamCall:
    """One PublishStream or PublishBatches call (see the module's docstring): :meth:`read` in a
    thread of its own, :meth:`frames` in the handler's, :meth:`cancel` when the RPC ends."""

    def __init__(self, publisher: Publisher, frames: Iterator[Sequence[pb.PublishRequest]]):
        self._publisher = publisher
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
                    self._resolve(slot, error_result(seq, grpc.StatusCode.INVALID_ARGUMENT,
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
        publisher = self._publisher
        if request.wait_for_receipt:  # the slow path: one at a time, exactly as the unary Publish
            drained = threading.Event()  # after the records before it are produced...
            signing.put(drained)
            drained.wait()
            publisher.flush_stream(30)  # ... and acknowledged (the unary path has its own producer)
            response = publisher.publish_idempotent(request, None)
            self._resolve(slot, pb.PublishResult(sequence=seq, response=response))
            return
        idem: IdempotencySlot | None = None
        request_bytes = b""
        if request.idempotency_key:
            idem = publisher.keys.slot(request.idempotency_key)
            idem.lock.acquire()  # held until this request's answer is known: a retry waits for it
            try:
                request_bytes = request.SerializeToString(deterministic=True)
                answered = IdempotencyKeys.answered(idem, request_bytes)
            except BaseException:
                idem.lock.release()
                raise
            if answered is not None:
                idem.lock.release()
                self._resolve(slot, pb.PublishResult(sequence=seq, response=answered))
                return
            try:
                raw = IdempotencyKeys.intended(idem, request_bytes)
            except BaseException:
                idem.lock.release()
                raise
            if raw is not None:  # produced before, never answered: the same bytes again
                signing.put(_ToSign(seq, None, None, slot, request.idempotency_key, idem, request_bytes, raw))
                return
        try:
            unsigned, key = publisher.prepare(request)
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
        if isinstance(exc, Refusal):
            self._resolve(slot, error_result(seq, exc.code, exc.detail))
            return
        log.error("PublishStream: request %d failed", seq, exc_info=exc)
        self._resolve(slot, error_result(seq, grpc.StatusCode.INTERNAL, "the connector failed on this request"))

    def _sign_and_produce(self, item: _ToSign) -> None:
        publisher = self._publisher
        seq, idem = item.seq, item.idem
        if item.raw is not None:
            raw = item.raw
            mid = str(Envelope.from_bytes(split_submission(raw)[0]).message_id)
        else:
            assert item.unsigned is not None and item.key is not None
            env = item.unsigned.sign(item.key)
            raw, mid = submission(env.raw, item.unsigned.capsule), str(env.message_id)
            if idem is not None:  # written ahead: a retry after any failure sends these bytes again
                publisher.keys.intend(item.idempotency_key, idem, item.request_bytes, raw)

        def delivered(err: DeliveryFailure | None, _msg: object) -> None:
            if err is None:
                response = pb.PublishResponse(message_id=mid)
                result = pb.PublishResult(sequence=seq, response=response)
                if idem is not None:
                    publisher.keys.remember(item.idempotency_key, idem, item.request_bytes, response)
            else:
                result = error_result(seq, grpc.StatusCode.UNAVAILABLE, err.str())
            item.release()
            self._resolve(item.slot, result)

        publisher.produce_async(raw, delivered)

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
