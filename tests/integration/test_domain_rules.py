"""The domain rules on real processes (issue 18): the freeze orders no court could lawfully issue.

Each case of the issue (a negative amount, zero, ``freeze_until`` before ``freeze_from``, frozen until
the year 9999 or from the year 1, an empty case number, control characters in the case number, a
currency that does not exist, a company whose unified social credit code fails its check character)
is refused ``INVALID_ARGUMENT`` by the court's connector, as JSON and as Avro, with the broken rule
named by field, and nothing of it reaches inbound or the ledger. The same orders, signed correctly
with the court's key and produced straight onto the inbound topic (a producer that bypassed the
connector), land in ``<ns>.rejected`` with reason ``RULE_VIOLATED``, and the court is told so.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from confluent_kafka import Producer

from hub.consortium.files import load_signing_key
from hub.kafka.clients import producer_config
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard import avro
from hub.standard.envelope import Envelope, seal
from hub.standard.jsonform import from_json
from hub.standard.schemas import default_registry, hub_record
from hub.timeutil import now_us
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON

#: case -> (what the order changes, the broken rule the refusal must name)
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "negative-amount": ({"amount": "-1286400.50"}, "payload.amount: AMOUNT_NOT_POSITIVE"),
    "zero-amount": ({"amount": "0.00"}, "payload.amount: AMOUNT_NOT_POSITIVE"),
    "until-before-from": ({"freeze_until": "2026-11-21T09:00:00+08:00"}, "payload.freeze_until: PERIOD_REVERSED"),
    "until-year-9999": ({"freeze_until": "9999-12-31T00:00:00Z"}, "payload.freeze_until: PERIOD_TOO_LONG"),
    "from-year-1": ({"freeze_from": "0001-01-01T00:00:00Z"}, "payload.freeze_from: TIME_OUT_OF_RANGE"),
    "empty-case-number": ({"case_number": ""}, "payload.case_number: EMPTY"),
    "control-characters-in-case-number": ({"case_number": "（2026）京0105执\x001234\x07号"},
                                          "payload.case_number: TEXT_CONTROL_CHARACTER"),
    "unknown-currency": ({"currency": "XYZ"}, "payload.currency: CURRENCY_UNKNOWN"),
    "uscc-check-character": ({"subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                                          "id_number": "91110105MA01ABCD2X"}},
                             "payload.subject.id_number: USCC_INVALID"),
}


def order_json(case: str) -> dict[str, Any]:
    return {**ORDER_JSON, "currency": "CNY", **CASES[case][0]}


def order_avro(case: str) -> bytes:
    schema = default_registry().latest(ORDER)
    assert schema is not None
    return avro.encode(schema.schema, from_json(schema.schema, order_json(case)))


def records(hub: Hub, topic: str) -> list[Any]:
    return list(read_partition(hub.bootstrap, topic, 0))


@pytest.fixture(scope="module")
def court(hub: Hub):
    hub.sequencer(0)
    return stub(hub.connector(COURT)[1])


@pytest.mark.parametrize("form", ["json", "avro"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_courts_connector_refuses_each_unlawful_freeze_order_by_field(court, case: str, form: str):
    payload = {"payload_json": json.dumps(order_json(case), ensure_ascii=False)} if form == "json" else \
        {"payload_avro": order_avro(case)}
    with pytest.raises(grpc.RpcError) as caught:
        court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], wait_for_receipt=True, **payload),
                      timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    detail = caught.value.details()
    assert detail.startswith("RULE_VIOLATED: ") and CASES[case][1] in detail, detail
    assert "\x00" not in detail and "\x07" not in detail  # the bad characters are named, not echoed


def test_none_of_the_refused_orders_reaches_inbound_or_the_ledger(hub: Hub, court):
    # the refusals above were answered before anything was signed: a lawful order now is the
    # first and only record on inbound, and the ledger holds it alone
    t = Topics(hub.namespace)
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
    inbound = [Envelope.from_bytes(x.value) for x in records(hub, t.inbound)]
    assert [str(e.message_id) for e in inbound] == [r.message_id]
    entries = [LedgerEntry.from_bytes(x.value) for x in records(hub, t.ledger)]
    assert [str(Envelope.from_bytes(e.envelope).message_id) for e in entries] == [r.message_id]
    assert records(hub, t.rejected) == []


def test_orders_produced_past_the_connector_are_rejected_rule_violated(hub: Hub, court):
    t = Topics(hub.namespace)
    schema = default_registry().latest(ORDER)
    assert schema is not None
    key = load_signing_key(hub.consortium, COURT)
    sealed = {case: seal(type=ORDER, schema_fingerprint=schema.fingerprint, sender=COURT, key=key,
                         recipients=[BANK], payload=order_avro(case), created_at=now_us())
              for case in CASES}
    ledger_before = len(records(hub, t.ledger))
    p = Producer(producer_config(hub.bootstrap))
    for env in sealed.values():
        p.produce(t.inbound, env.raw, key=COURT.encode())
    assert p.flush(30) == 0
    hub.wait_for(lambda: len(records(hub, t.rejected)) >= len(CASES), "the rejections")

    rejections = {bytes(r["message_id"]): r for r in
                  (avro.decode(hub_record("Rejection"), x.value) for x in records(hub, t.rejected))}
    for case, env in sealed.items():
        rejection = rejections[env.message_id.bytes]
        assert rejection["reason"] == "RULE_VIOLATED", (case, rejection["reason"], rejection["detail"])
        assert CASES[case][1] in rejection["detail"], (case, rejection["detail"])
        assert bytes(rejection["original"]) == env.raw
        assert rejection["sender"] == COURT
    assert len(records(hub, t.ledger)) == ledger_before  # none of them is notarised

    # the court, a member whose signature verified, gets a receipt saying why
    receipts = [avro.decode(hub_record("Receipt"), x.value) for x in records(hub, t.outbox(COURT))
                if x.headers.get("hub-kind") == b"receipt"]
    refused = {bytes(r["message_id"]): r for r in receipts if r["status"] == "REJECTED"}
    assert {env.message_id.bytes for env in sealed.values()} <= set(refused)
    assert all(refused[env.message_id.bytes]["reason"] == "RULE_VIOLATED" for env in sealed.values())

    # and the auditor, replaying the ledger with the same rules, finds it clean
    audit = hub.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
