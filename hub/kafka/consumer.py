"""A typed read_committed consumer: the one way code outside :mod:`hub.kafka` reads Kafka.

The hub assigns partitions itself (no group rebalancing): a sequencer reads its inbound
partition, a connector its agency's outbox, a verifier a ledger partition and its
checkpoints. :class:`Consumer` wraps the client, not the records: :meth:`Consumer.consume`
hands over librdkafka's own record objects (typed as the :class:`Message` protocol, whose
accessors are the C extension's, so reading a record costs what it costs without the
wrapper), after taking out the error events. End-of-partition events are noted in
:attr:`Consumer.eof`; a partition whose leader is moving is waited for (librdkafka retries);
any other error is raised as the hub's own (:func:`hub.kafka.clients.translate`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from hub.errors import ConfigError
from hub.kafka.clients import consume_available, consumer_config, translate

log = logging.getLogger(__name__)

#: an assignment's offset meaning "the partition's first record"
OFFSET_BEGINNING: int = confluent_kafka.OFFSET_BEGINNING
#: an assignment's offset meaning "where the group's committed position is" (without one: the first
#: record, as ``auto.offset.reset`` says); what a TopicPartition without an offset means
OFFSET_COMMITTED: int = confluent_kafka.OFFSET_INVALID

#: errors of a partition whose leadership is settling (a new topic, a broker restarting): librdkafka
#: retries them, so the consumer goes on
_SETTLING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART,
                       KafkaError.LEADER_NOT_AVAILABLE})
#: the connection to the cluster failed: informational, librdkafka reconnects by itself and the
#: consumer goes on reading once it can (a service learns of outages from hub.kafka.watch)
_DISCONNECTED = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})


class Message(Protocol):
    """A consumed record, as librdkafka hands it over (never one carrying an error)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Any: ...
    def timestamp(self) -> tuple[int, int]: ...


def header(m: Message, name: str) -> bytes | None:
    """The value of a record's header ``name`` (the first one), or None."""
    for k, v in m.headers() or ():
        if k == name:
            return v if isinstance(v, bytes) else None
    return None


class Consumer:
    """A read_committed consumer of partitions the hub assigns; Kafka errors leave it as hub errors.

    Build one with :func:`open_consumer`. Thread-safety is librdkafka's: one thread consumes.
    """

    def __init__(self, client: confluent_kafka.Consumer, bootstrap: str) -> None:
        self._client = client
        self.bootstrap = bootstrap
        #: (topic, partition) that reported their end during the last :meth:`consume` (only with
        #: ``partition_eof``)
        self.eof: set[tuple[str, int]] = set()
        #: (topic, partition) -> the offset at which it last reported its end: everything committed
        #: below it was read (a read_committed end is the last stable offset, past any commit marker)
        self.eof_at: dict[tuple[str, int], int] = {}

    def assign(self, positions: Sequence[tuple[str, int, int]]) -> None:
        """Read these (topic, partition, next offset) and nothing else (:data:`OFFSET_BEGINNING`: from
        the first record; :data:`OFFSET_COMMITTED`: from the group's position)."""
        try:
            self._client.assign([TopicPartition(t, p, o) for t, p, o in positions])
        except KafkaException as exc:
            raise translate(exc, "assigning partitions", self.bootstrap) from exc

    def consume(self, max_records: int, timeout: float) -> list[Message]:
        """Wait up to ``timeout`` for one record, then take what else is already fetched (at most
        ``max_records`` in all); error events are taken out (see the module's docstring)."""
        self.eof.clear()
        try:
            msgs = consume_available(self._client, max_records, timeout)
        except KafkaException as exc:
            raise translate(exc, "consuming", self.bootstrap) from exc
        for m in msgs:
            if m.error() is not None:
                return self._sift(msgs)
        return msgs  # type: ignore[return-value]  # no record carries an error

    def _sift(self, msgs: list[confluent_kafka.Message]) -> list[Message]:
        kept: list[Message] = []
        for m in msgs:
            err = m.error()
            if err is None:
                kept.append(m)
            elif err.code() == KafkaError._PARTITION_EOF:
                where = (m.topic() or "", m.partition() or 0)
                self.eof.add(where)
                self.eof_at[where] = m.offset() or 0
            elif err.code() in _SETTLING or err.code() in _DISCONNECTED:
                log.debug("%s[%s]: %s; waiting for it", m.topic(), m.partition(), err.str())
            else:
                raise translate(err, f"consuming {m.topic()}[{m.partition()}]", self.bootstrap)
        return kept

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Read ``topic[partition]`` again from ``offset`` (an assigned partition)."""
        try:
            self._client.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:
            raise translate(exc, f"seeking {topic}[{partition}] to {offset}", self.bootstrap) from exc

    def commit(self, topic: str, partition: int, next_offset: int, *, asynchronous: bool) -> None:
        """Commit ``next_offset`` as the group's position in ``topic[partition]``."""
        try:
            offsets = [TopicPartition(topic, partition, next_offset)]
            if asynchronous:
                self._client.commit(offsets=offsets, asynchronous=True)
            else:
                self._client.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise translate(exc, f"committing the position in {topic}[{partition}]", self.bootstrap) from exc

    def watermarks(self, topic: str, partition: int, *, timeout: float = 10.0, cached: bool = False) -> tuple[int, int]:
        """(low, high) offsets of ``topic[partition]``, asked of the broker (or the last fetch's,
        ``cached``). Asked, ``high`` is the last stable offset (this consumer reads committed
        records only); cached, it is the high watermark. Safe to call while another thread consumes."""
        try:
            low, high = self._client.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout,
                                                           cached=cached)
        except KafkaException as exc:
            raise translate(exc, f"reading the offsets of {topic}[{partition}]", self.bootstrap) from exc
        return int(low), int(high)

    def partitions(self, topic: str, *, timeout: float = 10.0) -> list[int]:
        """The partitions of ``topic``; a ConfigError if it does not exist (``hub topics create``)."""
        try:
            found = self._client.list_topics(topic, timeout=timeout).topics.get(topic)
        except KafkaException as exc:
            raise translate(exc, f"looking up the topic {topic}", self.bootstrap) from exc
        if found is None or found.error is not None or not found.partitions:
            raise ConfigError(f"the topic {topic} does not exist: run `hub topics create`")
        return sorted(found.partitions)

    def close(self) -> None:
        """Leave (no commit: the hub commits positions on purpose only)."""
        try:
            self._client.close()
        except (KafkaException, RuntimeError) as exc:  # RuntimeError: already closed
            log.debug("closing a consumer: %s", exc)


def open_consumer(bootstrap: str, group_id: str, *, partition_eof: bool = False,
                  settings: Mapping[str, Any] | None = None) -> Consumer:
    """A :class:`Consumer` of the cluster at ``bootstrap`` for ``group_id`` (positions it commits are
    the group's), with librdkafka ``settings`` over the hub's (:func:`~hub.kafka.clients.consumer_config`);
    ``partition_eof`` reports each partition's end in :attr:`Consumer.eof`."""
    extra = dict(settings or {})
    if partition_eof:
        extra["enable.partition.eof"] = True
    try:
        client = confluent_kafka.Consumer(consumer_config(bootstrap, group_id, **extra))
    except KafkaException as exc:
        raise translate(exc, "creating a consumer", bootstrap) from exc
    return Consumer(client, bootstrap)
