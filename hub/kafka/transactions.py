"""Kafka transactions: a producer that writes a batch all or nothing, under a stable transactional.id.

:class:`TransactionalProducer` runs one transaction per call of :meth:`~TransactionalProducer.transaction`
and sorts librdkafka's errors into the three classes a transactional writer must tell apart:

- retriable (the commit met, say, ``CONCURRENT_TRANSACTIONS``, or timed out with the broker
  away): the same commit is retried with back-off until it completes, for as long as the caller
  lets it (``keep_trying``; a stopping sequencer does not), so a broker back after an outage finds
  the transaction where it was;
- abortable (``txn_requires_abort``): the transaction is aborted, nothing of it is visible to a
  ``read_committed`` reader, and :class:`~hub.errors.TransactionAbortedError` tells the caller to
  restore its state and produce the batch again;
- fatal (for instance :class:`~hub.errors.FencedError`: a newer producer with the same
  ``transactional.id`` took over), and anything else: raised as the hub's own error
  (:func:`hub.kafka.clients.translate`): a fenced writer must end; on any other, the caller
  drops this producer and opens a new one (the sequencer does, :mod:`hub.sequencer.runner`).

Inside a transaction the batch is produced with :attr:`TransactionalProducer.produce`, which is
librdkafka's own method (no wrapper per record): its errors are caught and sorted at the
transaction's boundary, so it must be called only from the ``fill`` function a transaction runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import confluent_kafka
from confluent_kafka import KafkaException

from hub.errors import BrokerUnavailableError, TransactionAbortedError
from hub.kafka.clients import producer_config, translate

log = logging.getLogger(__name__)

#: how long one commit or abort request may take, seconds
END_TIMEOUT_S = 10.0


class Produce(Protocol):
    """librdkafka's ``Producer.produce``, as a transaction's ``fill`` calls it."""

    def __call__(self, topic: str, value: bytes | None = None, key: bytes | None = None, partition: int = -1,
                 *, headers: dict[str, str | bytes | None] | None = None) -> None: ...


@dataclass(frozen=True)
class Committed:
    """How long a committed transaction took: producing its records (``fill``), then committing."""

    produce_s: float
    commit_s: float


class TransactionalProducer:
    """A producer that writes only in Kafka transactions, under one ``transactional.id``.

    Build one with :func:`open_transactional_producer`, which fences any predecessor with the same
    id and waits for its open transaction to end, so what is committed afterwards is final.
    """

    def __init__(self, client: confluent_kafka.Producer, bootstrap: str, transactional_id: str) -> None:
        self._client = client
        self.bootstrap = bootstrap
        self.transactional_id = transactional_id
        #: queue one record of the open transaction (librdkafka's method: only inside ``fill``)
        self.produce: Produce = client.produce
        #: serve delivery reports; inside ``fill`` now and then, so a long batch hands over the GIL
        #: less often than once per record
        self.poll: Callable[[float], int] = client.poll

    def transaction(self, fill: Callable[[], None], keep_trying: Callable[[], bool] = lambda: True) -> Committed:
        """Begin a transaction, call ``fill`` to produce its records, commit it.

        :class:`~hub.errors.TransactionAbortedError` when Kafka asked for it to be aborted (it
        was); any other Kafka failure as the hub's error. An exception of ``fill`` itself (not
        Kafka's) propagates with the transaction left open: the process must end, and the broker
        aborts it when its successor starts or its timeout passes."""
        client = self._client
        try:
            t0 = time.perf_counter()
            client.begin_transaction()
            fill()
            t1 = time.perf_counter()
            self._commit(keep_trying)
            t2 = time.perf_counter()
        except KafkaException as exc:
            err = exc.args[0]
            if not err.txn_requires_abort():
                raise translate(exc, f"writing a transaction of {self.transactional_id}", self.bootstrap) from exc
            try:
                client.abort_transaction(END_TIMEOUT_S)
            except KafkaException as abort_exc:
                raise translate(abort_exc, f"aborting a transaction of {self.transactional_id}",
                                self.bootstrap) from abort_exc
            raise TransactionAbortedError(f"a transaction of {self.transactional_id} was aborted: "
                                          f"{err.name()}: {err.str()}") from exc
        except BufferError as exc:
            raise translate(exc, f"writing a transaction of {self.transactional_id}", self.bootstrap) from exc
        return Committed(t1 - t0, t2 - t1)

    def _commit(self, keep_trying: Callable[[], bool]) -> None:
        """Commit, retrying retriable errors (the broker away, a coordinator moving) for as long as
        ``keep_trying()``: librdkafka resumes the same commit, so once the broker answers again the
        transaction completes without reopening anything. When ``keep_trying()`` turns false the
        broker counts as unavailable, and whether the commit happened is for recovery to read."""
        attempt, since = 0, time.monotonic()
        warned = False
        while True:
            try:
                self._client.commit_transaction(END_TIMEOUT_S)
                if warned:
                    log.info("%s: the transaction committed after %.1f s of retries", self.transactional_id,
                             time.monotonic() - since)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if not err.retriable() or err.txn_requires_abort():
                    raise
                if not keep_trying():
                    raise BrokerUnavailableError(
                        f"committing a transaction of {self.transactional_id}: {err.name()}; given up (stopping): "
                        "whether it committed is read back from the log") from exc
                if not warned and time.monotonic() - since > END_TIMEOUT_S:
                    warned = True
                    log.warning("%s: the commit meets %s; retrying until Kafka answers", self.transactional_id,
                                err.name())
                time.sleep(min(0.1 * 2**attempt, 1.0))
                attempt += 1

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued outside a transaction (a stopped writer's last reports); with
        ``timeout`` 0, drop what is queued instead (a writer abandoning a failed transaction: its
        successor's initialisation aborts it)."""
        if timeout <= 0:
            self._client.purge()
            return
        try:
            self._client.flush(timeout)
        except KafkaException as exc:
            log.warning("%s: flushing on close: %s", self.transactional_id, exc)


def open_transactional_producer(bootstrap: str, transactional_id: str, *, init_timeout: float = 60.0,
                                settings: Mapping[str, Any] | None = None) -> TransactionalProducer:
    """A :class:`TransactionalProducer` with ``transactional_id``, its transactions initialised:
    any earlier producer with the same id is fenced and its open transaction finished."""
    try:
        client = confluent_kafka.Producer(producer_config(bootstrap, transactional_id=transactional_id, **(settings or {})))
        client.init_transactions(init_timeout)
    except KafkaException as exc:
        raise translate(exc, f"initialising the transactions of {transactional_id}", bootstrap) from exc
    return TransactionalProducer(client, bootstrap, transactional_id)
