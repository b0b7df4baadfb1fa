"""The agency's outbox as Subscribe and Ack see it: deliveries from a cursor, and the group's cursor.

The outbox holds the ledger entries addressed to the agency and the receipts of what it sent,
read_committed. A cursor is an outbox offset; Ack commits the one after it as the agency's
consumer-group position, so a Subscribe without ``after_cursor`` resumes there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from hub.connector.deliveries import delivery_pb
from hub.errors import DecodeError
from hub.kafka.consumer import OFFSET_COMMITTED, Consumer, header
from hub.kafka.topics import KIND_HEADER
from hub.standard.schemas import SchemaRegistry
from hub.v1 import connector_pb2 as pb

log = logging.getLogger(__name__)


class Outbox:
    """Deliveries of one agency's outbox (partition 0), and its group's committed cursor.

    ``committer`` is a consumer of the agency's group used only to commit cursors;
    ``open_reader`` opens a consumer of the group for each Subscribe call."""

    def __init__(self, topic: str, registry: SchemaRegistry, committer: Consumer,
                 open_reader: Callable[[], Consumer]) -> None:
        self.topic = topic
        self.registry = registry
        self._committer = committer
        self._commit_lock = threading.Lock()
        self._open_reader = open_reader

    def deliveries(self, after_cursor: int | None, active: Callable[[], bool]) -> Iterator[pb.Delivery]:
        """Every delivery after ``after_cursor`` (None: after the group's committed cursor), as they
        arrive, while ``active()``; the hub's error when Kafka fails."""
        consumer = self._open_reader()
        try:
            consumer.assign([(self.topic, 0, OFFSET_COMMITTED if after_cursor is None else after_cursor + 1)])
            while active():
                for m in consumer.consume(500, 0.2):
                    offset = m.offset() or 0  # a consumed record always has an offset
                    try:
                        # a null value fails to decode like an empty one
                        delivery = delivery_pb(offset, header(m, KIND_HEADER), m.value() or b"", self.registry)
                    except DecodeError as exc:
                        log.error("undeliverable record at %s@%d: %s", self.topic, offset, exc)
                        continue
                    yield delivery
        finally:
            consumer.close()

    def ack(self, next_cursor: int) -> None:
        """Commit ``next_cursor`` as the agency's position (synchronously); the hub's error if Kafka fails."""
        with self._commit_lock:
            self._committer.commit(self.topic, 0, next_cursor, asynchronous=False)

    def close(self) -> None:
        self._committer.close()
