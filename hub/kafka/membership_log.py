"""The membership log topic: quorum-approved updates after the genesis, in order."""

from __future__ import annotations

from confluent_kafka import KafkaException

from hub.errors import BrokerUnavailableError
from hub.kafka.clients import admin_client, translate
from hub.kafka.producer import open_producer
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics


def read_updates(bootstrap: str, namespace: str, start: int = 0) -> list[bytes]:
    """Every update record of the membership log from ``start``, in log order ([] before it exists)."""
    topic = Topics(namespace).membership
    try:
        exists = topic in admin_client(bootstrap).list_topics(timeout=10).topics
    except KafkaException as exc:
        raise translate(exc, "looking for the membership log", bootstrap) from exc
    if not exists:
        return []
    return [r.value for r in read_partition(bootstrap, topic, 0, start)]


def append_update(bootstrap: str, namespace: str, update: bytes) -> None:
    """Append a verified update (the caller applies it to the current membership first)."""
    p = open_producer(bootstrap)
    p.produce(Topics(namespace).membership, update, partition=0)
    if p.flush(30):
        raise BrokerUnavailableError(f"the membership log update was not acknowledged within 30 s: is the Kafka "
                                     f"cluster at {bootstrap} up?")
