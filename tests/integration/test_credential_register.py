"""LookupCredential does not forget: a connector started after its outbox's early records are gone
(outboxes keep 30 days) still answers for a licence issued before, from the credential register."""

from __future__ import annotations

import json
import signal
import time

import grpc
from confluent_kafka import TopicPartition

from hub.kafka.clients import admin_client
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_flows import fixture_json
from tests.integration.test_freeze_loop import COURT

JUSTICE = "justice-bureau-bj"
ISSUED = "cn.judicial.hub.lawyers.LawyerCredentialIssued"


def _delete_outbox_records(hub: Hub, member: str) -> int:
    """Delete every record of ``member``'s outbox, as retention would after 30 days; the new low mark."""
    topic = Topics(hub.namespace).outbox(member)
    end = max((r.offset for r in read_partition(hub.bootstrap, topic, 0)), default=-1) + 1
    admin = admin_client(hub.bootstrap)  # as the operator, the test process's principal
    futures = admin.delete_records([TopicPartition(topic, 0, end)])
    (low,) = [f.result(timeout=30) for f in futures.values()]
    return int(low.low_watermark)


def test_a_connector_started_after_the_outbox_expired_still_knows_the_licence(hub: Hub):
    hub.sequencer(0)
    court_proc, court_port = hub.connector(COURT, name="court-1")
    _, justice_port = hub.connector(JUSTICE)
    court, justice = stub(court_port), stub(justice_port)
    issued = fixture_json(ISSUED)
    licence = issued["license_number"]
    r = justice.Publish(pb.PublishRequest(type=ISSUED, recipients=[COURT], payload_json=json.dumps(issued),
                                          wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt

    deadline = time.monotonic() + 30
    while (first := _lookup_once_ready(court, licence)).status != pb.LookupCredentialResponse.ACTIVE:
        assert time.monotonic() < deadline, f"the court never learnt of the licence: {first}"
        time.sleep(0.2)
    assert first.status == pb.LookupCredentialResponse.ACTIVE and first.ledger_index == r.receipt.ledger_index

    court_proc.send_signal(signal.SIGTERM)
    court_proc.wait(timeout=30)
    low = _delete_outbox_records(hub, COURT)
    assert low > 0 and not list(read_partition(hub.bootstrap, Topics(hub.namespace).outbox(COURT), 0))

    _, port = hub.connector(COURT, name="court-2")
    got = _lookup_once_ready(stub(port), licence)
    assert got.status == pb.LookupCredentialResponse.ACTIVE
    assert got.ledger_index == r.receipt.ledger_index
    # the register holds the licence for its recipients only: the issuer's own connector, not a
    # recipient, answers as if it had never heard of it
    assert _lookup_once_ready(justice, licence).status == pb.LookupCredentialResponse.NEVER_LICENSED


def _lookup_once_ready(connector, licence: str) -> pb.LookupCredentialResponse:
    """The connector's answer once it has read the credential register: while it reads, it answers
    UNAVAILABLE (retry), never a premature NEVER_LICENSED."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return connector.LookupCredential(pb.LookupCredentialRequest(license_number=licence), timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
            assert time.monotonic() < deadline, "the credential register never finished loading"
            time.sleep(0.2)
