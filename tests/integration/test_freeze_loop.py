"""The walking skeleton on a real broker with real processes: court -> bank -> court, then audit."""

from __future__ import annotations

import json
import queue
import threading
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics, describe_configs
from hub.ledger.entry import LedgerEntry
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.rich_status import refused

COURT, BANK, OTHER_BANK = "court-bj-chaoyang", "bank-icbc-bj", "bank-ccb-bj"
ORDER = "cn.judicial.hub.enforcement.FreezeOrder"
FEEDBACK = "cn.judicial.hub.enforcement.FreezeFeedback"
MEDIATION, JUSTICE = "cn.judicial.hub.mediation.MediationAgreement", "justice-bureau-bj"

# relative to now: the auditor's closed-loop check flags orders whose deadline has passed unanswered
DEADLINE = (datetime.now(UTC) + timedelta(days=7)).isoformat()

ORDER_JSON = {
    "case_number": "（2026）京0105执1234号", "document_number": "（2026）京0105执1234号之一",
    "court_name": "北京市朝阳区人民法院", "judge": "王建国",
    "subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                "id_number": "91110105MA01ABCD26"},
    "account_number": "0200001234567890123", "amount": "1286400.50",
    "freeze_from": "2026-11-22T09:00:00+08:00", "freeze_until": "2027-11-22T09:00:00+08:00",
    "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条", "response_deadline": DEADLINE,
}


def feedback_json(order: dict) -> dict:
    return {"case_number": order["case_number"], "account_number": order["account_number"], "status": "FROZEN",
            "frozen_amount": order["amount"], "executed_at": "2026-11-22T10:15:00+08:00",
            "bank_reference": "ICBC-DJ-00000001"}


@pytest.fixture(scope="module")
def running(hub: Hub):
    hub.sequencer(0)
    ports = {m: hub.connector(m)[1] for m in (COURT, BANK)}
    return {m: stub(p) for m, p in ports.items()}


def next_message(it, type_: str, timeout: float = 30.0):
    """The next delivered message of ``type_`` from a Subscribe iterator (in a thread, with a timeout)."""
    out: queue.Queue = queue.Queue()

    def pump():
        try:
            for d in it:
                if d.WhichOneof("item") == "message" and d.message.type == type_:
                    out.put(d)
                    return
        except grpc.RpcError as exc:
            out.put(exc)

    threading.Thread(target=pump, daemon=True).start()
    got = out.get(timeout=timeout)
    if isinstance(got, Exception):
        raise got
    return got


def test_freeze_order_reaches_the_bank_and_its_feedback_reaches_the_court(hub: Hub, running):
    court, bank = running[COURT], running[BANK]
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
    order_id = r.message_id

    bank_stream = bank.Subscribe(pb.SubscribeRequest())
    d = next_message(bank_stream, ORDER)
    assert d.message.message_id == order_id
    assert d.message.sender == COURT
    assert d.message.ledger_index == r.receipt.ledger_index
    assert json.loads(d.message.payload_json)["amount"] == "1286400.50"
    bank.Ack(pb.AckRequest(cursor=d.cursor))
    bank_stream.cancel()

    fb = bank.Publish(pb.PublishRequest(type=FEEDBACK, recipients=[COURT], correlation_id=order_id,
                                        payload_json=json.dumps(feedback_json(ORDER_JSON)),
                                        wait_for_receipt=True), timeout=30)
    assert fb.receipt.status == pb.Receipt.ACCEPTED
    assert fb.receipt.ledger_index == r.receipt.ledger_index + 1

    court_stream = court.Subscribe(pb.SubscribeRequest())
    got = next_message(court_stream, FEEDBACK)
    court_stream.cancel()
    assert got.message.correlation_id == order_id
    assert json.loads(got.message.payload_json)["status"] == "FROZEN"

    # the ledger holds both, chained
    entries = [LedgerEntry.from_bytes(rec.value) for rec in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)]
    assert [e.index for e in entries] == list(range(len(entries)))
    assert entries[-1].prev_leaf_hash == entries[-2].leaf_hash

    audit = hub.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "AUDIT VERIFIED" in audit.stdout


def test_the_other_bank_never_receives_the_order(hub: Hub, running):
    court = running[COURT]
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED
    outbox = [rec.value for rec in read_partition(hub.bootstrap, Topics(hub.namespace).outbox(OTHER_BANK), 0)]
    assert outbox == []


def test_bad_requests_get_the_right_status_and_reach_no_topic(hub: Hub, running):
    court, bank = running[COURT], running[BANK]
    inbound = Topics(hub.namespace).inbound
    before = len(list(read_partition(hub.bootstrap, inbound, 0)))
    bad = dict(ORDER_JSON, amount="12.345")
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(bad)), timeout=10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "payload.amount" in exc.value.details()
    why = refused(exc.value)  # the same, machine-readable (google.rpc.Status in grpc-status-details-bin)
    assert (why.reason, why.domain) == ("INVALID_PAYLOAD", "judicial-hub")
    assert [v[:2] for v in why.violations] == [("payload.amount", "INVALID_PAYLOAD")], why
    negative = dict(ORDER_JSON, amount="-5.00", currency="")  # two domain rules broken at once
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(negative)), timeout=10)
    why = refused(exc.value)
    assert why.code == grpc.StatusCode.INVALID_ARGUMENT and why.reason == "RULE_VIOLATED"
    assert {v[0] for v in why.violations} == {"payload.amount", "payload.currency"}, why
    assert all(v[1] and v[2] for v in why.violations) and why.retry_after_s is None
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(pb.PublishRequest(type="cn.judicial.hub.Nope", recipients=[BANK], payload_json="{}"), timeout=10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v[:2] for v in refused(exc.value).violations] == [("type", "UNKNOWN_SCHEMA")]
    with pytest.raises(grpc.RpcError) as exc:
        bank.Publish(pb.PublishRequest(type=ORDER, recipients=[OTHER_BANK], payload_json=json.dumps(ORDER_JSON)),
                     timeout=10)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused(exc.value).reason == "POLICY_DENIED"
    missing = {k: v for k, v in ORDER_JSON.items() if k != "judge"}
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(missing)), timeout=10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "payload.judge: missing required field" in exc.value.details()
    assert ("payload.judge", "INVALID_PAYLOAD", "missing required field") in refused(exc.value).violations
    huge = dict(ORDER_JSON, legal_basis="《民事诉讼法》" * 12_000)  # ~100 KB of text in one field: over its rules
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(huge)), timeout=10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "payload.legal_basis: TEXT_TOO_LONG" in exc.value.details()
    # ~75 KB of text, every string within its rules: over the envelope limit
    from tests.integration.test_flows import fixture_json

    agreement = fixture_json(MEDIATION)
    agreement["obligations"] = [dict(agreement["obligations"][0], description="调" * 1000)] * 25
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(pb.PublishRequest(type=MEDIATION, recipients=[JUSTICE], payload_json=json.dumps(agreement)),
                      timeout=10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "TOO_LARGE" in exc.value.details()
    assert refused(exc.value).reason == "TOO_LARGE"
    # hundreds of bad fields: the refusal still reaches the client whole (its trailers within the 8 KiB
    # clients accept), listing the first violations and saying how many there were
    agreement = fixture_json(MEDIATION)
    agreement["obligations"] = [dict(agreement["obligations"][0], amount="负数", due_at="明天")] * 300
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(pb.PublishRequest(type=MEDIATION, recipients=[JUSTICE], payload_json=json.dumps(agreement)),
                      timeout=10)
    many = refused(exc.value)
    assert many.code == grpc.StatusCode.INVALID_ARGUMENT and many.reason == "INVALID_PAYLOAD", exc.value.details()
    assert many.violations[0][0] == "payload.obligations[0].amount"
    assert int(many.metadata["violations"]) == 600 > int(many.metadata["violations_shown"]) == len(many.violations)
    assert len(list(read_partition(hub.bootstrap, inbound, 0))) == before


def test_ledger_topic_never_deletes_or_compacts(hub: Hub):
    cfg = describe_configs(hub.bootstrap, Topics(hub.namespace).ledger)
    assert cfg["retention.ms"] == "-1"
    assert cfg["retention.bytes"] == "-1"
    assert cfg["cleanup.policy"] == "delete"
    assert cfg["unclean.leader.election.enable"] == "false"
    assert cfg["min.insync.replicas"] == "1"


def test_a_repeated_idempotency_key_gets_the_original_answer(hub: Hub, running):
    court = running[COURT]
    req = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                            wait_for_receipt=True, idempotency_key="court-bj-chaoyang/2026-1234/freeze/1")
    first = court.Publish(req, timeout=30)
    again = court.Publish(req, timeout=30)
    assert again == first
    assert first.receipt.status == pb.Receipt.ACCEPTED
    ids = [LedgerEntry.from_bytes(rec.value) for rec in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)]
    assert sum(1 for e in ids if e.index == first.receipt.ledger_index) == 1
    other = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(dict(ORDER_JSON, amount="1.00")),
                              idempotency_key="court-bj-chaoyang/2026-1234/freeze/1")
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(other, timeout=30)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_audit_closes_the_loops_once_deadlines_have_passed(hub: Hub, running):
    """The freeze order of the confidentiality test was never answered: fine until its deadline,
    a FEEDBACK_MISSING violation after it; the answered order is no violation."""
    assert hub.run("audit").returncode == 0
    later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S%z")
    late = hub.run("audit", "--at", later)
    assert late.returncode == 1, late.stdout + late.stderr
    assert "FEEDBACK_MISSING" in late.stdout
    missing = [line for line in late.stdout.splitlines() if "FEEDBACK_MISSING" in line and "VIOLATION" in line]
    assert missing and all("bank-icbc-bj" in line for line in missing)
