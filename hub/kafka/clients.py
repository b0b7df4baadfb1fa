"""The confluent-kafka boundary: client settings and translation of Kafka errors.

Producers use ``acks=all`` with idempotence; consumers read ``read_committed`` and never
auto-commit. librdkafka's own log lines go to the ``hub.kafka.librdkafka`` logger. Every client
authenticates as the process's principal (:func:`hub.kafka.security.current`: mutual TLS from the
consortium PKI, or the settings of ``HUB_KAFKA_CONFIG``).

:func:`translate` is the one place a ``KafkaException`` (or ``KafkaError``, or a producer's
``BufferError``) becomes a hub error, split by who must act: an unreachable broker or a
cluster that cannot serve yet is a :class:`~hub.errors.BrokerUnavailableError` (retry later,
exit code 75); a refusal of the principal's rights or of its certificate is a
:class:`~hub.errors.KafkaAccessDeniedError` (the operator acts); a full local queue is a :class:`~hub.errors.QueueFullError`; a producer fenced
by its successor is a :class:`~hub.errors.FencedError`; anything else Kafka refused is a
:class:`~hub.errors.KafkaOperationError`. The typed clients (:mod:`hub.kafka.producer`,
:mod:`hub.kafka.consumer`, :mod:`hub.kafka.transactions`) let only those escape.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka.admin import AdminClient

from hub.errors import (
    BrokerUnavailableError,
    FencedError,
    HubError,
    KafkaAccessDeniedError,
    KafkaOperationError,
    QueueFullError,
)
from hub.kafka import security

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("hub.kafka.librdkafka")

#: no broker answered, or none in time: the cluster is down or unreachable from here
_UNREACHABLE = frozenset({
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError._RESOLVE,
    KafkaError._MSG_TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.BROKER_NOT_AVAILABLE,
})
#: the cluster answers but cannot serve this yet (a coordinator or leader moving, too few in-sync
#: replicas for acks=all): nothing is wrong with the request, retry later
_NOT_READY = frozenset({
    KafkaError._WAIT_COORD,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
})
#: a newer producer with the same transactional.id took over
_FENCED = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH})
#: the broker refused this principal the operation (its ACLs), or refused its credentials
_DENIED = frozenset({
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError.DELEGATION_TOKEN_AUTHORIZATION_FAILED,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError._AUTHENTICATION,
    KafkaError._SSL,
})


#: the longest pause between two attempts to reconnect to a broker, ms. librdkafka doubles the
#: pause up to 10 s by default, so after a long outage a client could find the broker back up to
#: 10 s late; one second keeps recovery after an outage within the watch's own second.
RECONNECT_BACKOFF_MAX_MS = 1000


def _base(bootstrap: str, as_: security.ClientSecurity | None = None) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "logger": _rdkafka_log, "client.dns.lookup": "use_all_dns_ips",
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS, **(as_ or security.current()).settings}


def producer_config(bootstrap: str, *, transactional_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """librdkafka settings of a hub producer (acks=all, idempotent; transactional with an id)."""
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
    """librdkafka settings of a hub consumer (read_committed, offsets committed only on purpose)."""
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


def admin_client(bootstrap: str, as_: security.ClientSecurity | None = None) -> AdminClient:
    """An admin client of the cluster at ``bootstrap`` (used inside :mod:`hub.kafka` only), as the
    process's principal unless ``as_`` names another."""
    return AdminClient(_base(bootstrap, as_))


def translate(exc: BaseException | KafkaError, doing: str, bootstrap: str | None = None) -> HubError:
    """A KafkaException, KafkaError or a producer's BufferError as the hub's own error, naming what
    was being done. Raise the result ``from`` the original."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
    if isinstance(err, KafkaError):
        code = err.code()
        if code in _UNREACHABLE:
            where = f" at {bootstrap}" if bootstrap else ""
            return BrokerUnavailableError(
                f"no Kafka broker answered{where} while {doing}: start one with `hub kafka up` "
                "or point HUB_KAFKA_BOOTSTRAP at a cluster"
            )
        if code in _NOT_READY:
            return BrokerUnavailableError(f"the Kafka cluster cannot serve yet while {doing} "
                                          f"({err.name()}: {err.str()}): retry shortly")
        if code == KafkaError._PURGE_QUEUE:
            return BrokerUnavailableError(f"Kafka stopped answering before the record was sent while {doing}: "
                                          "it was withdrawn and will never be written")
        if code in _DENIED:
            who = security.current().principal or "this client"
            return KafkaAccessDeniedError(
                f"Kafka refused {who} while {doing} ({err.name()}: {err.str()}): check its certificate "
                "or HUB_KAFKA_CONFIG, and its rights (`hub kafka acls list`)")
        if code in _FENCED:
            return FencedError(f"fenced while {doing}: a newer process with the same transactional.id "
                               f"took over ({err.name()})")
        return KafkaOperationError(f"Kafka error while {doing}: {err.name()}: {err.str()}")
    if isinstance(err, BufferError):
        return QueueFullError(f"the Kafka producer's queue is full while {doing}: retry with back-off")
    return KafkaOperationError(f"Kafka error while {doing}: {exc}")


#: what librdkafka's transport errors say when the broker refused the client's certificate: with TLS 1.3
#: the broker's verdict comes as an alert after the client thinks the handshake is done, so the error
#: is _TRANSPORT ("SSL routines::... alert certificate unknown"), not _SSL or _AUTHENTICATION
_REFUSED_BY_PEER = ("alert bad certificate", "alert certificate unknown", "alert certificate expired",
                    "alert certificate revoked", "alert unknown ca", "alert access denied",
                    "alert certificate required", "certificate verify failed")


def wait_ready(bootstrap: str, timeout: float = 10.0, as_: security.ClientSecurity | None = None) -> int:
    """Block until the cluster answers metadata requests (as ``as_``, default the process's
    principal); the number of brokers. A broker that refuses the client's certificate (or whose
    certificate the client refuses) is a KafkaAccessDeniedError, not an unreachable broker."""
    refusals: list[str] = []

    def record(err: KafkaError) -> None:
        text = err.str()
        if any(r in text for r in _REFUSED_BY_PEER):
            refusals[:] = [text]

    cfg: dict[str, Any] = {**_base(bootstrap, as_), "error_cb": record}
    admin = AdminClient(cfg)
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0)  # serves the error callbacks queued meanwhile
        if refusals:
            who = (as_ or security.current()).principal or "this client"
            detail = refusals[-1].split(": ", 1)[-1].strip()
            raise KafkaAccessDeniedError(
                f"the TLS handshake with Kafka at {bootstrap} refused the certificate of {who} ({detail}): check "
                "it is issued by the cluster's CA and not expired, or HUB_KAFKA_CONFIG") from exc
        raise translate(exc, "connecting", bootstrap) from exc
    if not md.brokers:
        raise BrokerUnavailableError(f"the Kafka cluster at {bootstrap} reports no brokers")
    return len(md.brokers)
