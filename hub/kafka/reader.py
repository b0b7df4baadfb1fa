"""Reading committed records of one topic partition (read_committed, no consumer group)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from hub.kafka import security
from hub.kafka.clients import consumer_config, translate


@dataclass(frozen=True)
class Record:
    """A committed record as :func:`read_partition` returns it."""

    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    timestamp_ms: int = 0


def reader_group_prefix(principal: str) -> str:
    """The prefix of a principal's reader groups: librdkafka looks up the coordinator of a consumer's
    group even when it commits nothing, so each principal may use the groups under its own prefix
    (':' is in no principal's name)."""
    return f"{principal or 'hub'}:reader."


def _consumer(bootstrap: str) -> Consumer:
    group = f"{reader_group_prefix(security.current().principal)}{uuid.uuid4()}"
    return Consumer(consumer_config(bootstrap, group, **{"enable.partition.eof": True}))


_SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART,
             KafkaError.LEADER_NOT_AVAILABLE}


def watermarks(bootstrap: str, topic: str, partition: int, timeout: float = 10.0) -> tuple[int, int]:
    """(low, high) offsets; retries while a new topic's leadership settles."""
    c = _consumer(bootstrap)
    try:
        for attempt in range(50):
            try:
                low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
                return int(low), int(high)
            except KafkaException as exc:
                if exc.args[0].code() not in _SETTLING or attempt == 49:
                    raise translate(exc, f"reading offsets of {topic}[{partition}]", bootstrap) from exc
                time.sleep(0.1)
        raise AssertionError("unreachable")
    finally:
        c.close()


def offset_for_time(bootstrap: str, topic: str, partition: int, ts_ms: int, timeout: float = 10.0) -> int:
    """The first offset whose record timestamp is at or after ``ts_ms`` (the end if none)."""
    c = _consumer(bootstrap)
    try:
        [tp] = c.offsets_for_times([TopicPartition(topic, partition, ts_ms)], timeout=timeout)
        if tp.offset < 0:
            return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)[1]
        return int(tp.offset)
    except KafkaException as exc:
        raise translate(exc, f"looking up a time in {topic}[{partition}]", bootstrap) from exc
    finally:
        c.close()


def read_partition(
    bootstrap: str, topic: str, partition: int, start: int = 0, timeout: float = 30.0
) -> Iterator[Record]:
    """Every committed record from ``start`` to the end as of now (the end of the partition)."""
    c = _consumer(bootstrap)
    try:
        low, high = watermarks(bootstrap, topic, partition, timeout)
        if high <= max(low, start):
            return
        c.assign([TopicPartition(topic, partition, max(low, start))])
        idle = 0.0
        while True:
            msgs = c.consume(num_messages=1000, timeout=1.0)
            if not msgs:
                idle += 1.0
                if idle >= timeout:
                    raise translate(KafkaException(KafkaError(KafkaError._TIMED_OUT)),
                                    f"reading {topic}[{partition}]", bootstrap)
                continue
            idle = 0.0
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        return
                    raise translate(KafkaException(err), f"reading {topic}[{partition}]", bootstrap)
                yield Record(m.offset() or 0, m.key(), m.value() or b"", _headers(m.headers()), m.timestamp()[1])
    finally:
        c.close()


def _headers(raw: object) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for k, v in raw or ():  # type: ignore[attr-defined]
        if isinstance(v, bytes):
            out[k] = v
    return out


def last_record(bootstrap: str, topic: str, partition: int, window: int = 64) -> Record | None:
    """The last committed record of a partition, reading a widening window before its end.

    Commit markers take offsets too, so the high watermark minus one is usually a marker;
    the window widens until it holds a record or covers the whole partition.
    """
    low, high = watermarks(bootstrap, topic, partition)
    while True:
        start = max(low, high - window)
        last = None
        for rec in read_partition(bootstrap, topic, partition, start):
            last = rec
        if last is not None or start == low:
            return last
        window *= 4


__all__ = ["OFFSET_END", "Record", "last_record", "read_partition", "watermarks"]
