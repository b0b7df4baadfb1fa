"""`hub audit --reconcile` on a real hub: what came in, what was notarised or refused and what was
delivered agree record for record; a record slipped into an outbox is found."""

from __future__ import annotations

import json
import uuid

import pytest

from hub.kafka.producer import open_producer
from hub.kafka.reader import read_partition
from hub.kafka.topics import KIND_HEADER, Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.invariants import caught_up
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


@pytest.fixture(scope="module")
def traffic(hub: Hub) -> Hub:
    hub.sequencer(0)
    court = stub(hub.connector(COURT)[1])
    for n in range(3):
        order = dict(ORDER_JSON, account_number=f"02000012345678901{n:02d}")
        r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(order),
                                            wait_for_receipt=True), timeout=30)
        assert r.receipt.status == pb.Receipt.ACCEPTED
    producer = open_producer(hub.bootstrap)  # a record no connector would send: the sequencer refuses it
    assert producer.send(Topics(hub.namespace).inbound, b"not an envelope", key=uuid.uuid4().bytes, timeout=30)
    hub.wait_for(lambda: caught_up(hub, 0), "the sequencer placing every inbound record")
    return hub


def test_inbound_is_the_ledger_plus_the_rejections_and_every_entry_reached_its_outbox(traffic: Hub):
    run = traffic.run("audit", "--reconcile")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ("reconciled partition 0: 4 inbound records held, 3 entries and 1 rejections placed (0 records pending"
            in run.stdout), run.stdout
    assert "3 deliveries checked in the recipients' outboxes (0 older than the outboxes keep); 0 discrepancies" \
        in " ".join(run.stdout.split())


def test_a_record_slipped_into_an_outbox_in_an_entrys_name_is_a_discrepancy(traffic: Hub):
    t = Topics(traffic.namespace)
    first = LedgerEntry.from_bytes(next(iter(read_partition(traffic.bootstrap, t.ledger, 0))).value)
    mid = Envelope.from_bytes(first.envelope).message_id
    producer = open_producer(traffic.bootstrap)
    assert producer.send(t.outbox(BANK), b"a forged entry", key=mid.bytes, headers={KIND_HEADER: b"entry"}, timeout=30)
    run = traffic.run("audit", "--reconcile", "--quiet")
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"DISCREPANCY partition 0: DELIVERED_ALTERED: entry {first.index} is in the outbox of {BANK}" in run.stdout
