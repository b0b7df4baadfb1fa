"""A typed idempotent producer (acks=all): the one way code outside :mod:`hub.kafka` writes Kafka.

:class:`Producer` wraps the client, not the records: values go to librdkafka as the bytes they
are. Its errors leave it as the hub's own (:func:`hub.kafka.clients.translate`): a full local
queue as :class:`~hub.errors.QueueFullError` (back-pressure: retry with back-off), an
unreachable cluster as :class:`~hub.errors.BrokerUnavailableError`. A delivery report's
error is handed to the callback as it comes; :func:`delivery_error` turns it into a hub error
when the callback needs one. Transactions are :mod:`hub.kafka.transactions`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from hub.errors import HubError
from hub.kafka.clients import producer_config, translate

Headers = dict[str, str | bytes | None]


class DeliveryFailure(Protocol):
    """Why Kafka did not take a record, as a delivery report says (librdkafka's error, unwrapped)."""

    def str(self) -> str: ...
    def code(self) -> int: ...


#: called from the thread that polls, once Kafka took the record (None) or gave up on it
DeliveryCallback = Callable[[DeliveryFailure | None, object], None]


def is_withdrawn(failure: DeliveryFailure) -> bool:
    """True when the record was withdrawn from the queue before being sent (:meth:`Producer.withdraw_queued`)."""
    return failure.code() == KafkaError._PURGE_QUEUE


def delivery_error(failure: DeliveryFailure, doing: str, bootstrap: str | None = None) -> HubError:
    """A delivery report's failure as the hub's own error."""
    return translate(cast(KafkaError, failure), doing, bootstrap)


class Producer:
    """An idempotent, acks=all producer; build one with :func:`open_producer`.

    ``produce`` queues a record and returns at once; delivery reports are served by :meth:`poll`
    and :meth:`flush` (call them from one thread). :meth:`send` waits for one record's report.
    """

    def __init__(self, client: confluent_kafka.Producer, bootstrap: str) -> None:
        self._client = client
        self.bootstrap = bootstrap

    def produce(self, topic: str, value: bytes | None, *, key: bytes | None = None, partition: int | None = None,
                headers: Headers | None = None, on_delivery: DeliveryCallback | None = None) -> None:
        """Queue one record (``partition`` None: by the key's murmur2 hash, as Java clients place it;
        ``value`` None: a tombstone, which removes the key from a compacted topic)."""
        try:
            self._client.produce(topic, value, key=key, partition=-1 if partition is None else partition,
                                 headers=headers, on_delivery=on_delivery)
        except (BufferError, KafkaException) as exc:
            raise translate(exc, f"producing to {topic}", self.bootstrap) from exc

    def send(self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Headers | None = None,
             timeout: float | None = None, poll_every: float = 0.05) -> bool:
        """Produce one record and wait for Kafka to have taken it (acks=all): True once it has; the
        hub's error if Kafka refused it; False when ``timeout`` seconds passed first (the record
        stays queued: it may still be written).

        Meanwhile this thread serves every delivery report of this producer."""
        done: list[DeliveryFailure | None] = []
        event = threading.Event()

        def delivered(err: DeliveryFailure | None, _msg: object) -> None:
            done.append(err)
            event.set()

        self.produce(topic, value, key=key, headers=headers, on_delivery=delivered)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not event.is_set():  # poll returns as soon as a report (this call's or another's) is served
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.poll(min(poll_every, left))
            else:
                self.poll(poll_every)
        if done[0] is not None:
            raise delivery_error(done[0], f"producing to {topic}", self.bootstrap)
        return True

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports for up to ``timeout`` seconds; how many were served."""
        try:
            return self._client.poll(timeout)
        except KafkaException as exc:
            raise translate(exc, "serving delivery reports", self.bootstrap) from exc

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` for every queued record's report; how many are still queued."""
        try:
            return self._client.flush(timeout)
        except KafkaException as exc:
            raise translate(exc, "flushing", self.bootstrap) from exc

    def withdraw_queued(self) -> None:
        """Withdraw every record still waiting in the local queue (not those already sent): each
        gets a failed delivery report (:func:`is_withdrawn`), and none is ever written."""
        self._client.purge(in_queue=True, in_flight=False, blocking=False)

    def close(self, timeout: float = 10.0) -> int:
        """Flush what is queued (up to ``timeout``); how many records were left undelivered."""
        return self.flush(timeout)


def open_producer(bootstrap: str, *, settings: Mapping[str, Any] | None = None) -> Producer:
    """A :class:`Producer` of the cluster at ``bootstrap``, with librdkafka ``settings`` over the
    hub's (:func:`~hub.kafka.clients.producer_config`: acks=all, idempotence, lz4, 2 ms linger)."""
    try:
        client = confluent_kafka.Producer(producer_config(bootstrap, **(settings or {})))
    except KafkaException as exc:
        raise translate(exc, "creating a producer", bootstrap) from exc
    return Producer(client, bootstrap)
