"""The membership log topic: quorum-approved updates after the genesis, in order."""

from __future__ import annotations

from confluent_kafka import KafkaException, Producer

from hub.kafka.clients import admin_client, producer_config, translate
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
    p = Producer(producer_config(bootstrap))
    try:
        p.produce(Topics(namespace).membership, update, partition=0)
        left = p.flush(30)
    except KafkaException as exc:
        raise translate(exc, "appending to the membership log", bootstrap) from exc
    if left:
        raise translate(KafkaException(), "appending to the membership log", bootstrap)
