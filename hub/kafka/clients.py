"""The confluent-kafka boundary: client settings and translation of Kafka errors.

Producers use ``acks=all`` with idempotence; consumers read ``read_committed`` and never
auto-commit. librdkafka's own log lines go to the ``hub.kafka.librdkafka`` logger.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka.admin import AdminClient

from hub.errors import BrokerUnavailableError, HubError, KafkaOperationError

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("hub.kafka.librdkafka")

_UNREACHABLE = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError._RESOLVE,
    KafkaError._MSG_TIMED_OUT,
}


def _base(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "logger": _rdkafka_log, "client.dns.lookup": "use_all_dns_ips"}


def producer_config(bootstrap: str, *, transactional_id: str | None = None, **extra: Any) -> dict[str, Any]:
    cfg = {
        **_base(bootstrap),
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",  # same placement as the Java client for a key
        "linger.ms": 2,
        "compression.type": "lz4",
    }
    if transactional_id:
        cfg["transactional.id"] = transactional_id
        cfg["transaction.timeout.ms"] = 60_000
        # the next transaction's first request meets CONCURRENT_TRANSACTIONS until the last one's
        # markers are written; librdkafka's default 100 ms back-off would then cap a sequencer at
        # ~9 transactions per second (measured: 110 ms -> 30 ms per transaction)
        cfg["retry.backoff.ms"] = 10
        # and retries back off exponentially up to retry.backoff.max.ms (1 s by default): a few
        # CONCURRENT_TRANSACTIONS in a row must not stall a batch for hundreds of milliseconds
        cfg["retry.backoff.max.ms"] = 50
    cfg.update(extra)
    return cfg


def consumer_config(bootstrap: str, group_id: str, **extra: Any) -> dict[str, Any]:
    cfg = {
        **_base(bootstrap),
        "group.id": group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # a read_committed fetch otherwise waits up to 500 ms for data a commit has just released
        "fetch.wait.max.ms": 20,
    }
    cfg.update(extra)
    return cfg


def consume_available(consumer: Consumer, max_records: int, timeout: float) -> list[Message]:
    """Wait up to ``timeout`` for one record, then take what else is already fetched.

    ``Consumer.consume(n, timeout)`` waits until it has ``n`` records or the timeout
    passes, which adds the whole timeout to every record's latency under light load.
    """
    first = consumer.consume(num_messages=1, timeout=timeout)
    if not first or max_records <= 1:
        return list(first)
    return list(first) + list(consumer.consume(num_messages=max_records - 1, timeout=0))


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient(_base(bootstrap))


def translate(exc: BaseException, doing: str, bootstrap: str | None = None) -> HubError:
    """A KafkaException (or KafkaError) as the hub's own error, naming what was being done."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
    if isinstance(err, KafkaError):
        if err.code() in _UNREACHABLE:
            where = f" at {bootstrap}" if bootstrap else ""
            return BrokerUnavailableError(
                f"no Kafka broker answered{where} while {doing}: start one with `hub kafka up` "
                "or point HUB_KAFKA_BOOTSTRAP at a cluster"
            )
        return KafkaOperationError(f"Kafka error while {doing}: {err.name()}: {err.str()}")
    return KafkaOperationError(f"Kafka error while {doing}: {exc}")


def wait_ready(bootstrap: str, timeout: float = 10.0) -> int:
    """Block until the cluster answers metadata requests; the number of brokers."""
    admin = admin_client(bootstrap)
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise translate(exc, "connecting", bootstrap) from exc
    if not md.brokers:
        raise BrokerUnavailableError(f"the Kafka cluster at {bootstrap} reports no brokers")
    return len(md.brokers)
