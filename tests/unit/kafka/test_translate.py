"""Kafka's errors become the hub's, split by who must act (no broker: KafkaError is built directly)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from hub.errors import (
    EXIT_UNAVAILABLE,
    BrokerUnavailableError,
    FencedError,
    HubError,
    KafkaAccessDeniedError,
    KafkaOperationError,
    QueueFullError,
    UnavailableError,
)
from hub.kafka import security
from hub.kafka.clients import translate
from hub.kafka.producer import delivery_error


@pytest.mark.parametrize("code", [
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE,
    KafkaError._MSG_TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
])
def test_an_unreachable_broker_is_unavailable_and_names_the_address(code: int):
    err = translate(KafkaException(KafkaError(code)), "reading offsets", "10.0.0.1:9092")
    assert type(err) is BrokerUnavailableError
    assert err.exit_code == EXIT_UNAVAILABLE
    assert "10.0.0.1:9092" in err.diagnostics() and "reading offsets" in err.diagnostics()


@pytest.mark.parametrize("code", [KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_ENOUGH_REPLICAS,
                                  KafkaError.LEADER_NOT_AVAILABLE])
def test_a_cluster_that_cannot_serve_yet_is_unavailable_too(code: int):
    assert isinstance(translate(KafkaException(KafkaError(code)), "producing"), BrokerUnavailableError)


def test_a_refusal_by_kafka_is_an_operation_error_naming_kafkas_reason():
    err = translate(KafkaException(KafkaError(KafkaError.POLICY_VIOLATION, "retention too short")),
                    "creating hub.ledger")
    assert type(err) is KafkaOperationError
    assert not isinstance(err, UnavailableError)
    assert "POLICY_VIOLATION" in err.diagnostics() and "retention too short" in err.diagnostics()
    assert err.exit_code == 2


@pytest.mark.parametrize("code", [
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL, KafkaError._AUTHENTICATION,
])
def test_a_refused_principal_is_told_what_to_check_and_is_not_asked_to_retry(code: int):
    security.use(security.ClientSecurity("bank-icbc-bj"))
    try:
        err = translate(KafkaException(KafkaError(code, "denied")), "reading hub.ledger[0]")
    finally:
        security.use(security.ClientSecurity(""))
    assert type(err) is KafkaAccessDeniedError and isinstance(err, KafkaOperationError)
    assert not isinstance(err, UnavailableError) and err.exit_code == 2
    assert "bank-icbc-bj" in err.diagnostics() and "reading hub.ledger[0]" in err.diagnostics()
    assert "hub kafka acls list" in err.diagnostics()


@pytest.mark.parametrize("code", [KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH])
def test_a_producer_fenced_by_its_successor_is_told_so(code: int):
    err = translate(KafkaException(KafkaError(code, fatal=True)), "committing a ledger batch")
    assert isinstance(err, FencedError) and isinstance(err, KafkaOperationError)
    assert "transactional.id" in err.diagnostics()


def test_a_bare_kafka_error_translates_as_its_exception_does():
    bare, wrapped = KafkaError(KafkaError._TRANSPORT), KafkaException(KafkaError(KafkaError._TRANSPORT))
    assert type(translate(bare, "x")) is type(translate(wrapped, "x")) is BrokerUnavailableError


def test_a_full_producer_queue_is_back_pressure():
    err = translate(BufferError("Local: Queue full"), "publishing")
    assert isinstance(err, QueueFullError) and isinstance(err, UnavailableError)


def test_anything_else_is_still_a_hub_error():
    err = translate(KafkaException(), "appending")
    assert isinstance(err, KafkaOperationError)
    assert isinstance(translate(RuntimeError("odd"), "x"), HubError)


def test_a_delivery_report_failure_translates_like_an_exception():
    assert isinstance(delivery_error(KafkaError(KafkaError._MSG_TIMED_OUT), "publishing"), BrokerUnavailableError)
    err = delivery_error(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), "publishing")
    assert type(err) is KafkaOperationError and "MSG_SIZE_TOO_LARGE" in err.diagnostics()
